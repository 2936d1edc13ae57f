"""``lrfr evaluate``: SR model(s) × protocol(s) → printed table, CSV/JSON, ROC and CMC figures."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="degrade → super-resolve → embed → run protocols; print and save the table",
        description="Evaluate SR front-ends on LFW standard, LFW-BLUFR, CelebA verification (+ PSNR/SSIM).",
    )
    p.add_argument("--sr", nargs="+", default=["bicubic"], help="SR model name(s); 'hr' = HR upper bound (default: bicubic)")
    p.add_argument("--protocol", nargs="+", default=["lfw"], help="lfw, blufr, celeba, or a protocol .toml (default: lfw)")
    p.add_argument("--data", default=None, help="data root (default: the held-out SynthFaces test set)")
    p.add_argument("--recognizer", default=None, help="recognizer architecture (e.g. mobilefacenet, sphere20a)")
    p.add_argument("--weights", default=None, help="recognizer weight file (default: the packaged SynthFaces sphere20a)")
    p.add_argument("--probe-recognizer", default=None,
                   help="a second recognizer for the faces that went LR → SR (e.g. a distilled low-resolution "
                        "student); HR faces stay with --recognizer (default: --recognizer embeds everything)")
    p.add_argument("--probe-weights", default=None, help="the probe recognizer's weight file")
    p.add_argument("--identity", action="store_true",
                   help="also report identity_similarity: the mean cosine between each LR → SR face's features "
                        "and its own HR face's")
    p.add_argument("--scale", type=int, default=8, help="degradation factor (default 8: 112×96 → 14×12)")
    p.add_argument("--degrade", default="bicubic",
                   help="HR → LR chain: bicubic (default), bilinear_steps, or a degradation spec such as "
                        "'blur:sigma=1.2,down:bicubic,noise:gauss=0.02,jpeg:q=40' (see lrfr.data.degradations)")
    p.add_argument("--degrade-seed", type=int, default=0, help="base seed of the per-image degradation draws (default 0)")
    p.add_argument("--setting", choices=["both_low", "cross"], default="both_low",
                   help="both_low (default): every image LR → SR; cross: gallery / first image of each pair at HR, "
                        "probes / second image LR → SR (the surveillance case)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if available)")
    p.add_argument("--out", default="runs/evaluate", help="folder for results.csv/json, roc.png, cmc.png")
    p.add_argument("--workdir", default=None, help="where derived files go (CelebA pairs, SynthFaces export)")
    p.add_argument("--on-bad-image", choices=["error", "skip"], default="error",
                   help="an image that cannot be read or has the wrong size: stop naming it (error, default), or "
                        "leave it and its pairs out and list them (skip)")
    p.add_argument("--pairs", type=int, default=None, metavar="N",
                   help="score a seeded subset of about N pairs (lfw, celeba), as many of each fold and kind")
    p.add_argument("--pairs-seed", type=int, default=0, help="seed of the --pairs subset (default 0)")
    p.add_argument("--backend", choices=["torch", "onnxruntime"], default="torch",
                   help="torch (default) or onnxruntime: the recognizers exported to ONNX once and run on the CPU")
    p.add_argument("--fast", action="store_true",
                   help="embed in bfloat16 instead of float32 (opt-in): each row says so and reports the bf16 vs "
                        "fp32 feature cosine of its first faces; the effect on LFW/BLUFR: lrfr bench fast")
    p.add_argument("--feature-dir", default=None,
                   help="keep each set of features in this folder and reuse it when the same images, front-end, "
                        "recognizer and settings come again (keyed by all of them; default: memory only)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(handler=run)


def run(args) -> int:
    from pathlib import Path

    import lrfr
    from lrfr.report import format_table, plot_curves, write_table

    table = lrfr.evaluate(
        args.sr, protocol=args.protocol, recognizer=args.recognizer, weights=args.weights, data=args.data,
        scale=args.scale, batch_size=args.batch_size, device=args.device, degrade=args.degrade,
        workdir=args.workdir, progress=not args.quiet, on_bad_image=args.on_bad_image,
        setting=args.setting, degrade_seed=args.degrade_seed, probe_recognizer=args.probe_recognizer,
        probe_weights=args.probe_weights, identity=args.identity, fast=args.fast,
        feature_dir=args.feature_dir, backend=args.backend, n_pairs=args.pairs, pairs_seed=args.pairs_seed,
    )
    out = Path(args.out)
    print(format_table(table))
    files = write_table(table, out) + plot_curves(table.attrs["results"], out)
    for proto, info in table.attrs.get("skipped", {}).items():
        images = info["images"]
        print(f"{proto}: skipped {len(images)} image(s) that could not be used, removing "
              f"{info['n_pairs_removed']} pair(s) (listed in {out / 'results.json'}):")
        for item in images[:20]:
            print(f"  {item['path']}: {item['reason']}")
        if len(images) > 20:
            print(f"  ... and {len(images) - 20} more")
    if args.fast:
        print("fast: the recognizer ran in bfloat16, not float32 (embed_precision); fast_check_cosine_min compares "
              "its features with float32 on the first faces of each row; what bf16 does to LFW and BLUFR figures is "
              "measured by `lrfr bench fast` (docs/benchmarks.md)")
    print("wrote " + ", ".join(str(f) for f in files))
    return 0
