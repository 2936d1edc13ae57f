"""lrfr — low-resolution face recognition.

Super-resolve tiny faces so that their identity survives, and measure that on the field's
protocols (LFW standard, LFW-BLUFR, CelebA verification, PSNR/SSIM).

    import lrfr
    table = lrfr.evaluate("bicubic", protocol="blufr", data="path/to/lfw", scale=8,
                          recognizer="mobilefacenet", weights="mobilefacenet_casia_068.ckpt")
    model = lrfr.sr.build("bicubic", scale=8)
"""
import importlib
import os

# OpenMP worker threads (torch's CPU kernels) spin while they wait for work by default. On a machine
# shared with other processes that spinning steals the cores: measured on 2 cores under load, embedding
# ran 3-9x slower and used 3-6x the CPU per image. Waiting passively costs nothing measurable when
# the machine is idle (`lrfr bench all` records both). Takes effect only when lrfr is imported before
# torch (the `lrfr` command always is); set OMP_WAIT_POLICY=ACTIVE to keep OpenMP's default.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

# Subpackages load on first use, so `import lrfr` stays light (no torch, faiss or MTCNN until needed).
_SUBPACKAGES = {"data", "sr", "recognition", "losses", "index", "engine", "recipes", "results", "metrics",
                "protocols", "bench", "cli"}
#: the public objects, each from the module that defines it (loaded on first use)
_OBJECTS = {"evaluate": "lrfr.evaluation", "calibrate": "lrfr.evaluation", "Gallery": "lrfr.gallery",
            "ProbePipeline": "lrfr.probe"}


def __getattr__(name):
    if name in _OBJECTS:  # lrfr.evaluate is the function; its module is lrfr.evaluation (docs/architecture.md)
        return getattr(importlib.import_module(_OBJECTS[name]), name)
    if name in _SUBPACKAGES:
        return importlib.import_module(f"lrfr.{name}")
    raise AttributeError(f"module 'lrfr' has no attribute {name!r}")


# `from lrfr import *` gives the public objects, not every subpackage (which would load every recipe)
__all__ = ["__version__", *_OBJECTS]
