"""Each model file committed under results/weights/ is the file the table names and, on real data, still
scores what results/real-8x.csv says.

For speed the check uses a fixed 600-pair subset of LFW View 2 (the first 30 same and 30 different
pairs of each fold, :func:`lrfr.results.scoring.subset_pairs`), scored by the CASIA MobileFaceNet at 8×
exactly as ``lrfr results evaluate results/real-8x.toml`` scored it; that check skips where ../shared is absent.
"""
import json

import pandas as pd
import pytest

import lrfr
from lrfr.results.scoring import subset_pairs
from lrfr.results.study import Study
from lrfr.results.tables import headline, markers, page_copy

from conftest import REPO

RESULTS = REPO / "results"
STUDY = Study(RESULTS / "real-8x.toml")


def _committed():
    """(label, seed, facts, entry) of every committed model file, from results/weights/training.json."""
    facts = json.loads((RESULTS / "weights" / "training.json").read_text())
    out = []
    for key, f in sorted(facts.items()):
        label, seed = key.split("@s")[0], f.get("seed", 0)
        entry = next(fe for fe in STUDY.entries(label) if fe.seed == seed)
        out.append((label, seed, f, entry))
    return out


def _file_of(entry):
    """The committed file a row rests on: its probe recognizer when it has one, else its generator."""
    return STUDY.resolve(entry.probe) if entry.probe else STUDY.model(entry)


def test_every_committed_generator_has_its_row_and_hash():
    from lrfr.fingerprint import file_sha256

    table = pd.read_csv(RESULTS / "real-8x.csv")
    for label, seed, facts, entry in _committed():
        path = RESULTS / "weights" / facts["file"]
        assert file_sha256(path) == facts["sha256"], f"{path} is not the file the table was made with"
        assert _file_of(entry) == path, f"{path} is not the study's file of {label} seed {seed}"
        rows = table[(table["front_end"] == label) & (table["seed"] == seed)]
        assert set(rows["protocol"]) >= {"lfw", "blufr", "celeba", "lfw_subset600"}, (label, seed)
        column = "probe_recognizer_sha256" if entry.probe else "sr_sha256"
        assert (rows[column] == facts["sha256"]).all(), (label, seed)
        assert path.stat().st_size < 5e6  # a few MB each (fp16)


def _code_path(entry) -> tuple[str, str]:
    """(front-end architecture, probe recognizer architecture or "") of a committed row: what scoring it runs."""
    from lrfr.modelfile import load_payload

    model = STUDY.model(entry)
    front = "bicubic" if str(model) == "bicubic" else load_payload(model)["arch"]
    return front, load_payload(STUDY.resolve(entry.probe))["arch"] if entry.probe else ""


def _one_row_per_code_path() -> list[tuple[str, int]]:
    """The rows the slow check re-scores: one (label, seed) per pair of architectures, the first in sorted order.
    Every other committed file is pinned by its hash above and goes through the same code with other weights, so
    re-scoring each would spend CI minutes (20 s a row) on nothing new."""
    chosen = {}
    for label, seed, _, entry in sorted(_committed(), key=lambda c: (c[0], c[1])):
        chosen.setdefault(_code_path(entry), (label, seed))
    return sorted(chosen.values())


FIRST_SEEDS = _one_row_per_code_path()


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.parametrize("label, seed", FIRST_SEEDS)
def test_committed_generator_reproduces_its_lfw_subset_accuracy(label, seed, lfw_root, mobilefacenet_weights, tmp_path):
    entry = {(l, s): e for l, s, _, e in _committed()}[(label, seed)]
    table = pd.read_csv(RESULTS / "real-8x.csv")
    expected = table[(table["front_end"] == label) & (table["seed"] == seed)
                     & (table["protocol"] == "lfw_subset600")]["accuracy_mean"].item()
    root = subset_pairs(lfw_root, tmp_path / "lfw600", per_fold=30)
    got = lrfr.evaluate([str(STUDY.model(entry))], protocol="lfw", data=root, recognizer="mobilefacenet",
                        weights=mobilefacenet_weights, probe_weights=STUDY.resolve(entry.probe) if entry.probe else None,
                        setting=entry.setting or "both_low", scale=8, workdir=tmp_path / "work", progress=False).iloc[0]
    print(f"\n{label} (seed {seed}): LFW 600-pair subset {100 * got['accuracy_mean']:.2f}% (table: {100 * expected:.2f}%)")
    assert got["n_images"] > 0 and abs(got["accuracy_mean"] - expected) <= 0.01


def test_the_pages_hold_the_current_tables():
    """docs/real-faces.md's copy of results/real-8x.md and the README's headline table are the file's, as
    `lrfr results table results/real-8x.toml` writes them."""
    text = (RESULTS / "real-8x.md").read_text()
    for page, part, expected in ((STUDY.spec.copy_into, "tables", page_copy(text)),
                                 (STUDY.spec.headline_into, "headline", headline(text))):
        body = STUDY.resolve(page).read_text()
        begin, end = markers(STUDY, part)
        assert body.split(begin, 1)[1].split(end, 1)[0] == "\n" + expected, page
    assert headline(text).count("\n| `") == 11  # the main table's rows, nothing after it


def test_every_model_file_the_robustness_grid_names_is_the_file_it_scored():
    """results/robustness.toml's probe recognizers (every training seed of a row) have the sha256 that
    results/robustness.csv recorded for each of the row's cells: the grid's pin, as the studies' test below is theirs.
    Its generators are scored wrapped to each column's size (the CSV holds the wrapper's fingerprint); they are
    real-8x's files, pinned by training.json above."""
    import tomllib

    from lrfr.fingerprint import file_sha256

    spec = tomllib.loads((RESULTS / "robustness.toml").read_text())
    table = pd.read_csv(RESULTS / "robustness.csv")
    for row in spec["row"]:
        seeds = {0: row["probe"], **{int(s): f for s, f in row.get("seeds", {}).items()}}
        for seed, probe in seeds.items():
            cells = table[(table["row"] == row["label"]) & (table["seed"] == seed)]
            assert len(cells), f"robustness.toml's {row['label']} seed {seed} has no scored cell"
            if probe:
                digest = file_sha256(RESULTS / probe)
                assert (cells["probe_sha256"] == digest).all(), f"{probe} is not the file the grid's {row['label']} scored"


#: every study of results/ whose table has been made (its CSV committed)
#: results/*.toml files that are not `lrfr results` studies: the robustness grid has its own driver and schema
GRIDS = {"robustness.toml"}
STUDIES = [Study(p) for p in sorted(RESULTS.glob("*.toml")) if p.name not in GRIDS and Study(p).out(".csv").is_file()]


@pytest.mark.parametrize("study", STUDIES, ids=[s.spec.stem for s in STUDIES])
def test_the_committed_table_is_what_the_study_writes(study):
    """Each results/STEM.md is the Markdown of results/STEM.csv under its study's sections (no hand edit), and the
    page that copies it holds the current copy."""
    from lrfr.results.tables import markdown

    text = markdown(study, pd.read_csv(study.out(".csv")))
    assert text == study.out(".md").read_text()
    if study.spec.copy_into:
        begin, end = markers(study, "tables")
        body = study.resolve(study.spec.copy_into).read_text()
        assert body.split(begin, 1)[1].split(end, 1)[0] == "\n" + page_copy(text)


def test_the_failure_analysis_is_its_table():
    """results/real-8x-failures.*: every pair's outcome under each front-end is the one the table counted (its
    share of right pairs is the committed seed-0 LFW accuracy, fold by fold where the row keeps its folds), and the Markdown is what the committed
    per-pair file gives (`lrfr results failures results/real-8x.toml ...` writes both)."""
    import numpy as np

    from lrfr.results.failures import render

    pairs = pd.read_csv(RESULTS / "real-8x-failures.csv.gz")
    labels = [c[len("correct_"):] for c in pairs.columns if c.startswith("correct_")]
    assert labels[:2] == ["hr", "bicubic"] and len(labels) > 2 and len(pairs) == 6000
    table = pd.read_csv(RESULTS / "real-8x.csv")
    for label in labels:
        row = table[(table["front_end"] == label) & (table["seed"] == 0) & (table["protocol"] == "lfw")
                    & (table["data"] == "lfw") & (table["scorer"] == STUDY.main_scorer)].iloc[0]
        assert abs(pairs[f"correct_{label}"].mean() - row["accuracy_mean"]) < 1e-12, label  # equal folds
        if isinstance(row["accuracy_per_fold"], str):  # (rows scored before the column existed have none)
            per_fold = pairs.groupby("fold")[f"correct_{label}"].mean().to_numpy()
            assert np.allclose(per_fold, json.loads(row["accuracy_per_fold"]), atol=1e-12), label
    text = (RESULTS / "real-8x-failures.md").read_text()
    assert text == render(STUDY, pairs, labels, "lfw")
    begin, end = markers(STUDY, "failures", "lrfr results failures results/real-8x.toml")
    page = STUDY.resolve(STUDY.spec.copy_into).read_text()
    assert page.split(begin + "\n", 1)[1].split(end, 1)[0] == page_copy(text)


@pytest.mark.parametrize("study", STUDIES, ids=[s.spec.stem for s in STUDIES])
def test_every_committed_model_file_a_study_names_is_the_file_it_scored(study):
    """Every generator or probe recognizer under results/ that a study's row names has the sha256 that the study's
    CSV recorded for that row (a file replaced after scoring would silently change what the table means)."""
    from pathlib import Path

    from lrfr.fingerprint import file_sha256

    table = pd.read_csv(study.out(".csv"))
    for fe in study.spec.front_end:
        for file, column in ((study.model(fe), "sr_sha256"),
                             (study.resolve(fe.probe) if fe.probe else None, "probe_recognizer_sha256")):
            if not isinstance(file, Path) or RESULTS.resolve() not in file.resolve().parents:
                continue  # a name, a packaged file, or a run folder's file (../runs/…), which is not committed
            rows = table[(table["front_end"] == fe.label) & (table["seed"] == fe.seed)]
            if not file.is_file():  # a row the study lists but never ran (its file was never committed)
                assert not len(rows), f"{study.spec.stem}'s {fe.label} was scored with {file}, which is gone"
                continue
            assert len(rows), f"{study.spec.stem}: {file} is committed but {fe.label} seed {fe.seed} has no row"
            assert (rows[column] == file_sha256(file)).all(), f"{file} is not the file {study.spec.stem}'s {fe.label} scored"
