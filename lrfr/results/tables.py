"""A study's Markdown tables: headline columns, the share of the bicubic → HR gap, per-scorer accuracies.

A row with one seed shows the protocol's own spread (LFW: ± the std over its 10 folds; BLUFR: mean
and, in brackets, mean − std over its 10 trials). A row trained with several seeds shows the mean
over seeds ± their standard deviation, with the number of seeds (``n=3``): that is the spread a
difference between two rows has to exceed. :func:`write` writes ``STEM.csv`` (every column of every
row) and ``STEM.md``, and copies the tables into ``copy_into`` between two markers.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from lrfr.results.export import facts_key
from lrfr.results.scoring import recorded_rows
from lrfr.results.study import Study, subset_name

#: the headline metrics of a gap section, by default (papers/004 reports these shares at 8×)
DEFAULT_GAP_METRICS = ("lfw:accuracy_mean:LFW accuracy", "blufr:vr@far=0.1%_mean:BLUFR VR@0.1%",
                       "blufr:dir@rank=1,far=1%_mean:BLUFR DIR@1, 1%", "celeba:accuracy_mean:CelebA accuracy")

MAIN_HEADER = (
    "| front-end | LFW 10-fold accuracy (%) | BLUFR VR@FAR=0.1% (mean − std) | BLUFR DIR@rank 1, FAR=1% "
    "(mean − std) | held-out CelebA accuracy (%) | PSNR / SSIM (LFW) | LFW 600-pair subset (%) | "
    "training (CPU), images seen | sha256 |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
)

BEGIN = "<!-- {stem} {part}: written by `{command}`; do not edit -->"
END = "<!-- {stem} {part} end -->"


def _pct(x) -> str:
    return f"{100 * x:.2f}"


def _facts(study: Study) -> dict:
    path = study.resolve(study.spec.weights) / "training.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _cell(rows: pd.DataFrame, col: str, fold_std: str | None = None, minus_std: str | None = None) -> str:
    """One metric of one front-end: over seeds when there are several, else with the protocol's spread."""
    values = rows[col].astype(float)
    if len(values) > 1:
        return f"{_pct(values.mean())} ± {_pct(values.std(ddof=1))} (n={len(values)})"
    one = rows.iloc[0]
    if fold_std is not None:
        return f"{_pct(one[col])} ± {_pct(one[fold_std])}"
    if minus_std is not None:
        return f"{_pct(one[col])} ({_pct(one[minus_std])})"
    return _pct(one[col])


def main_rows(study: Study, table: pd.DataFrame, labels) -> list[str]:
    facts, rows = _facts(study), []
    subset = subset_name(study.spec.subset) if study.spec.subset else None
    for label in [k for k in labels if k in set(table["front_end"])]:
        t = table[table["front_end"] == label]
        by = {p: g.sort_values("seed") for p, g in t.groupby("protocol")}
        if not {"lfw", "blufr"} <= set(by):
            continue
        lfw, blufr = by["lfw"], by["blufr"]
        first_lfw = lfw.iloc[0]
        f = facts.get(facts_key(label, int(first_lfw["seed"])), {})  # the facts of the row's first seed
        images = (f.get("generator_images") or f.get("recognizer_images", 0)) if f else 0
        rows.append("| " + " | ".join([
            f"`{label}`",
            _cell(lfw, "accuracy_mean", fold_std="accuracy_std"),
            _cell(blufr, "vr@far=0.1%_mean", minus_std="vr@far=0.1%_mean_minus_std"),
            _cell(blufr, "dir@rank=1,far=1%_mean", minus_std="dir@rank=1,far=1%_mean_minus_std"),
            _cell(by["celeba"], "accuracy_mean", fold_std="accuracy_std") if "celeba" in by else "—",
            "—" if pd.isna(first_lfw["psnr"]) else f"{lfw['psnr'].mean():.2f} / {lfw['ssim'].mean():.3f}",
            _cell(by[subset], "accuracy_mean") if subset in by else "—",
            f"{f['train_seconds'] / 60:.1f} min, {images:,}" if f else "—",
            f"`{str(_pinned_sha(first_lfw))[:12]}`" if f else "—",
        ]) + " |")
    return rows


def _pinned_sha(row) -> str:
    """The file a row rests on: its probe recognizer's when it has one of its own, else its generator's."""
    probe = row.get("probe_recognizer_sha256")
    return probe if isinstance(probe, str) and probe != row["recognizer_sha256"] else row["sr_sha256"]


def _mean(table: pd.DataFrame, label: str, protocol: str, col: str) -> float:
    t = table[(table["front_end"] == label) & (table["protocol"] == protocol)]
    return float(t[col].astype(float).mean()) if len(t) else float("nan")


def gap_rows(table: pd.DataFrame, labels, metrics) -> list[str]:
    """Share of the bicubic → HR gap each front-end closes, per metric (means over folds/trials and seeds)."""
    rows = []
    for label in [k for k in labels if k in set(table["front_end"]) and k not in ("hr", "bicubic")]:
        cells = [f"`{label}`"]
        for proto, col, _ in metrics:
            lo, hi, x = _mean(table, "bicubic", proto, col), _mean(table, "hr", proto, col), _mean(table, label, proto, col)
            cells.append(f"{round(100 * (x - lo) / (hi - lo))}%" if hi > lo and x == x else "—")
        rows.append("| " + " | ".join(cells) + " |")
    return rows


#: an accuracy section's columns by default: (data, protocol, heading)
DEFAULT_ACCURACY_COLUMNS = ("lfw:lfw:LFW 10-fold accuracy (%)", "celeba:celeba:held-out CelebA accuracy (%)")


def accuracy_rows(table: pd.DataFrame, labels, columns) -> list[str]:
    """Each front-end's value in each ``(data, protocol, heading[, column])`` column (over seeds when several):
    10-fold accuracy by default, or another column of the rows (``identity_similarity``), × 100."""
    rows = []
    for label in [k for k in labels if k in set(table["front_end"])]:
        t = table[table["front_end"] == label]
        cells = [f"`{label}`"]
        for data, proto, _, *col in columns:
            g = t[(t["data"] == data) & (t["protocol"] == proto)].sort_values("seed")
            if col and col[0] != "accuracy_mean":
                cells.append(_cell(g, col[0]) if len(g) and g[col[0]].notna().any() else "—")
            else:
                cells.append(_cell(g, "accuracy_mean", fold_std="accuracy_std") if len(g) else "—")
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def paired_difference(table: pd.DataFrame, a: str, b: str, data: str, protocol: str) -> dict | None:
    """``a`` − ``b`` in 10-fold accuracy over the folds of every seed both were scored with (the folds are the
    same pairs for both; seed s of ``a`` meets seed s of ``b``): mean, std, n and a paired t-test's two-sided p.
    ``None`` when they share no seed with per-fold accuracies."""
    from scipy import stats

    def folds(label):
        rows = table[(table["front_end"] == label) & (table["data"] == data) & (table["protocol"] == protocol)]
        return {int(r["seed"]): json.loads(r["accuracy_per_fold"]) for _, r in rows.iterrows()
                if isinstance(r.get("accuracy_per_fold"), str) and r["accuracy_per_fold"]}

    fa, fb = folds(a), folds(b)
    seeds = sorted(set(fa) & set(fb))
    if not seeds:
        return None
    diff = np.concatenate([np.subtract(fa[s], fb[s]) for s in seeds])
    test = stats.ttest_rel(np.concatenate([fa[s] for s in seeds]), np.concatenate([fb[s] for s in seeds]))
    return {"mean": float(diff.mean()), "std": float(diff.std(ddof=1)), "n": int(diff.size), "seeds": len(seeds),
            "p": float(test.pvalue)}


def paired_rows(table: pd.DataFrame, pairs, data: str, protocol: str, alpha: float = 0.05) -> list[str]:
    rows = []
    for pair in pairs:
        a, b = pair.split(":")
        d = paired_difference(table, a, b, data, protocol)
        if d is None:
            continue
        verdict = ("level" if d["p"] >= alpha or d["mean"] == 0
                   else f"`{a}` {'above' if d['mean'] > 0 else 'below'} `{b}`")
        rows.append(f"| `{a}` − `{b}` | {100 * d['mean']:+.2f} ± {100 * d['std']:.2f} | {d['seeds']} × 10 folds "
                    f"(n = {d['n']}) | {d['p']:.3f} | {verdict} |")
    return rows


def scorer_line(study: Study, table: pd.DataFrame, scorer: str) -> str:
    """``arch `file` (sha256 `…`)`` of a scorer, from its rows."""
    first = table[table["scorer"] == scorer].iloc[0]
    name = study.resolve(study.spec.scorers[scorer].weights).name
    return f"{first['recognizer']} `{name}` (sha256 `{first['recognizer_sha256']}`)"


def _parse_metrics(metrics) -> list[tuple[str, str, str]]:
    return [tuple(m.split(":", 2)) for m in (metrics or DEFAULT_GAP_METRICS)]


def markdown(study: Study, table: pd.DataFrame) -> str:
    """``STEM.md``: the study's title, its main scorer named, then each section."""
    main = table[table["scorer"] == study.main_scorer]
    first = main.iloc[0]
    text = (f"# {study.spec.title}\n\n"
            f"Scored by {scorer_line(study, table, study.main_scorer)}, lrfr {first['lrfr_version']}; made by "
            f"`lrfr results evaluate {study.name}` (every column of every row, pins included, in "
            f"`{study.out('.csv').name}`).\n")
    for sec in study.spec.section:
        scorer = sec.scorer or study.main_scorer
        rows_of = table[table["scorer"] == scorer]
        head, rows = _section_table(study, sec, rows_of)
        if not rows:  # nothing scored for it yet
            continue
        text += f"\n## {sec.title}\n" if sec.title else ""
        if sec.text:
            text += "\n" + sec.text.strip().replace("{scorer}", scorer_line(study, table, scorer)) + "\n"
        text += "\n" + head + "\n".join(rows) + "\n"
    return text


def _section_table(study: Study, sec, rows_of: pd.DataFrame) -> tuple[str, list[str]]:
    """(header lines, rows) of one section's table."""
    labels = sec.rows or study.labels
    if sec.kind == "main":
        return MAIN_HEADER, main_rows(study, rows_of, labels)
    if sec.kind == "gap":
        metrics = _parse_metrics(sec.metrics)
        return ("| front-end | " + " | ".join(name for _, _, name in metrics) + " |\n"
                "| --- |" + " --- |" * len(metrics) + "\n", gap_rows(rows_of, labels, metrics))
    if sec.kind == "paired":
        data, proto = sec.metrics[0].split(":", 1) if sec.metrics else ("lfw", "lfw")
        return ("| difference | mean ± std (accuracy points) | over | paired t-test p | verdict (p < 0.05) |\n"
                "| --- | --- | --- | --- | --- |\n", paired_rows(rows_of, sec.rows, data, proto))
    present = set(zip(rows_of["data"], rows_of["protocol"]))  # accuracy
    columns = [c for c in (tuple(m.split(":", 3)) for m in (sec.metrics or DEFAULT_ACCURACY_COLUMNS))
               if (c[0], c[1]) in present]
    return ("| front-end | " + " | ".join(c[2] for c in columns) + " |\n| --- |" + " --- |" * len(columns) + "\n",
            accuracy_rows(rows_of, labels, columns))


def page_copy(text: str) -> str:
    """``STEM.md`` as a page holds it: without its title (the page has its own)."""
    return text.split("\n", 2)[2]


def headline(text: str) -> str:
    """The page copy's first table only: the scorer's line and the first section's table."""
    copy = page_copy(text)
    first_table = copy.index("\n|")
    end = copy.find("\n\n", first_table + 1)
    return copy if end < 0 else copy[: end + 1]


def markers(study: Study, part: str = "tables", command: str = "") -> tuple[str, str]:
    """The two lines a page holds a copy between (``part``: "tables", "headline" or "failures"; ``command``:
    the one that writes it, by default ``lrfr results table STUDY``)."""
    return (BEGIN.format(stem=study.spec.stem, part=part, command=command or f"lrfr results table {study.name}"),
            END.format(stem=study.spec.stem, part=part))


def copy_into_page(study: Study, page_path: str, copy: str, part: str, command: str = "") -> None:
    """A page's copy of (part of) the tables, between its two markers (so it never goes stale)."""
    from lrfr.io import replace_between

    begin, end = markers(study, part, command)
    replace_between(study.resolve(page_path), begin, end, f"\n{copy}", " the tables go between")


def write(study: Study) -> str:
    """``STEM.csv`` and ``STEM.md`` from every recorded row (and the page copy); returns the Markdown."""
    from lrfr.io import atomic_write_text

    table = recorded_rows(study)
    atomic_write_text(study.out(".csv"), table.to_csv(index=False))
    text = markdown(study, table)
    atomic_write_text(study.out(".md"), text)
    if study.spec.copy_into:
        copy_into_page(study, study.spec.copy_into, page_copy(text), "tables")
    if study.spec.headline_into:
        copy_into_page(study, study.spec.headline_into, headline(text), "headline")
    return text


__all__ = ["write", "markdown", "page_copy", "headline", "markers", "paired_difference", "copy_into_page", "main_rows", "gap_rows", "accuracy_rows",
           "DEFAULT_GAP_METRICS"]
