"""``lrfr calibrate``: the verification threshold at target FARs from held-out pairs, written with the
recognizer fingerprint it is valid for (see :mod:`lrfr.calibration`); with ``--open-set``, the watchlist
threshold at target FPIRs for a gallery of a stated size (see :mod:`lrfr.openset`).

    lrfr calibrate --protocol blufr --data /data/lfw --recognizer mobilefacenet --weights W.ckpt \\
                   --far 1e-2 1e-3 1e-4 --out threshold.json
    lrfr calibrate --open-set --enrol enrol/ --probes probes/ --preset camera --gallery-size 1000 \\
                   --fpir 0.01 0.1 --out openset.json
"""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "calibrate",
        help="pick verification thresholds at target FARs from held-out pairs; write them with the recognizer fingerprint",
        description="Calibrate the verification threshold at target FARs (with confidence intervals) on a protocol's "
                    "held-out genuine/impostor pairs, and store it for `lrfr index build/search`.",
    )
    p.add_argument("--protocol", default="lfw", help="lfw or celeba (pairs), blufr (one trial), or a protocol .toml")
    p.add_argument("--data", default=None, help="data root (default: the held-out SynthFaces test set)")
    p.add_argument("--trial", type=int, default=1, help="BLUFR trial to calibrate on (1-based; default 1)")
    p.add_argument("--recognizer", default=None, help="recognizer architecture (e.g. mobilefacenet)")
    p.add_argument("--weights", default=None, help="recognizer weight file (default: the packaged SynthFaces sphere20a)")
    p.add_argument("--probe-recognizer", default=None, help="the LR side's recognizer (see lrfr evaluate --probe-recognizer)")
    p.add_argument("--probe-weights", default=None, help="the probe recognizer's weight file")
    p.add_argument("--sr", default="hr", help="SR front-end the probes go through: hr (default: HR pairs), bicubic, "
                                             "or a model file (packaged:srresnet_synth.pt)")
    p.add_argument("--scale", type=int, default=8, help="degradation factor with --sr (default 8)")
    p.add_argument("--degrade", default="bicubic", help="HR → LR chain or degradation spec (see lrfr evaluate)")
    p.add_argument("--degrade-seed", type=int, default=0)
    p.add_argument("--setting", choices=["both_low", "cross"], default="both_low",
                   help="both_low: both images of a pair through --sr; cross: first image / gallery at HR")
    p.add_argument("--far", type=float, nargs="+", default=[1e-2, 1e-3, 1e-4], help="target FARs (default 1e-2 1e-3 1e-4)")
    p.add_argument("--confidence", type=float, default=0.95, help="confidence level of the intervals (default 0.95)")
    p.add_argument("--out", default="calibration.json", help="calibration file to write (default calibration.json)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if available)")
    p.add_argument("--workdir", default=None, help="where derived files go (CelebA pairs, SynthFaces export)")
    p.add_argument("--backend", choices=["torch", "onnxruntime"], default="torch",
                   help="torch (default) or onnxruntime: the recognizers exported to ONNX once and run on the CPU")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    o = p.add_argument_group("open set (a watchlist threshold at target FPIRs; lrfr.openset)")
    o.add_argument("--open-set", action="store_true", help="calibrate for a watchlist instead of pairs")
    o.add_argument("--enrol", default=None, help="enrolment folder (one sub-folder per identity)")
    o.add_argument("--probes", default=None, help="probe folder, sub-folders named by identity (unknown names: "
                                                  "people not enrolled)")
    o.add_argument("--gallery-size", type=int, default=None,
                   help="identities of the gallery the threshold is for (default: the enrolment folder's)")
    o.add_argument("--fpir", type=float, nargs="+", default=[0.01, 0.1], help="target FPIRs (default 0.01 0.1)")
    o.add_argument("--preset", default=None, help="a named probe pipeline (lrfr index search --help)")
    o.add_argument("--front-end", default=None, help="bicubic, a generator's model file, or packaged:NAME")
    o.add_argument("--flip", choices=["concat", "sum", "none"], default="concat")
    p.set_defaults(handler=run)


def run_open_set(args) -> int:
    from lrfr.watchlist import calibrate_open_set
    from lrfr.presets import get
    from lrfr.probe import ProbePipeline

    if not args.enrol or not args.probes:
        raise ValueError("--open-set needs --enrol FOLDER and --probes FOLDER")
    parts = dict(get(args.preset).pipeline) if args.preset else {}
    given = {"recognizer": args.recognizer, "weights": args.weights, "front_end": args.front_end,
             "probe_recognizer": args.probe_recognizer, "probe_weights": args.probe_weights}
    parts.update({k: v for k, v in given.items() if v is not None})
    pipe = ProbePipeline.create(**parts, flip=args.flip, device=args.device, batch_size=args.batch_size,
                                backend=args.backend)
    cal = calibrate_open_set(args.enrol, args.probes, pipe, fpirs=args.fpir, gallery_size=args.gallery_size,
                             progress=not args.quiet)
    path = cal.save(args.out)  # first: what took the time is on disk before anything is printed
    for point in cal.points:
        print(f"FPIR {point['fpir']:g}: threshold {point['threshold']:.4f}")
    src = cal.source
    print(f"for a gallery of {cal.gallery_size} identities, from {src['probes_used']} probes "
          f"({src['unknown_probes']} of people not enrolled) against {src['calibration_identities']} identities; "
          f"pipeline: {pipe.describe()}")
    print(f"wrote {path}")
    return 0


def run(args) -> int:
    if args.open_set:
        return run_open_set(args)
    import pandas as pd

    from lrfr.evaluation import calibrate
    from lrfr.fingerprint import describe

    cal = calibrate(args.sr, protocol=args.protocol, data=args.data, recognizer=args.recognizer, weights=args.weights,
                    scale=args.scale, degrade=args.degrade, setting=args.setting, fars=args.far, trial=args.trial,
                    confidence=args.confidence, degrade_seed=args.degrade_seed, batch_size=args.batch_size,
                    device=args.device, workdir=args.workdir, progress=not args.quiet,
                    probe_recognizer=args.probe_recognizer, probe_weights=args.probe_weights, backend=args.backend)
    path = cal.save(args.out)  # first: what took the time is on disk before anything is printed
    table = cal.table()[["far", "threshold", "threshold_ci", "achieved_far", "far_ci", "tar", "n_false_accepts",
                         "n_impostor"]]
    with pd.option_context("display.width", 200, "display.float_format", "{:.5g}".format):
        print(table.to_string(index=False))
    src = cal.source
    print(f"from {src['n_genuine']:,} genuine and {src['n_impostor']:,} impostor pairs of {src['protocol']}"
          f"{' trial ' + str(src['trial']) if 'trial' in src else ''}; SR {cal.sr} ({cal.setting}); "
          f"{describe(cal.fingerprint)}")
    print(f"wrote {path}")
    return 0
