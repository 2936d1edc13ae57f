import numpy as np
import pytest
import torch

from lrfr.io import atomic_torch_save, atomic_write, read_image, to_tensor01, to_uint8, write_image
from lrfr.engine.checkpoint import load_checkpoint, save_checkpoint


def test_atomic_write_keeps_old_file_when_writer_fails(tmp_path):
    target = tmp_path / "ckpt.pt"
    atomic_torch_save({"step": 1}, target)

    def crash(p):
        p.write_bytes(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, crash)
    assert torch.load(target, weights_only=True) == {"step": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]  # no temp file left behind


def test_image_round_trip_and_errors(tmp_path):
    rgb = (np.arange(12 * 10 * 3) % 256).astype(np.uint8).reshape(12, 10, 3)
    write_image(tmp_path / "a.png", rgb)
    assert np.array_equal(read_image(tmp_path / "a.png"), rgb)
    t = to_tensor01(rgb)
    assert t.shape == (3, 12, 10) and t.dtype == torch.float32
    assert np.array_equal(to_uint8(t), rgb)
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        read_image(tmp_path / "missing.jpg")
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="bad.jpg"):
        read_image(tmp_path / "bad.jpg")


def test_checkpoint_format_checks(tmp_path):
    save_checkpoint(tmp_path / "c.pt", step=7, model={"w": torch.ones(2)})
    ck = load_checkpoint(tmp_path / "c.pt")
    assert ck["step"] == 7 and torch.equal(ck["model"]["w"], torch.ones(2))
    torch.save({"step": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not an lrfr training checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    (tmp_path / "trunc.pt").write_bytes((tmp_path / "c.pt").read_bytes()[:100])
    with pytest.raises(ValueError, match="trunc.pt"):
        load_checkpoint(tmp_path / "trunc.pt")
