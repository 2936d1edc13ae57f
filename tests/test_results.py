"""lrfr.results / ``lrfr results``: a seeded table of a user's own front-ends, end to end on tiny real runs.

Two seeds of a tiny SR recipe are trained (a few steps each), exported beside a study file, scored on a
SynthFaces export by a small random recognizer (with a pair subset that pins the model files) and
tabulated: the row shows the mean over the two seeds ± their std with the count, the part files make a
second ``evaluate`` a no-op, and bad study files are one clear error each.
"""
from __future__ import annotations

import json
import textwrap

import pandas as pd
import pytest
import torch

from lrfr.cli import main
from lrfr.config import ConfigError
from lrfr.data.synth import SynthFaces

TINY_SR = """kind = "sr"
name = "tiny-sr"
[model]
kwargs = {{channels = 4, blocks = 1}}
[data]
n_identities = 2
images_per_identity = 2
[val]
source = "none"
[optim]
batch_size = 2
iterations = 3
[run]
out = "{out}"
seed = {seed}
log_every = 1
"""


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A study folder: two trained seeds of one recipe, a scorer file, a SynthFaces export as the data."""
    from lrfr import recognition
    from lrfr.recognition.weights import save_recognizer
    from lrfr.recipes import run_pipeline

    root = tmp_path_factory.mktemp("study")
    for seed in (0, 1):
        pipe = root / f"tiny{seed}.toml"
        pipe.write_text(TINY_SR.format(out=root / "runs" / f"tiny{seed}", seed=seed))
        run_pipeline(pipe, progress=False)
    torch.manual_seed(0)
    save_recognizer(recognition.build("sphere20a", width=0.125, embedding_dim=32).eval(), root / "scorer.pt")
    save_recognizer(recognition.build("sphere20a", width=0.125, embedding_dim=32).eval(), root / "student.pt")
    SynthFaces(n_identities=20, images_per_identity=4, seed=5, identity_offset=500).export(
        root / "faces", n_folds=10, pairs_per_fold=4, progress=False)
    (root / "study.toml").write_text(textwrap.dedent(f"""\
        title = "Tiny study"
        scale = 8
        stem = "tiny"
        work = "work"
        copy_into = "page.md"

        [data]
        faces = "faces"

        [subset]
        of = "faces"
        per_fold = 1

        [scorers.small]
        weights = "scorer.pt"
        protocols = {{ faces = ["lfw", "blufr"], faces_subset20 = ["lfw"] }}

        [[front_end]]
        label = "hr"
        model = "hr"
        [[front_end]]
        label = "bicubic"
        model = "bicubic"
        [[front_end]]
        label = "tiny"
        model = "weights/tiny.pt"
        run = "runs/tiny0"
        run_file = "generator.pt"
        [[front_end]]
        label = "tiny"
        seed = 1
        model = "weights/tiny_s1.pt"
        run = "runs/tiny1"
        run_file = "generator.pt"

        [[front_end]]
        label = "bicubic+student"
        model = "bicubic"
        probe = "student.pt"
        setting = "cross"

        [[section]]
        rows = ["hr", "bicubic", "tiny"]

        [[section]]
        kind = "paired"
        rows = ["tiny:bicubic"]
        metrics = ["faces:lfw"]

        [[section]]
        kind = "gap"
        text = "Share of the gap:"
        rows = ["hr", "bicubic", "tiny"]
        metrics = ["lfw:accuracy_mean:LFW accuracy"]
        """))
    from lrfr.results.study import Study
    from lrfr.results.tables import markers

    begin, end = markers(Study(root / "study.toml"))
    (root / "page.md").write_text(f"# A page\n\n{begin}\nstale\n{end}\n\nafter\n")
    return root


def test_export_evaluate_table_and_resume(study, capsys):
    assert main(["results", "export", str(study / "study.toml")]) == 0
    facts = json.loads((study / "weights" / "training.json").read_text())
    assert set(facts) == {"tiny", "tiny@s1"} and facts["tiny@s1"]["seed"] == 1
    assert facts["tiny"]["generator_steps"] == 3 and facts["tiny"]["generator_images"] == 6
    assert (study / "histories" / "tiny.csv").is_file() and (study / "histories" / "tiny_s1.csv").is_file()

    assert main(["results", "evaluate", str(study / "study.toml"), "--quiet"]) == 0
    table = pd.read_csv(study / "tiny.csv")
    tiny = table[(table["front_end"] == "tiny") & (table["protocol"] == "lfw")]
    assert sorted(tiny["seed"]) == [0, 1]
    assert tiny["sr_sha256"].nunique() == 2  # two different files, each pinned by its hash
    subset = table[table["protocol"] == "faces_subset20"]
    assert sorted(subset["front_end"]) == ["bicubic+student", "tiny", "tiny"]  # only rows that rest on a file are pinned
    student = table[(table["front_end"] == "bicubic+student") & (table["protocol"] == "lfw")].iloc[0]
    assert student["setting"] == "cross" and student["probe_recognizer_sha256"] != student["recognizer_sha256"]
    assert set(table["data"]) == {"faces", "faces_subset20"}
    md = (study / "tiny.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| `tiny`"))
    mean, std = tiny["accuracy_mean"].mean(), tiny["accuracy_mean"].std(ddof=1)
    assert f"{100 * mean:.2f} ± {100 * std:.2f} (n=2)" in row
    assert "Share of the gap:" in md
    # the paired comparison: seed 0 of tiny against bicubic (which has seed 0 only), fold by fold
    import numpy as np

    def folds(label):
        row = table[(table["front_end"] == label) & (table["protocol"] == "lfw") & (table["seed"] == 0)].iloc[0]
        return np.array(json.loads(row["accuracy_per_fold"]))

    diff = folds("tiny") - folds("bicubic")
    assert len(diff) == 10
    paired = next(line for line in md.splitlines() if line.startswith("| `tiny` − `bicubic`"))
    assert f"{100 * diff.mean():+.2f} ± {100 * diff.std(ddof=1):.2f} | 1 × 10 folds (n = 10)" in paired
    page = (study / "page.md").read_text()
    assert "stale" not in page and "| `tiny`" in page and page.endswith("after\n")

    capsys.readouterr()
    parts = sorted((study / "work" / "parts" / "small").glob("*.csv"))
    assert len(parts) == 2 + 2 * 2 + 2  # hr, bicubic: one each; tiny: two seeds × (faces, subset); the student row: 2
    mtimes = [p.stat().st_mtime_ns for p in parts]
    assert main(["results", "evaluate", str(study / "study.toml"), "--quiet"]) == 0
    assert [p.stat().st_mtime_ns for p in parts] == mtimes  # resumed: nothing scored again
    assert "done" not in capsys.readouterr().out
    for part in parts:  # a fresh checkout: only the committed table is there; its rows are the record
        part.unlink()
    assert main(["results", "evaluate", str(study / "study.toml"), "--quiet"]) == 0
    assert not list((study / "work" / "parts" / "small").glob("*.csv")) and "done" not in capsys.readouterr().out
    assert pd.read_csv(study / "tiny.csv").equals(table)


def test_grid(study):
    from lrfr.results.study import Study

    (study / "study2.toml").write_text((study / "study.toml").read_text().replace('stem = "tiny"', 'stem = "tiny2"\ngrid = "faces"'))
    assert main(["results", "export", str(study / "study2.toml")]) == 0
    assert main(["results", "grid", str(study / "study2.toml")]) == 0
    assert Study(study / "study2.toml").out(".png").stat().st_size > 1000


@pytest.mark.parametrize("change, message", [
    (("rows = [\"hr\", \"bicubic\", \"tiny\"]\n\n[[section]]", "rows = [\"hr\", \"nobody\"]\n\n[[section]]"),
     r"section 'main' names 'nobody', which no \[\[front_end\]\] has"),
    (("faces_subset20 = [\"lfw\"]", "elsewhere = [\"lfw\"]"), r"scorers\.small\.protocols names data 'elsewhere'"),
    (("scale = 8", "scale = 0"), r"scale = 0 is out of range: expected >= 1"),
    (("label = \"tiny\"\nseed = 1", "label = \"tiny\"\nseed = 0"), r"front_end 'tiny' seed 0 is listed twice"),
])
def test_bad_study_files_are_one_clear_error(study, tmp_path, change, message, capsys):
    from lrfr.results.study import Study

    bad = tmp_path / "study.toml"
    text = (study / "study.toml").read_text()
    assert change[0] in text
    bad.write_text(text.replace(change[0], change[1], 1))
    with pytest.raises(ConfigError, match=message):
        Study(bad)
    assert main(["results", "table", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lrfr results: error: ")


def test_unknown_label_and_missing_scorer_weights(study, tmp_path, capsys):
    assert main(["results", "evaluate", str(study / "study.toml"), "--only", "nobody"]) == 2
    assert "--only: nobody not in" in capsys.readouterr().err
    moved = tmp_path / "study.toml"
    moved.write_text((study / "study.toml").read_text().replace('weights = "scorer.pt"', 'weights = "gone.pt"'))
    assert main(["results", "evaluate", str(moved)]) == 2
    assert "gone.pt: the weights of scorer 'small' are not there" in capsys.readouterr().err


def test_failures_counts_each_pair_as_the_protocol_did(study, capsys):
    """``lrfr results failures``: every pair's outcome per front-end, read from the protocol run itself — each
    front-end's share of right pairs is its table accuracy — with the lost/mended counts of the Markdown
    recomputed here from the per-pair file; a second call scores nothing again."""
    import numpy as np

    assert main(["results", "export", str(study / "study.toml")]) == 0
    assert main(["results", "failures", str(study / "study.toml"), "--data", "faces", "--only", "tiny",
                 "--quiet"]) == 0
    pairs = pd.read_csv(study / "tiny-failures.csv.gz")
    n_pairs = sum(1 for line in (study / "faces" / "pairs.txt").read_text().splitlines()[1:] if line.strip())
    assert len(pairs) == n_pairs and set(pairs["fold"]) == set(range(1, 11))
    assert sorted(p.name for p in (study / "work" / "failures" / "small").glob("*.csv")) == [
        "bicubic-s0-faces.csv", "hr-s0-faces.csv", "tiny-s0-faces.csv"]
    if not (study / "tiny.csv").is_file():  # (run alone: the table this is checked against)
        assert main(["results", "evaluate", str(study / "study.toml"), "--quiet"]) == 0
    table = pd.read_csv(study / "tiny.csv")
    for label in ("hr", "bicubic", "tiny"):
        row = table[(table["front_end"] == label) & (table["protocol"] == "lfw") & (table["seed"] == 0)].iloc[0]
        per_fold = pairs.groupby("fold")[f"correct_{label}"].mean().to_numpy()
        assert np.allclose(per_fold, json.loads(row["accuracy_per_fold"]), atol=1e-12)
    md = (study / "tiny-failures.md").read_text()
    hr_ok, tiny_ok, bic_ok = (pairs[f"correct_{x}"].to_numpy(bool) for x in ("hr", "tiny", "bicubic"))
    line = next(x for x in md.splitlines() if x.startswith("| `tiny`"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    same = pairs["same"].to_numpy(bool)
    assert cells[5] == str(int((~tiny_ok & same).sum())) and cells[6] == str(int((~tiny_ok & ~same).sum()))
    assert cells[7] == f"{int((hr_ok & ~tiny_ok).sum())} ({int((hr_ok & ~tiny_ok & same).sum())})"
    assert cells[8] == str(int((~bic_ok & tiny_ok).sum())) and cells[9] == str(int((bic_ok & ~tiny_ok).sum()))
    assert (study / "tiny-failures.png").stat().st_size > 1000
    mtimes = [p.stat().st_mtime_ns for p in (study / "work" / "failures" / "small").glob("*.csv")]
    assert main(["results", "failures", str(study / "study.toml"), "--data", "faces", "--only", "tiny", "--quiet"]) == 0
    assert [p.stat().st_mtime_ns for p in (study / "work" / "failures" / "small").glob("*.csv")] == mtimes
    capsys.readouterr()
    assert main(["results", "failures", str(study / "study.toml"), "--data", "faces", "--only", "nobody"]) == 2
    assert "nobody not in" in capsys.readouterr().err
