"""``lrfr index``: build a FAISS face gallery from a folder, and search it with probe images.

    lrfr index build  --data DIR --recognizer mobilefacenet --weights W.ckpt --out gallery.lrfr
    lrfr index search --index gallery.lrfr --images PROBES/ [--sr bicubic --scale 8] [--k 5] [--threshold 0.4]

``build`` records the recognizer, weights and flip fusion in the gallery, with the recognizer
fingerprint (name, weights sha256, flip), so ``search`` embeds the probes the same way unless told
otherwise, and refuses other weights or another flip fusion naming both fingerprints. With
``--sr`` the probes are low-resolution images that are super-resolved to the recognizer's input
size before embedding.

Thresholds: ``build --calibration FILE`` (written by ``lrfr calibrate`` for the same fingerprint)
stores the calibrated thresholds in the gallery; ``search`` then answers open-set at the threshold
calibrated for ``--far`` (default 1e-3) unless ``--threshold`` is given. ``search --calibration
FILE`` uses that file instead.
"""
from __future__ import annotations

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def register(sub) -> None:
    p = sub.add_parser("index", help="build or search a FAISS face gallery",
                       description="Build a face gallery (FAISS) from an image folder, or search it.")
    isub = p.add_subparsers(dest="index_command", metavar="ACTION")
    isub.required = True

    b = isub.add_parser("build", help="embed a face folder and write a gallery file")
    b.add_argument("--data", required=True, help="gallery image folder (any layout lrfr.data.open_faces reads)")
    b.add_argument("--recognizer", default=None, help="recognizer architecture (optional for lrfr weight files)")
    b.add_argument("--weights", required=True, help="recognizer weight file (or packaged:sphere20a_synth.pt)")
    b.add_argument("--out", required=True, help="gallery file to write (e.g. gallery.lrfr)")
    b.add_argument("--kind", choices=["flat", "ivf", "hnsw"], default="flat",
                   help="flat = exact (default); ivf / hnsw = approximate, for large galleries")
    b.add_argument("--nlist", type=int, default=None, help="IVF lists (default ~4*sqrt(n))")
    b.add_argument("--nprobe", type=int, default=16, help="IVF lists scanned per probe")
    b.add_argument("--hnsw-m", type=int, default=32, help="HNSW links per node")
    b.add_argument("--flip", choices=["concat", "sum", "none"], default="concat", help="flip fusion of the features")
    b.add_argument("--calibration", default=None,
                   help="calibration file of `lrfr calibrate` (same recognizer fingerprint): search's default thresholds")
    b.add_argument("--batch-size", type=int, default=128)
    b.add_argument("--device", default=None, help="cpu, cuda, cuda:1 for the recognizer (default: cuda if available)")
    b.add_argument("--quiet", action="store_true", help="no progress bars")
    b.set_defaults(handler=run_build)

    s = isub.add_parser("search", help="search a gallery with probe images")
    s.add_argument("--index", required=True, help="gallery file written by `lrfr index build`")
    s.add_argument("--images", required=True, nargs="+", help="probe image files or folders (searched recursively)")
    s.add_argument("--recognizer", default=None, help="default: the one the gallery was built with")
    s.add_argument("--weights", default=None, help="default: the one the gallery was built with")
    s.add_argument("--sr", default=None, help="probes are LR: super-resolve them with this SR model first (e.g. bicubic)")
    s.add_argument("--scale", type=int, default=8, help="SR scale factor (default 8)")
    s.add_argument("--k", type=int, default=5, help="gallery hits per probe (default 5)")
    s.add_argument("--threshold", type=float, default=None,
                   help="open-set identification: accept the best identity when score >= T, else 'unknown' "
                        "(default: the calibrated threshold at --far, when the gallery or --calibration has one)")
    s.add_argument("--far", type=float, default=1e-3, help="FAR of the calibrated threshold to use (default 1e-3)")
    s.add_argument("--calibration", default=None, help="calibration file of `lrfr calibrate` (overrides the gallery's)")
    s.add_argument("--csv", default=None, help="write the table to this CSV file")
    s.add_argument("--batch-size", type=int, default=128)
    s.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if available)")
    s.add_argument("--quiet", action="store_true", help="no progress bars")
    s.set_defaults(handler=run_search)


def _flip(value):
    return None if value in (None, "none") else value


def run_build(args) -> int:
    import time
    from pathlib import Path

    import numpy as np

    import lrfr.data
    import lrfr.recognition
    from lrfr.index.gallery import GalleryIndex

    from lrfr.devices import resolve_device

    device = resolve_device(args.device)
    from lrfr.weights import resolve

    weights = resolve(args.weights)  # a file, or packaged:NAME
    model = lrfr.recognition.load(args.recognizer, weights=weights, device=device)
    fingerprint = _fingerprint(model, args.recognizer, weights, args.flip)
    calibration = _calibration(args.calibration, fingerprint) if args.calibration else None
    # every gallery image must fit the recognizer: the odd one is then named, not a batch error
    dataset = lrfr.data.open_faces(Path(args.data), size=getattr(model, "input_size", None))
    dataset.size_source = "the recognizer's input size"
    t0 = time.perf_counter()
    features = lrfr.recognition.embed(model, dataset, flip=_flip(args.flip), batch_size=args.batch_size,
                                      device=device, progress=not args.quiet)
    embed_s = time.perf_counter() - t0
    gallery = GalleryIndex(features.shape[1], kind=args.kind, nlist=args.nlist, nprobe=args.nprobe,
                           hnsw_m=args.hnsw_m)
    gallery.meta = {
        "recognizer": args.recognizer or getattr(model, "arch", None),
        "weights": str(Path(weights).resolve()),
        "flip": args.flip,
        "data": str(Path(args.data).resolve()),
        "classes": list(dataset.classes),
        "fingerprint": fingerprint,
    }
    if calibration is not None:
        gallery.meta["calibration"] = calibration.to_dict()
    gallery.add(features, np.asarray(dataset.labels), list(dataset.names))
    path = gallery.save(args.out)
    print(f"gallery: {len(gallery)} images of {len(set(dataset.labels.tolist()))} identities, "
          f"dim {gallery.dim}, kind {gallery.kind}, device {gallery.device}; embedded in {embed_s:.1f} s")
    print(f"wrote {path}")
    return 0


def _fingerprint(model, recognizer, weights, flip) -> dict:
    from lrfr.fingerprint import file_sha256, recognizer_fingerprint

    return recognizer_fingerprint(getattr(model, "arch", None) or recognizer, file_sha256(weights), flip)


def _calibration(source, fingerprint: dict, what: str | None = None):
    """A calibration (a file path, or the dict a gallery stores) checked against ``fingerprint``."""
    from lrfr.calibration import Calibration
    from lrfr.fingerprint import check_fingerprint

    cal = Calibration.from_dict(source, what) if isinstance(source, dict) else Calibration.load(source)
    check_fingerprint(cal.fingerprint, fingerprint, what or f"calibration {source}",
                      hint="calibrate again with this recognizer (lrfr calibrate)")
    return cal


def _probe_paths(items) -> list:
    from pathlib import Path

    paths = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {p}")
            paths.extend(found)
        elif p.is_file():
            paths.append(p)
        else:
            raise FileNotFoundError(f"probe image or folder not found: {p}")
    return paths


def _probe_size(model, sr, scale):
    """(size, what it is) every probe must have: the recognizer's input size, divided by the
    scale for LR probes (None when the recognizer declares no size or the scale does not divide it)."""
    size = getattr(model, "input_size", None)
    if size is None:
        return None, None
    h, w = size
    if not sr:
        return (h, w), "the recognizer's input size"
    if h % scale or w % scale:
        return None, None
    return (h // scale, w // scale), f"the recognizer's input size {h}x{w} / scale {scale}"


def _relative_names(paths, items) -> list[str]:
    from pathlib import Path

    roots = [Path(i) for i in items if Path(i).is_dir()]
    names = []
    for p in paths:
        for r in roots:
            try:
                names.append(p.relative_to(r).as_posix())
                break
            except ValueError:
                continue
        else:
            names.append(p.name)
    return names


def run_search(args) -> int:
    from pathlib import Path

    import pandas as pd
    import torch

    import lrfr.data
    import lrfr.recognition
    from lrfr.index.gallery import GalleryIndex

    if args.k < 1:
        raise ValueError(f"--k must be >= 1, got {args.k}")
    gallery = GalleryIndex.load(args.index)
    meta = gallery.meta
    recognizer = args.recognizer or meta.get("recognizer")
    from lrfr.weights import resolve

    weights = args.weights or meta.get("weights")
    weights = resolve(weights) if weights is not None else None
    if weights is None:
        raise ValueError(f"{args.index} does not record the recognizer weights; pass --weights (and --recognizer)")
    from lrfr.devices import resolve_device

    device = resolve_device(args.device)
    model = lrfr.recognition.load(recognizer, weights=weights, device=device)
    fingerprint = _fingerprint(model, recognizer, weights, meta.get("flip", "concat"))
    gallery.require_fingerprint(fingerprint, f"gallery {args.index}")
    threshold = args.threshold
    if threshold is None and (args.calibration or meta.get("calibration")):
        cal = (_calibration(args.calibration, fingerprint) if args.calibration
               else _calibration(meta["calibration"], fingerprint, f"the calibration stored in {args.index}"))
        threshold = cal.threshold(args.far)
        if cal.sr != (args.sr or "hr"):
            import warnings

            from lrfr.errors import LrfrWarning

            warnings.warn(f"the threshold was calibrated on probes through SR {cal.sr!r}, but these go through "
                          f"{args.sr or 'hr'!r}: their score distribution may differ", LrfrWarning, stacklevel=1)
        print(f"threshold {threshold:.4f}: calibrated at FAR {args.far:g} "
              f"({args.calibration or 'stored in ' + str(args.index)})")

    paths = _probe_paths(args.images)
    probe_names = _relative_names(paths, args.images)
    size, source = _probe_size(model, args.sr, args.scale)
    images = lrfr.data.load_images(paths, size=size, size_source=source, progress=not args.quiet,
                                   desc="loading probes")
    if args.sr:
        import lrfr.sr

        sr = lrfr.sr.build(args.sr, scale=args.scale).to(device).eval()
        outs = []
        with torch.no_grad():
            for s in range(0, len(images), args.batch_size):
                outs.append(sr(images[s : s + args.batch_size].to(device)).clamp_(0, 1).cpu())
        images = torch.cat(outs)
    features = lrfr.recognition.embed(model, images, flip=_flip(meta.get("flip", "concat")),
                                      batch_size=args.batch_size, device=device, progress=not args.quiet)
    if features.shape[1] != gallery.dim:
        raise ValueError(f"probe features have dimension {features.shape[1]} but {args.index} holds "
                         f"dimension {gallery.dim} (another recognizer or flip setting?)")
    classes = meta.get("classes")

    def identity(labels):
        if classes is None:
            return [None if lab < 0 else str(lab) for lab in labels]
        return [None if lab < 0 else classes[lab] for lab in labels]

    if threshold is not None:
        res = gallery.identify(features, threshold=threshold)
        table = pd.DataFrame({
            "probe": probe_names,
            "identity": [n if n is not None else "unknown" for n in identity(res.labels)],
            "label": res.labels,
            "best_match": gallery.names_of(res.indices),
            "score": res.scores,
            "accepted": res.accepted,
        })
    else:
        res = gallery.search(features, k=args.k)
        table = res.to_frame(probe_names)
        table.insert(4, "identity", identity(table["label"].to_numpy()))
    with pd.option_context("display.max_rows", 200, "display.width", 160, "display.float_format", "{:.4f}".format):
        print(table.to_string(index=False))
    if args.csv:
        from lrfr.io import atomic_write_text

        atomic_write_text(Path(args.csv), table.to_csv(index=False))
        print(f"wrote {args.csv}")
    return 0
