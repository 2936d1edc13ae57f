"""Named probe pipelines: which front-end and which pair of recognizers to deploy for which probes.

    lrfr index search --index watchlist.lrfr --images probes/ --preset camera
    pipe = lrfr.ProbePipeline.preset("camera")

Each preset names a front-end, a gallery recognizer (which embeds the HR enrolment photos) and a probe
recognizer (which embeds the low-resolution probes), all shipped in the package, and says which probes it is
for. ``camera`` is the one to deploy for any low-resolution probe: it also beats the clean 14x12 specialist
``lr14x12`` on clean 14x12 faces (results/robustness.md, results/deployment.md), which stays for the figures
made with it. Their measured figures, with the commands that made them, are in docs/deployment.md; a gallery built for
a preset must be built with the preset's gallery recognizer (``lrfr index build --preset NAME``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from lrfr.errors import LrfrError


@dataclass(frozen=True)
class Preset:
    name: str
    probes: str  # which probes it is for, in words
    pipeline: dict = field(default_factory=dict)  # lrfr.ProbePipeline.create's arguments


#: the CASIA MobileFaceNet (research use), fp16 in the package: every real-face preset's gallery recognizer
GALLERY_RECOGNIZER = "packaged:mobilefacenet_casia.pt"

PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("camera", "the one to use for low-resolution probes: any size from 8 to about 28 px, clean or from real "
                     "cameras (unknown down-scaling, blur, sensor noise, JPEG): the robust MobileFaceNet of "
                     "pipelines/distill_robust.toml",
           dict(front_end="bicubic", weights=GALLERY_RECOGNIZER, probe_weights="packaged:lr_mobilefacenet_robust.pt")),
    Preset("lr14x12", "the earlier clean 14x12 specialist (the distilled MobileFaceNet of pipelines/distill_celeba.toml); "
                      "camera beats it on clean 14x12 probes too, it stays for the figures made with it",
           dict(front_end="bicubic", weights=GALLERY_RECOGNIZER, probe_weights="packaged:lr_mobilefacenet_celeba.pt")),
    Preset("hr", "probes at full resolution (112x96 aligned faces): the gallery recognizer embeds both sides",
           dict(front_end="bicubic", weights=GALLERY_RECOGNIZER)),
    Preset("bicubic", "the baseline, for comparison: bicubic up-scaling and the HR recognizer on the probes "
                      "(what lrfr index search did before presets)",
           dict(front_end="bicubic", weights=GALLERY_RECOGNIZER)),
    Preset("srgan", "the best generator (SRGAN trained on CelebA, x8) in front of the HR recognizer: for a "
                    "picture a person can look at; the recognizer presets identify better",
           dict(front_end="packaged:srgan_celeba.pt", weights=GALLERY_RECOGNIZER)),
)}


class UnknownPresetError(LrfrError, KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def get(name: str) -> Preset:
    if name not in PRESETS:
        raise UnknownPresetError(f"unknown preset {name!r}; known: {', '.join(PRESETS)} "
                                 "(lrfr index search --help says which is for which probes)")
    return PRESETS[name]


def help_text() -> str:
    """One line per preset: its name and its probes."""
    return "; ".join(f"{p.name}: {p.probes}" for p in PRESETS.values())
