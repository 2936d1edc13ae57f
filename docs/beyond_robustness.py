"""The robustness table of docs/beyond.md and the README: bicubic and the shipped 8× front-ends under
realistic degradations, on the held-out SynthFaces test set with the packaged recognizer.

    python docs/beyond_robustness.py --out runs/robustness   # SynthFaces: 22 min wall on a shared 2-core machine (12 min CPU)
    python docs/beyond_robustness.py --out runs/robustness-lfw --data ../shared/data/lfw --sr bicubic \\
        --recognizer mobilefacenet --weights ../shared/weights/mobilefacenet_casia_068.ckpt --protocol lfw

Writes ``robustness.csv`` (every column of every row, pins included) and ``robustness.md`` (the
headline numbers as a Markdown table) under ``--out``; ``specN.csv`` per degradation as it goes
(a rerun skips the specs already done).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

import lrfr
from lrfr.io import atomic_write_text

#: "bicubic" is what the shipped front-ends were trained on; the others are realistic cameras:
#: optics blur + sensor noise + compression; motion blur + shot noise; and a two-stage chain
SPECS = [
    "bicubic",
    "blur:sigma=1.2,down:bicubic,noise:gauss=0.02,jpeg:q=40",
    "motion:length=7,angle=30,down:area,noise:poisson=200",
    "blur:sigma=1,down:bicubic,x=2,noise:gauss=0.01,jpeg:q=60,blur:sigma=0.8,down:bilinear,noise:gauss=0.01,jpeg:q=50",
]
FRONT_ENDS = ["bicubic", "packaged:srresnet_synth.pt", "packaged:srgan_synth.pt", "packaged:cface_synth.pt"]


def markdown(frame: pd.DataFrame, digits: int) -> str:
    """A pivot table as Markdown (pandas' to_markdown needs tabulate, which lrfr does not depend on)."""
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join([str(frame.index.name or "")] + cols) + " |", "|" + " --- |" * (len(cols) + 1)]
    for idx, row in frame.iterrows():
        lines.append("| " + " | ".join([f"`{idx}`"] + [f"{v:.{digits}f}" for v in row]) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="runs/robustness")
    p.add_argument("--data", default=None, help="default: the held-out SynthFaces test set")
    p.add_argument("--recognizer", default=None)
    p.add_argument("--weights", default=None, help="default: the packaged SynthFaces sphere20a")
    p.add_argument("--protocol", nargs="+", default=["lfw", "blufr"])
    p.add_argument("--setting", default="both_low", choices=["both_low", "cross"])
    p.add_argument("--sr", nargs="+", default=FRONT_ENDS, help="front-ends (default: bicubic and the shipped three)")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tables = []
    for i, spec in enumerate(SPECS):  # one file per spec, so an interrupted run resumes where it stopped
        part = out / f"spec{i}.csv"
        if not part.is_file():
            t = lrfr.evaluate(args.sr, protocol=args.protocol, data=args.data, recognizer=args.recognizer,
                              weights=args.weights, degrade=spec, setting=args.setting, progress=False)
            atomic_write_text(part, t.to_csv(index=False))
            print(f"{spec}: done", flush=True)
        tables.append(pd.read_csv(part))
    table = pd.concat(tables, ignore_index=True)
    atomic_write_text(out / "robustness.csv", table.to_csv(index=False))
    heads = {"lfw": "accuracy_mean", "blufr": "dir@rank=1,far=1%_mean"}
    first = table[table["protocol"] == args.protocol[0]]
    psnr = first.pivot_table(index="degrade", columns="sr", values="psnr", sort=False)
    blocks = [f"PSNR (dB) over the {args.protocol[0]} images:\n\n{markdown(psnr, 2)}"]
    for proto in args.protocol:
        col = heads.get(proto)
        if col in table:
            sub = table[table["protocol"] == proto].pivot_table(index="degrade", columns="sr", values=col, sort=False)
            blocks.append(f"{proto} {col}:\n\n{markdown(sub, 4)}")
    md = "\n\n".join(blocks) + "\n"
    atomic_write_text(out / "robustness.md", md)
    print(md)
    print(f"wrote {out / 'robustness.csv'}, {out / 'robustness.md'}")


if __name__ == "__main__":
    main()
