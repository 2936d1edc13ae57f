"""The figure every training run ends with: losses and validation metrics over the steps."""
from __future__ import annotations

from pathlib import Path

import pandas as pd


def plot_history(history: pd.DataFrame, path: str | Path, losses: list[str] | None = None,
                 metrics: list[str] | None = None, title: str = "") -> Path | None:
    """Loss columns (left axis, log scale when positive) and validation metrics (right axis) vs step.

    ``losses``/``metrics`` default to every column that is not bookkeeping (step, lr, images/s, λ),
    split by whether the column is filled on the logging rows or on the validation rows.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if history.empty or "step" not in history:
        return None
    skip = {"step", "lr", "lr_g", "lr_d", "images_per_s", "lambda"}
    log_rows = history["images_per_s"].notna() if "images_per_s" in history else pd.Series(True, index=history.index)
    if losses is None:
        losses = [c for c in history.columns if c not in skip and history.loc[log_rows, c].notna().any()]
    if metrics is None:
        metrics = [c for c in history.columns if c not in skip and c not in losses and history[c].notna().any()]
    fig, ax = plt.subplots(figsize=(7, 4))
    positive = True
    for c in losses:
        h = history.dropna(subset=[c])
        ax.plot(h["step"], h[c], label=c, lw=1.2)
        positive = positive and bool((h[c] > 0).all())
    if losses and positive:
        ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("training loss")
    if losses:
        ax.legend(loc="upper right", fontsize=7)
    if metrics:
        ax2 = ax.twinx()
        for c in metrics:
            v = history.dropna(subset=[c])
            ax2.plot(v["step"], v[c], "o--", ms=3, label=c)
        ax2.set_ylabel("validation")
        ax2.legend(loc="center right", fontsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
