"""The recipes ``lrfr run`` knows: ``kind`` → (config dataclass, runner), one package each.

=============  ==========================================  ===========================================
kind           package                                     what it trains
=============  ==========================================  ===========================================
recognizer     :mod:`lrfr.recipes.recognizer`              A-Softmax recognizers (SphereFace)
sr             :mod:`lrfr.recipes.sr`                      SRResNet, SRGAN, GAFH-RIDN, prior attention
pfsr           :mod:`lrfr.recipes.pfsr`                    PFSR's progressive generator (papers/002)
landmarks      :mod:`lrfr.recipes.landmarks`               PFSR's landmark-heatmap network
cface          :mod:`lrfr.recipes.cface`                   C-Face's Algorithm 1 (papers/004)
distill        :mod:`lrfr.recipes.distill`                 a low-resolution student recognizer (lrfr's)
=============  ==========================================  ===========================================

Each package holds ``config.py`` (its pipeline dataclass: the shared sections of
:mod:`lrfr.engine.sections` plus its own), ``recipe.py`` (what it builds and one training step, on
:mod:`lrfr.engine`) and ``run.py`` (the runner: validation from the protocol layer, the training, the
outputs). A pipeline TOML's top-level ``kind`` picks the recipe; the rest of the file fills its config
dataclass strictly (unknown keys, wrong types and values out of bounds are errors naming them). The
CLI only parses and calls :func:`run_pipeline`.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from lrfr.config import ConfigError, from_dict
from lrfr.registry import Registry


@dataclass(frozen=True)
class RecipeEntry:
    config: type
    runner: Callable[..., dict]
    summary: str


RECIPE_REGISTRY = Registry("recipe kind")


def register_recipe(kind: str, config: type, summary: str):
    def add(runner):
        RECIPE_REGISTRY.register(kind)(RecipeEntry(config, runner, summary))
        return runner

    return add


def known_kinds() -> list[str]:
    return RECIPE_REGISTRY.names()


def parse_pipeline(data: dict[str, Any], where: str):
    """The config dataclass for a pipeline mapping, every problem reported (unknown ``kind`` too)."""
    kind = data.get("kind")
    if kind is None:
        raise ConfigError(f"{where}: missing top-level key kind = \"...\" (one of {', '.join(known_kinds())})"
                          + _other_problems(data, where))
    if kind not in RECIPE_REGISTRY:
        raise ConfigError(f"{where}: kind = {kind!r} is not a known recipe; known: {', '.join(known_kinds())}")
    return from_dict(RECIPE_REGISTRY.get(kind).config, data, where)


def _other_problems(data: dict, where: str) -> str:
    """Without a kind, still name keys no recipe knows (a typo of ``kind`` is the usual cause)."""
    import difflib

    known = {f.name for entry in (RECIPE_REGISTRY.get(k) for k in known_kinds()) for f in dataclasses.fields(entry.config)}
    unknown = sorted(k for k in data if k not in known)
    parts = []
    for k in unknown:
        near = difflib.get_close_matches(k, sorted(known), n=1)
        parts.append(f"unknown key {k!r}" + (f" (did you mean {near[0]!r}?)" if near else ""))
    return "; " + "; ".join(parts) if parts else ""


def check_folders(cfg) -> None:
    """The folders a pipeline reads, training faces first: a missing one is named before anything is built, with
    the command that makes it where lrfr makes it (the real-face split)."""
    from lrfr.config import ConfigError

    def need(section: str, root: str) -> None:
        folder = Path(root.removeprefix("unlabelled:"))
        if root and not folder.is_dir():
            hint = ""
            if "celeba-split" in folder.as_posix():
                hint = "; it is the real-face split: lrfr results split results/real-8x.toml writes it"
            raise ConfigError(f"{section}: folder not found: {folder}{hint}")

    data = getattr(cfg, "data", None)
    if data is not None and getattr(data, "source", "") == "folder":
        need("data.root", data.root)
    for entry in getattr(data, "also", []) or []:
        if entry != "synth":
            need("data.also", entry)
    val = getattr(cfg, "val", None)
    if val is not None and getattr(val, "source", "") == "folder":
        need("val.root", val.root)


def run_pipeline(path: str | Path, overrides: list[str] = (), *, resume: bool = True, progress: bool = True,
                 allow_changed: tuple[str, ...] = (), stop_after: int | None = None) -> dict:
    """Load ``path`` (+ ``--set`` overrides), pick the recipe by ``kind``, run it; returns its summary."""
    from lrfr.config import apply_overrides, load_toml

    data = apply_overrides(load_toml(path), list(overrides))
    cfg = parse_pipeline(data, str(path))
    check_folders(cfg)
    entry = RECIPE_REGISTRY.get(cfg.kind)
    # under torchrun (WORLD_SIZE > 1) every process runs this same call; see lrfr.engine.distributed
    from lrfr.engine import distributed

    formed = distributed.init_from_env(getattr(getattr(cfg, "run", None), "device", "auto"))
    try:
        result = entry.runner(cfg, resume=resume, progress=progress and distributed.rank() == 0,
                              allow_changed=tuple(allow_changed), stop_after=stop_after)
        if formed:
            distributed.barrier()
        return result
    except RuntimeError as err:
        if not distributed.lost_peer(err):
            raise
        raise distributed.PeerLostError(
            f"rank {distributed.rank()}: another process of this job stopped or stopped answering "
            f"({str(err).splitlines()[0][:160]}); the last checkpoint in {cfg.run.out} is kept: run the job again "
            "to resume") from None
    finally:
        if formed:
            import torch.distributed as dist

            dist.destroy_process_group()


# The registry, filled explicitly (a recipe's config module imports no torch; its runner imports the rest
# when it runs).
from lrfr.recipes.cface.config import CFacePipeline  # noqa: E402
from lrfr.recipes.cface.run import run_cface  # noqa: E402
from lrfr.recipes.distill.config import DistillPipeline  # noqa: E402
from lrfr.recipes.distill.run import run_distill  # noqa: E402
from lrfr.recipes.landmarks.config import LandmarksPipeline  # noqa: E402
from lrfr.recipes.landmarks.run import run_landmarks  # noqa: E402
from lrfr.recipes.pfsr.config import PFSRPipeline  # noqa: E402
from lrfr.recipes.pfsr.run import run_pfsr  # noqa: E402
from lrfr.recipes.recognizer.config import RecognizerPipeline  # noqa: E402
from lrfr.recipes.recognizer.run import run_recognizer  # noqa: E402
from lrfr.recipes.sr.config import SRPipeline  # noqa: E402
from lrfr.recipes.sr.run import run_sr  # noqa: E402

register_recipe("recognizer", RecognizerPipeline, "A-Softmax recognizer training (SphereFace)")(run_recognizer)
register_recipe("sr", SRPipeline,
                "SR generator training: SRResNet (pixel loss), SRGAN (perceptual + adversarial)")(run_sr)
register_recipe("cface", CFacePipeline, "C-Face: compare-face loss, four-stage training (papers/004)")(run_cface)
register_recipe("pfsr", PFSRPipeline,
                "PFSR: progressive 8x generator, attention and heatmap losses (papers/002)")(run_pfsr)
register_recipe("landmarks", LandmarksPipeline, "PFSR's 5-landmark heatmap network (papers/002 §3.3)")(run_landmarks)
register_recipe("distill", DistillPipeline,
                "low-resolution embedding distillation: a student recognizer for front-end faces")(run_distill)
