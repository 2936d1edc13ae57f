"""``lrfr run PIPELINE.toml``: run a scripted recipe from ``pipelines/``.

The pipeline's top-level ``kind`` picks the recipe from :mod:`lrfr.recipes` (``lrfr run --list``
prints them); the recipe writes its own outputs. This module only parses and calls.
"""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("run", help="run a training recipe (pipelines/*.toml)",
                       description="Run a pipeline TOML. Resumes from <run.out>/checkpoint.pt when it exists.")
    p.add_argument("pipeline", nargs="?", help="path to a pipeline TOML, e.g. pipelines/srresnet.toml")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config value (TOML syntax; bare words are strings), e.g. --set optim.iterations=100")
    p.add_argument("--restart", action="store_true", help="ignore an existing checkpoint and start from step 0")
    p.add_argument("--allow-changed", nargs="+", default=[], metavar="SECTION.KEY",
                   help="resume a checkpoint although these config keys changed (e.g. optim.lr after a divergence)")
    p.add_argument("--stop-after", type=int, default=None, metavar="STEP",
                   help="stop at this step after writing a checkpoint (split a long run across sessions)")
    p.add_argument("--list", action="store_true", help="list the known recipe kinds and exit")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(handler=run)


def run(args) -> int:
    from lrfr.config import ConfigError
    from lrfr.recipes import RECIPE_REGISTRY, known_kinds, run_pipeline

    if args.list:
        for kind in known_kinds():
            print(f"{kind:18s} {RECIPE_REGISTRY.get(kind).summary}")
        return 0
    if not args.pipeline:
        raise ConfigError("lrfr run needs a pipeline TOML (see pipelines/), or --list")
    result = run_pipeline(args.pipeline, args.overrides, resume=not args.restart, progress=not args.quiet,
                          allow_changed=tuple(args.allow_changed), stop_after=args.stop_after)
    import os

    if os.environ.get("RANK", "0") != "0":  # torchrun: rank 0 reports for everyone
        return 0
    final = result.get("final") or {}
    if final:
        import pandas as pd

        print(pd.DataFrame([final]).to_string(index=False, float_format="{:.4f}".format))
    print(f"step {result['step']}; wrote " + ", ".join(str(f) for f in result.get("files", [])))
    return 0
