"""The ``lrfr`` command. Each subcommand lives in its own module exposing ``register(subparsers)``;
the module's heavy imports happen inside its handler so ``lrfr --help`` stays fast."""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings

from lrfr.errors import LrfrError, LrfrWarning

# (subcommand, module under lrfr.cli) — explicit, so a missing one is a clear import error.
SUBCOMMANDS = [
    ("demo", "demo"),
    ("evaluate", "evaluate"),
    ("run", "run"),
    ("index", "index"),
    ("mine", "mine"),
    ("align", "align"),
    ("bench", "bench"),
    ("calibrate", "calibrate"),
    ("degrade", "degrade"),
    ("export", "export"),
    ("watchlist", "watchlist"),
    ("results", "results"),
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


#: errors that are the user's to fix: printed as one line, exit status 2. ``LrfrError`` is the base
#: of every error lrfr raises on purpose (lrfr.errors); the built-in types are what bad input
#: naturally raises (a missing or unreadable file, a bad value, an unknown name). Anything else is
#: a bug and keeps its traceback.
USER_ERRORS = (LrfrError, OSError, ValueError, KeyError)

#: set to 1 to see the traceback of user errors too (for bug reports)
DEBUG_ENV = "LRFR_DEBUG"


def error_message(err: BaseException) -> str:
    """The one line shown for a user error (a KeyError's message without the quotes repr adds; several
    problems reported at once, one per line of the message, joined by "; ")."""
    if isinstance(err, KeyError) and len(err.args) == 1:
        return str(err.args[0])
    msg = str(err)
    if isinstance(err, OSError) and err.filename is not None and str(err.filename) not in msg:
        msg = f"{err.filename}: {msg}"
    return "; ".join(line.strip() for line in msg.splitlines() if line.strip()) or type(err).__name__


def run_script(name: str, handler, args) -> None:
    """A driver script's ``main`` (``results/*.py``): ``handler(args)``, a user error as one line and exit 2."""
    try:
        handler(args)
    except USER_ERRORS as err:
        if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
            raise
        print(f"{name}: error: {error_message(err)}", file=sys.stderr)
        sys.exit(2)


def _show_warning(command: str):
    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, LrfrWarning):
            print(f"lrfr {command}: warning: {message}", file=sys.stderr if file is None else file)
        else:
            default(message, category, filename, lineno, file, line)

    return show


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = os.environ.get(DEBUG_ENV, "") not in ("", "0")
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning(args.command)
        try:
            return int(args.handler(args) or 0)
        except USER_ERRORS as err:
            if debug:
                raise
            # User errors: one clear line, no traceback from deep inside.
            print(f"lrfr {args.command}: error: {error_message(err)}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            if debug:
                raise
            print(f"lrfr {args.command}: interrupted", file=sys.stderr)
            return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
