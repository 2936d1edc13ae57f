"""A small, differentiable 5-landmark heatmap network: the face prior of PFSR's losses (papers/002 §3.3).

PFSR distils the 4-stack Hourglass FAN (23.8 M parameters) into a 321 k-parameter network whose
heatmaps weight its facial attention loss (eq. 1) and drive its heatmap loss (eq. 5). FAN's weights
cannot be fetched here and the released distilled FAN carries no licence, so lrfr trains its own
network of the same role and size class (:class:`HeatmapNet`, ≈ 250 k parameters at ``width=16``):

* **Input/output.** Faces ``(N, 3, H, W)`` in [0, 1], any ``H × W`` (≥ 8 px a side) → five heatmaps
  ``(N, 5, H, W)`` *at the input resolution* (FAN's are at ¼), in :data:`LANDMARK_NAMES` order
  (SynthFaces' and MTCNN's five points: eyes, nose tip, mouth corners; "left" = image left).
  Fully differentiable, so the heatmap loss can back-propagate through it into an SR output.
* **Architecture (lrfr's).** A three-level U-Net: two 3×3 conv–BN–ReLU per level, stride-2
  downsampling, bilinear upsampling with concatenated skips, a 1×1 head. Paper: an hourglass
  distilled with hints (Fig. 2) — the layer layout is not printed, so this one is reconstructed.
* **Targets (lrfr's).** Each heatmap is a Gaussian ``exp(−d²/2σ²)`` of peak 1 around its point,
  ``σ = sigma_fraction · √(H·W)`` (default 0.03: ≈ 3.1 px at 112×96, 1.6 px at 56×48), broad on
  purpose: PFSR wants attention on the area around a landmark, not only its centre (§4.2, Fig. 4).
  Trained with the MSE on SynthFaces' exact landmarks (``lrfr run pipelines/landmarks.toml``) at
  several resolutions, so it serves every PFSR step.
* **NME** (:func:`nme`, the paper's Table 1): mean over landmarks of ``‖g − p‖₂ / d`` with ``d``
  the image size; for a non-square face lrfr takes ``d = √(H·W)`` (the side of a square image).
  Predicted points come from :func:`heatmap_points` (arg-max refined by a 3×3 weighted centroid).

Model files use family ``"prior"`` (:mod:`lrfr.modelfile`); :func:`load_heatmap_net` with no path
loads the packaged ``lrfr/weights/landmarks_synth.pt``.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lrfr.modelfile import ModelFileError, load_state_dict_checked, read_model, save_model

__all__ = [
    "LANDMARK_NAMES", "FLIP_ORDER", "HeatmapNet", "render_heatmaps", "heatmap_points", "nme", "flip_points",
    "scale_points", "load_heatmap_net", "save_heatmap_net", "PACKAGED_WEIGHTS", "ARCH",
]

#: the five landmarks, in the order of SynthFaces' and MTCNN's points ("left" = image left)
LANDMARK_NAMES = ("left_eye", "right_eye", "nose_tip", "left_mouth_corner", "right_mouth_corner")
#: landmark order after a left↔right mirror of the image
FLIP_ORDER = (1, 0, 2, 4, 3)
ARCH = "heatmap_net"
PACKAGED_WEIGHTS = "landmarks_synth.pt"
#: smallest image side the three stride-2 levels accept
MIN_SIDE = 8


def _conv_bn_relu(c_in: int, c_out: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True)]


class HeatmapNet(nn.Module):
    """Faces ``(N, 3, H, W)`` in [0, 1] → five landmark heatmaps ``(N, 5, H, W)`` (see the module docstring).

    ``width``: channels of the first level (the levels have ``width``, 2·, 4·, 4·``width``).
    """

    def __init__(self, width: int = 16, landmarks: int = 5):
        super().__init__()
        for key, val in (("width", width), ("landmarks", landmarks)):
            if isinstance(val, bool) or not isinstance(val, int) or val < 1:
                raise ValueError(f"HeatmapNet: {key} must be a positive int; got {val!r}")
        self.arch = ARCH
        self.build_kwargs = {"width": width, "landmarks": landmarks}
        w = (width, 2 * width, 4 * width, 4 * width)
        self.down = nn.ModuleList([
            nn.Sequential(*_conv_bn_relu(3, w[0]), *_conv_bn_relu(w[0], w[0])),
            *[nn.Sequential(*_conv_bn_relu(w[i - 1], w[i], stride=2), *_conv_bn_relu(w[i], w[i])) for i in (1, 2, 3)],
        ])
        # decoder level i fuses the upsampled level i+1 with the skip of level i
        self.up = nn.ModuleList([nn.Sequential(*_conv_bn_relu(w[i + 1] + w[i], w[i])) for i in (0, 1, 2)])
        self.head = nn.Conv2d(w[0], landmarks, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 3 or min(x.shape[-2:]) < MIN_SIDE:
            raise ValueError(f"HeatmapNet expects faces (N, 3, H, W) in [0, 1] with H, W >= {MIN_SIDE}; "
                             f"got shape {tuple(x.shape)}")
        skips = []
        h = x * 2.0 - 1.0
        for level in self.down:
            h = level(h)
            skips.append(h)
        h = skips.pop()
        for i in (2, 1, 0):
            skip = skips[i]
            h = F.interpolate(h, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            h = self.up[i](torch.cat([h, skip], 1))
        return self.head(h)


def render_heatmaps(points: torch.Tensor, size: tuple[int, int], sigma_fraction: float = 0.03) -> torch.Tensor:
    """Gaussian target heatmaps ``(N, K, H, W)`` of peak 1 at ``points`` ``(N, K, 2)`` (x, y pixel centres).

    ``σ = sigma_fraction · √(H·W)`` pixels (lrfr's; see the module docstring).
    """
    if points.dim() != 3 or points.shape[-1] != 2:
        raise ValueError(f"render_heatmaps: points must be (N, K, 2) as (x, y); got shape {tuple(points.shape)}")
    h, w = int(size[0]), int(size[1])
    sigma = sigma_fraction * math.sqrt(h * w)
    ys = torch.arange(h, dtype=torch.float32, device=points.device)
    xs = torch.arange(w, dtype=torch.float32, device=points.device)
    px, py = points[..., 0:1].float(), points[..., 1:2].float()  # (N, K, 1)
    gx = torch.exp(-((xs - px) ** 2) / (2 * sigma**2))  # (N, K, W)
    gy = torch.exp(-((ys - py) ** 2) / (2 * sigma**2))  # (N, K, H)
    return gy[..., :, None] * gx[..., None, :]


def heatmap_points(heatmaps: torch.Tensor) -> torch.Tensor:
    """Landmark positions ``(N, K, 2)`` (x, y) from heatmaps ``(N, K, H, W)``.

    The arg-max of each map, refined to sub-pixel precision by a parabola through the logarithms
    of it and its two neighbours along x and along y (exact for a Gaussian peak). Not
    differentiable (for NME and inspection).
    """
    n, k, h, w = heatmaps.shape
    flat = heatmaps.detach().float().reshape(n * k, h, w)
    idx = flat.reshape(n * k, -1).argmax(1)
    iy, ix = idx // w, idx % w
    logs = F.pad(flat, (1, 1, 1, 1), mode="replicate").clamp_min(1e-6).log()
    rows = torch.arange(n * k, device=flat.device)

    def offset(before, centre, after):
        curve = before - 2 * centre + after
        step = 0.5 * (before - after) / torch.where(curve < 0, curve, torch.full_like(curve, -1.0))
        return torch.where(curve < 0, step, torch.zeros_like(step)).clamp(-0.5, 0.5)

    cy, cx = iy + 1, ix + 1
    dx = offset(logs[rows, cy, cx - 1], logs[rows, cy, cx], logs[rows, cy, cx + 1])
    dy = offset(logs[rows, cy - 1, cx], logs[rows, cy, cx], logs[rows, cy + 1, cx])
    return torch.stack([ix.float() + dx, iy.float() + dy], 1).reshape(n, k, 2)


def nme(pred: torch.Tensor, target: torch.Tensor, size: tuple[int, int]) -> float:
    """Normalized mean error (PFSR Table 1): mean over images and landmarks of ``‖p − g‖₂ / d``,
    ``d = √(H·W)`` of the ``size`` (H, W) the points live in."""
    if pred.shape != target.shape or pred.shape[-1] != 2:
        raise ValueError(f"nme: pred and target must both be (N, K, 2); got {tuple(pred.shape)} and "
                         f"{tuple(target.shape)}")
    d = math.sqrt(int(size[0]) * int(size[1]))
    return float((pred.float() - target.float()).norm(dim=-1).mean() / d)


def flip_points(points: torch.Tensor, width: int) -> torch.Tensor:
    """The landmarks of the left↔right mirrored image (``x → W − 1 − x``, left/right names swapped)."""
    out = points[..., list(FLIP_ORDER), :].clone()
    out[..., 0] = (width - 1) - out[..., 0]
    return out


def scale_points(points: torch.Tensor, factor: float) -> torch.Tensor:
    """Pixel-centre coordinates after resizing the image by ``factor`` (``align_corners=False``)."""
    return (points + 0.5) * factor - 0.5


# ---- files ----------------------------------------------------------------------------------

def save_heatmap_net(model: HeatmapNet, path: str | Path, meta: dict[str, Any] | None = None,
                     dtype: str | torch.dtype | None = None) -> Path:
    """Write a :class:`HeatmapNet` as an lrfr model file (family ``"prior"``), atomically."""
    if not isinstance(model, HeatmapNet):
        raise TypeError(f"save_heatmap_net expects a HeatmapNet; got {type(model).__name__}")
    return save_model(model, path, family="prior", meta=meta, dtype=dtype)


def load_heatmap_net(path: str | Path | None = None, device: str | torch.device | None = None,
                     frozen: bool = True) -> HeatmapNet:
    """Load a heatmap network (``None``/``""`` = the packaged SynthFaces one), in eval mode.

    ``frozen`` (default) turns off its parameters' gradients: gradients still flow through it to
    its input, as PFSR's heatmap loss needs.
    """
    from lrfr.weights import resolve

    path = resolve(path or "", PACKAGED_WEIGHTS)
    info = read_model(path, family="prior")
    if info["arch"] != ARCH:
        raise ModelFileError(f"{path} holds prior {info['arch']!r}, not a landmark heatmap network ({ARCH!r})")
    try:
        model = HeatmapNet(**info["kwargs"])
    except (TypeError, ValueError) as err:
        raise ModelFileError(f"{path}: cannot rebuild {ARCH} from the file's kwargs {info['kwargs']}: {err}") from err
    load_state_dict_checked(model, info["state_dict"], path, ARCH)
    model.weights_path, model.weights_meta = str(path), info["meta"]
    if frozen:
        model.requires_grad_(False)
    if device is not None:
        model.to(device)
    return model.eval()
