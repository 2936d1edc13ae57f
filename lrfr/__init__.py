"""lrfr — low-resolution face recognition.

Super-resolve tiny faces so that their identity survives, and measure that on the field's
protocols (LFW standard, LFW-BLUFR, CelebA verification, PSNR/SSIM).

    import lrfr
    table = lrfr.evaluate("bicubic", protocol="blufr", data="path/to/lfw", scale=8,
                          recognizer="mobilefacenet", weights="mobilefacenet_casia_068.ckpt")
    model = lrfr.sr.build("bicubic", scale=8)
"""
import importlib

__version__ = "0.1.0"

# Subpackages load on first use, so `import lrfr` stays light (no torch, faiss or MTCNN until needed).
_SUBPACKAGES = {"data", "sr", "recognition", "losses", "index", "train", "metrics", "protocols", "bench", "cli"}


def __getattr__(name):
    if name == "evaluate":  # the function; its module is lrfr.evaluation (see docs/architecture.md)
        from lrfr.evaluation import evaluate

        return evaluate
    if name in _SUBPACKAGES:
        return importlib.import_module(f"lrfr.{name}")
    raise AttributeError(f"module 'lrfr' has no attribute {name!r}")


__all__ = ["evaluate", "__version__", *sorted(_SUBPACKAGES)]
