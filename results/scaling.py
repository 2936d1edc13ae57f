"""Data scaling (issue 30): held-out accuracy against the number of training identities, at one budget.

    python results/scaling.py prepare        # runs/scaling/ids{25,50,100,200,589}: nested identity folders (links)
    python results/scaling.py commands       # the training runs, one line each (SRGAN and C-Face-v1 per size)
    lrfr results export results/scaling.toml
    lrfr results evaluate results/scaling.toml
    python results/scaling.py plot           # results/scaling.png and the fitted trend

Every run is the real-face recipe unchanged (``pipelines/srgan_celeba.toml``, ``pipelines/cface_celeba.toml`` with
``ablation = "v1"``: stage 1 only), only ``data.root`` differs, so the images seen (12,800 and 9,600) do not
change with the number of identities. The subsets of the 200 training identities of ``celeba_split.txt`` are
nested (the first N of one seeded permutation); 589 = those 200 and the 389 of ``faces-extra-112x96``.
``METHOD_ids200+synth200`` rows are the 200 identities with 200 SynthFaces identities mixed in (``[data] also =
["synth"]``, 20 faces each, about half of every epoch), at the same images seen: drawn as open markers.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCALING = REPO / "runs" / "scaling"
SIZES = (25, 50, 100, 200)
SEED = 0
#: the --set overrides that mix 200 SynthFaces identities (20 faces each) into a recipe's training faces
SYNTH_MIX = ("--set 'data.also=[\"synth\"]' --set data.n_identities=200 --set data.images_per_identity=20 "
             "--set data.identity_offset=500")


def _link_all(folder: Path, sources: list[Path]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for src in sources:
        link = folder / src.name
        if link.is_symlink() and Path(os.readlink(link)) == src:
            continue
        if link.exists() or link.is_symlink():
            link.unlink()
        link.symlink_to(src, target_is_directory=True)


def prepare(args) -> None:
    import numpy as np

    from lrfr.data.split import read_split
    from lrfr.results.study import shared_folder

    celeba = shared_folder(REPO) / "data" / "celeba-train-112x96"
    extra = shared_folder(REPO) / "data" / "faces-extra-112x96"
    train = sorted(read_split(REPO / "results" / "celeba_split.txt").train)
    order = [train[i] for i in np.random.default_rng(SEED).permutation(len(train))]
    for n in SIZES:
        _link_all(SCALING / f"ids{n}", [celeba / ident for ident in order[:n]])
    others = sorted(p for p in extra.iterdir() if p.is_dir())
    _link_all(SCALING / f"ids{len(train) + len(others)}", [celeba / ident for ident in train] + others)
    print("wrote", ", ".join(str(p) for p in sorted(SCALING.glob("ids*"))))


def commands(args) -> None:
    for folder in sorted(SCALING.glob("ids*"), key=lambda p: int(p.name[3:])):
        n = folder.name
        print(f"lrfr run pipelines/srgan_celeba.toml --set data.root='\"runs/scaling/{n}\"' "
              f"--set run.out='\"runs/scaling/srgan_{n}\"'")
        print(f"lrfr run pipelines/cface_celeba.toml --set ablation='\"v1\"' --set data.root='\"runs/scaling/{n}\"' "
              f"--set run.out='\"runs/scaling/cface_v1_{n}\"'")
    # the 200 identities with SynthFaces identities 500-699 mixed in (the shipped srgan_synth.pt, every
    # generator's start, saw identities 0-499); the runs are also the `_synthmix` lever rows of real-8x.toml
    for recipe, out in (("srgan_celeba.toml", "srgan_synthmix"), ("cface_celeba.toml --set ablation='\"v1\"'",
                                                                 "cface_v1_synthmix")):
        print(f"lrfr run pipelines/{recipe} {SYNTH_MIX} --set run.out='\"runs/{out}\"'")


def plot(args) -> None:
    """Held-out accuracy against identities (log scale), per method, with a + b·ln(N) fitted per method and
    its value at 10× the largest set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd

    table = pd.read_csv(REPO / "results" / "scaling.csv")
    scaled = table[(table["protocol"] == "celeba") & table["front_end"].str.contains("_ids")]
    mixed = scaled[scaled["front_end"].str.contains("+synth", regex=False)]
    rows = scaled.drop(mixed.index)
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    lines, colours = [], {}
    for method, g in rows.groupby(rows["front_end"].str.split("_ids").str[0]):
        n = g["front_end"].str.split("_ids").str[1].astype(int).to_numpy()
        acc = 100 * g["accuracy_mean"].to_numpy()
        b, a = np.polyfit(np.log(n), acc, 1)
        far = 10 * n.max()
        (points,) = ax.plot(n, acc, "o", label=f"{method}: {a:.1f} + {b:.2f}·ln N")
        xs = np.geomspace(n.min(), far, 50)
        ax.plot(xs, a + b * np.log(xs), "--", lw=0.8, color=points.get_color())
        colours[method] = points.get_color()
        lines.append(f"{method}: held-out CelebA accuracy = {a:.2f} + {b:.2f}·ln(identities); at {far:,} identities "
                     f"(10× {n.max()}): {a + b * np.log(far):.1f}%")
    # SynthFaces mixed in (METHOD_idsN+synthM): an open marker at the N real identities it trained on
    for label, acc in zip(mixed["front_end"], 100 * mixed["accuracy_mean"]):
        method, rest = label.split("_ids")
        real, synth = rest.split("+synth")
        ax.plot([int(real)], [acc], "o", mfc="none", color=colours.get(method, "black"),
                label=f"{method} + {int(synth)} SynthFaces identities")
        lines.append(f"{label}: held-out CelebA accuracy {acc:.2f}%")
    for label, style in (("hr", ":"), ("bicubic", "-.")):
        ref = table[(table["front_end"] == label) & (table["protocol"] == "celeba")]["accuracy_mean"]
        if len(ref):
            ax.axhline(100 * ref.iloc[0], ls=style, color="gray", lw=0.8)
            ax.text(26, 100 * ref.iloc[0] + 0.3, label, fontsize=7, color="gray")
    ax.set_xscale("log")
    ax.set_xlabel("training identities (same images seen)")
    ax.set_ylabel("held-out CelebA accuracy (%)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(REPO / "results" / "scaling.png", dpi=120)
    print("\n".join(lines) + f"\nwrote {REPO / 'results' / 'scaling.png'}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("command", choices=["prepare", "commands", "plot"])
    args = p.parse_args()
    from lrfr.cli import run_script

    run_script(f"scaling {args.command}", {"prepare": prepare, "commands": commands, "plot": plot}[args.command], args)


if __name__ == "__main__":
    main()
