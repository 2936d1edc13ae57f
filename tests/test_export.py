"""ONNX export and the onnxruntime backend (issue 41): every shipped network exports and computes what PyTorch
computes; an exported recognizer is used wherever a PyTorch one is; what cannot work is one line."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from lrfr.cli import main

pytest.importorskip("onnxruntime")


def packaged_files():
    from lrfr.weights import packaged_path

    return sorted(p.name for p in packaged_path("srgan_synth.pt").parent.glob("*.pt"))


@pytest.mark.parametrize("name", packaged_files())
def test_every_packaged_network_exports_and_matches_pytorch(name, tmp_path):
    from lrfr.export import to_onnx
    from lrfr.onnx_files import MIN_COSINE, MIN_PSNR, check_faces, read_metadata

    report = to_onnx(f"packaged:{name}", tmp_path / "m.onnx", faces=check_faces(4))
    meta = read_metadata(tmp_path / "m.onnx")
    assert meta["format"] == "lrfr-onnx/1" and meta["family"] == report.family and len(meta["source_sha256"]) == 64
    if report.family == "recognizer":
        assert report.check["cosine_min"] >= MIN_COSINE and meta["input_size"] == "112x96"
    else:
        assert report.check["psnr_min"] >= MIN_PSNR


def test_bicubic_and_a_tiny_registered_recognizer_export_with_a_dynamic_batch(tmp_path):
    import onnxruntime as ort

    from lrfr import recognition, sr
    from lrfr.export import to_onnx
    from lrfr.onnx_files import check_faces

    to_onnx(sr.build("bicubic", scale=4), tmp_path / "b.onnx", faces=check_faces(2))
    net = recognition.build("sphere20a", width=0.125, embedding_dim=32).eval()
    to_onnx(net, tmp_path / "r.onnx", faces=check_faces(2))
    session = ort.InferenceSession(str(tmp_path / "r.onnx"), providers=["CPUExecutionProvider"])
    for n in (1, 5):
        out = session.run(None, {"faces": torch.rand(n, 3, 112, 96).numpy()})[0]
        assert out.shape == (n, 32)
    sr_session = ort.InferenceSession(str(tmp_path / "b.onnx"), providers=["CPUExecutionProvider"])
    assert sr_session.run(None, {"lr": torch.rand(3, 3, 7, 6).numpy()})[0].shape == (3, 3, 28, 24)


def test_the_onnxruntime_backend_gives_the_torch_features(tmp_path, monkeypatch):
    from lrfr import recognition
    from lrfr.onnx_files import check_faces

    monkeypatch.setenv("LRFR_CACHE", str(tmp_path / "cache"))
    net = recognition.load(weights="packaged:lr_mobilefacenet_celeba.pt")
    faces = check_faces(6)
    a = recognition.embed(net, faces, flip="concat")
    b = recognition.embed(net, faces, flip="concat", backend="onnxruntime")
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cos.min() > 0.99999 and list((tmp_path / "cache" / "onnx").glob("*.onnx"))
    assert main(["export", "packaged:lr_mobilefacenet_celeba.pt", "--onnx", str(tmp_path / "s.onnx")]) == 0
    onnx_net = recognition.load(weights=str(tmp_path / "s.onnx"))
    assert onnx_net.arch == "mobilefacenet" and onnx_net.input_size == (112, 96)
    assert np.allclose(recognition.embed(onnx_net, faces, flip="concat"), b, atol=1e-5)


@pytest.mark.parametrize("preset", ["camera", "lr14x12"])
def test_an_exported_student_searches_an_lrfr_gallery_in_the_cross_setting(preset, tmp_path):
    import lrfr
    from lrfr.onnx_files import check_faces
    from lrfr.presets import PRESETS

    main(["export", PRESETS[preset].pipeline["probe_weights"], "--onnx", str(tmp_path / "student.onnx")])
    torch_pipe = lrfr.ProbePipeline.preset(preset)
    onnx_pipe = lrfr.ProbePipeline.preset(preset, probe_weights=str(tmp_path / "student.onnx"))
    assert onnx_pipe.cross  # accepted: the ONNX file names the teacher the student was distilled from
    lr = torch.nn.functional.interpolate(check_faces(4), size=(14, 12), mode="bicubic", antialias=True).clamp(0, 1)
    a, b = torch_pipe.embed_probes(lr), onnx_pipe.embed_probes(lr)
    assert np.allclose(a, b, atol=1e-4)


def test_what_cannot_work_is_one_line(tmp_path, capsys):
    import onnx

    from lrfr.export import to_onnx

    to_onnx("packaged:sphere20a_synth.pt", tmp_path / "r.onnx")
    proto = onnx.load(str(tmp_path / "r.onnx"))
    for p in proto.metadata_props:
        if p.key == "lrfr_version":
            p.value = "0.0.1"
    onnx.save(proto, str(tmp_path / "old.onnx"))
    to_onnx("packaged:srgan_synth.pt", tmp_path / "g.onnx")
    cases = [(["evaluate", "--weights", str(tmp_path / "old.onnx"), "--quiet"],
              r"exported by lrfr 0\.0\.1, this is lrfr .*: export it again"),
             (["evaluate", "--weights", str(tmp_path / "g.onnx"), "--quiet"], r"holds a sr, not a recognizer"),
             (["export", "packaged:sphere20a_synth.pt", "--onnx", str(tmp_path / "no" / "such" / "dir" / "x.onnx"),
               "--check-faces", str(tmp_path / "nowhere")], r"check image or folder not found")]
    for argv, pattern in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and re.search(pattern, err[0]), err


def test_onnxruntime_missing_is_one_line(monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_ort(name, *args, **kwargs):
        if name == "onnxruntime":
            raise ImportError("No module named 'onnxruntime'", name="onnxruntime")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ort)
    assert main(["evaluate", "--backend", "onnxruntime", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs onnxruntime: pip install 'lrfr[onnx]'" in err[0]


def test_the_onnx_only_deployment_example_names_the_identities_lrfr_names(tmp_path):
    """docs/deployment.md's numpy + onnxruntime search, run as written, against lrfr's own search."""
    import re
    from pathlib import Path

    import lrfr
    from lrfr import sr
    from lrfr.data.resample import downsample
    from lrfr.data.synth import SynthFaces
    from lrfr.export import to_onnx
    from lrfr.io import to_uint8, write_image

    faces = SynthFaces(n_identities=8, images_per_identity=3, size=(112, 96), seed=4, identity_offset=8_000_000)
    for i in range(len(faces)):
        img, _, name = faces[i]
        target = tmp_path / ("enrol" if name.endswith("_0001.jpg") else "probes-hr") / name
        write_image(target, to_uint8(img))
    probes = []
    for p in sorted((tmp_path / "probes-hr").rglob("*.jpg")):
        lr = downsample(lrfr.data.folders.load_images([p], progress=False), 8)[0]
        probes.append(tmp_path / "probes" / p.with_suffix(".png").name)
        write_image(probes[-1], to_uint8(lr))
    gallery = lrfr.Gallery.build(tmp_path / "enrol", weights="packaged:sphere20a_synth.pt", progress=False)
    gallery.save_npz(tmp_path / "g.npz")
    to_onnx("packaged:sphere20a_synth.pt", tmp_path / "student.onnx")
    to_onnx(sr.build("bicubic", scale=8), tmp_path / "bicubic8.onnx")
    page = (Path(__file__).resolve().parents[1] / "docs" / "deployment.md").read_text()
    code = re.search(r"<!-- onnx-only example -->\n```python\n(.*?)```", page, re.S).group(1)
    scope = {"GALLERY_NPZ": str(tmp_path / "g.npz"), "BICUBIC_ONNX": str(tmp_path / "bicubic8.onnx"),
             "STUDENT_ONNX": str(tmp_path / "student.onnx"), "PROBES": [str(p) for p in probes]}
    exec(compile(code, "docs/deployment.md", "exec"), scope)
    table = gallery.search(tmp_path / "probes", progress=False, k=1)
    assert scope["decision"] == list(table["best_identity"])
