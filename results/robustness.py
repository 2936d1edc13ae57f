"""The degradation x resolution grid of ``results/robustness.toml`` (issue 42) → robustness.{csv,md,png}.

    python results/robustness.py [--rows LABEL ...] [--columns LABEL ...]   # resumable: one part file per cell

Each cell is one ``lrfr.evaluate`` call (the CASIA MobileFaceNet scores; the row's probe recognizer embeds the
LR side): LFW both-low and cross at every column; BLUFR (both-low) and held-out CelebA (both-low, cross) at the
headline column. Paired tests: each row against ``bicubic + student`` over LFW's 10 folds (seed 0 of each; a
paired t-test on the fold accuracies), per column and setting. A row with ``seeds`` (the probe recognizer of other
training seeds) is also scored at the ``seed_columns`` for each of them: the table "over training seeds" gives each
seed's figure, their mean ± standard deviation, and the difference from ``bicubic + student``'s seeds (Welch's t-test).

    python results/robustness.py --pin runs/distill_robust_s2 --seed 2     # commit a robust-student run first
    python results/robustness.py --pin-cface runs/distill_cface            # commit the C-Face row's student first
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STUDY = REPO / "results" / "robustness.toml"
BASELINE = "bicubic + student"
BEGIN = "<!-- robustness: written by `python results/robustness.py`; do not edit -->"
END = "<!-- robustness end -->"
PROTOCOL_NAMES = {"lfw": "LFW", "blufr": "BLUFR", "celeba": "held-out CelebA"}


def load(path: Path = STUDY) -> dict:
    from lrfr.config import load_toml
    from lrfr.results.study import shared_folder

    spec = load_toml(path)
    shared = str(shared_folder(REPO))

    def resolve(text: str) -> str:
        text = text.replace("{shared}", shared)
        return text if text in ("bicubic", "") or Path(text).is_absolute() else str((path.parent / text).resolve())

    for key in ("scorer", "lfw", "celeba", "work", "copy_into"):
        spec[key] = resolve(spec[key])
    for row in spec["row"]:
        row["front_end"], row["probe"] = resolve(row["front_end"]), resolve(row["probe"])
        row["seeds"] = {int(seed): resolve(file) for seed, file in row.get("seeds", {}).items()}
    return spec


def seed_rows(row: dict) -> list[dict]:
    """The row as scored for each training seed: seed 0 (its own probe file), then each of its ``seeds``."""
    base = {k: row[k] for k in ("label", "front_end", "probe")}
    return [base] + [{**base, "probe": file, "seed": seed} for seed, file in sorted(row["seeds"].items())]


def front_end(row: dict, scale: int):
    """What ``lrfr.evaluate`` takes as the row's front-end at ``scale``: bicubic, or the generator fitted."""
    if row["front_end"] == "bicubic":
        return "bicubic"
    from lrfr.probe import FittedFrontEnd, FrontEnd

    return FittedFrontEnd(FrontEnd.resolve(row["front_end"]), scale)


def cells(spec: dict):
    """``(row, column, setting, protocol, data name)`` of every cell, in the order they are scored: every column for
    seed 0, then the ``seed_columns`` for each further training seed of a row."""
    for row in spec["row"]:
        for seeded in seed_rows(row):
            for col in spec["column"]:
                if "seed" in seeded and col["label"] not in spec.get("seed_columns", []):
                    continue
                for setting in ("both_low", "cross"):
                    yield seeded, col, setting, "lfw", "lfw"
                if col["label"] == spec["headline"]:
                    yield seeded, col, "both_low", "blufr", "lfw"
                    yield seeded, col, "both_low", "celeba", "celeba"
                    yield seeded, col, "cross", "celeba", "celeba"


def part_file(spec: dict, row: dict, col: dict, setting: str, protocol: str, data: str) -> Path:
    key = json.dumps([row, col, setting, protocol, data, Path(spec["scorer"]).name], sort_keys=True)
    return Path(spec["work"]) / f"cell-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"


def score(spec: dict, row: dict, col: dict, setting: str, protocol: str, data: str, progress: bool) -> dict:
    """One cell, from its part file when it was scored before."""
    import lrfr

    part = part_file(spec, row, col, setting, protocol, data)
    if part.is_file():
        return json.loads(part.read_text())
    print(f"[robustness] {row['label']} | {col['label']} | {setting} | {protocol}", flush=True)
    t = lrfr.evaluate(front_end(row, col["scale"]), protocol=protocol, data=spec[data], recognizer="mobilefacenet",
                      weights=spec["scorer"], probe_weights=row["probe"] or None, scale=col["scale"],
                      degrade=col["degrade"], setting=setting, progress=progress)
    res = t.attrs["results"][next(iter(t.attrs["results"]))]
    fold_col = next((c for c in ("accuracy", "vr@far=0.1%") if c in res.per_fold.columns), None)
    out = {"row": row["label"], "seed": row.get("seed", 0), "column": col["label"], "setting": setting,
           "protocol": protocol, "data": data,
           "summary": {k: float(v) for k, v in res.summary.items()},
           "per_fold": [float(v) for v in res.per_fold[fold_col]] if fold_col else [],
           "probe_sha256": t.iloc[0]["probe_recognizer_sha256"], "sr_sha256": t.iloc[0]["sr_sha256"]}
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_text(json.dumps(out))
    return out


def headline_value(c: dict) -> float:
    s = c["summary"]
    return 100 * (s["accuracy_mean"] if "accuracy_mean" in s else s["vr@far=0.1%_mean"])


def paired(a: list[float], b: list[float]) -> float:
    from scipy.stats import ttest_rel

    return float(ttest_rel(a, b).pvalue) if len(a) == len(b) > 1 else float("nan")


def markdown(spec: dict, done: list[dict]) -> str:
    import pandas as pd

    cols = spec["column"]
    by = {(c["row"], c["column"], c["setting"], c["protocol"], c["data"]): c for c in done if not c.get("seed")}
    lines = [f"## {spec['title']}", "",
             "Made by `python results/robustness.py` from `results/robustness.toml`; scored by the CASIA MobileFaceNet "
             "(`mobilefacenet_casia_068.ckpt`), the row's probe recognizer on the LR side; LFW 10-fold accuracy (%), "
             "both-low / cross (first image HR). Seed 0 of each row's training; other seeds below the paired tests.", ""]
    head = "| pair | " + " | ".join(c["title"] for c in cols) + " | BLUFR VR@0.1% (clean) | CelebA held-out (clean) |"
    lines += [head, "| --- |" + " --- |" * (len(cols) + 2)]
    for row in spec["row"]:
        cells_md = []
        for c in cols:
            pair = [by.get((row["label"], c["label"], s, "lfw", "lfw")) for s in ("both_low", "cross")]
            cells_md.append(" / ".join(f"{headline_value(p):.2f}" if p else "—" for p in pair))
        blufr = by.get((row["label"], spec["headline"], "both_low", "blufr", "lfw"))
        celeba = [by.get((row["label"], spec["headline"], s, "celeba", "celeba")) for s in ("both_low", "cross")]
        cells_md.append(f"{headline_value(blufr):.2f}" if blufr else "—")
        cells_md.append(" / ".join(f"{headline_value(p):.2f}" if p else "—" for p in celeba))
        lines.append(f"| {row['label']} | " + " | ".join(cells_md) + " |")
    lines += ["", f"Paired over LFW's 10 folds against `{BASELINE}` (seed 0 of each; difference in points; p of a paired "
              "t-test):", "",
              "| pair | " + " | ".join(f"{c['label']} both-low | {c['label']} cross" for c in cols) + " |",
              "| --- |" + " --- |" * (2 * len(cols))]
    for row in spec["row"]:
        if row["label"] == BASELINE:
            continue
        out = []
        for c in cols:
            for s in ("both_low", "cross"):
                a, b = by.get((row["label"], c["label"], s, "lfw", "lfw")), by.get((BASELINE, c["label"], s, "lfw", "lfw"))
                if a and b:
                    d = headline_value(a) - headline_value(b)
                    out.append(f"{d:+.2f} (p={paired(a['per_fold'], b['per_fold']):.2g})")
                else:
                    out.append("—")
        lines.append(f"| {row['label']} | " + " | ".join(out) + " |")
    scored = {(c["row"], c.get("seed", 0), c["column"], c["setting"], c["protocol"], c["data"]): c for c in done}
    lines += seeds_markdown(spec, scored)
    missing = [f"{row['label']}{' seed ' + str(row['seed']) if 'seed' in row else ''} | {col['label']} | {s} | {p}"
               for row, col, s, p, d in cells(spec)
               if (row["label"], row.get("seed", 0), col["label"], s, p, d) not in scored]
    if missing:
        lines += ["", f"Not scored yet ({len(missing)} cells): " + "; ".join(missing[:8]) + (" …" if len(missing) > 8 else "")]
    del pd
    return "\n".join(lines) + "\n"


def seeds_markdown(spec: dict, scored: dict) -> list[str]:
    """The table "over training seeds": for each row with ``seeds``, each seed-column cell per seed and their
    mean ± standard deviation (n − 1), once every seed of that cell is scored; and, where ``bicubic + student``
    has seeds too, the difference of the means with the p of Welch's t-test over seeds (each seed one sample: the
    spread that a retraining gives, which the paired fold test above does not see). ``scored``: the scored cells by
    (row, seed, column, setting, protocol, data)."""
    import numpy as np
    from scipy.stats import ttest_ind

    rows = [r for r in spec["row"] if r["seeds"]]
    if not rows:
        return []
    per_seed = {}
    for row in rows:
        seeds = [0] + sorted(row["seeds"])
        keys = [(c, s, p, d) for r, c, s, p, d in cells(spec) if r["label"] == row["label"] and r.get("seed") == seeds[-1]]
        for col, setting, protocol, data in keys:
            found = [scored.get((row["label"], seed, col["label"], setting, protocol, data)) for seed in seeds]
            if all(c is not None for c in found):
                per_seed[row["label"], col["label"], setting, protocol] = [headline_value(c) for c in found]
    lines = ["", "Over training seeds (the probe recognizer trained again with `--set run.seed=S`; mean ± std over "
             f"seeds, each seed's figure after it; against `{BASELINE}` over its seeds: difference of the means, p of "
             "Welch's t-test with each seed one sample):", "",
             f"| pair | cell | seeds | mean ± std | per seed | against `{BASELINE}` |", "| --- | --- | --- | --- | --- | --- |"]
    for (label, column, setting, protocol), got in per_seed.items():
        name = f"{column}, " + ("BLUFR VR@0.1%" if protocol == "blufr" else
                                f"{PROTOCOL_NAMES[protocol]} {setting.replace('_', '-')}")
        base = per_seed.get((BASELINE, column, setting, protocol))
        against = (f"{np.mean(got) - np.mean(base):+.2f} (p={ttest_ind(got, base, equal_var=False).pvalue:.2g})"
                   if base and label != BASELINE else "—")
        lines.append(f"| {label} | {name} | {len(got)} | {np.mean(got):.2f} ± {np.std(got, ddof=1):.2f} | "
                     + " / ".join(f"{v:.2f}" for v in got) + f" | {against} |")
    return lines


def figure(spec: dict, done: list[dict], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    cols = spec["column"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), sharey=True)
    width = 0.8 / len(spec["row"])
    for ax, setting in zip(axes, ("both_low", "cross")):
        for i, row in enumerate(spec["row"]):
            vals = []
            for c in cols:
                cell = next((d for d in done if (d["row"], d["column"], d["setting"], d["protocol"]) ==
                             (row["label"], c["label"], setting, "lfw") and not d.get("seed")), None)
                vals.append(headline_value(cell) if cell else np.nan)
            ax.bar(np.arange(len(cols)) + i * width, vals, width, label=row["label"])
        ax.set_xticks(np.arange(len(cols)) + width * (len(spec["row"]) - 1) / 2)
        ax.set_xticklabels([c["label"] for c in cols])
        ax.set_title(f"LFW, {setting.replace('_', '-')}")
        ax.set_ylim(50, 100)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("10-fold accuracy (%)")
    axes[1].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def copy_run(run: Path, name: str, history: str, pipeline: str) -> Path:
    """A finished distillation run's fp16 student copied to ``results/weights/<name>.pt`` and its history to
    ``results/histories/<history>.csv``; the weights' path. One clear line when the run has not finished."""
    import shutil

    student = run / "student.pt"
    if not student.is_file():
        raise SystemExit(f"{student} not found: the run has not finished (lrfr run {pipeline})")
    weights = REPO / "results" / "weights" / f"{name}.pt"
    shutil.copyfile(student, weights)
    shutil.copyfile(run / "history.csv", REPO / "results" / "histories" / f"{history}.csv")
    return weights


def pin(run: Path, seed: int = 0) -> None:
    """Commit a finished robust-student run: its fp16 student as ``results/weights/distill_robust.pt`` (seed 0,
    also the package's ``lr_mobilefacenet_robust.pt``, the same bytes) or ``distill_robust_s<seed>.pt`` (another
    training seed: committed for the study, not packaged), its history, and its training facts (steps, images
    seen, seconds from the logged images/s, sha256) in ``results/weights/training.json``."""
    import shutil

    from lrfr.fingerprint import file_sha256
    from lrfr.results.export import training_facts
    from lrfr.weights import packaged_path

    suffix = f"_s{seed}" if seed else ""
    weights = copy_run(run, f"distill_robust{suffix}", f"bicubic+robust_student{suffix}", "pipelines/distill_robust.toml")
    if not seed:
        shutil.copyfile(weights, packaged_path("lr_mobilefacenet_celeba.pt").parent / "lr_mobilefacenet_robust.pt")
    facts_file = REPO / "results" / "weights" / "training.json"
    facts = json.loads(facts_file.read_text())
    key = "bicubic+robust student" + (f"@s{seed}" if seed else "")
    facts[key] = {"pipeline": "distill-robust", **training_facts(run), "seed": seed,
                  "run": f"../{run.as_posix()}" if not run.is_absolute() else str(run), "file": weights.name,
                  "sha256": file_sha256(weights)}
    facts_file.write_text(json.dumps(facts, indent=2) + "\n")
    print(f"pinned {weights} ({facts[key]['sha256'][:12]}){', the packaged copy' if not seed else ''}, its history")


def pin_grid_file(run: Path, name: str, history: str, pipeline: str) -> None:
    """Commit a finished run whose student only the grid scores (not a row of results/real-8x, so not in
    training.json): :func:`copy_run`; the grid's CSV pins the file's sha256 (tests/test_realdata_results.py)."""
    from lrfr.fingerprint import file_sha256
    from lrfr.results.export import training_facts

    weights = copy_run(run, name, history, pipeline)
    facts = training_facts(run)
    print(f"pinned {weights} ({file_sha256(weights)[:12]}), its history: {facts['recognizer_steps']:,} steps, "
          f"{facts['recognizer_images']:,} faces, {facts['train_seconds'] / 60:.0f} min of training")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pin", default=None, metavar="RUN", help="commit a finished robust-student run folder first")
    p.add_argument("--seed", type=int, default=0, help="the training seed of the --pin run (0: the packaged one)")
    p.add_argument("--pin-cface", default=None, metavar="RUN",
                   help="commit a finished run of pipelines/distill_cface.toml first (weights/distill_cface.pt)")
    p.add_argument("--rows", nargs="*", default=None, help="score only these row labels")
    p.add_argument("--columns", nargs="*", default=None, help="score only these column labels")
    p.add_argument("--protocols", nargs="*", default=None, help="score only these protocols (lfw, blufr, celeba)")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if args.pin:
        pin(Path(args.pin), args.seed)
    if args.pin_cface:
        pin_grid_file(Path(args.pin_cface), "distill_cface", "cface_v2+distilled_cnn_r", "pipelines/distill_cface.toml")
    spec = load()
    done = []
    for row, col, setting, protocol, data in cells(spec):
        part = part_file(spec, row, col, setting, protocol, data)
        if ((args.rows is None or row["label"] in args.rows) and (args.columns is None or col["label"] in args.columns)
                and (args.protocols is None or protocol in args.protocols)):
            missing = [f for f in (row["front_end"], row["probe"]) if f not in ("", "bicubic") and not Path(f).is_file()]
            if missing:
                print(f"[robustness] skipped {row['label']}: {missing[0]} not found", flush=True)
                continue
            done.append(score(spec, row, col, setting, protocol, data, not args.quiet))
        elif part.is_file():  # scored by an earlier call: in the table too
            done.append(json.loads(part.read_text()))
    import pandas as pd

    flat = [{"row": d["row"], "seed": d.get("seed", 0), "column": d["column"], "setting": d["setting"],
             "protocol": d["protocol"],
             "data": d["data"], **d["summary"], "probe_sha256": d["probe_sha256"], "sr_sha256": d["sr_sha256"]}
            for d in done]
    out = REPO / "results" / spec["stem"]
    pd.DataFrame(flat).to_csv(out.with_suffix(".csv"), index=False)
    page = markdown(spec, done)
    out.with_suffix(".md").write_text(page)
    figure(spec, done, out.with_suffix(".png"))
    from lrfr.io import replace_between

    replace_between(spec["copy_into"], BEGIN, END, "\n" + page.replace("## ", "### ", 1))
    print(f"wrote {out}.csv, .md, .png and the table of {spec['copy_into']}")


if __name__ == "__main__":
    from lrfr.cli import run_script

    run_script("robustness.py", lambda a: main(a), sys.argv[1:])
