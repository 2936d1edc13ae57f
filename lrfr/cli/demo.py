"""``lrfr demo``: the whole chain on embedded data, in a few minutes on a 2-core CPU.

SynthFaces renders held-out identities (never seen by the packaged networks) and exports
them in LFW's layout; the faces are degraded 8× (112×96 → 14×12) and super-resolved by bicubic and
by the packaged SRResNet, SRGAN, C-Face-v2, GAFH-RIDN, PFSR and prior-guided attention SR (methods 1
and 2); these and the HR upper bound are embedded by the packaged SynthFaces sphere20a and scored on the
LFW-standard and BLUFR protocols run over that export.
Outputs: a table (printed, CSV, JSON), an HR/LR/bicubic/SR grid, ROC and CMC figures.

Then deployment: a watchlist of 30 of those identities (one enrolment photo each) searched with 14×12 probe
files written by ``lrfr degrade`` (two of each enrolled person, two of each of 30 people not enrolled), through
bicubic and through the packaged C-Face-v2 in front of the sphere20a: rank-1/5 and DIR at FPIR 10%
(``watchlist.csv``).

With real faces at hand (``--lfw`` and ``--weights``, or ``../shared`` beside the checkout; ``--no-real`` skips
them), it also scores the packaged real-face generators (``srgan_celeba.pt``, ``cface_celeba.pt``, trained on
CelebA) beside HR and bicubic on a fixed 600-pair subset of LFW with the CASIA MobileFaceNet
(``real_faces.csv``), and searches an LFW watchlist (100 enrolled identities, 14×12 probes) through each
deployment preset (``real_watchlist.csv``).
"""
from __future__ import annotations


#: the SR front-ends shipped in lrfr/weights as NAME_synth.pt (trained by pipelines/srresnet.toml, srgan.toml,
#: cface_synth.toml, gafh_ridn_synth.toml, pfsr_synth.toml, prior_attention_synth.toml, prior_attention_gan_synth.toml)
PACKAGED_SR = ("srresnet", "srgan", "cface", "gafh_ridn", "pfsr", "prior_attention", "prior_attention_gan")
PACKAGED_SR_SCALE = 8


def register(sub) -> None:
    p = sub.add_parser("demo", help="end-to-end on SynthFaces: grid, table, ROC/CMC figures",
                       description=__doc__.split("\n\n")[1])
    p.add_argument("--out", default="lrfr-demo", help="output folder (default: lrfr-demo)")
    p.add_argument("--scale", type=int, default=8, help="degradation factor (default 8)")
    p.add_argument("--lfw", default=None,
                   help="an LFW data root (lfw-112x96/, pairs.txt): also score the packaged real-face generators on a "
                        "600-pair subset (default: ../shared/data/lfw when it is there)")
    p.add_argument("--weights", default=None,
                   help="the CASIA MobileFaceNet for that row (default: ../shared/weights/mobilefacenet_casia_068.ckpt)")
    p.add_argument("--no-real", action="store_true", help="skip the real-face part even where LFW is at hand")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(handler=run)


#: the packaged generators trained on real faces (CelebA), shown when LFW is at hand
PACKAGED_REAL = ("srgan_celeba.pt", "cface_celeba.pt")


def real_face_inputs(args):
    """(LFW root, MobileFaceNet weights) from the options, else from ``../shared`` beside this checkout; None when
    either is missing (the real-face part is then skipped, saying why)."""
    from pathlib import Path

    from lrfr.results.study import shared_folder

    shared = shared_folder(Path.cwd())
    lfw = Path(args.lfw) if args.lfw else shared / "data" / "lfw"
    weights = Path(args.weights) if args.weights else shared / "weights" / "mobilefacenet_casia_068.ckpt"
    if args.lfw or args.weights:  # asked for: a missing one is an error, not a skip
        for path, what in ((lfw / "pairs.txt", "--lfw: LFW's pairs.txt"), (weights, "--weights")):
            if not path.is_file():
                raise FileNotFoundError(f"{what} not found: {path}")
    elif not ((lfw / "pairs.txt").is_file() and weights.is_file()):
        return None
    return lfw, weights


def watchlist_rows(root, pipelines: dict, progress: bool):
    """One row per named pipeline on the watchlist ``root`` (enrol/, probes/): rank-1/5 and DIR at FPIR 10%."""
    import pandas as pd

    from lrfr.watchlist import evaluate_watchlist

    rows = []
    for name, pipe in pipelines.items():
        s = evaluate_watchlist(root, pipe, fpirs=(0.1,), progress=progress).summary
        rows.append({"pipeline": name, "rank1": s["rank1"], "rank5": s["rank5"], "dir@fpir=10%": s["dir@fpir=0.1"],
                     "enrolled": s["n_enrolled"], "known_probes": s["n_known_probes"],
                     "unknown_probes": s["n_unknown_probes"]})
    return pd.DataFrame(rows)


def show(table) -> str:
    import pandas as pd

    with pd.option_context("display.width", 200, "display.float_format", "{:.4f}".format):
        return table.to_string(index=False)


def make_watchlist_folder(data, root, enrolled: int, unknown: int, seed: int = 0):
    """``root/enrol`` and ``root/probes`` (14×12 PNG files) from an identity folder, as the CLI makes them."""
    from lrfr.data.probe_sets import make_watchlist, write_lr_set

    make_watchlist(data, root, enrolled=enrolled, unknown=unknown, probes_per_identity=2, unknown_per_identity=2,
                   seed=seed, overwrite=True)
    write_lr_set(root / "probes-hr", root / "probes", scale=8, overwrite=True, progress=False)
    return root


def deployment(data, out, progress: bool):
    """The SynthFaces watchlist: bicubic and the packaged C-Face-v2, each before the packaged sphere20a."""
    from lrfr.io import atomic_write_text
    from lrfr.probe import ProbePipeline

    root = make_watchlist_folder(data, out / "watchlist", enrolled=30, unknown=30)
    table = watchlist_rows(root, {"bicubic + sphere20a": ProbePipeline.create(),
                                  "cface-v2 + sphere20a": ProbePipeline.create(front_end="packaged:cface_synth.pt")},
                           progress)
    print(show(table))
    return [atomic_write_text(out / "watchlist.csv", table.to_csv(index=False))]


def real_watchlist(lfw, out, progress: bool):
    """An LFW watchlist (100 enrolled) searched through each deployment preset."""
    from lrfr.io import atomic_write_text
    from lrfr.presets import PRESETS
    from lrfr.probe import ProbePipeline

    root = make_watchlist_folder(lfw / "lfw-112x96", out / "lfw-watchlist", enrolled=100, unknown=100)
    shown = [p for p in ("bicubic", "srgan", "lr14x12", "camera") if p in PRESETS]
    table = watchlist_rows(root, {f"preset {p}": ProbePipeline.preset(p) for p in shown}, progress)
    print(show(table))
    return [atomic_write_text(out / "real_watchlist.csv", table.to_csv(index=False))]


def real_faces(args, out, progress: bool):
    """The packaged real-face generators on a 600-pair LFW subset, scored by the CASIA MobileFaceNet, and an LFW
    watchlist through the presets."""
    import lrfr
    from lrfr.report import format_table
    from lrfr.results.scoring import subset_pairs

    if args.no_real:
        print("[real faces] skipped (--no-real)")
        return []
    found = real_face_inputs(args)
    if found is None:
        print("[real faces] skipped: no --lfw/--weights and no ../shared/data/lfw with its MobileFaceNet")
        return []
    lfw, weights = found
    print(f"[real faces] the packaged CelebA-trained generators on 600 LFW pairs ({lfw}), by {weights.name}")
    root = subset_pairs(lfw, out / "lfw-subset600", per_fold=30)
    table = lrfr.evaluate(["hr", "bicubic", *(f"packaged:{n}" for n in PACKAGED_REAL)], protocol="lfw", data=root,
                          recognizer="mobilefacenet", weights=weights, scale=PACKAGED_SR_SCALE, workdir=out,
                          progress=progress)
    print(format_table(table))
    from lrfr.io import atomic_write_text

    files = [atomic_write_text(out / "real_faces.csv", table.to_csv(index=False))]
    print("[real faces] an LFW watchlist (100 enrolled, 14x12 probe files) through each deployment preset")
    return files + real_watchlist(lfw, out, progress)


def run(args) -> int:
    import time
    from pathlib import Path

    import lrfr
    from lrfr.data.resample import downsample
    from lrfr.data.folders import LFWFolder, load_images
    from lrfr.evaluation import default_synth_data
    from lrfr.report import format_table, plot_curves, save_sr_grid, write_table
    from lrfr.sr import build, load
    from lrfr.weights import packaged_path

    t0 = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    progress = not args.quiet
    print(f"[1/4] SynthFaces: rendering the held-out test identities into {out / 'synthfaces-test'}")
    data = default_synth_data(out, progress=progress)

    print(f"[2/4] degrading {args.scale}× and upscaling: {out / 'grid.png'}")
    faces = LFWFolder(data)
    step = max(1, len(faces) // 6)
    hr = load_images([faces.paths[i] for i in range(0, step * 6, step)], progress=False)
    lr = downsample(hr, args.scale)
    front_ends: list = ["bicubic"]
    columns = {"HR": hr, f"LR ×{args.scale}": lr, "bicubic": build("bicubic", scale=args.scale).super_resolve(lr)}
    if args.scale == PACKAGED_SR_SCALE:
        for name in PACKAGED_SR:
            model = load(packaged_path(f"{name}_synth.pt"))
            front_ends.append(model)
            columns[model.name] = model.super_resolve(lr)
    else:
        print(f"      (the packaged SR front-ends are ×{PACKAGED_SR_SCALE}: at ×{args.scale} only bicubic is shown)")
    grid = save_sr_grid(columns, out / "grid.png")

    print("[3/4] evaluating HR, bicubic and the packaged SR front-ends with the packaged sphere20a")
    table = lrfr.evaluate(["hr", *front_ends], protocol=["lfw", "blufr"], data=data, scale=args.scale,
                          workdir=out, progress=progress)
    print()
    print(format_table(table))
    files = [grid] + write_table(table, out) + plot_curves(table.attrs["results"], out)
    print()
    print("[4/4] deployment: a watchlist of 30 identities searched with 14x12 probe files")
    files += deployment(data, out, progress)
    if args.scale == PACKAGED_SR_SCALE:
        print()
        files += real_faces(args, out, progress)
    print()
    print(f"demo finished in {time.perf_counter() - t0:.0f} s; wrote:")
    for f in files:
        print(f"  {f}")
    return 0
