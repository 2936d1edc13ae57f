"""What a finished C-Face run shows: the results table as Markdown, loss curves per stage, the SR grid."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

__all__ = ["markdown_table", "plot_stage_losses", "STAGE_TITLES"]

STAGE_TITLES = {
    1: "stage 1: N^SR, N^D with eq. (7), CNN^R frozen",
    3: "stage 3: CNN^R with A-Softmax on D^HR ∪ D^SR",
    4: "stage 4: N^SR, N^D with eq. (7), CNN^R with L_FR",
}
#: history columns that are not training losses
_BOOKKEEPING = {"step", "lr", "lr_g", "lr_d", "lr_r", "images_per_s", "lambda"}
#: logged beside the losses, shown on the right axis
_DIAGNOSTIC = ("hinge_active",)
_UNWEIGHTED = ("si_sr_hr", "si_sr_compare", "si_hr_compare")


def _cell(v) -> str:
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.4f}"
    return str(v).replace("|", "\\|")


def markdown_table(table: pd.DataFrame, columns: list[str] | None = None) -> str:
    """One Markdown table per protocol: SR model, scale, PSNR/SSIM and the protocol's headline numbers."""
    headline = table.attrs.get("headline", {})
    blocks = []
    groups = table.groupby("protocol", sort=False) if "protocol" in table else [("", table)]
    for proto, rows in groups:
        shown = []
        for k in headline.get(proto, []):  # a figure X_mean_minus_std is shown with X_mean and X_std beside it
            base = k[: -len("_mean_minus_std")] if k.endswith("_mean_minus_std") else None
            shown += [f"{base}_mean", f"{base}_std", k] if base else [k]
        cols = columns or [c for c in dict.fromkeys(["sr", "scale", "psnr", "ssim", *shown]) if c in rows]
        cols = [c for c in cols if rows[c].notna().any()]
        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        lines += ["| " + " | ".join(_cell(r[c]) for c in cols) + " |" for _, r in rows.iterrows()]
        title = f"### {proto}" + (f" ({int(rows['n_images'].iloc[0])} images)" if "n_images" in rows else "")
        blocks.append((title + "\n\n" if proto else "") + "\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def plot_stage_losses(histories: dict[int, pd.DataFrame], path: str | Path, title: str = "") -> Path | None:
    """One panel per trained stage: its weighted loss terms vs step (log scale), the hinge's active fraction right."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = [s for s in sorted(histories) if not histories[s].empty]
    if not stages:
        return None
    fig, axes = plt.subplots(1, len(stages), figsize=(5.2 * len(stages), 3.8), squeeze=False)
    for ax, s in zip(axes[0], stages):
        h = histories[s]
        rows = h[h["images_per_s"].notna()] if "images_per_s" in h else h
        skip = _BOOKKEEPING | set(_DIAGNOSTIC) | set(_UNWEIGHTED)
        losses = [c for c in rows.columns if c not in skip and rows[c].notna().any()]
        for c in losses:
            ax.plot(rows["step"], rows[c], label=c, lw=1.2)
        if losses and bool((rows[losses].dropna() > 0).all().all()):
            ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_title(STAGE_TITLES.get(s, f"stage {s}"), fontsize=8)
        ax.legend(loc="upper left", fontsize=6)
        shown = [c for c in _DIAGNOSTIC if c in rows and rows[c].notna().any()]
        if shown:
            right = ax.twinx()
            for c in shown:
                right.plot(rows["step"], rows[c], "k--", lw=0.8, label=c)
            right.set_ylim(0, 1)
            right.set_ylabel("fraction of triplets with the hinge active", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
