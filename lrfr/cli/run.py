"""``lrfr run PIPELINE.toml``: run a scripted recipe from ``pipelines/``.

The pipeline's top-level ``kind`` picks the recipe from :mod:`lrfr.recipes` (``lrfr run --list``
prints them); the recipe writes its own outputs. This module only parses and calls.
"""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("run", help="run a training recipe (pipelines/*.toml)",
                       description="Run a pipeline TOML. Resumes from <run.out>/checkpoint.pt when it exists.")
    p.add_argument("pipeline", nargs="?", help="a pipeline TOML (pipelines/srresnet.toml), or its name (srresnet): "
                                               "the file pipelines/NAME.toml of the folder you stand in")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config value (TOML syntax; bare words are strings), e.g. --set optim.iterations=100")
    p.add_argument("--restart", action="store_true", help="ignore an existing checkpoint and start from step 0")
    p.add_argument("--allow-changed", nargs="+", default=[], metavar="SECTION.KEY",
                   help="resume a checkpoint although these config keys changed (e.g. optim.lr after a divergence)")
    p.add_argument("--stop-after", type=int, default=None, metavar="STEP",
                   help="stop at this step after writing a checkpoint (split a long run across sessions)")
    p.add_argument("--list", action="store_true", help="list the pipelines of ./pipelines (one line each) and the "
                                                        "recipe kinds, and exit")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(handler=run)


PIPELINES = "pipelines"


def pipeline_path(name: str):
    """A pipeline file as given, else ``pipelines/NAME.toml`` (or ``pipelines/NAME``) of the current folder."""
    from pathlib import Path

    given = Path(name)
    if given.is_file():
        return given
    for candidate in (Path(PIPELINES) / f"{name}.toml", Path(PIPELINES) / name):
        if candidate.is_file():
            return candidate
    known = sorted(p.stem for p in Path(PIPELINES).glob("*.toml"))
    hint = (f"; pipelines here: {', '.join(known[:12])}{' …' if len(known) > 12 else ''} (lrfr run --list)" if known
            else f"; there is no {PIPELINES}/ folder here: give the TOML's path")
    raise FileNotFoundError(f"pipeline not found: {name} (neither a file nor {PIPELINES}/{name}.toml){hint}")


def describe_pipelines() -> list[str]:
    """One line per ``pipelines/*.toml``: its name, kind and description."""
    from pathlib import Path

    from lrfr.config import load_toml

    lines = []
    for path in sorted(Path(PIPELINES).glob("*.toml")):
        try:
            data = load_toml(path)
        except Exception as err:  # noqa: BLE001 - a broken file is listed as such, not a crash of the listing
            lines.append(f"{path.stem:28s} (cannot be read: {str(err).splitlines()[0][:80]})")
            continue
        lines.append(f"{path.stem:28s} {data.get('kind', '?'):11s} {data.get('description', '')[:110]}")
    return lines


def run(args) -> int:
    from lrfr.config import ConfigError
    from lrfr.recipes import RECIPE_REGISTRY, known_kinds, run_pipeline

    if args.list:
        lines = describe_pipelines()
        if lines:
            print(f"pipelines ({PIPELINES}/; lrfr run NAME):")
            print("\n".join(f"  {line}" for line in lines))
        print("recipe kinds:")
        for kind in known_kinds():
            print(f"  {kind:18s} {RECIPE_REGISTRY.get(kind).summary}")
        return 0
    if not args.pipeline:
        raise ConfigError("lrfr run needs a pipeline TOML or name (lrfr run --list shows them)")
    result = run_pipeline(pipeline_path(args.pipeline), args.overrides, resume=not args.restart, progress=not args.quiet,
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
