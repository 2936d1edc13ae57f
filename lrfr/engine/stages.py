"""Staged training on the engine: a recipe made of stages (C-Face's Algorithm 1), each trained by
:func:`lrfr.engine.loop.train` in its own folder, with what a multi-stage run needs kept here, not in the recipe.

    <out>/stage<N>/   checkpoint.pt (+ .prev), config.toml, history.csv, the stage's model files, done.json

* **done markers**: a stage's ``done.json`` is written after its model files, so a stage counts as complete
  only when both are there, under the same config (:func:`lrfr.engine.loop.check_same_recipe` on the stage's
  config text; a complete stage trained under another config is an error naming the keys and the way out);
* **offsets**: ``stop_after`` counts steps across the stages, in order, so a long run splits into sessions
  with the same number each time; ``step`` in the result is that count;
* **re-entry**: ``first`` (a recipe's ``from_stage``) deletes the checkpoints and done markers of that stage and
  every later one and trains them from their start; the earlier stages must be complete.

A recipe describes its stages with a :class:`StagePlan` (what each stage is: its length, config text, recipe,
loop settings, validation, model files) and runs them with :func:`run_stages`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

from lrfr.engine.loop import (
    CHECKPOINT,
    INCOMING,
    PREVIOUS,
    LoopSettings,
    RecipeMismatchError,
    Validator,
    check_same_recipe,
    is_main_process,
    train,
)
from lrfr.io import atomic_write_text

#: written into a stage's folder once its model files are
DONE = "done.json"


class StagePlan(Protocol):
    """What a staged recipe tells the engine about its stages (C-Face: ``lrfr.recipes.cface.algorithm``)."""

    out: Path
    trained: list[int]  # the stages the engine trains, in order
    added_keys: Mapping[str, Any]  # config keys older checkpoints lack, with the value they were trained with

    def steps(self, stage: int) -> int: ...
    def config_text(self, stage: int) -> str: ...
    def model_files(self, stage: int) -> tuple[str, ...]: ...
    def recipe(self, stage: int): ...
    def settings(self, stage: int, total: int) -> LoopSettings: ...
    def validator(self, stage: int) -> Validator | None: ...
    def export(self, stage: int, recipe) -> list[Path]: ...
    def forget_extra(self, stages: list[int]) -> None: ...


def stage_dir(out: Path, stage: int) -> Path:
    return Path(out) / f"stage{stage}"


def completed(plan: StagePlan, stage: int, allow_changed=()) -> bool:
    """Whether ``stage`` has finished (done marker, model files, as many steps as configured) under the same config."""
    folder = stage_dir(plan.out, stage)
    if not (folder / DONE).is_file():
        return False
    saved = (folder / "config.toml").read_text()
    try:
        check_same_recipe(saved, plan.config_text(stage), folder / "config.toml",
                          (*LoopSettings.resume_free_keys, f"stage{stage}.iterations"), allow_changed, plan.added_keys)
    except RecipeMismatchError as err:
        raise RecipeMismatchError(
            f"stage {stage} is complete, but: {err}; or pass from_stage = {stage} (--set from_stage={stage}) "
            f"to train stage {stage} and the later ones again") from None
    done = json.loads((folder / DONE).read_text())
    files_there = all((folder / f).is_file() for f in plan.model_files(stage))
    return files_there and int(done["steps"]) == plan.steps(stage)


def forget(plan: StagePlan, stages: list[int]) -> None:
    """Delete the checkpoints and done markers of ``stages`` (and whatever the recipe derived from them)."""
    for s in stages:
        for name in (CHECKPOINT, PREVIOUS, INCOMING, DONE):
            (stage_dir(plan.out, s) / name).unlink(missing_ok=True)
    plan.forget_extra(list(stages))


def mark_done(plan: StagePlan, stage: int, files: list[Path]) -> None:
    atomic_write_text(stage_dir(plan.out, stage) / DONE,
                      json.dumps({"stage": stage, "steps": plan.steps(stage), "files": [f.name for f in files]},
                                 indent=2) + "\n")


@dataclass
class StagesResult:
    step: int  # steps across the stages
    complete: bool
    stages: dict[int, dict] = field(default_factory=dict)  # stage → {"out", "step", "total", "complete", "files"}


def run_stages(plan: StagePlan, *, first: int = 1, resume: bool = True, stop_after: int | None = None,
               allow_changed=(), progress: bool = True, barrier: Callable[[], None] = lambda: None,
               before: Callable[[int, Any], None] | None = None) -> StagesResult:
    """Train ``plan``'s stages in order (module doc); ``before(stage, recipe)``: a hook on each stage's recipe
    before it trains (e.g. what its validation also writes)."""
    first = first if resume else 1
    redo = [s for s in plan.trained if s >= first]
    if not resume or first > 1:
        forget(plan, redo)
    for s in plan.trained:
        if s < first and not completed(plan, s, allow_changed):
            raise RuntimeError(f"from_stage = {first} re-enters the recipe after stage {s}, which is not complete in "
                               f"{plan.out}; run it first (without from_stage)")
    offset, stages = 0, {}
    for s in plan.trained:
        total = plan.steps(s)
        if completed(plan, s, allow_changed):
            offset += total
            stages[s] = {"out": stage_dir(plan.out, s), "step": total, "total": total, "complete": True}
            continue
        budget = None if stop_after is None else stop_after - offset
        if budget is not None and budget <= 0:
            return StagesResult(offset, False, stages)
        recipe = plan.recipe(s)
        if before is not None:
            before(s, recipe)
        result = train(recipe, plan.settings(s, total), plan.validator(s), resume=True, progress=progress,
                       stop_after=budget, allow_changed=allow_changed)
        offset += result["step"]
        stages[s] = {"out": stage_dir(plan.out, s), "step": result["step"], "total": total,
                     "complete": result["step"] >= total}
        if result["step"] < total:
            return StagesResult(offset, False, stages)
        # under torchrun rank 0 writes the stage's files; the others wait, then read them in the next stage
        files = plan.export(s, recipe) if is_main_process() else []
        if is_main_process():
            mark_done(plan, s, files)
        stages[s]["files"] = files
        barrier()
        del recipe
    return StagesResult(offset, True, stages)
