"""Score a study's front-ends: one ``lrfr.evaluate`` call per (front-end, seed, scorer, data root), each
kept as a part file as soon as it is made, so an interrupted ``lrfr results evaluate`` resumes.

The table is made from the part files and the study's committed CSV (:func:`recorded_rows`): run
folders and part files do not outlive a session, the CSV does.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from lrfr.results.study import Study, subset_name

#: the columns that name a scored row (``data``: the study's name of the data root it was scored on)
ROW_KEYS = ["front_end", "seed", "scorer", "protocol", "data"]


def subset_pairs(root: Path, out: Path, per_fold: int) -> Path:
    """A data root with ``root``'s images and a pairs.txt of the first ``per_fold`` same and different pairs
    of each fold (LFW: 10 × 2 × 30 = 600 pairs), for a fast check that a committed model file still scores
    what its table says."""
    from lrfr.data.folders import resolve_lfw_images
    from lrfr.data.pairs import read_pairs, write_pairs

    source = read_pairs(root / "pairs.txt")
    kept = []
    for fold in range(source.n_folds):
        pairs = [p for p in source.pairs if p.fold == fold]
        kept += [p for p in pairs if p.same][:per_fold] + [p for p in pairs if not p.same][:per_fold]
    out.mkdir(parents=True, exist_ok=True)
    images = resolve_lfw_images(root)
    link = out / images.name
    if not link.exists():
        link.symlink_to(images.resolve(), target_is_directory=True)
    write_pairs(out / "pairs.txt", kept, source.n_folds, per_fold)
    return out


def _data_root(study: Study, name: str) -> Path:
    sub = study.spec.subset
    if sub is not None and name == subset_name(sub):
        return subset_pairs(study.data_root(sub.of), study.resolve(study.spec.work) / name, sub.per_fold)
    return study.data_root(name)


def score_one(study: Study, fe, scorer: str, protocols: list[str], data: Path, progress: bool = True,
              identity: bool | None = None) -> pd.DataFrame:
    """``lrfr.evaluate`` of one front-end entry under one scorer, its rows labelled with front-end, seed, scorer
    (``table.attrs["results"]``: each protocol's result). ``identity``: None = the study's setting."""
    from lrfr.evaluation import evaluate

    spec = study.spec.scorers[scorer]
    model = study.model(fe)
    table = evaluate([str(model)], protocol=protocols, data=data, recognizer=spec.arch or None,
                          weights=study.resolve(spec.weights) if spec.weights else None, scale=study.spec.scale,
                          setting=fe.setting or study.spec.setting, degrade=study.spec.degrade,
                          identity=study.spec.identity if identity is None else identity,
                          probe_recognizer=fe.probe_arch or None,
                          probe_weights=study.resolve(fe.probe) if fe.probe else None,
                          workdir=study.resolve(study.spec.work) / "workdir", progress=progress)
    table.insert(0, "front_end", fe.label)
    table.insert(1, "seed", fe.seed)
    table.insert(2, "scorer", scorer)
    # per-fold accuracies (pairs protocols), kept for the paired comparisons of lrfr.results.tables
    folds = {proto: result.per_fold["accuracy"].tolist() for (_, proto), result in table.attrs["results"].items()
             if "accuracy" in result.per_fold}
    table["accuracy_per_fold"] = [json.dumps(folds[p]) if p in folds else "" for p in table["protocol"]]
    return table


def is_file_model(study: Study, fe) -> bool:
    """Whether a row rests on a file of the study (a generator, or a probe recognizer), pinned by a subset
    check — not a name or a packaged file alone."""
    return isinstance(study.model(fe), Path) or bool(fe.probe)


def evaluate(study: Study, scorer: str | None = None, only: list[str] | None = None, redo: bool = False,
             progress: bool = True) -> list[Path]:
    """Score every front-end entry (or those labelled ``only``) under ``scorer`` (default: the main one) on
    every data root it has not been scored on (neither a part file nor a row of the committed ``STEM.csv``;
    ``redo``: all of them again); returns the part files written. Missing model files are skipped, saying so."""
    from lrfr.io import atomic_write_text

    scorer = scorer or study.main_scorer
    if scorer not in study.spec.scorers:
        raise KeyError(f"{study.path}: no scorer {scorer!r} (known: {', '.join(study.spec.scorers)})")
    spec = study.spec.scorers[scorer]
    if spec.weights and not study.resolve(spec.weights).is_file():
        raise FileNotFoundError(f"{study.resolve(spec.weights)}: the weights of scorer {scorer!r} are not there")
    parts = study.resolve(study.spec.work) / "parts" / scorer
    parts.mkdir(parents=True, exist_ok=True)
    written = []
    done = _committed_keys(study)  # what the committed STEM.csv already holds is not scored again (unless redo)
    sub = study.spec.subset
    for fe in study.spec.front_end:
        if only and fe.label not in only:
            continue
        model = study.model(fe)
        if isinstance(model, Path) and not model.is_file():
            print(f"{fe.label} (seed {fe.seed}): {model} not there (lrfr results export first); skipped")
            continue
        for data_name, protocols in spec.protocols.items():
            is_subset = sub is not None and data_name == subset_name(sub)
            if is_subset and not is_file_model(study, fe):
                continue  # the subset pins model files; names and packaged files need no pin
            part = parts / f"{fe.label}-s{fe.seed}-{data_name}.csv"
            if not redo and (part.is_file() or (fe.label, fe.seed, scorer, data_name) in done):
                continue
            table = score_one(study, fe, scorer, protocols, _data_root(study, data_name), progress)
            table.insert(3, "data", data_name)
            if is_subset:
                table["protocol"] = data_name
            written.append(atomic_write_text(part, table.to_csv(index=False)))
            print(f"{fe.label} (seed {fe.seed}) {data_name} ({scorer}): done", flush=True)
    return written


def _committed_keys(study: Study) -> set[tuple]:
    """(front-end, seed, scorer, data) of every row of the committed ``STEM.csv``."""
    committed = study.out(".csv")
    if not committed.is_file():
        return set()
    rows = _with_seed_and_data(pd.read_csv(committed))
    return {(r.front_end, int(r.seed), r.scorer, r.data) for r in rows.itertuples()}


def _with_seed_and_data(old: pd.DataFrame) -> pd.DataFrame:
    """A table written before seeds and data roots were recorded: seed 0, the real-face study's data names."""
    if "seed" not in old.columns:
        old.insert(1, "seed", 0)
    if "data" not in old.columns:
        old.insert(3, "data", old["protocol"].replace({"blufr": "lfw"}))
    return old


def recorded_rows(study: Study) -> pd.DataFrame:
    """Every scored row: this checkout's part files, then the committed ``STEM.csv`` for the rows no part
    file holds (a CSV written before seeds were recorded counts as seed 0)."""
    parts = sorted((study.resolve(study.spec.work) / "parts").glob("*/*.csv"))
    tables = [pd.read_csv(p) for p in parts]
    committed = study.out(".csv")
    if committed.is_file():
        old = _with_seed_and_data(pd.read_csv(committed))
        if tables:
            new_keys = pd.concat(tables, ignore_index=True)[ROW_KEYS].drop_duplicates()
            old = old.merge(new_keys, on=ROW_KEYS, how="left", indicator=True)
            old = old[old["_merge"] == "left_only"].drop(columns="_merge")
        tables.insert(0, old)
    if not tables:
        raise FileNotFoundError(f"no scored front-end in {study.resolve(study.spec.work) / 'parts'} and no "
                                f"{committed} yet (lrfr results evaluate {study.path})")
    table = pd.concat(tables, ignore_index=True)
    order = {k: i for i, k in enumerate([*study.spec.scorers, *study.labels])}
    return table.sort_values(["scorer", "front_end", "seed", "protocol"],
                             key=lambda s: s.map(order) if s.name in ("scorer", "front_end") else s)
