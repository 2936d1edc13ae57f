"""Exact comparison of nested training states (state dicts, optimizer states): the resume tests' check."""
import torch


def assert_same_state(a, b, where=""):
    """Assert ``a`` and ``b`` are equal bit for bit, naming the first entry that differs."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            assert_same_state(a[k], b[k], f"{where}.{k}")
    elif torch.is_tensor(a):
        assert torch.equal(a, b), f"{where} differs"
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_state(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"
