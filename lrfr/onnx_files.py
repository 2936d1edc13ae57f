"""ONNX files of lrfr's networks: one written from a traced graph with lrfr's metadata, checked against PyTorch by
onnxruntime before it is kept; the metadata read back.

The networks' side (which graph a recognizer exports — BatchNorm folded —, where a model file comes from) is
:mod:`lrfr.export` and :mod:`lrfr.recognition.onnx_backend`; this module knows tensors and files only.

What an exported file computes:

* a **recognizer**: RGB float32 ``(N, 3, H, W)`` in [0, 1] at its input size → embedding ``(N, D)``; the
  normalization is inside the graph (as in PyTorch). Flip fusion is the caller's: lrfr's ``"concat"`` features
  are ``[f(x), f(flip(x))]`` (``x[..., ::-1]``), ``"sum"`` their sum;
* a **generator**: LR RGB float32 ``(N, 3, h, w)`` in [0, 1] → ``(N, 3, s·h, s·w)``, its bicubic skip inside;
  clamp the output to [0, 1] (PyTorch's ``super_resolve`` does);
* a **prior** (PFSR's landmark-heatmap network): a face ``(N, 3, H, W)`` in [0, 1] → its heatmaps.

The batch axis is dynamic (and a generator's height and width); the opset is :data:`OPSET` unless given. The
file's metadata (``metadata_props``) names the format (``lrfr-onnx/1``), family, architecture, input size and
range, normalization, embedding size or scale, lrfr's version, the source file's sha256, what it was trained on
and, for a distilled recognizer, its teacher's sha256. Every export is run by onnxruntime against PyTorch on
:data:`CHECK_FACES` faces (SynthFaces renders, or the faces given): a recognizer's features must agree to a
cosine of :data:`MIN_COSINE`, a generator's (and a prior's) outputs to :data:`MIN_PSNR` dB over their range;
the figures are returned, and a failing export is not written.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lrfr.errors import LrfrError

FORMAT = "lrfr-onnx/1"
OPSET = 17
CHECK_FACES = 16
MIN_COSINE = 0.99999
MIN_PSNR = 60.0


class ExportError(LrfrError, ValueError):
    """A network that cannot be exported, or whose export does not compute what PyTorch does, said why."""


@dataclass
class ExportReport:
    path: Path
    family: str
    arch: str
    opset: int
    metadata: dict[str, str]
    check: dict[str, float] = field(default_factory=dict)

    def line(self) -> str:
        c = self.check
        fig = (f"cosine to PyTorch min {c['cosine_min']:.8f}, mean {c['cosine_mean']:.8f}" if self.family == "recognizer"
               else f"PSNR to PyTorch {c['psnr_min']:.1f} dB (min over faces)")
        return (f"{self.arch} ({self.family}) → {self.path}: opset {self.opset}, checked on {int(c['faces'])} faces: {fig}")


def check_faces(n: int = CHECK_FACES, size: tuple[int, int] = (112, 96)) -> torch.Tensor:
    """Faces to check an export on: SynthFaces renders of identities no packaged network trained on."""
    from lrfr.data.synth import SynthFaces

    ds = SynthFaces(n_identities=n, images_per_identity=1, size=size, seed=77, identity_offset=5_000_000)
    return torch.stack([ds[i][0] for i in range(n)])


def export_network(graph: nn.Module, model: nn.Module, family: str, out, *, meta: dict, sha: str, opset: int = OPSET,
                   faces: torch.Tensor | None = None) -> ExportReport:
    """Trace ``graph`` (what ``model`` computes, ready to export) to ONNX, check it against ``model`` and write it
    to ``out`` (module doc); ``meta``: the source file's provenance, ``sha``: its sha256."""
    import onnx

    import lrfr

    arch = getattr(model, "arch", type(model).__name__)
    if family == "recognizer":
        size = tuple(int(s) for s in model.input_size)
        example = torch.rand(2, 3, *size)
        names, axes = (["faces"], ["embedding"]), {"faces": {0: "batch"}, "embedding": {0: "batch"}}
        info = {"input": f"RGB float32 (N, 3, {size[0]}, {size[1]}) in [0, 1]", "input_size": f"{size[0]}x{size[1]}",
                "normalization": f"inside the graph: (255 x - {model.pixel_mean}) / {model.pixel_std}"
                                 if hasattr(model, "pixel_mean") else "inside the graph",
                "embedding_dim": str(model.embedding_dim),
                "flip_fusion": "the caller's: lrfr 'concat' = [f(x), f(x[..., ::-1])]"}
    elif family == "prior":
        example = torch.rand(2, 3, 112, 96)
        names, axes = (["faces"], ["heatmaps"]), {"faces": {0: "batch", 2: "height", 3: "width"},
                                                  "heatmaps": {0: "batch", 2: "out_height", 3: "out_width"}}
        info = {"input": "RGB float32 (N, 3, H, W) in [0, 1]", "output": "landmark heatmaps"}
    else:
        example = torch.rand(2, 3, 14, 12)
        names = (["lr"], ["sr"])
        axes = {"lr": {0: "batch", 2: "height", 3: "width"}, "sr": {0: "batch", 2: "out_height", 3: "out_width"}}
        info = {"input": "LR RGB float32 (N, 3, h, w) in [0, 1], any h x w", "scale": str(model.scale),
                "output": "(N, 3, scale*h, scale*w); clamp to [0, 1]"}
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the tracer's notes on shape checks it folds into constants
            torch.onnx.export(graph, (example,), buf, input_names=names[0], output_names=names[1],
                              dynamic_axes=axes, opset_version=opset, dynamo=False)
    except Exception as err:  # noqa: BLE001 - any exporter failure becomes one line naming the network
        raise ExportError(f"{arch} ({family}) cannot be exported to ONNX opset {opset}: "
                          f"{str(err).splitlines()[0] if str(err) else type(err).__name__}") from None
    proto = onnx.load_from_string(buf.getvalue())
    metadata = {"format": FORMAT, "family": family, "arch": arch, "lrfr_version": lrfr.__version__,
                "source_sha256": sha, "opset": str(opset), **info,
                **{k: str(meta[k]) for k in ("pipeline", "trained_on", "licence", "also_trained_on") if k in meta}}
    teacher = meta.get("teacher") or {}
    if teacher.get("sha256"):  # a distilled recognizer: what it was trained against (lrfr.probe checks it)
        metadata["teacher_sha256"] = str(teacher["sha256"])
    for k, v in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    data = proto.SerializeToString()
    check = parity(data, model, family, faces)
    report = ExportReport(Path(out), family, arch, opset, metadata, check)
    if family == "recognizer" and check["cosine_min"] < MIN_COSINE or family != "recognizer" and check["psnr_min"] < MIN_PSNR:
        raise ExportError(f"the ONNX export of {arch} does not compute what PyTorch does: {report.line()} (needs "
                          f"cosine >= {MIN_COSINE} / PSNR >= {MIN_PSNR} dB); nothing written")
    from lrfr.io import atomic_write

    atomic_write(Path(out), lambda tmp: Path(tmp).write_bytes(data))
    return report


def parity(onnx_bytes: bytes, model: nn.Module, family: str, faces: torch.Tensor | None = None) -> dict[str, float]:
    """onnxruntime (CPU) against PyTorch on ``faces`` (default :func:`check_faces`): cosine or PSNR figures."""
    import onnxruntime as ort

    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    size = tuple(int(s) for s in getattr(model, "input_size", (112, 96)))
    faces = check_faces(size=size) if faces is None else faces.float()
    if family == "sr":
        from lrfr.data.resample import downsample

        faces = downsample(faces, model.scale)
    x = faces.contiguous()
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    with torch.no_grad():
        want = model(x).float().numpy()
    if family == "recognizer":
        cos = (got * want).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))
        return {"faces": float(len(x)), "cosine_min": float(cos.min()), "cosine_mean": float(cos.mean())}
    if family == "sr":
        got, want = np.clip(got, 0, 1), np.clip(want, 0, 1)
    peak = max(float(np.abs(want).max()), 1e-12)  # [0, 1] for SR faces; the heatmaps' own range for a prior
    err = ((got - want) ** 2).reshape(len(x), -1).mean(1)
    psnr = 10 * np.log10(peak ** 2 / np.maximum(err, 1e-30))
    return {"faces": float(len(x)), "psnr_min": float(psnr.min()), "psnr_mean": float(psnr.mean())}


def read_metadata(path) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file (lrfr's, or empty for another's)."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in proto.metadata_props}
