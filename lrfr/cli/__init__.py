"""The ``lrfr`` command. Each subcommand lives in its own module exposing ``register(subparsers)``;
the module's heavy imports happen inside its handler so ``lrfr --help`` stays fast."""
from __future__ import annotations

import argparse
import importlib
import sys

# (subcommand, module under lrfr.cli) — explicit, so a missing one is a clear import error.
SUBCOMMANDS = [
    ("demo", "demo"),
    ("evaluate", "evaluate"),
    ("run", "run"),
    ("index", "index"),
    ("mine", "mine"),
    ("align", "align"),
    ("bench", "bench"),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lrfr",
        description="Low-resolution face recognition: super-resolve tiny faces so identity survives, and measure it.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for _, module in SUBCOMMANDS:
        importlib.import_module(f"lrfr.cli.{module}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (FileNotFoundError, ValueError, KeyError) as err:
        # User errors: one clear line, no traceback from deep inside.
        msg = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"lrfr {args.command}: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
