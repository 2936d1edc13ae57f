"""Shared fixtures. Real-data tests read ../shared beside the checkout (or $LRFR_SHARED) and
skip cleanly where it is absent; nothing from there is ever copied into the repository."""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as `import lrfr` does; here it must precede torch's import

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LRFR_SHARED", REPO.parent / "shared"))


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        pytest.skip(f"{what} not found at {path} (set LRFR_SHARED to the shared folder)")
    return path


@pytest.fixture(scope="session")
def lfw_root() -> Path:
    """Folder holding lfw-112x96/, pairs.txt and blufr_lfw_config.mat."""
    return _need(SHARED / "data" / "lfw", "LFW (aligned 112×96)")


@pytest.fixture(scope="session")
def lfw_images(lfw_root) -> Path:
    return _need(lfw_root / "lfw-112x96", "LFW images")


@pytest.fixture(scope="session")
def celeba_root() -> Path:
    return _need(SHARED / "data" / "celeba-train-112x96", "CelebA (aligned 112×96)")


@pytest.fixture(scope="session")
def mobilefacenet_weights() -> Path:
    return _need(SHARED / "weights" / "mobilefacenet_casia_068.ckpt", "MobileFaceNet CASIA weights")


@pytest.fixture(autouse=True, scope="session")
def _few_threads():
    # The CI machine has 2 cores; keep torch from oversubscribing them.
    import torch

    torch.set_num_threads(2)
    yield


@pytest.fixture(autouse=True, scope="module")
def _threads_restored():
    """A test module that changes torch's thread count must not leave it changed for the next one."""
    import torch

    before = torch.get_num_threads()
    yield
    if torch.get_num_threads() != before:
        torch.set_num_threads(before)
