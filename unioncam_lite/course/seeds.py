"""The hidden tests' seed of an nbgrader course: drawn once per course (term), stored, kept on re-runs.

nbgrader's feedback shows the hidden tests' source, seed included, so a term's seed must not be the
next term's: :func:`course_seed` draws it at the course's first making and `--new-seed` draws another.
May import: the standard library only.
"""
from __future__ import annotations

import secrets
from pathlib import Path

SEED_FILE = "hidden_tests_seed.txt"
SEED_NOTE = ("# the seed of the hidden tests in source/, drawn at the course's first making; `make assignments`\n"
             "# keeps it. The feedback shows it to the students: draw a new one each term or release\n"
             "# (--new-seed, or SEED=N).\n")


def course_seed(course: Path, seed: int | None = None, new: bool = False) -> tuple[int, str]:
    """The hidden tests' seed and how it was chosen: ``seed`` if given, a fresh random draw if ``new``
    or if ``course`` has no :data:`SEED_FILE` yet, else the stored one."""
    if seed is not None:
        return int(seed), "given"
    path = Path(course) / SEED_FILE
    if new or not path.exists():
        return secrets.randbelow(10**6), "drawn at random"
    lines = [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    if len(lines) != 1 or not lines[0].isdigit():
        raise ValueError(f"{path} does not hold a seed (one whole number): fix it, delete it or give --seed")
    return int(lines[0]), f"kept from {path}"
