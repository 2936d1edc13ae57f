"""Copy finished runs' model files and histories beside a study, with what training each took.

``lrfr results export STUDY.toml`` copies, for every front-end entry with a ``run``: its ``run_file`` to
``model`` (to ``probe`` for a row whose run made its probe recognizer), the run's ``history.csv`` (C-Face: each stage's, with a ``stage`` column) to
``HISTORIES/LABEL[_sSEED].csv``, and the training facts (steps, images seen, seconds, sha256) to
``WEIGHTS/training.json`` — run folders do not outlive a session; these files are committed.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

from lrfr.results.study import Study


def _histories(run: Path, stages: list[str] | None = None) -> list[Path]:
    """A run's history.csv files: C-Face's per stage (only ``stages``, when given), else the run's one."""
    found = sorted(run.glob("stage*/history.csv")) or [run / "history.csv"]
    return [h for h in found if not stages or h.parent.name in stages]


def training_facts(run: Path, stages: list[str] | None = None) -> dict:
    """Generator steps, images seen and training seconds of a run (or of its ``stages`` only), from each
    history's logged images/s: validation, C-Face's feature caching and stage 2 are not counted."""
    from lrfr.config import tomllib

    cfg = tomllib.loads((run / "config.toml").read_text())
    facts = {"pipeline": cfg.get("name"), "generator_steps": 0, "generator_images": 0, "recognizer_steps": 0,
             "recognizer_images": 0, "train_seconds": 0.0}
    for hist in _histories(run, stages):
        h = pd.read_csv(hist)
        section = cfg["optim"] if hist.parent == run else cfg[hist.parent.name]  # [optim], or C-Face's [stageN]
        batch = int(section["batch_size"])
        window = h["step"].diff().fillna(h["step"].iloc[0]) * batch
        facts["train_seconds"] += float((window / h["images_per_s"]).sum())
        steps = int(h["step"].iloc[-1])
        kind = "recognizer" if hist.parent.name == "stage3" or cfg.get("kind") in ("recognizer", "distill") else "generator"
        facts[f"{kind}_steps"] += steps
        facts[f"{kind}_images"] += steps * batch
    facts["train_seconds"] = round(facts["train_seconds"], 1)
    return facts


def history_name(label: str, seed: int) -> str:
    return f"{label}.csv" if seed == 0 else f"{label}_s{seed}.csv"


def copy_histories(run: Path, target: Path, stages: list[str] | None) -> Path:
    """One CSV of the run's logged losses and validations (C-Face: its stages', with a ``stage`` column)."""
    from lrfr.io import atomic_write_text

    tables = [pd.read_csv(h).assign(stage=h.parent.name) if h.parent != run else pd.read_csv(h)
              for h in _histories(run, stages)]
    target.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(target, pd.concat(tables, ignore_index=True).to_csv(index=False))


def facts_key(label: str, seed: int) -> str:
    return label if seed == 0 else f"{label}@s{seed}"


def export(study: Study, only: list[str] | None = None) -> dict:
    """Copy every finished run of the study (or of the labels ``only``); returns ``training.json``'s content."""
    from lrfr.fingerprint import file_sha256
    from lrfr.io import atomic_write_text

    weights = study.resolve(study.spec.weights)
    weights.mkdir(parents=True, exist_ok=True)
    facts_file = weights / "training.json"
    facts = json.loads(facts_file.read_text()) if facts_file.is_file() else {}
    for fe in study.spec.front_end:
        if not fe.run or (only and fe.label not in only):
            continue
        run = study.resolve(fe.run)
        target = study.resolve(fe.probe or fe.model)  # a student row's run makes its probe recognizer
        source = run / fe.run_file
        if not source.is_file():
            print(f"{fe.label} (seed {fe.seed}): {source} not there (run its pipeline first); skipped")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        copy_histories(run, study.resolve(study.spec.histories) / history_name(fe.label, fe.seed), fe.stages or None)
        facts[facts_key(fe.label, fe.seed)] = {**training_facts(run, fe.stages or None), "seed": fe.seed,
                                              "run": fe.run, "file": target.name, "sha256": file_sha256(target)}
        print(f"{fe.label} (seed {fe.seed}): {target} ({target.stat().st_size / 1e6:.1f} MB)")
    for name, scorer in study.spec.scorers.items():  # a recognizer trained for the study
        if scorer.run and (source := study.resolve(scorer.run) / scorer.run_file).is_file():
            shutil.copyfile(source, study.resolve(scorer.weights))
            print(f"scorer {name}: {study.resolve(scorer.weights)}")
    atomic_write_text(facts_file, json.dumps(facts, indent=2) + "\n")
    return facts
