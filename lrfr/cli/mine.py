"""``lrfr mine``: C-Face compare faces for a training set (papers/004 §3.3), saved next to the data.

    lrfr mine --data DIR --recognizer mobilefacenet --weights W.ckpt --k 3 --out DIR/compare_faces.npz
"""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "mine",
        help="mine C-Face compare faces (k nearest same-identity images) for a training set",
        description=(
            "Embed every HR training image with the recognizer (CNN^R), keep for each image the k most "
            "similar other images of its identity (normalized Euclidean distance; paper: k=3) and save "
            "the table for training (C-Face §3.3)."
        ),
    )
    p.add_argument("--data", required=True, help="training image folder (any layout lrfr.data.open_faces reads)")
    p.add_argument("--recognizer", default=None, help="recognizer architecture (optional for lrfr weight files)")
    p.add_argument("--weights", required=True, help="recognizer weight file")
    p.add_argument("--k", type=int, default=3, help="compare faces kept per image (paper: 3; Table 6: 1-5)")
    p.add_argument("--mode", choices=["topk", "random"], default="topk",
                   help="topk = the paper's rule; random = any other image of the class (Table 6 baseline)")
    p.add_argument("--singleton", choices=["self", "exclude"], default="self",
                   help="single-image identities: use the image itself, or mark it unusable")
    p.add_argument("--out", default=None, help="output .npz (default: DATA/compare_faces.npz)")
    p.add_argument("--features-out", default=None, help="also save the features (.npy) here")
    p.add_argument("--flip", choices=["concat", "sum", "none"], default="concat", help="flip fusion of the features")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if available)")
    p.add_argument("--strategy", default="auto", choices=["auto", "selector", "knn", "numpy"],
                   help="FAISS mining strategy (auto = the fastest measured; all are exact)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(handler=run)


def run(args) -> int:
    import time
    from pathlib import Path

    import numpy as np
    import pandas as pd

    import lrfr.data
    import lrfr.recognition
    from lrfr.index.miner import CompareFaceMiner

    data = Path(args.data)
    out = Path(args.out) if args.out else data / "compare_faces.npz"
    if args.k < 1:
        raise ValueError(f"--k must be >= 1, got {args.k}")
    from lrfr.devices import resolve_device

    device = resolve_device(args.device)
    model = lrfr.recognition.load(args.recognizer, weights=args.weights, device=device)
    # every image must fit the recognizer: the odd one is then named, not a batch error
    dataset = lrfr.data.open_faces(data, size=getattr(model, "input_size", None))
    dataset.size_source = "the recognizer's input size"
    t0 = time.perf_counter()
    features = lrfr.recognition.embed(
        model, dataset, flip=None if args.flip == "none" else args.flip, batch_size=args.batch_size,
        device=device, progress=not args.quiet,
    )
    embed_s = time.perf_counter() - t0
    if args.features_out:
        from lrfr.io import atomic_write

        atomic_write(Path(args.features_out), lambda p: np.save(open(p, "wb"), features))
    t0 = time.perf_counter()
    miner = CompareFaceMiner(features, np.asarray(dataset.labels), k=args.k, mode=args.mode,
                             singleton=args.singleton, strategy=args.strategy, progress=not args.quiet)
    mine_s = time.perf_counter() - t0
    miner.save(out)
    summary = miner.summary()
    summary.update({"feature_dim": int(features.shape[1]), "embed_s": round(embed_s, 1),
                    "mine_s": round(mine_s, 1), "out": str(out)})
    print(pd.Series(summary, dtype=object).to_string())
    if len(miner.singletons):
        classes = list(dataset.classes)
        shown = [classes[int(miner.labels[i])] for i in miner.singletons[:10]]
        more = f" (+{len(miner.singletons) - 10} more)" if len(miner.singletons) > 10 else ""
        rule = "use themselves" if args.singleton == "self" else "are excluded (usable=False)"
        print(f"{len(miner.singletons)} single-image identities {rule}: {', '.join(shown)}{more}")
    return 0
