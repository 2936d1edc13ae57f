"""lrfr — low-resolution face recognition.

Super-resolve tiny faces so that their identity survives, and measure that on the field's
protocols (LFW standard, LFW-BLUFR, CelebA verification, PSNR/SSIM).

    import lrfr
    table = lrfr.evaluate("bicubic", protocol="blufr", data="path/to/lfw", scale=8)
"""
__version__ = "0.1.0"


def __getattr__(name):
    # Lazy: `import lrfr` stays light; lrfr.evaluate pulls in torch, faiss and the protocols.
    if name == "evaluate":
        from lrfr.evaluation import evaluate

        return evaluate
    raise AttributeError(f"module 'lrfr' has no attribute {name!r}")


__all__ = ["evaluate", "__version__"]
