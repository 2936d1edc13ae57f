"""The deployment path (issue 39) on small real runs: a SynthFaces watchlist written to disk, ``lrfr degrade``,
``lrfr index build/search``, the probe pipeline's refusals, open-set calibration, the watchlist and TinyFace
protocols, and every bad input as one line."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from lrfr.cli import main

SIZE = (112, 96)


def _write_faces(root, n_identities=24, per_identity=3, offset=3_000_000):
    from lrfr.data.synth import SynthFaces
    from lrfr.io import to_uint8, write_image

    ds = SynthFaces(n_identities=n_identities, images_per_identity=per_identity, size=SIZE, seed=11,
                    identity_offset=offset)
    for i in range(len(ds)):
        img, _, name = ds[i]
        write_image(root / name, to_uint8(img))
    return root


@pytest.fixture(scope="module")
def watchlist(tmp_path_factory):
    """``W/enrol`` (12 identities), ``W/probes-hr`` (24 known + 12 unknown), ``W/probes`` (14x12 PNG)."""
    from lrfr.data.probe_sets import make_watchlist, write_lr_set

    base = tmp_path_factory.mktemp("deploy")
    src = _write_faces(base / "src")
    make_watchlist(src, base / "w", enrolled=12, unknown=12, probes_per_identity=2, seed=3)
    write_lr_set(base / "w" / "probes-hr", base / "w" / "probes", scale=8, progress=False)
    return base / "w"


def one_error_line(capsys, argv, pattern):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.search(pattern, err[0]), err
    return err[0]


# -- native LR: files written by lrfr degrade are the in-memory degradation, bit for bit ------------------------

def test_lrfr_degrade_writes_the_in_memory_degradation_and_records_its_spec(watchlist, tmp_path, capsys):
    from lrfr.data.degradations import apply_degradation
    from lrfr.data.degradations import degradation_seed
    from lrfr.io import read_image, to_tensor01

    record = json.loads((watchlist / "probes" / "degradation.json").read_text())
    assert record["degrade"] == "down:bicubic" and record["lr_sizes"] == ["14x12"] and record["images"] == 36
    hr_path = sorted((watchlist / "probes-hr").rglob("*.jpg"))[0]
    rel = hr_path.relative_to(watchlist / "probes-hr")
    lr_file = to_tensor01(read_image(watchlist / "probes" / rel.with_suffix(".png")))
    hr = to_tensor01(read_image(hr_path))[None]
    in_memory = apply_degradation(hr, 8, "down:bicubic", [degradation_seed(0, hr_path)])[0]
    assert torch.equal(lr_file, in_memory.mul(255).round().div(255))  # PNG: the 8-bit levels, nothing else
    # a random spec is seeded by the image's name: the same bytes again
    spec = "blur:sigma=1,down:bicubic,noise:gauss=0.02,jpeg:q=60"
    assert main(["degrade", str(watchlist / "probes-hr"), str(tmp_path / "a"), "--scale", "8", "--degrade", spec,
                 "--quiet"]) == 0
    assert main(["degrade", str(watchlist / "probes-hr"), str(tmp_path / "b"), "--size", "17x15", "--quiet"]) == 0
    a = read_image(tmp_path / "a" / rel.with_suffix(".png"))
    assert torch.equal(to_tensor01(a), apply_degradation(hr, 8, spec, [degradation_seed(0, hr_path)])[0].mul(255).round().div(255))
    assert read_image(tmp_path / "b" / rel.with_suffix(".png")).shape == (17, 15, 3)
    assert "wrote 36 images" in capsys.readouterr().out


def test_native_lr_probes_give_the_features_of_the_in_memory_degradation(watchlist):
    import lrfr
    from lrfr.data.degradations import apply_degradation
    from lrfr.data.resample import upsample
    from lrfr.data.degradations import degradation_seed
    from lrfr.gallery import read_faces
    from lrfr.io import read_image, to_tensor01
    from lrfr.recognition import embed

    pipe = lrfr.ProbePipeline.create()
    faces = read_faces(watchlist / "probes", progress=False)
    from_files = pipe.embed_probes(faces.images)
    hr_paths = [watchlist / "probes-hr" / n.replace(".png", ".jpg") for n in faces.names]
    hr = torch.stack([to_tensor01(read_image(p)) for p in hr_paths])
    lr = torch.cat([apply_degradation(h[None], 8, "bicubic", [degradation_seed(0, p)]) for h, p in zip(hr, hr_paths)])
    quantized = upsample(lr.mul(255).round().div(255), size=SIZE)
    expected = embed(pipe.probe.model, quantized, flip="concat")
    assert np.array_equal(from_files, np.asarray(expected))  # the same bytes in, the same features out
    unquantized = np.asarray(embed(pipe.probe.model, upsample(lr, size=SIZE), flip="concat"))
    cos = (from_files * unquantized).sum(1) / np.linalg.norm(from_files, axis=1) / np.linalg.norm(unquantized, axis=1)
    assert cos.min() > 0.999  # 8-bit storage is all that separates a file from lrfr.evaluate's own degradation


# -- the CLI: build, search, output a person can act on -------------------------------------------------------

def test_build_and_search_print_a_summary_keep_the_nearest_match_and_write_csv_and_json(watchlist, tmp_path, capsys):
    gallery = tmp_path / "g.lrfr"
    assert main(["index", "build", "--data", str(watchlist / "enrol"), "--weights", "packaged:sphere20a_synth.pt",
                 "--out", str(gallery), "--quiet"]) == 0
    assert "12 images of 12 identities" in capsys.readouterr().out
    out_json, out_csv = tmp_path / "s.json", tmp_path / "s.csv"
    assert main(["index", "search", "--index", str(gallery), "--images", str(watchlist / "probes"),
                 "--front-end", "packaged:cface_synth.pt", "--threshold", "0.5", "--k", "3", "--json", str(out_json),
                 "--csv", str(out_csv), "--quiet"]) == 0
    printed = capsys.readouterr().out
    doc = json.loads(out_json.read_text())
    s = doc["summary"]
    assert s["probes"] == 36 and s["accepted"] + s["rejected_as_unknown"] == 36
    assert s["known_probes"] == 24 and s["unknown_probes"] == 12 and 0 <= s["rank1"] <= s["rank5"] <= 1
    assert f"36 probes; {s['accepted']} accepted, {s['rejected_as_unknown']} rejected as unknown" in printed
    rows = doc["probes"]
    rejected = [r for r in rows if not r["accepted"]]
    assert rejected and all(r["decision"] == "unknown" and r["best_identity"] and r["score"] < 0.5 for r in rejected)
    assert all("identity_3" in r and "score_3" in r for r in rows)  # --k honoured with a threshold
    assert doc["pipeline"]["front_end"] == "cface-v2" and len(doc["pipeline"]["front_end_sha256"]) == 64
    import pandas as pd

    assert len(pd.read_csv(out_csv)) == 36


def test_unreadable_probes_stop_the_search_or_are_skipped_and_listed(watchlist, tmp_path, capsys):
    import shutil

    probes = tmp_path / "probes"
    shutil.copytree(watchlist / "probes", probes)
    (probes / "not_an_image.png").write_bytes(b"plain text, not a PNG")
    gallery = tmp_path / "g.lrfr"
    assert main(["index", "build", "--data", str(watchlist / "enrol"), "--weights", "packaged:sphere20a_synth.pt",
                 "--out", str(gallery), "--quiet"]) == 0
    capsys.readouterr()
    one_error_line(capsys, ["index", "search", "--index", str(gallery), "--images", str(probes), "--quiet"],
                   r"cannot read image .*not_an_image\.png: .*on-bad-image skip")
    assert main(["index", "search", "--index", str(gallery), "--images", str(probes), "--quiet",
                 "--on-bad-image", "skip", "--json", str(tmp_path / "s.json")]) == 0
    out = capsys.readouterr().out
    assert "skipped not_an_image.png" in out
    doc = json.loads((tmp_path / "s.json").read_text())
    assert list(doc["skipped"]) == ["not_an_image.png"] and doc["summary"]["probes"] == 36


def test_mixed_sizes_grey_and_cmyk_probes_run_and_a_noise_probe_is_flagged(watchlist, tmp_path):
    from PIL import Image

    import lrfr
    from lrfr.io import read_image

    probes = tmp_path / "mixed"
    probes.mkdir()
    face = Image.fromarray(read_image(sorted((watchlist / "probes-hr").rglob("*.jpg"))[0]))
    face.resize((12, 14), Image.BICUBIC).save(probes / "a_14x12.png")
    face.resize((16, 20), Image.BICUBIC).save(probes / "b_20x16.png")
    face.resize((24, 24), Image.BICUBIC).convert("L").save(probes / "c_grey.jpg")
    face.resize((12, 14), Image.BICUBIC).convert("CMYK").save(probes / "d_cmyk.jpg")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (14, 12, 3), dtype=np.uint8)).save(probes / "e_noise.png")
    g = lrfr.Gallery.build(watchlist / "enrol", progress=False)
    table = g.search(probes, progress=False, k=2)
    assert list(table["probe"]) == ["a_14x12.png", "b_20x16.png", "c_grey.jpg", "d_cmyk.jpg", "e_noise.png"]
    assert table["score"].notna().all() and "true_identity" not in table
    noise = table.set_index("probe").loc["e_noise.png"]
    assert noise["face_check"] == "not a face?" and table.attrs["summary"]["not_a_face"] == 1
    assert (table.set_index("probe").drop("e_noise.png")["face_check"] == "").all()


# -- the pipeline: what it refuses, in words ------------------------------------------------------------------

def test_the_probe_pipeline_refuses_an_untrained_front_end_and_an_unrelated_probe_recognizer(tmp_path):
    import lrfr
    from lrfr import recognition
    from lrfr.probe import ProbePipelineError
    from lrfr.recognition.weights import save_recognizer

    with pytest.raises(ProbePipelineError, match="front-end 'srresnet' is a learned architecture whose name alone would "
                                                 "build an untrained network"):
        lrfr.ProbePipeline.create(front_end="srresnet")
    with pytest.raises(ProbePipelineError, match="not a model file"):
        lrfr.ProbePipeline.create(front_end=str(tmp_path / "missing.pt"))
    assert lrfr.ProbePipeline.create(front_end="packaged:srgan_synth.pt").front_end.scale == 8
    other = recognition.build("sphere20a", width=0.125, embedding_dim=32)
    save_recognizer(other, tmp_path / "small.pt")
    with pytest.raises(ProbePipelineError, match=r"embeds in 32 dimensions, the gallery recognizer \(sphere20a\) in 256"):
        lrfr.ProbePipeline.create(probe_weights=str(tmp_path / "small.pt"))
    same_size = recognition.build("sphere20a", width=0.125, embedding_dim=256)
    save_recognizer(same_size, tmp_path / "stranger.pt")
    with pytest.raises(ProbePipelineError, match="was not trained against the gallery recognizer .* its file names no "
                                                 "recognizer it was trained against"):
        lrfr.ProbePipeline.create(probe_weights=str(tmp_path / "stranger.pt"))
    # the packaged student was distilled from the CASIA MobileFaceNet: accepted against its packaged fp16 copy
    pipe = lrfr.ProbePipeline.preset("lr14x12")
    assert pipe.cross and pipe.fingerprint()["probe_weights_sha256"] != pipe.fingerprint()["weights_sha256"]


def test_a_gallery_refuses_probes_embedded_for_another_gallery_recognizer(watchlist, tmp_path, capsys):
    gallery = tmp_path / "g.lrfr"
    assert main(["index", "build", "--data", str(watchlist / "enrol"), "--weights", "packaged:sphere20a_synth.pt",
                 "--out", str(gallery), "--quiet"]) == 0
    capsys.readouterr()
    one_error_line(capsys, ["index", "search", "--index", str(gallery), "--images", str(watchlist / "probes"),
                            "--preset", "lr14x12", "--quiet"],
                   r"g\.lrfr was embedded by another gallery recognizer \(architecture, weights differ\): it holds "
                   r"\[recognizer=sphere20a.*this search uses \[recognizer=mobilefacenet")
    one_error_line(capsys, ["index", "search", "--index", str(gallery), "--images", str(watchlist / "probes"),
                            "--front-end", "srresnet", "--quiet"], r"learned architecture whose name alone would build")


def test_bad_probe_folders_and_calibrations_are_one_line(watchlist, tmp_path, capsys):
    gallery = tmp_path / "g.lrfr"
    assert main(["index", "build", "--data", str(watchlist / "enrol"), "--weights", "packaged:sphere20a_synth.pt",
                 "--out", str(gallery), "--quiet"]) == 0
    (tmp_path / "empty").mkdir()
    search = ["index", "search", "--index", str(gallery), "--quiet", "--images"]
    one_error_line(capsys, search + [str(tmp_path / "empty")], r"probe folder .*empty holds no images")
    one_error_line(capsys, search + [str(tmp_path / "nowhere")], r"probe image or folder not found: .*nowhere")
    cal = tmp_path / "os.json"
    assert main(["calibrate", "--open-set", "--enrol", str(watchlist / "enrol"), "--probes", str(watchlist / "probes"),
                 "--out", str(cal), "--quiet"]) == 0
    one_error_line(capsys, search + [str(watchlist / "probes"), "--calibration", str(cal), "--front-end",
                                     "packaged:cface_synth.pt"],
                   r"open-set calibration was made for another probe pipeline \(front_end: bicubic there, cface-v2 here")
    (tmp_path / "bad.json").write_text("{}")
    one_error_line(capsys, search + [str(watchlist / "probes"), "--calibration", str(tmp_path / "bad.json")],
                   r"format None, expected 'lrfr-openset/1'")
    one_error_line(capsys, ["degrade", str(watchlist / "probes-hr"), str(watchlist / "probes"), "--quiet"],
                   r"exists and is not empty")


def test_degrade_leaves_nothing_half_written(tmp_path, capsys):
    src = _write_faces(tmp_path / "src", n_identities=2, per_identity=2)
    (src / "synth_3000001" / "zz_broken.jpg").write_bytes(b"\xff\xd8 truncated")
    one_error_line(capsys, ["degrade", str(src), str(tmp_path / "lr"), "--quiet"], r"cannot read image .*zz_broken")
    assert not (tmp_path / "lr").exists() and not list(tmp_path.glob(".lr*"))


# -- open set: thresholds for an FPIR, gallery-size aware -----------------------------------------------------

def test_the_fpir_model_matches_the_top_score_of_a_gallery_of_that_size():
    from lrfr.openset import fpir_at, impostor_scores, threshold_for_fpir

    rng = np.random.default_rng(0)
    centre = rng.normal(0.1, 0.03, (4000, 1))  # each unknown probe its own impostor mean
    scores = centre + rng.normal(0.0, 0.1, (4000, 400))  # against 400 identities
    impostors = impostor_scores(scores[:, :50], np.full(4000, -1))  # calibrated on 50 of them
    for n in (10, 50, 400):  # within the calibration's identities (exact resampling), and beyond (normal model)
        t = threshold_for_fpir(impostors, 0.05, n)
        top = scores[:, 50:50 + n].max(1) if n <= 350 else scores.max(1)  # a gallery of n identities
        assert abs((top >= t).mean() - 0.05) < 0.015, (n, (top >= t).mean())
        assert fpir_at(impostors, t, n) <= 0.05
    assert threshold_for_fpir(impostors, 0.05, 400) > threshold_for_fpir(impostors, 0.05, 50) > \
        threshold_for_fpir(impostors, 0.05, 10)
    exact = impostor_scores(scores[:, :50], np.full(4000, -1))
    t = threshold_for_fpir(exact, 0.05, 50)
    assert abs((scores[:, :50].max(1) >= t).mean() - 0.05) < 0.002  # N = M: the calibration gallery's own FPIR
    # per-pair FAR vs FPIR: the threshold of FAR 1e-3 lets far more than 1e-3 of the unknown probes through
    far_threshold = np.quantile(scores.ravel(), 1 - 1e-3)
    assert (scores.max(1) >= far_threshold).mean() > 0.03


def test_open_set_calibration_is_stored_with_its_pipeline_and_gallery_size(watchlist, tmp_path, capsys):
    import warnings

    import lrfr
    from lrfr.errors import LrfrWarning
    from lrfr.openset import OpenSetCalibration

    assert main(["calibrate", "--open-set", "--enrol", str(watchlist / "enrol"), "--probes",
                 str(watchlist / "probes"), "--gallery-size", "100", "--fpir", "0.05", "0.2", "--out",
                 str(tmp_path / "os.json"), "--quiet"]) == 0
    cal = OpenSetCalibration.load(tmp_path / "os.json")
    assert cal.gallery_size == 100 and [p["fpir"] for p in cal.points] == [0.05, 0.2]
    assert cal.threshold(0.05) > cal.threshold(0.2)
    assert cal.fingerprint == lrfr.ProbePipeline.create().fingerprint()
    g = lrfr.Gallery.build(watchlist / "enrol", progress=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = g.search(watchlist / "probes", calibration=cal, fpir=0.05, progress=False)
    assert any(issubclass(w.category, LrfrWarning) and "the calibration assumed 100" in str(w.message) for w in caught)
    assert table.attrs["threshold"] == cal.threshold(0.05)


# -- the protocols -----------------------------------------------------------------------------------------------

def test_the_watchlist_protocol_through_lrfr_evaluate(watchlist):
    import lrfr

    table = lrfr.evaluate(["bicubic", "packaged:cface_synth.pt"], protocol="watchlist", data=watchlist, progress=False)
    assert list(table["sr"]) == ["bicubic", "cface-v2"]
    row = table.iloc[1]
    assert row["probes"].startswith("native LR") and np.isnan(row["psnr"]) and "not computed" in row["quality"]
    assert row["n_enrolled"] == 12 and row["n_known_probes"] == 24 and row["n_unknown_probes"] == 12
    assert 0 <= row["dir@fpir=0.01"] <= row["dir@fpir=0.1"] <= row["rank1"] <= row["rank5"] <= row["rank10"] <= 1
    assert table.iloc[1]["rank1"] > table.iloc[0]["rank1"]  # the SynthFaces generator restores identity
    res = table.attrs["results"][("cface-v2", "watchlist")]
    ranks, rate = res.cmc
    assert ranks[0] == 1 and np.all(np.diff(rate) >= 0) and rate[-1] == 1.0


def test_watchlist_hr_probes_are_degraded_in_memory_when_a_scale_is_given(watchlist, tmp_path):
    import shutil

    import lrfr

    root = tmp_path / "hr"
    shutil.copytree(watchlist / "enrol", root / "enrol")
    shutil.copytree(watchlist / "probes-hr", root / "probes")
    native = lrfr.evaluate("bicubic", protocol="watchlist", data=watchlist, progress=False).iloc[0]
    degraded = lrfr.evaluate("bicubic", protocol="watchlist", data=root, scale=8, progress=False).iloc[0]
    assert degraded["probes"].startswith("HR degraded in memory: x8 by down:bicubic")
    assert degraded["rank1"] == pytest.approx(native["rank1"], abs=1 / 24 + 1e-9)  # 8-bit storage at most one probe


def _tinyface_miniature(watchlist, root):
    """TinyFace's layout from the SynthFaces watchlist: probes and matches 14x12, distractors."""
    import shutil

    from scipy.io import savemat

    from lrfr.data.probe_sets import write_lr_set

    t = root / "Testing_Set"
    root.mkdir()
    write_lr_set(watchlist / "probes-hr", root / "lr", scale=8, progress=False)
    write_lr_set(watchlist / "enrol", root / "lr_enrol", scale=8, progress=False)
    enrolled = sorted(p.name for p in (watchlist / "enrol").iterdir())
    ids = {name: i + 1 for i, name in enumerate(enrolled)}
    for sub in ("Probe", "Gallery_Match", "Gallery_Distractor"):
        (t / sub).mkdir(parents=True)
    probes, probe_ids, matches, match_ids = [], [], [], []
    for p in sorted((root / "lr").rglob("*.png")):
        who = p.parent.name
        if who in ids:
            shutil.copy(p, t / "Probe" / p.name)
            probes.append(p.name)
            probe_ids.append(ids[who])
        else:
            shutil.copy(p, t / "Gallery_Distractor" / p.name)
    for p in sorted((root / "lr_enrol").rglob("*.png")):
        shutil.copy(p, t / "Gallery_Match" / p.name)
        matches.append(p.name)
        match_ids.append(ids[p.parent.name])
    cell = lambda names: np.array([[np.array([n])] for n in names], dtype=object)  # noqa: E731 - a MATLAB cell column
    savemat(t / "probe_img_ID_pairs.mat", {"probe_set": cell(probes), "probe_ids": np.array(probe_ids)[:, None]})
    savemat(t / "gallery_match_img_ID_pairs.mat", {"gallery_set": cell(matches), "gallery_ids": np.array(match_ids)[:, None]})
    return root


def test_the_tinyface_reader_scores_a_miniature_in_its_layout(watchlist, tmp_path, capsys):
    import lrfr
    from lrfr.watchlist import average_precision

    root = _tinyface_miniature(watchlist, tmp_path / "tinyface")
    table = lrfr.evaluate("packaged:cface_synth.pt", protocol="tinyface", data=root, progress=False)
    row = table.iloc[0]
    assert row["n_probes"] == 24 and row["n_gallery_match"] == 12 and row["n_distractors"] == 12
    assert 0 < row["rank1"] <= row["rank5"] <= row["rank20"] <= 1 and 0 < row["map"] <= 1
    res = table.attrs["results"][("cface-v2", "tinyface")]
    assert np.isclose(res.table["ap"].mean(), row["map"]) and ((res.table["rank"] == 1).mean() == row["rank1"])
    # AP as TinyFace's (Market-1501) code computes it: hits at ranks 1 and 3 of 2 good → (1 + (1/2 + 2/3)/2) / 2
    good = np.array([True, False, True, False])
    ap, cmc = average_precision(good, np.array([0, 1, 2, 3]))
    assert ap == pytest.approx((1.0 + (0.5 + 2 / 3) / 2) / 2) and list(cmc) == [1, 1, 1, 1]
    (root / "Testing_Set" / "Probe" / sorted(p.name for p in (root / "Testing_Set" / "Probe").iterdir())[0]).unlink()
    one_error_line(capsys, ["evaluate", "--protocol", "tinyface", "--data", str(root), "--weights",
                            "packaged:sphere20a_synth.pt", "--quiet"],
                   r"probe_img_ID_pairs\.mat names 1 image\(s\) missing from .*Probe")
