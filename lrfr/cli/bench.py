"""``lrfr bench``: speed and memory figures, written as JSON (targets live here, never in tests)."""
from __future__ import annotations

BENCHES = ["protocols", "recognition", "index", "search", "synth", "sr", "cface", "distill", "evaluate", "fast"]
#: the benches that time more than one device (``--device`` chooses)
DEVICE_BENCHES = {"protocols", "recognition", "sr", "cface", "distill", "evaluate"}


def register(sub) -> None:
    p = sub.add_parser("bench", help="benchmarks → JSON (protocols, recognition, index, synth, sr, cface, distill, evaluate, fast; all: every one + report.json, summary.md)")
    p.add_argument("names", nargs="+", choices=BENCHES + ["all"], help="which benchmark(s)")
    p.add_argument("--out", default="runs/bench", help="folder for NAME.json (default runs/bench)")
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke test, not the stated figures")
    p.add_argument("--device", default="all", choices=["all", "cpu", "cuda"],
                   help="devices of the benches that time several (sr, cface, evaluate, recognition, protocols): "
                        "all = the CPU, and CUDA where present (default); the CPU-only benches ignore it")
    p.set_defaults(handler=run)


def run(args) -> int:
    import importlib
    import json
    import time
    from pathlib import Path

    from lrfr.bench.common import machine_info, write_json

    names = BENCHES if "all" in args.names else args.names
    out = Path(args.out)
    results = {}
    for name in names:
        module = importlib.import_module(f"lrfr.bench.{name}")
        print(f"== bench {name}{' (quick)' if args.quick else ''}")
        kwargs = {"device": args.device} if name in DEVICE_BENCHES else {}
        result = {"bench": name, "quick": args.quick, "date": time.strftime("%Y-%m-%d"), "machine": machine_info(),
                  **module.run(out, quick=args.quick, **kwargs)}
        path = write_json(out / f"{name}.json", result)
        results[name] = result
        print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2, default=float))
        print(f"wrote {path}")
    if "all" in args.names:  # one report of every bench, and its Markdown summary
        from lrfr.bench.report import write

        print("wrote " + ", ".join(str(p) for p in write(out, results)))
    return 0
