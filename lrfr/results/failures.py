"""Where recognition fails after a front-end: every pair's outcome under each front-end of a study, the score
distributions of genuine and impostor pairs, and the pairs that flip (``lrfr results failures STUDY.toml``).

A pair's outcome is exactly the one its protocol counted: the 10-fold rule of the protocol's convention
(threshold fit on the other nine folds; for ``"sphereface"`` on the cosine after subtracting their mean
feature), read from :attr:`lrfr.protocols.base.ProtocolResult.per_pair`, so each front-end's share of right
pairs here is its table accuracy to the last digit. Distributions are of the plain cosine of L2-normalised
(flip-fused) features, the score a deployment thresholds.

Writes beside the study ``STEM-failures.csv.gz`` (one row per pair: its line, fold, kind, images, and per
front-end the cosine and whether it was judged right), ``STEM-failures.md`` (the counts) and
``STEM-failures.png`` (the distributions, and the faces of the flipped pairs with the largest HR margin).
One ``lrfr.evaluate`` per front-end, kept as a part file in the study's work folder (an interrupted run resumes).
"""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd

from lrfr.results.study import Study

#: the columns every front-end shares (the pair itself)
PAIR_COLUMNS = ["line", "fold", "same", "a", "b"]
#: the protocol kinds that judge pairs (and so have per-pair outcomes)
PAIRS_KINDS = ("lfw", "celeba")


def _seed0(study: Study, label: str):
    entries = study.entries(label)
    return next((e for e in entries if e.seed == 0), entries[0])


def pair_outcomes(study: Study, labels: list[str], data_name: str, scorer: str | None = None,
                  progress: bool = True) -> pd.DataFrame:
    """One row per pair of ``data_name`` (a pairs protocol: LFW or CelebA), with ``cos_LABEL`` and
    ``correct_LABEL`` for every label (its seed-0 entry, scored as the study scores it)."""
    from lrfr.io import atomic_write_text
    from lrfr.results.scoring import score_one

    scorer = scorer or study.main_scorer
    spec = study.spec.scorers[scorer]
    from lrfr import protocols as protocol_registry

    pairs_protocols = [p for p in spec.protocols.get(data_name, [])
                       if protocol_registry.get(p).kind in PAIRS_KINDS]
    if not pairs_protocols:
        raise KeyError(f"{study.path}: scorer {scorer!r} scores no pairs protocol ({', '.join(PAIRS_KINDS)}) on data "
                       f"{data_name!r} (it scores: {', '.join(f'{k} {v}' for k, v in spec.protocols.items())})")
    protocol = pairs_protocols[0]
    parts = study.resolve(study.spec.work) / "failures" / scorer
    parts.mkdir(parents=True, exist_ok=True)
    joined = None
    for label in labels:
        fe = _seed0(study, label)
        part = parts / f"{label}-s{fe.seed}-{data_name}.csv"
        if part.is_file():
            rows = pd.read_csv(part)
        else:
            model = study.model(fe)
            if isinstance(model, Path) and not model.is_file():
                raise FileNotFoundError(f"{model}: the model file of {label!r} is not there (lrfr results export first)")
            table = score_one(study, fe, scorer, [protocol], study.data_root(data_name), progress, identity=False)
            result = next(iter(table.attrs["results"].values()))
            if result.per_pair is None:
                raise ValueError(f"protocol {protocol!r} is not a pairs protocol: it has no per-pair outcomes")
            rows = result.per_pair[PAIR_COLUMNS + ["cosine", "correct"]]
            atomic_write_text(part, rows.to_csv(index=False))
        rows = rows.rename(columns={"cosine": f"cos_{label}", "correct": f"correct_{label}"})
        if joined is None:
            joined = rows
        else:
            if not joined[PAIR_COLUMNS].equals(rows[PAIR_COLUMNS]):
                raise ValueError(f"{label}: its pairs differ from {labels[0]}'s (an image skipped?); "
                                 "failures compares front-ends on the same pairs only")
            joined = pd.concat([joined, rows.drop(columns=PAIR_COLUMNS)], axis=1)
    return joined


def d_prime(genuine: np.ndarray, impostor: np.ndarray) -> float:
    """Separation of two score distributions: (mean_g − mean_i) / sqrt((var_g + var_i) / 2)."""
    return float((genuine.mean() - impostor.mean()) / np.sqrt((genuine.var() + impostor.var()) / 2))


def summary(outcomes: pd.DataFrame, labels: list[str], reference: str, baseline: str | None) -> pd.DataFrame:
    """Per label: accuracy, the genuine and impostor cosine (mean, std), d′, the pairs it judges wrong
    (genuine rejected, impostors accepted), the pairs right at ``reference`` and wrong here ("lost"), and
    against ``baseline`` (bicubic) the pairs it mends and breaks."""
    same = outcomes["same"].to_numpy(bool)
    ref_ok = outcomes[f"correct_{reference}"].to_numpy(bool)
    base_ok = outcomes[f"correct_{baseline}"].to_numpy(bool) if baseline else None
    rows = []
    for label in labels:
        cos = outcomes[f"cos_{label}"].to_numpy(float)
        ok = outcomes[f"correct_{label}"].to_numpy(bool)
        row = {
            "front_end": label,
            "accuracy": 100 * ok.mean(),
            "genuine_cos_mean": cos[same].mean(), "genuine_cos_std": cos[same].std(),
            "impostor_cos_mean": cos[~same].mean(), "impostor_cos_std": cos[~same].std(),
            "d_prime": d_prime(cos[same], cos[~same]),
            "genuine_rejected": int((~ok & same).sum()), "impostors_accepted": int((~ok & ~same).sum()),
            "lost_vs_reference": int((ref_ok & ~ok).sum()),
            "lost_genuine": int((ref_ok & ~ok & same).sum()),
        }
        if base_ok is not None:
            row["mended_vs_baseline"] = int((~base_ok & ok).sum())
            row["broken_vs_baseline"] = int((base_ok & ~ok).sum())
        rows.append(row)
    return pd.DataFrame(rows)


def hard_core(outcomes: pd.DataFrame, learned: list[str], reference: str) -> np.ndarray:
    """Pairs right at ``reference`` and wrong under every one of ``learned``."""
    ok = outcomes[f"correct_{reference}"].to_numpy(bool, copy=True)
    for label in learned:
        ok &= ~outcomes[f"correct_{label}"].to_numpy(bool)
    return ok


def markdown(outcomes: pd.DataFrame, table: pd.DataFrame, labels: list[str], reference: str,
             baseline: str | None, data_name: str, command: str) -> str:
    n = len(outcomes)
    same = outcomes["same"].to_numpy(bool)
    learned = [x for x in labels if x not in (reference, baseline)]
    core = hard_core(outcomes, learned, reference) if learned else np.zeros(n, bool)
    ref_cos = outcomes[f"cos_{reference}"].to_numpy(float)
    lines = [
        f"# Where it fails: {data_name}, {n:,} pairs ({int(same.sum()):,} genuine)",
        "",
        f"Reproduce: `{command}`. A pair is right or wrong exactly as the table's 10-fold accuracy counted it; "
        "cosines are of L2-normalised flip-fused features (module doc of `lrfr.results.failures`). "
        f"\"lost\": right at `{reference}`, wrong here"
        + (f"; \"mended\"/\"broken\": wrong/right with `{baseline}`, right/wrong here" if baseline else "") + ".",
        "",
        "| front-end | accuracy (%) | genuine cos | impostor cos | d′ | genuine rejected | impostors accepted | lost "
        "(of them genuine) |" + (" mended | broken |" if baseline else ""),
        "| --- | --- | --- | --- | --- | --- | --- | --- |" + (" --- | --- |" if baseline else ""),
    ]
    for r in table.itertuples():
        line = (f"| `{r.front_end}` | {r.accuracy:.2f} | {r.genuine_cos_mean:.3f} ± {r.genuine_cos_std:.3f} | "
                f"{r.impostor_cos_mean:.3f} ± {r.impostor_cos_std:.3f} | {r.d_prime:.2f} | {r.genuine_rejected} | "
                f"{r.impostors_accepted} | {r.lost_vs_reference} ({r.lost_genuine}) |")
        if baseline:
            line += f" {r.mended_vs_baseline} | {r.broken_vs_baseline} |"
        lines.append(line)
    if learned:
        core_gen = int((core & same).sum())
        lines += [
            "",
            f"Right at `{reference}` and wrong under every learned front-end ({', '.join(f'`{x}`' for x in learned)}): "
            f"**{int(core.sum())} pairs**, {core_gen} of them genuine. Their `{reference}` cosine: genuine "
            f"{_median(ref_cos[core & same])} (all genuine pairs {np.median(ref_cos[same]):.3f}), impostor "
            f"{_median(ref_cos[core & ~same])} (all impostor pairs {np.median(ref_cos[~same]):.3f}) — medians.",
        ]
    return "\n".join(lines) + "\n"


def _median(x: np.ndarray) -> str:
    return f"{np.median(x):.3f}" if len(x) else "—"


def figure(study: Study, outcomes: pd.DataFrame, labels: list[str], reference: str, learned: list[str],
           data_name: str, path: Path, n_faces: int = 6) -> Path:
    """Top: genuine and impostor cosine histograms per front-end. Bottom: the pairs lost by the last learned
    front-end without a probe recognizer, with the largest margin at the reference (HR a, HR b above, that
    front-end's a and b below)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    same = outcomes["same"].to_numpy(bool)
    # the faces are those of the last learned front-end that is a generator alone (a probe recognizer changes
    # the features, not the faces)
    show = next((x for x in reversed(learned) if not _seed0(study, x).probe), None)
    faces = _flipped_faces(study, outcomes, reference, show, data_name, n_faces) if show else []
    rows = 1 + (1 if faces else 0)
    fig = plt.figure(figsize=(2.6 * max(len(labels), 3), 2.6 * rows + (1.0 if faces else 0)))
    grid = fig.add_gridspec(rows, max(len(labels), len(faces), 1))
    bins = np.linspace(-0.4, 1.0, 57)
    for j, label in enumerate(labels):
        ax = fig.add_subplot(grid[0, j])
        cos = outcomes[f"cos_{label}"].to_numpy(float)
        ax.hist(cos[same], bins, alpha=0.6, label="genuine", color="tab:green")
        ax.hist(cos[~same], bins, alpha=0.6, label="impostor", color="tab:red")
        ax.set_title(f"{label}: d′ {d_prime(cos[same], cos[~same]):.2f}", fontsize=8)
        ax.set_xlabel("cosine", fontsize=7)
        ax.tick_params(labelsize=6)
        if j == 0:
            ax.legend(fontsize=6)
    for j, (title, panel) in enumerate(faces):
        ax = fig.add_subplot(grid[1, j])
        ax.imshow(panel)
        ax.set_title(title, fontsize=6)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _flipped_faces(study: Study, outcomes: pd.DataFrame, reference: str, label: str, data_name: str,
                   n: int) -> list[tuple[str, np.ndarray]]:
    """Panels (title, HWC image) of the ``n`` pairs right at ``reference`` and wrong under ``label`` with the
    largest reference margin: the pair at HR above, through ``label`` below."""
    import torch

    from lrfr.data.degradations import degrade_batch
    from lrfr.data.folders import read_images, resolve_lfw_images
    from lrfr.results.figures import front_end_faces

    lost = outcomes[outcomes[f"correct_{reference}"] & ~outcomes[f"correct_{label}"]]
    if lost.empty:
        return []
    # margin at the reference: how far its cosine sits on the right side of the middle of the two medians
    cos = outcomes[f"cos_{reference}"]
    middle = (cos[outcomes["same"]].median() + cos[~outcomes["same"]].median()) / 2
    margin = np.where(lost["same"], lost[f"cos_{reference}"] - middle, middle - lost[f"cos_{reference}"])
    picked = lost.iloc[np.argsort(-margin)[:n]]
    root = study.data_root(data_name)
    images = resolve_lfw_images(root)
    paths = [images / p if (images / p).is_file() else root / p for ab in zip(picked["a"], picked["b"]) for p in ab]
    hr, _, _ = read_images(paths)
    lr = degrade_batch(hr, study.spec.scale, study.spec.degrade, key=(0,))
    model = study.model(_seed0(study, label))
    with torch.no_grad():
        sr = front_end_faces(study, model, lr)
    panels = []
    for k, (_, r) in enumerate(picked.iterrows()):
        top = torch.cat([hr[2 * k], hr[2 * k + 1]], dim=2)
        bottom = torch.cat([sr[2 * k], sr[2 * k + 1]], dim=2).clamp(0, 1)
        image = torch.cat([top, bottom], dim=1).permute(1, 2, 0).numpy()
        kind = "genuine" if r["same"] else "impostor"
        panels.append((f"{kind}, line {r['line']}\nHR {r['cos_' + reference]:.2f} → {r['cos_' + label]:.2f}", image))
    return panels


def write(study: Study, labels: list[str], data_name: str = "lfw", scorer: str | None = None,
          reference: str = "hr", baseline: str | None = "bicubic", progress: bool = True) -> list[Path]:
    """Score, summarise and draw; returns the files written beside the study."""
    from lrfr.io import atomic_write, atomic_write_text

    labels = list(dict.fromkeys([reference] + ([baseline] if baseline else []) + list(labels)))
    unknown = [x for x in labels if x not in study.labels]
    if unknown:
        raise KeyError(f"failures: {', '.join(unknown)} not in {study.name} (known: {', '.join(study.labels)})")
    outcomes = rounded(pair_outcomes(study, labels, data_name, scorer, progress), labels)
    stem = f"{study.spec.stem}-failures"
    csv = study.root / f"{stem}.csv.gz"
    # gzip without a name or a time in its header (to_csv would store the temporary file's name): the same
    # outcomes give the same bytes
    packed = gzip.compress(outcomes.to_csv(index=False).encode(), mtime=0)
    atomic_write(csv, lambda tmp: tmp.write_bytes(packed))
    md = atomic_write_text(study.root / f"{stem}.md", render(study, outcomes, labels, data_name, reference, baseline))
    learned = [x for x in labels if x not in (reference, baseline)]
    png = figure(study, outcomes, labels, reference, learned, data_name, study.root / f"{stem}.png")
    if study.spec.copy_into:  # the page's copy, where the page has the two markers for it
        from lrfr.results.tables import copy_into_page, markers, page_copy

        command = f"lrfr results failures {study.name}"
        if markers(study, "failures", command)[0] in study.resolve(study.spec.copy_into).read_text():
            copy_into_page(study, study.spec.copy_into, page_copy(md.read_text()), "failures", command)
    return [csv, md, png]


def rounded(outcomes: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
    """Cosines to 5 decimals: what the committed file holds, and so what its Markdown is computed from."""
    out = outcomes.copy()
    for label in labels:
        out[f"cos_{label}"] = out[f"cos_{label}"].round(5)
    return out


def render(study: Study, outcomes: pd.DataFrame, labels: list[str], data_name: str, reference: str = "hr",
           baseline: str | None = "bicubic") -> str:
    """``STEM-failures.md`` from the per-pair outcomes (``labels`` in order, reference and baseline first)."""
    learned = [x for x in labels if x not in (reference, baseline)]
    command = f"lrfr results failures {study.name} --data {data_name} --only {' '.join(learned)}"
    table = summary(outcomes, labels, reference, baseline)
    return markdown(outcomes, table, labels, reference, baseline, data_name, command)
