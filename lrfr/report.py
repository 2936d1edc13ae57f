"""What long work ends with: a table on screen and on disk, and figures (ROC, CMC, SR grids)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from lrfr.io import atomic_write_text

# Columns every printed table starts with; the protocol's own headline columns follow.
LEADING = ["sr", "setting", "degrade", "scale", "psnr", "ssim"]


def _headline_columns(keys: list[str]) -> list[str]:
    """A reported figure ``X_mean_minus_std`` is shown with its ``X_mean`` and ``X_std`` beside it."""
    cols: list[str] = []
    for k in keys:
        if k.endswith("_mean_minus_std"):
            base = k[: -len("_mean_minus_std")]
            cols += [f"{base}_mean", f"{base}_std", k]
        else:
            cols.append(k)
    return list(dict.fromkeys(cols))


def format_table(table: pd.DataFrame) -> str:
    """One block per protocol: SR model, scale, PSNR/SSIM and the protocol's headline numbers.

    The full set of columns (per-fold thresholds, FAR grids, ...) is in the CSV/JSON files.
    """
    headline = table.attrs.get("headline", {})
    blocks = []
    for proto, rows in table.groupby("protocol", sort=False):
        # a bf16 (fast) row shows its precision and how far bf16 moved its features from fp32
        fast = ["embed_precision", "fast_check_cosine_min"] if "fast_check_faces" in rows else []
        cols = [c for c in LEADING + fast + _headline_columns(headline.get(proto, [])) if c in rows]
        shown = rows[cols].dropna(axis=1, how="all")
        with pd.option_context("display.width", 200, "display.max_columns", 30,
                               "display.float_format", "{:.4f}".format):
            blocks.append(f"== {proto} ({int(rows['n_images'].iloc[0])} images; {scored_by(rows)})\n"
                          + shown.to_string(index=False))
    return "\n\n".join(blocks)


class ResultTable(pd.DataFrame):
    """:func:`lrfr.evaluate`'s table: a ``pandas.DataFrame`` with every column, printed compactly — the key
    columns of each protocol (:func:`format_table`) — instead of pandas' ``[n rows x 30 columns]`` with ``...``.
    ``table.to_string()``, the CSV and indexing give everything."""

    @property
    def _constructor(self):
        return ResultTable

    def __repr__(self) -> str:
        if {"sr", "protocol", "n_images"} <= set(self.columns) and len(self):
            return (format_table(self) + f"\n[{len(self)} rows x {self.shape[1]} columns: all of them in "
                                          "table.to_string(), table.columns or the CSV]")
        return super().__repr__()


def scored_by(rows: pd.DataFrame) -> str:
    """``scored by ARCH SHA12`` (and the probe recognizer where it differs) of a table's rows."""
    if "recognizer" not in rows:
        return "recognizer not recorded"
    r = rows.iloc[0]
    text = f"scored by {r['recognizer']} {str(r.get('recognizer_sha256', ''))[:12]}"
    if "probe_recognizer_sha256" in rows and r["probe_recognizer_sha256"] != r.get("recognizer_sha256"):
        text += f", LR side by {r['probe_recognizer']} {str(r['probe_recognizer_sha256'])[:12]}"
    return text


def write_table(table: pd.DataFrame, out_dir: str | Path, stem: str = "results") -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv = atomic_write_text(out_dir / f"{stem}.csv", table.to_csv(index=False))
    payload = {
        "rows": json.loads(table.to_json(orient="records")),
        "conventions": table.attrs.get("conventions", {}),
        "data": table.attrs.get("data"),
        "pinned": table.attrs.get("pinned"),  # recognizer/SR sha256, degradation, setting, protocol hash, version
    }
    if "skipped" in table.attrs:  # images left out by on_bad_image="skip", and the pairs they removed
        payload["skipped"] = table.attrs["skipped"]
    js = atomic_write_text(out_dir / f"{stem}.json", json.dumps(payload, indent=2, default=str) + "\n")
    return [csv, js]


def _curves(results: dict, name: str):
    for (sr, proto), res in results.items():
        curve = getattr(res, "curves", {}).get(name)
        if curve is not None:
            yield sr, proto, curve


#: the ROC's FAR axis starts here: below it a few hundred impostor pairs say nothing
ROC_MIN_FAR = 1e-4
#: the CMC shows ranks 1 to this
CMC_MAX_RANK = 20
LINE_STYLES = ("-", "--", ":", "-.")


def plot_curves(results: dict, out_dir: str | Path) -> list[Path]:
    """ROC (TAR vs FAR, log FAR from :data:`ROC_MIN_FAR`) and CMC (identification rate vs rank, ranks 1 to
    :data:`CMC_MAX_RANK`) for every result that has them: one colour per front-end (a qualitative map with as
    many colours as front-ends), one line style per protocol, the legend outside the axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    written = []
    for name, xlabel, ylabel in (("roc", "false accept rate", "true accept rate"),
                                 ("cmc", "rank", "identification rate")):
        curves = list(_curves(results, name))
        if not curves:
            continue
        srs = list(dict.fromkeys(sr for sr, _, _ in curves))
        protos = list(dict.fromkeys(proto for _, proto, _ in curves))
        cmap = plt.get_cmap("tab10" if len(srs) <= 10 else "tab20")
        fig, ax = plt.subplots(figsize=(7.5, 4.4))
        for sr, proto, (x, y) in curves:
            x, y = np.asarray(x, float), np.asarray(y, float)
            keep = x >= ROC_MIN_FAR if name == "roc" else x <= CMC_MAX_RANK
            style = dict(color=cmap(srs.index(sr) % cmap.N), linestyle=LINE_STYLES[protos.index(proto) % len(LINE_STYLES)],
                         label=f"{sr} · {proto}")
            if name == "roc":
                ax.semilogx(x[keep], y[keep], **style)
            else:
                ax.plot(x[keep], y[keep], marker="o", ms=3, **style)
        if name == "roc":
            ax.set_xlim(ROC_MIN_FAR, 1.0)
        else:
            ax.set_xlim(0.5, CMC_MAX_RANK + 0.5)
            ax.set_xticks(range(1, CMC_MAX_RANK + 1, 2 if CMC_MAX_RANK > 10 else 1))
        ax.set_xlabel(xlabel), ax.set_ylabel(ylabel), ax.set_title(name.upper())
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
        fig.tight_layout()
        path = out_dir / f"{name}.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)
    return written


def save_sr_grid(columns: dict[str, "torch.Tensor"], path: str | Path, max_rows: int = 6) -> Path:
    """A grid: one row per face, one column per image kind (e.g. HR, LR, bicubic, SR), LR shown enlarged."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lrfr.io import to_uint8

    names = list(columns)
    n = min(max_rows, min(len(v) for v in columns.values()))
    fig, axes = plt.subplots(n, len(names), figsize=(1.4 * len(names), 1.6 * n), squeeze=False)
    for j, name in enumerate(names):
        imgs = to_uint8(columns[name][:n])
        for i in range(n):
            ax = axes[i][j]
            ax.imshow(imgs[i], interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if i == 0:
                h, w = imgs[i].shape[:2]
                ax.set_title(f"{name}\n{h}×{w}", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
