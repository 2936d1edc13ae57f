"""The one model-file format ("lrfr-model/1"): round trips through lrfr.sr.load and
lrfr.recognition.load, dtype handling, and an error naming the file for every way a file can be wrong."""
from pathlib import Path

import pytest
import torch

import lrfr.recognition as rec
import lrfr.sr as sr
from lrfr.modelfile import FORMAT, KEYS, ModelFileError, read_model, save_model
from lrfr.recognition.weights import WeightsError

PACKAGED = Path(rec.__file__).resolve().parents[1] / "weights" / "sphere20a_synth.pt"


def tiny_generator(seed: int = 0, **kw):
    torch.manual_seed(seed)
    g = sr.build("srresnet", scale=4, channels=8, blocks=2, **kw)
    with torch.no_grad():  # non-trivial BN statistics, so a round trip that drops buffers shows
        g.train()(torch.rand(4, 3, 8, 8))
    return g.eval()


def tiny_recognizer():
    torch.manual_seed(0)
    return rec.build("sphere20a", width=0.125, embedding_dim=32)


def test_fp32_round_trip_is_identical(tmp_path):
    g = tiny_generator()
    meta = {"pipeline": "srresnet_tiny", "steps": 12, "data": "SynthFaces train", "config_sha256": "ab" * 32}
    path = sr.save(g, tmp_path / "runs" / "generator.pt", meta=meta)
    payload = torch.load(path, weights_only=True)
    assert set(payload) == set(KEYS) and payload["format"] == FORMAT == "lrfr-model/1"
    assert payload["family"] == "sr" and payload["arch"] == "srresnet" and payload["dtype"] == "float32"
    assert payload["kwargs"] == g.build_kwargs and payload["meta"] == meta
    back = sr.load(path)
    assert not back.training and back.name == "srresnet_tiny" and back.weights_meta == meta
    assert back.weights_path == str(path)
    lr = torch.rand(2, 3, 14, 12)
    assert torch.equal(back(lr), g(lr))
    assert [p.name for p in tmp_path.joinpath("runs").iterdir()] == ["generator.pt"]  # no temp files left


def test_fp16_file_is_smaller_and_loads_into_fp32(tmp_path):
    g = tiny_generator()
    full = sr.save(g, tmp_path / "g32.pt")
    half = sr.save(g, tmp_path / "g16.pt", dtype="float16")
    assert half.stat().st_size < 0.75 * full.stat().st_size
    info = read_model(half, family="sr")
    assert info["dtype"] == "float16" and info["state_dict"]["tail.weight"].dtype == torch.float16
    assert info["state_dict"]["trunk.0.body.1.num_batches_tracked"].dtype == torch.int64  # ints untouched
    back = sr.load(half)
    assert all(p.dtype == torch.float32 for p in back.parameters())
    assert back.name == "srresnet"  # no pipeline in meta → the arch
    lr = torch.rand(2, 3, 14, 12)
    torch.testing.assert_close(back(lr), g(lr), atol=2e-2, rtol=1e-2)


def test_discriminator_round_trip(tmp_path):
    torch.manual_seed(0)
    d = sr.build_discriminator("srgan", channels=4, dense=8).eval()
    path = sr.save_discriminator(d, tmp_path / "d.pt", meta={"pipeline": "srgan"})
    back = sr.load_discriminator(path)
    x = torch.rand(2, 3, 16, 16)
    assert torch.equal(back(x), d(x)) and back.arch == "srgan"
    with pytest.raises(ModelFileError, match=r"d\.pt holds an SR discriminator .*not an SR generator"):
        sr.load(path)
    with pytest.raises(TypeError, match="save_discriminator"):
        sr.save(d, tmp_path / "wrong.pt")


def test_recognizer_file_given_to_sr_load_says_so(tmp_path):
    legacy = rec.save_recognizer(tiny_recognizer(), tmp_path / "runs" / "x" / "recognizer.pt")
    with pytest.raises(ModelFileError, match=r"recognizer\.pt holds a recognizer \('sphere20a'\), not an SR "
                                             r"generator; pass it as --weights"):
        sr.load(legacy)
    unified = save_model(tiny_recognizer(), tmp_path / "rec_model.pt", family="recognizer")
    with pytest.raises(ModelFileError, match=r"rec_model\.pt holds a recognizer"):
        sr.load(unified)


def test_sr_file_given_to_recognition_load_says_so(tmp_path):
    path = sr.save(tiny_generator(), tmp_path / "generator.pt")
    with pytest.raises(WeightsError, match=r"generator\.pt holds an SR generator \('srresnet'\), not a "
                                           r"recognizer; pass it as --sr"):
        rec.load(weights=path)
    with pytest.raises(ModelFileError, match="generator.pt holds an SR generator"):
        rec.load("sphere20a", weights=path)


def test_recognizer_in_the_unified_format_loads(tmp_path):
    net = tiny_recognizer().eval()
    path = save_model(net, tmp_path / "rec.pt", family="recognizer", meta={"pipeline": "sphereface"},
                      dtype="float16")
    back = rec.load(weights=path)
    assert not back.training and back.weights_meta == {"pipeline": "sphereface"}
    assert all(p.dtype == torch.float32 for p in back.parameters())
    x = torch.rand(2, 3, 112, 96)
    torch.testing.assert_close(back(x), net(x), atol=5e-2, rtol=5e-2)


def test_packaged_recognizer_still_loads():
    net = rec.load(weights=PACKAGED)
    assert not net.training and net.arch == "sphere20a"
    assert read_model(PACKAGED, family="recognizer")["format"] == "lrfr-recognizer/1"  # legacy tag read


def test_truncated_file_names_the_file(tmp_path):
    good = sr.save(tiny_generator(), tmp_path / "good.pt")
    cut = tmp_path / "generator_cut.pt"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ModelFileError, match=r"cannot read SR generator model file .*generator_cut\.pt.*"
                                             r"truncated or corrupt.*Expected an lrfr model file"):
        sr.load(cut)
    garbage = tmp_path / "noise.pt"
    garbage.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(ModelFileError, match=r"noise\.pt.*neither a torch\.save zip archive"):
        sr.load(garbage)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.pt"):
        sr.load(tmp_path / "nope.pt")
    with pytest.raises(FileNotFoundError, match=r"nope\.pt"):
        sr.load_discriminator(tmp_path / "nope.pt")
    with pytest.raises(ModelFileError, match="is not a file"):
        sr.load(tmp_path)


def _rewrite(path, **changes):
    payload = torch.load(path, weights_only=True)
    payload.update(changes)
    for k in [k for k, v in changes.items() if v is _DROP]:
        del payload[k]
    torch.save(payload, path)
    return path


_DROP = object()


def test_unknown_architecture_in_file_lists_known(tmp_path):
    path = _rewrite(sr.save(tiny_generator(), tmp_path / "g.pt"), arch="edsr")
    with pytest.raises(ModelFileError, match=r"g\.pt holds SR model architecture 'edsr'.*known: bicubic, .*srresnet"):
        sr.load(path)


def test_unknown_and_missing_keys_and_bad_values(tmp_path):
    g = tiny_generator()
    path = _rewrite(sr.save(g, tmp_path / "extra.pt"), ema={"x": 1})
    with pytest.raises(ModelFileError, match=r"extra\.pt: unknown key\(s\) \['ema'\]"):
        sr.load(path)
    path = _rewrite(sr.save(g, tmp_path / "noarch.pt"), arch=_DROP)
    with pytest.raises(ModelFileError, match=r"noarch\.pt: model file lacks \['arch'\]"):
        sr.load(path)
    path = _rewrite(sr.save(g, tmp_path / "newer.pt"), format="lrfr-model/2")
    with pytest.raises(ModelFileError, match=r"newer\.pt: model file format 'lrfr-model/2' is not supported"):
        sr.load(path)
    path = _rewrite(sr.save(g, tmp_path / "fam.pt"), family="vocoder")
    with pytest.raises(ModelFileError, match=r"fam\.pt: unknown model family 'vocoder'"):
        sr.load(path)
    path = _rewrite(sr.save(g, tmp_path / "kw.pt"), kwargs={**g.build_kwargs, "depth": 3})
    with pytest.raises(ModelFileError, match=r"kw\.pt: cannot rebuild SR model 'srresnet'.*'depth'"):
        sr.load(path)
    path = _rewrite(sr.save(g, tmp_path / "shape.pt"), kwargs={**g.build_kwargs, "channels": 16})
    with pytest.raises(ModelFileError, match=r"shape\.pt does not fit architecture 'srresnet'.*shape mismatch"):
        sr.load(path)


def test_foreign_payloads_are_explained(tmp_path):
    g = tiny_generator()
    bare = tmp_path / "bare.pt"
    torch.save(g.state_dict(), bare)
    with pytest.raises(ModelFileError, match=r"bare\.pt holds a bare state dict .*not an lrfr model file of an SR "
                                             r"generator; expected"):
        sr.load(bare)
    ckpt = tmp_path / "last.ckpt"
    torch.save({"format": "lrfr-checkpoint/1", "step": 3}, ckpt)
    with pytest.raises(ModelFileError, match=r"last\.ckpt is an lrfr training checkpoint"):
        sr.load(ckpt)


def test_save_refuses_what_it_cannot_write(tmp_path):
    g = tiny_generator()
    with pytest.raises(TypeError, match="meta must hold plain types"):
        sr.save(g, tmp_path / "g.pt", meta={"when": object()})
    with pytest.raises(ValueError, match="dtype must be one of"):
        sr.save(g, tmp_path / "g.pt", dtype="int8")
    with pytest.raises(ValueError, match="family must be one of"):
        save_model(g, tmp_path / "g.pt", family="generator")
    assert not (tmp_path / "g.pt").exists()
