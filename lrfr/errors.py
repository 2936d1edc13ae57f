"""The errors and warnings lrfr raises on purpose.

Every error lrfr raises *on purpose* (bad input, a file of the wrong kind, a run that cannot go on)
either subclasses :class:`LrfrError` or is one of the built-in types a user error naturally is
(``FileNotFoundError``, ``ValueError``, ``KeyError``); the ``lrfr`` command turns those into one
line on stderr and a non-zero exit. Anything else is a bug and keeps its traceback.

Subclass :class:`LrfrError` for a new kind of failure (adding the built-in type it also is, e.g.
``class PairsFormatError(LrfrError, ValueError)``, so ``except ValueError`` keeps working).
This module imports nothing from lrfr, so every layer may use it.
"""
from __future__ import annotations

__all__ = ["LrfrError", "LrfrWarning", "BadImageError", "UnknownArgumentError"]


class LrfrError(Exception):
    """Base class of the errors lrfr raises on purpose: the CLI prints them as one line, exit 2."""


class LrfrWarning(UserWarning):
    """Something lrfr did that the user should know about (e.g. a fallback it took).

    The CLI prints these as ``lrfr COMMAND: warning: ...`` lines.
    """


class BadImageError(LrfrError, ValueError):
    """An image file that cannot be used: unreadable, not an image, or of the wrong size.

    ``path`` is the file, ``reason`` what is wrong with it (without the path).
    """

    def __init__(self, path, reason: str, hint: str = ""):
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}" + (f"; {hint}" if hint else ""))


class UnknownArgumentError(LrfrError, TypeError):
    """A factory (model, loss, recipe section) was given a keyword argument it does not take."""
