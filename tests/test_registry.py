import pytest
import torch

from lrfr import sr
from lrfr.registry import Registry


def test_unknown_name_lists_known_ones():
    reg = Registry("widget")
    reg.register("b")(lambda: 2)
    reg.register("a")(lambda: 1)
    with pytest.raises(KeyError, match=r"unknown widget 'c'; known: a, b"):
        reg.build("c")
    assert reg.build("a") == 1 and reg.names() == ["a", "b"]


def test_double_registration_is_an_error():
    reg = Registry("widget")
    reg.register("a")(lambda: 1)
    with pytest.raises(ValueError, match="twice"):
        reg.register("a")(lambda: 2)


def test_sr_registry_builds_bicubic_and_rejects_unknown():
    model = sr.build("bicubic", scale=8)
    out = model(torch.rand(2, 3, 14, 12))
    assert out.shape == (2, 3, 112, 96)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    with pytest.raises(KeyError, match="bicubic"):
        sr.build("srgann", scale=8)


def test_recognition_registry_unknown_name():
    from lrfr import recognition

    with pytest.raises(KeyError, match="sphere20a"):
        recognition.build("sphere21a")
