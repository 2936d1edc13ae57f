"""onnxruntime as a recognizer backend: an exported recognizer (``lrfr export``) used wherever a PyTorch one is.

    net = lrfr.recognition.load(weights="student.onnx")          # an OnnxRecognizer
    feats = lrfr.recognition.embed(net, faces, flip="concat")
    feats = lrfr.recognition.embed(torch_net, faces, backend="onnxruntime")   # exported once, cached on disk

:class:`OnnxRecognizer` is an ``nn.Module`` without parameters that runs an ONNX session on the CPU: it
declares the input size, embedding size and normalization its file's metadata states (:mod:`lrfr.export`) and
checks its input as every lrfr recognizer does. :func:`onnx_copy` exports a PyTorch recognizer once per
``module_digest`` into :func:`cache_dir` (``$LRFR_CACHE/onnx``, default ``~/.cache/lrfr/onnx``) and loads it.
A file of another lrfr version, of another family, or not lrfr's is refused in one line (re-export it).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lrfr.errors import LrfrError

BACKENDS = ("torch", "onnxruntime")


class OnnxBackendError(LrfrError, ValueError):
    """An ONNX recognizer that lrfr cannot use here, or onnxruntime missing, said in one line."""


def require_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise OnnxBackendError("the onnxruntime backend needs onnxruntime: pip install 'lrfr[onnx]'") from None
    return onnxruntime


def cache_dir() -> Path:
    return Path(os.environ.get("LRFR_CACHE") or Path.home() / ".cache" / "lrfr") / "onnx"


class OnnxRecognizer(nn.Module):
    """An lrfr-exported recognizer run by onnxruntime (CPU); the metadata of its file is ``metadata``."""

    def __init__(self, path, threads: int | None = None):
        super().__init__()
        import lrfr
        from lrfr.onnx_files import FORMAT, read_metadata

        ort = require_onnxruntime()
        path = Path(path)
        meta = read_metadata(path)
        if meta.get("format") != FORMAT:
            raise OnnxBackendError(f"{path}: not an ONNX file exported by lrfr (no {FORMAT!r} metadata): export it with "
                                   "lrfr export")
        if meta.get("family") != "recognizer":
            raise OnnxBackendError(f"{path} holds a {meta.get('family')}, not a recognizer")
        if meta.get("lrfr_version") != lrfr.__version__:
            raise OnnxBackendError(f"{path} was exported by lrfr {meta.get('lrfr_version')}, this is lrfr "
                                   f"{lrfr.__version__}: export it again (lrfr export)")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.metadata, self.weights_path = meta, str(path)
        self.arch = meta["arch"]
        h, w = (int(v) for v in meta["input_size"].split("x"))
        self.input_size, self.embedding_dim = (h, w), int(meta["embedding_dim"])
        self.weights_meta = {"source_sha256": meta.get("source_sha256"),
                             "teacher": {"sha256": meta["teacher_sha256"]} if meta.get("teacher_sha256") else {}}
        self._input = self.session.get_inputs()[0].name

    def check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != 3 or tuple(x.shape[-2:]) != self.input_size:
            raise ValueError(f"{self.arch} (ONNX) expects RGB float tensors (N, 3, {self.input_size[0]}, "
                             f"{self.input_size[1]}) in [0, 1]; got shape {tuple(x.shape)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        out = self.session.run(None, {self._input: x.detach().float().cpu().contiguous().numpy()})[0]
        return torch.from_numpy(np.asarray(out, np.float32)).to(x.device)

    forward_trusted = forward

    def extra_repr(self) -> str:
        return f"arch={self.arch}, input_size={self.input_size}, embedding_dim={self.embedding_dim}, {self.weights_path}"


#: sessions of this process, by file: a session costs a graph optimization to open
_SESSIONS: dict[str, OnnxRecognizer] = {}


def recognizer_graph(model: nn.Module) -> nn.Module:
    """What a recognizer exports: ``features(normalize(x))``, every BatchNorm folded (:mod:`.inference`)."""
    from lrfr.recognition.inference import _Features, inference_copy

    folded = inference_copy(model)
    return folded.graph if folded is not None else _Features(model)


def onnx_copy(model: nn.Module) -> OnnxRecognizer:
    """``model`` exported once (keyed by its digest) into :func:`cache_dir`, run by onnxruntime; the session is
    kept for the process."""
    if isinstance(model, OnnxRecognizer):
        return model
    require_onnxruntime()
    import lrfr
    from lrfr.fingerprint import module_digest
    from lrfr.onnx_files import export_network

    digest = module_digest(model)
    path = cache_dir() / f"{getattr(model, 'arch', 'recognizer')}-{digest}-{lrfr.__version__}.onnx"
    if str(path) not in _SESSIONS:
        if not path.is_file():
            export_network(recognizer_graph(model), model, "recognizer", path, sha=f"module:{digest}",
                           meta=dict(getattr(model, "weights_meta", None) or {}))
        _SESSIONS[str(path)] = OnnxRecognizer(path)
    return _SESSIONS[str(path)]
