"""Real faces at 8× (issue 16): the split, the evaluation of every committed front-end, the table.

    python results/real8x.py split                 # results/celeba_split.txt → runs/celeba-split/{train,heldout}
    lrfr run pipelines/srgan_celeba.toml           # the training runs (see each pipeline's header)
    lrfr run pipelines/cface_celeba.toml
    python results/real8x.py export                # run folders → results/weights/*.pt + results/weights/training.json
    python results/real8x.py evaluate              # LFW, LFW-BLUFR, held-out CelebA → results/real-8x.{csv,md}, grid

Every front-end is scored by the CASIA MobileFaceNet of ``../shared/weights`` (named with its sha256 in
every row) at 8× (112×96 → 14×12, bicubic with antialias, → SR → 112×96): LFW's 10 folds (SphereFace's
convention), LFW-BLUFR's 10 trials, and the CelebA verification protocol (``protocols/celeba.toml``) on
the 41 identities held out of training. Each front-end's rows are kept in ``runs/real8x/parts/`` as they
are made, so an interrupted ``evaluate`` resumes. It also scores every committed generator on a fixed
600-pair subset of LFW (:func:`subset_pairs`), the figure ``tests/test_realdata_results.py`` checks.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
LFW = SHARED / "data" / "lfw"
CELEBA = SHARED / "data" / "celeba-train-112x96"
MOBILEFACENET = SHARED / "weights" / "mobilefacenet_casia_068.ckpt"
SPLIT_FILE = REPO / "results" / "celeba_split.txt"
SPLIT_DIR = REPO / "runs" / "celeba-split"
WEIGHTS = REPO / "results" / "weights"
WORK = REPO / "runs" / "real8x"
HISTORIES = REPO / "results" / "histories"
#: the split: 41 of the 241 identities held out (about 200 to train on, as issue 16 asks), seed 0
N_HELDOUT, SPLIT_SEED = 41, 0
#: the fixed LFW subset of the committed-generator test: the first 30 same and 30 different pairs of each fold
SUBSET_PER_FOLD = 30

#: the recognizers that score: the CASIA MobileFaceNet (the generators' CNN^R and perceptual features: the
#: paper's setting) and a sphere20a trained by lrfr on the CelebA training identities, that no generator saw
SCORERS = {
    "mobilefacenet": ("mobilefacenet", MOBILEFACENET),
    "sphere20a_celeba": (None, WEIGHTS / "sphere20a_celeba.pt"),
}
#: the recognizer file committed beside the generators, and the run that made it
RECOGNIZER_RUNS = {"sphere20a_celeba": ("runs/sphere20a_celeba", "recognizer.pt")}

#: label → (what is scored, (the run folder, the file in it that became the committed weights, the stages whose
#: training it took — None: all)); the paper behind each is in its pipelines/*_celeba.toml
FRONT_ENDS = {
    "hr": ("hr", None),  # the upper bound: 112×96, no degradation
    "bicubic": ("bicubic", None),
    "srgan_synth": ("packaged:srgan_synth.pt", None),  # SynthFaces only: the start of the fine-tuned rows
    "srresnet": (WEIGHTS / "srresnet.pt", ("runs/srresnet_celeba", "generator.pt", None)),
    "srgan": (WEIGHTS / "srgan.pt", ("runs/srgan_celeba", "generator.pt", None)),
    "gafh_ridn": (WEIGHTS / "gafh_ridn.pt", ("runs/gafh_ridn_celeba", "generator.pt", None)),
    "prior_attention": (WEIGHTS / "prior_attention.pt", ("runs/prior_attention_celeba", "generator.pt", None)),
    "cface_v1": (WEIGHTS / "cface_v1.pt", ("runs/cface_celeba", "cface_v1.pt", ("stage1",))),
    "cface_v2": (WEIGHTS / "cface_v2.pt", ("runs/cface_celeba", "cface_v2.pt", None)),
    "pfsr": (WEIGHTS / "pfsr.pt", ("runs/pfsr_celeba", "generator.pt", None)),
    "prior_attention_gan": (WEIGHTS / "prior_attention_gan.pt",
                            ("runs/prior_attention_gan_celeba", "generator.pt", None)),
    # C-Face's ablations (papers/004 Tables 6-7): the same recipe with `--set ablation=...` (Table 7's
    # training approaches) or `--set ablation='"v1"' --set compare.k=...` (Table 6's compare-face choice, on
    # C-Face-v1: stage 1 only), each into its own run.out
    **{f"cface_{a}": (WEIGHTS / f"cface_{a}.pt", (f"runs/cface_celeba_{a}", f"cface_{a.replace('-', '_')}.pt", None))
       for a in ("v2-1", "v2-2", "v2-3")},
    # stage 1 of the v2-3 run (which v2-1 and v2-2 reuse): the same recipe as cface_v1, trained again, so
    # the distance between the two rows is the run-to-run spread the ablations must beat
    "cface_v1_rerun": (WEIGHTS / "cface_v1_rerun.pt", ("runs/cface_celeba_v2-3", "cface_v1.pt", ("stage1",))),
    **{f"cface_v1_k{k}": (WEIGHTS / f"cface_v1_k{k}.pt", (f"runs/cface_celeba_k{k}", "cface_v1.pt", ("stage1",)))
       for k in (1, 2, 4, 5, "random")},
}
#: the front-ends only the ablation table shows (papers/004 Tables 6-7)
ABLATIONS = tuple(k for k in FRONT_ENDS if k.startswith(("cface_v2-", "cface_v1_")))
#: the ablation table's rows: cface_v1 is Table 6's k = 3, cface_v2 Table 7's v2, then the ablations
ABLATION_ROWS = ("cface_v1", "cface_v2", *ABLATIONS)
MAIN_ROWS = tuple(k for k in FRONT_ENDS if k not in ABLATIONS)


def split(args) -> None:
    """Draw the split, check it against the committed file (or write it), and lay it out as folders."""
    from lrfr.data.folders import scan_identity_folders
    from lrfr.data.split import materialize, read_split, split_identities

    _, _, identities = scan_identity_folders(CELEBA)
    drawn = split_identities(identities, N_HELDOUT, seed=SPLIT_SEED)
    if SPLIT_FILE.is_file():
        if read_split(SPLIT_FILE) != drawn:
            raise ValueError(f"{SPLIT_FILE} is not the split drawn from {CELEBA} with seed {SPLIT_SEED}: "
                             "the data folder changed, or the file was edited")
    else:
        drawn.write(SPLIT_FILE)
    folders = materialize(CELEBA, drawn, SPLIT_DIR)
    print(f"{len(drawn.train)} training and {len(drawn.heldout)} held-out identities ({SPLIT_FILE}) → "
          + ", ".join(str(p) for p in folders.values()))


def _histories(run: Path, stages: tuple[str, ...] | None = None) -> list[Path]:
    """A run's history.csv files: C-Face's per stage (only ``stages``, when given), else the run's one."""
    found = sorted(run.glob("stage*/history.csv")) or [run / "history.csv"]
    return [h for h in found if stages is None or h.parent.name in stages]


def training_facts(run: Path, stages: tuple[str, ...] | None = None) -> dict:
    """Generator steps, images seen and training seconds of a run (or of its ``stages`` only), from each
    history's logged images/s: validation, C-Face's feature caching and stage 2 are not counted."""
    import tomllib

    cfg = tomllib.loads((run / "config.toml").read_text())
    facts = {"pipeline": cfg.get("name"), "generator_steps": 0, "generator_images": 0, "recognizer_steps": 0,
             "recognizer_images": 0, "train_seconds": 0.0}
    for hist in _histories(run, stages):
        h = pd.read_csv(hist)
        section = cfg["optim"] if hist.parent == run else cfg[hist.parent.name]  # [optim], or C-Face's [stageN]
        batch = int(section["batch_size"])
        window = h["step"].diff().fillna(h["step"].iloc[0]) * batch
        facts["train_seconds"] += float((window / h["images_per_s"]).sum())
        steps = int(h["step"].iloc[-1])
        kind = "recognizer" if hist.parent.name == "stage3" else "generator"
        facts[f"{kind}_steps"] += steps
        facts[f"{kind}_images"] += steps * batch
    facts["train_seconds"] = round(facts["train_seconds"], 1)
    return facts


def _copy_histories(run: Path, label: str, stages: tuple[str, ...] | None) -> None:
    """results/histories/LABEL.csv: the run's logged losses and validations (C-Face: its stages', with a
    ``stage`` column), kept beside the weights because run folders do not outlive a session."""
    from lrfr.io import atomic_write_text

    tables = [pd.read_csv(h).assign(stage=h.parent.name) if h.parent != run else pd.read_csv(h)
              for h in _histories(run, stages)]
    HISTORIES.mkdir(parents=True, exist_ok=True)
    atomic_write_text(HISTORIES / f"{label}.csv", pd.concat(tables, ignore_index=True).to_csv(index=False))


def export(args) -> None:
    """Copy each finished run's generator into results/weights/ and record what training it took."""
    from lrfr.fingerprint import file_sha256

    WEIGHTS.mkdir(parents=True, exist_ok=True)
    facts_file = WEIGHTS / "training.json"
    facts = json.loads(facts_file.read_text()) if facts_file.is_file() else {}
    for label, (target, made_by) in FRONT_ENDS.items():
        if made_by is None:
            continue
        run, name, stages = REPO / made_by[0], made_by[1], made_by[2]
        if not (run / name).is_file():
            print(f"{label}: {run / name} not there (run the pipeline first); skipped")
            continue
        shutil.copyfile(run / name, target)
        _copy_histories(run, label, stages)
        facts[label] = {**training_facts(run, stages), "run": made_by[0], "file": target.name, "sha256": file_sha256(target)}
        print(f"{label}: {target} ({target.stat().st_size / 1e6:.1f} MB) {facts[label]}")
    for label, (run, name) in RECOGNIZER_RUNS.items():
        target = SCORERS[label][1]
        if (REPO / run / name).is_file():
            shutil.copyfile(REPO / run / name, target)
            print(f"{label}: {target} ({target.stat().st_size / 1e6:.1f} MB)")
    from lrfr.io import atomic_write_text

    atomic_write_text(facts_file, json.dumps(facts, indent=2) + "\n")


def subset_pairs(lfw: Path, out: Path, per_fold: int = SUBSET_PER_FOLD) -> Path:
    """A data root with LFW's images and a pairs.txt of the first ``per_fold`` same and different pairs of
    each of View 2's folds (10 × 2 × 30 = 600 pairs), for a fast check of a committed generator."""
    from lrfr.data.folders import resolve_lfw_images
    from lrfr.data.pairs import read_pairs, write_pairs

    source = read_pairs(lfw / "pairs.txt")
    kept = []
    for fold in range(source.n_folds):
        pairs = [p for p in source.pairs if p.fold == fold]
        kept += [p for p in pairs if p.same][:per_fold] + [p for p in pairs if not p.same][:per_fold]
    out.mkdir(parents=True, exist_ok=True)
    images = resolve_lfw_images(lfw)
    link = out / images.name
    if not link.exists():
        link.symlink_to(images.resolve(), target_is_directory=True)
    write_pairs(out / "pairs.txt", kept, source.n_folds, per_fold)
    return out


def _score(label: str, sr, protocols: list[str], data: Path, workdir: Path, scorer: str) -> pd.DataFrame:
    import lrfr

    arch, weights = SCORERS[scorer]
    table = lrfr.evaluate([str(sr) if isinstance(sr, Path) else sr], protocol=protocols, data=data,
                          recognizer=arch, weights=weights, scale=8, workdir=workdir, progress=True)
    table.insert(0, "front_end", label)
    table.insert(1, "scorer", scorer)
    return table


def evaluate(args) -> None:
    """Score the front-ends (resumable: one part file per front-end, scorer and data set)."""
    from lrfr.io import atomic_write_text

    parts = WORK / "parts" / args.scorer
    parts.mkdir(parents=True, exist_ok=True)
    if not SCORERS[args.scorer][1].is_file():
        raise FileNotFoundError(f"{SCORERS[args.scorer][1]} not there (train and export it first)")
    labels = args.only or list(FRONT_ENDS)
    subset = subset_pairs(LFW, WORK / "lfw-subset600")
    main_scorer = args.scorer == "mobilefacenet"
    for label in labels:
        sr, made_by = FRONT_ENDS[label]
        if isinstance(sr, Path) and not sr.is_file():
            print(f"{label}: {sr} not there (python results/real8x.py export); skipped")
            continue
        # the second scorer checks identity on LFW's pairs and the held-out CelebA (BLUFR: the main scorer only)
        jobs = [("lfw", ["blufr", "lfw"] if main_scorer else ["lfw"], LFW), ("celeba", ["celeba"], SPLIT_DIR / "heldout")]
        if made_by is not None and main_scorer:
            jobs.append(("subset600", ["lfw"], subset))
        for tag, protocols, data in jobs:
            part = parts / f"{label}-{tag}.csv"
            if part.is_file() and not args.redo:
                continue
            table = _score(label, sr, protocols, data, WORK / "workdir", args.scorer)
            if tag == "subset600":
                table["protocol"] = "lfw_subset600"
            atomic_write_text(part, table.to_csv(index=False))
            print(f"{label} {tag} ({args.scorer}): done", flush=True)
    write_table()
    if not args.no_grid and main_scorer:
        grid()


def _pct(x) -> str:
    return f"{100 * x:.2f}"


def _facts() -> dict:
    facts_file = WEIGHTS / "training.json"
    return json.loads(facts_file.read_text()) if facts_file.is_file() else {}


#: the header of the tables :func:`_main_rows` fills (the main one and the ablations')
MAIN_HEADER = (
    "| front-end | LFW 10-fold accuracy (%) | BLUFR VR@FAR=0.1% (mean − std) | BLUFR DIR@rank 1, FAR=1% "
    "(mean − std) | held-out CelebA accuracy (%) | PSNR / SSIM (LFW) | LFW 600-pair subset (%) | "
    "training (CPU), images seen | sha256 |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
)


def _main_rows(table: pd.DataFrame, labels=MAIN_ROWS) -> list[str]:
    facts, rows = _facts(), []
    for label in [k for k in labels if k in set(table["front_end"])]:
        t = table[table["front_end"] == label].set_index("protocol")
        if not {"lfw", "blufr"} <= set(t.index):
            continue
        lfw, blufr = t.loc["lfw"], t.loc["blufr"]
        celeba = t.loc["celeba"] if "celeba" in t.index else None
        f = facts.get(label, {})
        rows.append("| " + " | ".join([
            f"`{label}`",
            f"{_pct(lfw['accuracy_mean'])} ± {_pct(lfw['accuracy_std'])}",
            f"{_pct(blufr['vr@far=0.1%_mean'])} ({_pct(blufr['vr@far=0.1%_mean_minus_std'])})",
            f"{_pct(blufr['dir@rank=1,far=1%_mean'])} ({_pct(blufr['dir@rank=1,far=1%_mean_minus_std'])})",
            f"{_pct(celeba['accuracy_mean'])} ± {_pct(celeba['accuracy_std'])}" if celeba is not None else "—",
            "—" if pd.isna(lfw["psnr"]) else f"{lfw['psnr']:.2f} / {lfw['ssim']:.3f}",
            _pct(t.loc["lfw_subset600", "accuracy_mean"]) if "lfw_subset600" in t.index else "—",
            f"{f['train_seconds'] / 60:.1f} min, {f['generator_images']:,}" if f else "—",
            f"`{str(lfw['sr_sha256'])[:12]}`" if f else "—",
        ]) + " |")
    return rows


#: the headline metrics whose bicubic → HR gap a front-end closes (papers/004 reports these shares at 8×:
#: LFW 80%, VR 42%, DIR 28%, from its Tables 1–2)
GAP_METRICS = (("lfw", "accuracy_mean", "LFW accuracy"), ("blufr", "vr@far=0.1%_mean", "BLUFR VR@0.1%"),
               ("blufr", "dir@rank=1,far=1%_mean", "BLUFR DIR@1, 1%"), ("celeba", "accuracy_mean", "CelebA accuracy"))


def _gap_rows(table: pd.DataFrame, metrics=GAP_METRICS) -> list[str]:
    """Share of the bicubic → HR gap each learned front-end closes, per headline metric (mean over folds/trials)."""
    def value(label, proto, col):
        t = table[(table["front_end"] == label) & (table["protocol"] == proto)]
        return float(t[col].iloc[0]) if len(t) else float("nan")

    rows = []
    for label in [k for k in MAIN_ROWS if k in set(table["front_end"]) and k not in ("hr", "bicubic")]:
        cells = [f"`{label}`"]
        for proto, col, _ in metrics:
            lo, hi, x = value("bicubic", proto, col), value("hr", proto, col), value(label, proto, col)
            cells.append(f"{round(100 * (x - lo) / (hi - lo))}%" if hi > lo and x == x else "—")
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def _second_rows(table: pd.DataFrame) -> list[str]:
    rows = []
    for label in [k for k in MAIN_ROWS if k in set(table["front_end"])]:
        t = table[table["front_end"] == label].set_index("protocol")
        cells = [f"`{label}`"]
        for proto in ("lfw", "celeba"):
            cells.append(f"{_pct(t.loc[proto, 'accuracy_mean'])} ± {_pct(t.loc[proto, 'accuracy_std'])}"
                         if proto in t.index else "—")
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def _recorded_rows() -> pd.DataFrame:
    """Every scored row: this checkout's part files, and the committed results/real-8x.csv for the (front-end,
    scorer, protocol) rows no part file holds (run folders do not outlive a session; the CSV is the record)."""
    parts = sorted((WORK / "parts").glob("*/*.csv"))
    committed = REPO / "results" / "real-8x.csv"
    tables = [pd.read_csv(p) for p in parts]
    if committed.is_file():
        old = pd.read_csv(committed)
        keys = ["front_end", "scorer", "protocol"]
        if tables:
            new_keys = pd.concat(tables, ignore_index=True)[keys].drop_duplicates()
            old = old.merge(new_keys, on=keys, how="left", indicator=True)
            old = old[old["_merge"] == "left_only"].drop(columns="_merge")
        tables.insert(0, old)
    if not tables:
        raise FileNotFoundError(f"no evaluated front-end in {WORK / 'parts'} yet (python results/real8x.py evaluate)")
    return pd.concat(tables, ignore_index=True)


def write_table() -> None:
    """results/real-8x.csv (every column of every row) and results/real-8x.md (the headline tables)."""
    from lrfr.io import atomic_write_text

    table = _recorded_rows()
    order = {k: i for i, k in enumerate([*SCORERS, *FRONT_ENDS])}
    table = table.sort_values(["scorer", "front_end", "protocol"],
                              key=lambda s: s.map(order) if s.name in ("scorer", "front_end") else s)
    atomic_write_text(REPO / "results" / "real-8x.csv", table.to_csv(index=False))
    main = table[table["scorer"] == "mobilefacenet"]
    first = main.iloc[0]
    text = (
        "# Real faces at 8× (14×12 → 112×96): LFW, LFW-BLUFR, held-out CelebA\n\n"
        f"Scored by {first['recognizer']} `{MOBILEFACENET.name}` (sha256 `{first['recognizer_sha256']}`), "
        f"lrfr {first['lrfr_version']}; made by `python results/real8x.py evaluate` (every column of every row, "
        "pins included, in `real-8x.csv`).\n\n"
        + MAIN_HEADER + "\n".join(_main_rows(main)) + "\n"
        "\nShare of the bicubic → HR gap closed (means; C-Face's paper at 8×: LFW 80%, VR 42%, DIR 28%):\n\n"
        "| front-end | " + " | ".join(name for _, _, name in GAP_METRICS) + " |\n"
        "| --- |" + " --- |" * len(GAP_METRICS) + "\n" + "\n".join(_gap_rows(main)) + "\n"
    )
    if set(ABLATIONS) & set(main["front_end"]):
        text += (
            "\n## C-Face ablations (papers/004 Tables 6–7)\n\n"
            "The C-Face recipe above (`pipelines/cface_celeba.toml`) with one change each: Table 7's training "
            "approaches (`--set ablation='\"v2-1\"'`: stage 3 fine-tunes CNN^R on D^SR only; `v2-2`: a new CNN^R "
            "trained from scratch on D^SR; `v2-3`: no stage 3), and Table 6's compare-face choice on C-Face-v1 "
            "(`--set ablation='\"v1\"' --set compare.k=K`, or `'\"random\"'`: any face of the same identity, "
            "`--set run.out='\"runs/cface_celeba_kK\"'`; `cface_v1` is the paper's "
            "k = 3). `cface_v1_rerun` is the same recipe as `cface_v1` trained again (at run.threads = 1; the "
            "committed run used torch's default): stage 1 of "
            "the `v2-3` run, which `v2-1` and `v2-2` reuse — the gap between those two rows is the run-to-run spread "
            "an ablation has to exceed. Same columns as the main table; these runs shared the 2 cores with one or two "
            "other jobs, so their minutes are about twice what the run takes alone.\n\n"
            + MAIN_HEADER + "\n".join(_main_rows(main, ABLATION_ROWS)) + "\n"
        )
    second = table[table["scorer"] == "sphere20a_celeba"]
    if len(second):
        s = second.iloc[0]
        text += (
            "\n## Scored by a recognizer no front-end saw\n\n"
            f"{s['recognizer']} `{SCORERS['sphere20a_celeba'][1].name}` (sha256 `{s['recognizer_sha256']}`), trained by "
            "`lrfr run pipelines/sphereface_celeba.toml` on the 200 training identities; made by "
            "`python results/real8x.py evaluate --scorer sphere20a_celeba`.\n\n"
            "| front-end | LFW 10-fold accuracy (%) | held-out CelebA accuracy (%) |\n| --- | --- | --- |\n"
            + "\n".join(_second_rows(second)) + "\n"
            "\nShare of the bicubic → HR gap closed under this scorer:\n\n"
            "| front-end | LFW accuracy | CelebA accuracy |\n| --- | --- | --- |\n"
            + "\n".join(_gap_rows(second, (GAP_METRICS[0], GAP_METRICS[3]))) + "\n"
        )
    atomic_write_text(REPO / "results" / "real-8x.md", text)
    _copy_into_readme(text)
    print(text)


README_BEGIN = "<!-- real-8x table: written by `python results/real8x.py table` from results/real-8x.md; do not edit -->"
README_END = "<!-- real-8x end -->"


def readme_tables(text: str) -> str:
    """results/real-8x.md as the README holds it: without its title, its sections one level down."""
    return text.split("\n", 2)[2].replace("\n## ", "\n### ")


def _copy_into_readme(text: str) -> None:
    """The README's copy of the tables, between its two markers (so it never goes stale)."""
    from lrfr.io import atomic_write_text

    readme = REPO / "README.md"
    body = readme.read_text()
    if README_BEGIN not in body or README_END not in body:
        raise ValueError(f"{readme} lacks the markers {README_BEGIN!r} … {README_END!r} the table goes between")
    head, rest = body.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    atomic_write_text(readme, f"{head}{README_BEGIN}\n{readme_tables(text)}{README_END}{tail}")


def grid(n: int = 6) -> None:
    """The same LFW faces at HR / 14×12 / bicubic / each learned front-end there is: results/real-8x.png."""
    import torch

    from lrfr import sr as sr_models
    from lrfr.data.degrade import degrade_batch, upsample
    from lrfr.data.folders import open_faces
    from lrfr.report import save_sr_grid
    from lrfr.weights import resolve

    faces = open_faces(LFW)
    step = len(faces) // n
    hr = torch.stack([faces[i * step][0] for i in range(n)])
    lr = degrade_batch(hr, 8, "bicubic", key=(0,))
    panels = {"HR": hr, "LR ×8": lr, "bicubic": upsample(lr, scale=8)}
    with torch.no_grad():
        for label in MAIN_ROWS:
            sr = FRONT_ENDS[label][0]
            if sr in ("hr", "bicubic") or (isinstance(sr, Path) and not sr.is_file()):
                continue
            model = sr_models.load(resolve(str(sr)) if str(sr).startswith("packaged:") else sr)
            panels[label] = model.super_resolve(lr)
    path = save_sr_grid(panels, REPO / "results" / "real-8x.png", max_rows=n)
    print(f"wrote {path}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("split", help="write/check results/celeba_split.txt and lay out runs/celeba-split/")
    sub.add_parser("export", help="copy the finished runs' generators into results/weights/")
    e = sub.add_parser("evaluate", help="score every front-end and write results/real-8x.{csv,md,png}")
    e.add_argument("--only", nargs="+", choices=list(FRONT_ENDS), help="front-ends to (re)score (default: all)")
    e.add_argument("--redo", action="store_true", help="score again even where a part file exists")
    e.add_argument("--no-grid", action="store_true")
    e.add_argument("--scorer", choices=list(SCORERS), default="mobilefacenet", help="the recognizer that scores")
    sub.add_parser("table", help="rewrite results/real-8x.{csv,md} from the part files")
    sub.add_parser("grid", help="draw results/real-8x.png")
    args = p.parse_args()
    handlers = {"split": split, "export": export, "evaluate": evaluate, "table": lambda a: write_table(),
                "grid": lambda a: grid()}
    from lrfr.cli import DEBUG_ENV, USER_ERRORS, error_message

    try:
        handlers[args.command](args)
    except USER_ERRORS as err:  # as the lrfr command does: one line naming the thing, exit 2
        if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
            raise
        print(f"real8x {args.command}: error: {error_message(err)}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
