"""``lrfr align SRC DST``: MTCNN 5 points → similarity warp to SphereFace's 112×96 template.

Every image not aligned is listed with its reason in ``DST/align_report.tsv``; the command exits 0
even when some failed, and says how many. The shared LFW/CelebA copies are already aligned:
do not align them again (the command warns when every input is already 112×96, and copies a crop
whose landmarks already sit on the template unchanged, reporting it; ``--realign`` forces the warp).
Images too small for MTCNN (under 40 px) are never given to it: a folder of only such images is
refused with what to do instead (align at HR and carry the landmarks, or pass pre-aligned crops).
"""
from __future__ import annotations

import sys


def _parse_size(text: str) -> tuple[int, int]:
    import argparse

    try:
        h, w = (int(t) for t in text.lower().split("x"))
        if h <= 0 or w <= 0:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be HxW, e.g. 112x96; got {text!r}") from None
    return h, w


def register(sub) -> None:
    p = sub.add_parser(
        "align",
        help="align faces: MTCNN 5 points → SphereFace's 112x96 template",
        description=(
            "Align every image under SRC into DST (same relative paths and names) with MTCNN's 5 landmarks "
            "and a similarity warp to SphereFace's template. Images not aligned are listed with their reason "
            "in DST/align_report.tsv. Do not re-align faces that are already aligned (e.g. the 112x96 LFW/CelebA copies)."
        ),
    )
    p.add_argument("src", help="folder of photos (searched recursively)")
    p.add_argument("dst", help="output folder (created)")
    p.add_argument("--size", type=_parse_size, default=(112, 96), help="output HxW (default 112x96; the template scales)")
    p.add_argument("--min-prob", type=float, default=0.9, help="smallest MTCNN face probability to accept (default 0.9)")
    p.add_argument("--device", default="cpu", help="torch device for MTCNN (default cpu)")
    p.add_argument(
        "--select", choices=["largest", "most_confident"], default="largest", help="which face when several (default largest)"
    )
    p.add_argument("--no-skip-existing", dest="skip_existing", action="store_false", help="redo images already in DST")
    p.add_argument("--realign", action="store_true",
                   help="warp crops that are already aligned too (default: copy them unchanged and report them)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)


def run(args) -> int:
    from pathlib import Path

    from lrfr.data.align import TEMPLATE_SIZE, align_folder, image_sizes, list_images, too_small_reason

    src = Path(args.src)
    if not src.is_dir():
        raise FileNotFoundError(f"source folder not found: {src}")
    names = list_images(src, exclude=Path(args.dst))
    sizes = image_sizes([src / n for n in names])
    known = [s for s in sizes if s is not None]
    if known and all(too_small_reason(*s) for s in known):
        h, w = known[0]
        raise ValueError(f"every image in {src} is too small for the face detector (e.g. {names[sizes.index(known[0])]}: "
                         f"{too_small_reason(h, w).split(': ', 1)[1]}")
    if names and all(s == TEMPLATE_SIZE for s in sizes):
        print(
            f"lrfr align: warning: all {len(names)} images in {src} are already exactly "
            f"{TEMPLATE_SIZE[0]}x{TEMPLATE_SIZE[1]} - they look aligned already; aligning them again "
            "shifts and blurs the faces (the shared LFW/CelebA copies must not be re-aligned), so crops whose "
            "landmarks already sit on the template are copied unchanged (--realign warps them anyway)",
            file=sys.stderr,
        )
    report = align_folder(
        src,
        args.dst,
        size=args.size,
        progress=not args.quiet,
        skip_existing=args.skip_existing,
        device=args.device,
        min_prob=args.min_prob,
        select=args.select,
        realign=args.realign,
    )
    print(report.summary())
    return 0
