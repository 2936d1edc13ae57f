"""``lrfr export``: every shipped network as an ONNX file, checked against PyTorch before it is written.

    lrfr export packaged:lr_mobilefacenet_celeba.pt --onnx student.onnx
    report = lrfr.export.to_onnx("results/weights/srgan.pt", "srgan.onnx")

A model file (or ``packaged:NAME``, or a module) is read for what it is — a recognizer, a generator or a prior —
and written by :func:`lrfr.onnx_files.export_network`, whose docstring says what each exported file computes,
what its metadata holds and how the export is checked. Recognizers are exported BatchNorm-folded
(:func:`lrfr.recognition.onnx_backend.recognizer_graph`).
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from lrfr.onnx_files import OPSET, ExportError, ExportReport, export_network

__all__ = ["to_onnx", "load_network", "ExportError", "ExportReport"]


def load_network(source) -> tuple[nn.Module, str, dict, str]:
    """``(network, family, file meta, sha256)`` of a model file, ``packaged:NAME`` or module."""
    from lrfr.fingerprint import file_sha256, module_digest
    from lrfr.weights import resolve

    if isinstance(source, nn.Module):
        family = "recognizer" if hasattr(source, "embedding_dim") else "sr" if hasattr(source, "scale") else None
        if family is None:
            raise ExportError(f"a {type(source).__name__} is neither a recognizer nor a generator: lrfr exports those")
        return source.eval(), family, dict(getattr(source, "weights_meta", None) or {}), f"module:{module_digest(source)}"
    path = resolve(source)
    if not Path(path).is_file():
        raise ExportError(f"model file not found: {path}")
    from lrfr.modelfile import ModelFileError, read_model

    try:
        info = read_model(path)
        family = info["family"]
    except (ModelFileError, KeyError, ValueError):
        family = "recognizer"  # a foreign recognizer checkpoint (e.g. the CASIA MobileFaceNet's)
        info = {"meta": {}}
    if family == "recognizer":
        from lrfr import recognition

        model = recognition.load(weights=path)
    elif family == "sr":
        from lrfr import sr

        model = sr.load(path)
    elif family == "prior":
        from lrfr.priors.landmarks import load_heatmap_net

        model = load_heatmap_net(path)
    else:
        raise ExportError(f"{path} holds a {family}: lrfr exports recognizers, generators and priors")
    return model.float().eval(), family, dict(info.get("meta") or {}), file_sha256(path)


def to_onnx(source, out, *, opset: int = OPSET, faces: torch.Tensor | None = None) -> ExportReport:
    """Export ``source`` (a model file, ``packaged:NAME`` or module) to ``out``; returns the report."""
    model, family, meta, sha = load_network(source)
    if family == "recognizer":
        from lrfr.recognition.onnx_backend import recognizer_graph

        graph = recognizer_graph(model)
    else:
        graph = model
    return export_network(graph, model, family, Path(out), meta=meta, sha=sha, opset=opset, faces=faces)
