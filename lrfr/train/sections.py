"""Config sections every training recipe shares: where the faces come from, augmentation, the run.

Recipes compose these into their pipeline dataclasses (``lrfr/train/*_config.py``).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DataConfig:
    #: "synth" (SynthFaces) or "folder" (any identity-per-folder tree: CASIA-WebFace, CelebA, LFW)
    source: str = "synth"
    root: str = ""
    n_identities: int = 500
    images_per_identity: int = 20
    identity_offset: int = 0
    seed: int = 0
    #: pre-decode the whole set into RAM as uint8 (right for small sets; off for CASIA scale)
    in_memory: bool = True
    #: with in_memory: decode once into a memory-mapped uint8 file in this folder, reused by later runs
    #: and shared by torchrun's processes ("" = decode into this process's RAM every run)
    cache_dir: str = ""
    workers: int = 2


@dataclass
class HeldOutConfig:
    """The held-out faces a recipe validates on (its ``[val]`` section; each recipe adds its own keys)."""

    #: "synth" (held-out SynthFaces identities), "folder" (an identity-labelled folder) or "none"
    source: str = "synth"
    root: str = ""
    n_identities: int = 60
    images_per_identity: int = 10
    identity_offset: int = 100_000
    seed: int = 1
    n_folds: int = 10
    pairs_per_fold: int = 50
    every: int = 500


@dataclass
class AugmentConfig:
    hflip: bool = True
    crop_pad: int = 0


@dataclass
class RunConfig:
    out: str = "runs/sphereface"
    seed: int = 0
    device: str = "auto"
    checkpoint_every: int = 500
    log_every: int = 50
    threads: int = 0  # torch CPU threads (0 = torch's default)
    #: dtype of the exported recognizer.pt ("float32" or "float16": half the size, loads into fp32)
    weights_dtype: str = "float32"
    #: "fp32", "bf16" (autocast; CUDA, or a CPU with AVX-512 BF16/AMX) or "fp16" (CUDA, loss scaling)
    precision: str = "fp32"
    #: channels_last weights (measure first: see `lrfr bench sr`)
    channels_last: bool = False
    #: torch.compile the networks (slow first steps; pays off on long GPU runs)
    compile: bool = False
