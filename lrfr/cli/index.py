"""``lrfr index``: build a watchlist gallery from enrolment photos, and search it with low-resolution probes.

    lrfr index build  --data enrol/ --preset camera --out watchlist.lrfr
    lrfr index search --index watchlist.lrfr --images probes/ --preset camera [--k 5] [--threshold T |
                      --calibration openset.json --fpir 0.01] [--csv out.csv] [--json out.json]

Both go through one probe pipeline (:class:`lrfr.probe.ProbePipeline`): a front-end, a probe recognizer for
the probes, the gallery recognizer for the enrolment photos, flip fusion. ``--preset`` picks all of them
(:mod:`lrfr.presets`); or give ``--weights`` (gallery recognizer), ``--front-end`` and ``--probe-weights``.
Output: a summary line, a table of the probes (the nearest identity and score kept for rejected ones, ``--k``
identities each), and the CSV / JSON files asked for.
"""
from __future__ import annotations


def register(sub) -> None:
    from lrfr.presets import help_text
    from lrfr.probe import LR_RULE

    p = sub.add_parser("index", help="build or search a watchlist gallery (LR probes → identities)",
                       description="Build a face gallery (FAISS) from enrolment photos, or search it with probes.")
    isub = p.add_subparsers(dest="index_command", metavar="ACTION")
    isub.required = True

    b = isub.add_parser("build", help="embed an enrolment folder (one sub-folder per identity) into a gallery file")
    b.add_argument("--data", required=True, help="enrolment folder: one sub-folder per identity, aligned face photos")
    b.add_argument("--out", required=True, help="gallery file to write (e.g. watchlist.lrfr)")
    _pipeline_args(b, gallery_only=True)
    b.add_argument("--kind", choices=["flat", "ivf", "hnsw"], default="flat",
                   help="flat = exact (default); ivf / hnsw = approximate, for large galleries")
    b.add_argument("--nlist", type=int, default=None, help="IVF lists (default ~4*sqrt(n))")
    b.add_argument("--nprobe", type=int, default=16, help="IVF lists scanned per probe")
    b.add_argument("--hnsw-m", type=int, default=32, help="HNSW links per node")
    b.add_argument("--on-bad-image", choices=["error", "skip"], default="error",
                   help="an unreadable photo: stop naming it (default), or leave it out and list it")
    b.add_argument("--calibration", default=None,
                   help="a calibration to keep in the gallery as its default threshold: lrfr calibrate --open-set's "
                        "(FPIR; the watchlist's), or lrfr calibrate's per-pair FAR one (same recognizer)")
    b.set_defaults(handler=run_build)

    e = isub.add_parser("export", help="write a gallery as a plain .npz (vectors, labels, identity names) for a "
                                       "deployment with numpy and onnxruntime only")
    e.add_argument("--index", required=True, help="gallery file written by `lrfr index build`")
    e.add_argument("--npz", required=True, help="the .npz to write")
    e.set_defaults(handler=run_export)

    s = isub.add_parser(
        "search", help="search a gallery with probe images",
        description="Search a gallery with probe images. Which pipeline for which probes: " + help_text()
        + ". Native low-resolution probes: " + LR_RULE + ".")
    s.add_argument("--index", required=True, help="gallery file written by `lrfr index build`")
    s.add_argument("--images", required=True, nargs="+", help="probe image files or folders (searched recursively; "
                                                              "sub-folders named by identity give rank-1 and DIR)")
    _pipeline_args(s, gallery_only=False)
    s.add_argument("--k", type=int, default=5, help="identities listed per probe (default 5)")
    s.add_argument("--threshold", type=float, default=None,
                   help="accept the best identity when its score >= T, else 'unknown'")
    s.add_argument("--calibration", default=None,
                   help="a calibration (default: the one the gallery keeps): lrfr calibrate --open-set's, its threshold "
                        "at --fpir; or a per-pair FAR one, at --far")
    s.add_argument("--fpir", type=float, default=None, help="open-set false-positive identification rate of the "
                                                            "calibrated threshold (default 0.01)")
    s.add_argument("--far", type=float, default=None,
                   help="per-pair FAR of a verification calibration's threshold (a watchlist's false alarms are "
                        "FPIR, not FAR: see docs/deployment.md)")
    s.add_argument("--csv", default=None, help="write the table to this CSV file")
    s.add_argument("--json", default=None, help="write the summary, the pipeline and the table to this JSON file")
    s.add_argument("--on-bad-image", choices=["error", "skip"], default="error",
                   help="an unreadable probe: stop naming it (default), or leave it out and list it")
    s.add_argument("--rows", type=int, default=30, help="table rows printed (default 30; 0: the summary line only; the files hold all)")
    s.set_defaults(handler=run_search)


def _pipeline_args(p, gallery_only: bool) -> None:
    from lrfr.presets import PRESETS

    p.add_argument("--preset", default=None, choices=list(PRESETS),
                   help="a named pipeline (front-end, probe and gallery recognizers): " + ", ".join(PRESETS))
    p.add_argument("--recognizer", default=None, help="gallery recognizer architecture (optional for lrfr files)")
    p.add_argument("--weights", default=None, help="gallery recognizer weights: a file or packaged:NAME "
                                                   + ("(default: the preset's)" if gallery_only else
                                                      "(default: the file the gallery was built with)"))
    p.add_argument("--flip", choices=["concat", "sum", "none"], default="concat", help="flip fusion of the features")
    if not gallery_only:
        p.add_argument("--front-end", "--sr", dest="front_end", default=None,
                       help="bicubic (default), a generator's model file, or packaged:NAME (e.g. packaged:srgan_celeba.pt)")
        p.add_argument("--probe-recognizer", default=None, help="probe recognizer architecture (optional for lrfr files)")
        p.add_argument("--probe-weights", default=None,
                       help="the probes' recognizer (trained against the gallery's), e.g. packaged:lr_mobilefacenet_celeba.pt")
    # torch by default: on the 2-core CPU it embedded probes 1.7x faster than onnxruntime (lrfr bench search,
    # docs/benchmarks.md); onnxruntime is the path for a deployment without PyTorch (docs/deployment.md)
    p.add_argument("--backend", choices=["torch", "onnxruntime"], default="torch",
                   help="torch (default) or onnxruntime (lrfr[onnx]: the networks exported to ONNX and run by it)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if available)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _pipeline(args, gallery=None):
    """The probe pipeline the arguments name: a preset (arguments given beside it override it), or the parts."""
    from lrfr.presets import get
    from lrfr.probe import ProbePipeline

    parts = dict(get(args.preset).pipeline) if args.preset else {}
    given = {"recognizer": args.recognizer, "weights": args.weights, "front_end": getattr(args, "front_end", None),
             "probe_recognizer": getattr(args, "probe_recognizer", None),
             "probe_weights": getattr(args, "probe_weights", None)}
    parts.update({k: v for k, v in given.items() if v is not None})
    if "weights" not in parts and gallery is not None:
        parts["weights"] = gallery.index.meta.get("weights")
        if parts["weights"] is None:
            raise ValueError(f"gallery {args.index} does not record its recognizer's weights: pass --weights or --preset")
    if "weights" not in parts:
        raise ValueError("name the gallery recognizer: --preset NAME, or --weights FILE|packaged:NAME")
    return ProbePipeline.create(**parts, flip=args.flip, device=args.device, batch_size=args.batch_size,
                                backend=args.backend)


def run_build(args) -> int:
    import time

    from lrfr.gallery import Gallery

    from lrfr.openset import load_any_calibration

    t0 = time.perf_counter()
    pipe = _pipeline(args)
    calibration = load_any_calibration(args.calibration, pipe) if args.calibration else None  # before the work
    gallery = Gallery.build(args.data, pipeline=pipe, kind=args.kind, nlist=args.nlist, nprobe=args.nprobe,
                            hnsw_m=args.hnsw_m, on_bad_image=args.on_bad_image, progress=not args.quiet)
    if calibration is not None:
        gallery.index.meta["calibration"] = calibration.to_dict()
    path = gallery.save(args.out)
    meta = gallery.index.meta
    print(f"gallery: {len(gallery)} images of {gallery.n_identities} identities, embedded by {pipe.gallery.arch} "
          f"{pipe.gallery.sha256[:12]} (flip {pipe.flip or 'none'}), kind {gallery.index.kind}; "
          f"{meta['n_resized']} photos resized to {pipe.input_size[0]}x{pipe.input_size[1]}, "
          f"{len(meta['skipped'])} skipped; {time.perf_counter() - t0:.1f} s")
    for name, reason in meta["skipped"].items():
        print(f"  skipped {name}: {reason}")
    print(f"wrote {path}")
    return 0


def run_export(args) -> int:
    from lrfr.gallery import Gallery

    gallery = Gallery.load(args.index)
    path = gallery.save_npz(args.npz)
    print(f"wrote {path}: {len(gallery)} vectors of {gallery.n_identities} identities (numpy.load reads it)")
    return 0


def run_search(args) -> int:
    from pathlib import Path

    import pandas as pd

    from lrfr.gallery import Gallery, display, summary_line, write_json

    if args.k < 1:
        raise ValueError(f"--k must be >= 1, got {args.k}")
    for out in (args.csv, args.json):  # fail before the work, not after it
        if out is not None and not Path(out).resolve().parent.is_dir():
            raise FileNotFoundError(f"folder of {out} does not exist")
    gallery = Gallery.load(args.index)
    pipe = _pipeline(args, gallery)
    calibration = args.calibration or gallery.index.meta.get("calibration")
    if args.threshold is not None:
        calibration = None  # a threshold given outright wins over a stored calibration
    table = gallery.search(args.images, pipeline=pipe, k=args.k, threshold=args.threshold,
                           calibration=calibration, fpir=args.fpir, far=args.far, on_bad_image=args.on_bad_image,
                           progress=not args.quiet)
    print(f"pipeline: {pipe.describe()}")
    if table.attrs["threshold"] is not None:
        print(f"threshold {table.attrs['threshold']:.4f}: {table.attrs['threshold_source']}")
    with pd.option_context("display.max_rows", None, "display.width", 250, "display.max_colwidth", 80,
                           "display.float_format", "{:.4f}".format):
        shown = display(table.head(max(args.rows, 0)))
        if len(shown):  # --rows 0: the summary line only
            print(shown.to_string(index=False))
        if len(shown) and len(table) > len(shown):
            print(f"... {len(table) - len(shown)} more rows (--rows N, or --csv / --json for all)")
    for name, reason in table.attrs["skipped"].items():
        print(f"skipped {name}: {reason}")
    print(summary_line(table.attrs["summary"]))
    if args.csv:
        from lrfr.io import atomic_write_text

        atomic_write_text(Path(args.csv), table.to_csv(index=False))
        print(f"wrote {args.csv}")
    if args.json:
        print(f"wrote {write_json(table, args.json)}")
    return 0
