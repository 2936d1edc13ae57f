"""``lrfr degrade SRC DST --scale 8 [--degrade SPEC]``: an HR folder written as a low-resolution probe set
(same relative names, PNG, the spec recorded in ``DST/degradation.json``; :mod:`lrfr.data.probe_sets`)."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("degrade", help="write an HR image folder as a low-resolution probe set (seeded, spec recorded)",
                       description="Degrade every image of SRC (recursively) and write it to DST under the same "
                                   "relative name, as PNG. Each image's random draws are seeded by --seed and its "
                                   "name, as lrfr evaluate seeds them.")
    p.add_argument("src", help="HR image folder (e.g. aligned 112x96 faces, one sub-folder per identity)")
    p.add_argument("dst", help="folder to write (must not exist, or be empty, unless --overwrite)")
    p.add_argument("--scale", type=int, default=None, help="down-scaling factor (8: 112x96 -> 14x12)")
    p.add_argument("--size", default=None, help="the LR size HxW instead of a scale (any factor, e.g. 17x15)")
    p.add_argument("--degrade", default="bicubic",
                   help="degradation spec (default bicubic; e.g. 'blur:sigma=1,down:bicubic,noise:gauss=0.02,jpeg:q=60')")
    p.add_argument("--seed", type=int, default=0, help="base seed of the random draws (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace DST if it holds files")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)


def parse_size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--size {text!r}: expected HxW in pixels, e.g. 14x12") from None
    return h, w


def run(args) -> int:
    from lrfr.data.probe_sets import write_lr_set

    if args.scale is None and args.size is None:
        args.scale = 8
    size = parse_size(args.size) if args.size else None
    record = write_lr_set(args.src, args.dst, scale=args.scale, size=size, degrade=args.degrade, seed=args.seed,
                          overwrite=args.overwrite, progress=not args.quiet)
    print(f"wrote {record['images']} images to {args.dst} ({', '.join(record['lr_sizes'])}; {record['degrade']}, "
          f"seed {record['seed']}); the spec is in {args.dst}/degradation.json")
    return 0
