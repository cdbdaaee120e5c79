"""After an exercise, what the rest of a notebook uses: the learner's function if it passed, else the library's.

A learner who leaves an exercise blank, or gets it wrong, is never stuck on a traceback: the check
cell prints its ✓/✗ lines, then :func:`yours_or_library` says in one line which function the cells
after it use, and they run. Where the committed notebooks are verified (``make test`` runs nbval with
``UNIONCAM_EXERCISES_STRICT=1``), a failed check raises instead, so a wrong reference solution cannot
hide behind the fallback. nbgrader grades the learner's own function (the hidden tests the graded
course adds to each check cell call it by its name), never the fallback.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable)
STRICT = "UNIONCAM_EXERCISES_STRICT"


def _name(fn: Callable) -> str:
    module = getattr(fn, "__module__", "") or ""
    name = getattr(fn, "__name__", repr(fn))
    return f"{module}.{name}" if module.startswith("unioncam_lite") else name


def yours_or_library(mine: object, passed: bool, library: F) -> F:
    """``mine`` if ``passed`` (its check cell's result), else ``library``; one printed line says which.

    With the environment variable ``UNIONCAM_EXERCISES_STRICT=1`` a failed check raises AssertionError
    (how ``make test`` verifies the committed solutions)."""
    label = getattr(mine, "__name__", type(mine).__name__)
    if passed is True and callable(mine):
        print(f"→ the cells below use your {label}")
        return mine  # type: ignore[return-value]
    if os.environ.get(STRICT, "") not in ("", "0"):
        raise AssertionError(f"{label} did not pass its check ({STRICT} is set: the reference solutions must pass)")
    print(f"→ the cells below use the library's {_name(library)} until your {label} passes the check above "
          "(fix it, then run this cell again)")
    return library
