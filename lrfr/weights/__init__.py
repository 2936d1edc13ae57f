"""Weights shipped inside the package (small, SynthFaces-trained): see the README.

- ``sphere20a_synth.pt``: the narrow SphereFace recognizer (``pipelines/sphereface.toml``)
- ``srresnet_synth.pt``, ``srgan_synth.pt``: 8× SR front-ends (``pipelines/srresnet.toml``, ``srgan.toml``)
- ``cface_synth.pt``: C-Face-v2, the SRGAN fine-tuned with the compare-face loss (``pipelines/cface_synth.toml``)
- ``gafh_ridn_synth.pt``: a narrow GAFH-RIDN, 8× (``pipelines/gafh_ridn_synth.toml``)
- ``pfsr_synth.pt``: a narrow PFSR with a bicubic skip, 8× (``pipelines/pfsr_synth.toml``)
- ``prior_attention_synth.pt``: a narrow prior-guided attention SR (method 1), 8×
  (``pipelines/prior_attention_synth.toml``)
- ``prior_attention_gan_synth.pt``: the same network fine-tuned with SRGAN's discriminator (method 2)
  (``pipelines/prior_attention_gan_synth.toml``)
- ``landmarks_synth.pt``: PFSR's 5-landmark heatmap network (``pipelines/landmarks.toml``; family "prior")

Real faces (trained on 200 CelebA identities: CelebA is for non-commercial research, and so are these two;
model cards in the README):

- ``srgan_celeba.pt``: SRGAN 8× (``pipelines/srgan_celeba.toml``; results/weights/srgan.pt)
- ``cface_celeba.pt``: C-Face-v2 8× (``pipelines/cface_celeba.toml``; results/weights/cface_v2.pt)
- ``lr_mobilefacenet_celeba.pt``: a MobileFaceNet for bicubic 14×12 faces, distilled from the CASIA
  MobileFaceNet (research use) on CelebA and faces-extra-112x96 (``pipelines/distill_celeba.toml``;
  results/weights/distill_celeba.pt); a recognizer file (``--probe-weights``)
- ``lr_mobilefacenet_robust.pt``: the same distillation for faces of any size from 7 to 28 px and camera
  degradations, on CelebA, celeba-more, faces-extra and UTKFace (``pipelines/distill_robust.toml``;
  results/weights/distill_robust.pt): the ``camera`` deployment preset's probe recognizer
- ``mobilefacenet_casia.pt``: the CASIA MobileFaceNet itself (a public training run of MobileFaceNet on
  CASIA-WebFace, research use), fp16, its source file's sha256 in its meta: the deployment presets' gallery
  recognizer and the students' teacher
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path


def packaged_path(name: str) -> Path:
    """The path of a weight file shipped in ``lrfr/weights``; a clear error if it is missing."""
    path = Path(str(resources.files(__name__).joinpath(name)))
    if not path.is_file():
        known = sorted(p.name for p in path.parent.glob("*.pt"))
        raise FileNotFoundError(f"packaged weights {name!r} not found in {path.parent} (shipped: "
                                f"{', '.join(known) or 'none'}); reinstall lrfr or pass a weight file")
    return path


#: a weight-file setting that starts with this names a file shipped in lrfr/weights
PACKAGED = "packaged:"
#: the recognizer every setting that names none means (the SynthFaces-trained SphereFace above)
DEFAULT_RECOGNIZER = "sphere20a_synth.pt"


def resolve(spec: str | Path, default: str | None = None) -> Path:
    """A weight-file setting as a path: ``"packaged:NAME"`` → the shipped file, ``""`` → the shipped
    ``default`` (when given), anything else → that path."""
    text = str(spec)
    if not text and default is not None:
        text = PACKAGED + default
    return packaged_path(text[len(PACKAGED):]) if text.startswith(PACKAGED) else Path(text)
