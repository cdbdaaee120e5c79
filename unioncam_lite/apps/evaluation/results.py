"""The results file and what sits next to it: the CSV (read back for resuming, appended to row
by row), the record of the run's settings (``.run.json``), the lock that keeps a second run off
the same file (``<out>.lock``), and the check of the path before any work (a folder where the
file goes, a FIFO or other non-regular file, an unwritable folder, a suffix that a side file would take).
"""
from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from ...outputs import check_output_file, write_text_atomic
from .scoring import COLUMNS, COLUMNS_BEFORE_ROAD, Row

#: The files written next to the results CSV, by suffix (``out.with_suffix(...)``), and what they hold.
SIBLINGS = (".md", ".png", ".run.json")
SIDE_FILES = {".md": "summary table", ".png": "bar chart", ".run.json": "settings record"}


def check_out(out: str | Path, what: str = "out") -> Path:
    """The results path, checked before any work: its folder writable (created if needed), neither
    it nor a side file (:data:`SIBLINGS`) a folder, and its suffix not a side file's, which would
    overwrite the results (``results.png`` would become the figure). ``what`` names it in errors."""
    out = Path(out)
    for suffix in SIBLINGS:
        if out.with_suffix(suffix).name.lower() == out.name.lower():
            raise ValueError(f"{what} {str(out)!r} would be overwritten by the {SIDE_FILES[suffix]} ({suffix}) "
                             "written next to it: give the results file another suffix, e.g. "
                             f"{str(out.with_suffix('.csv'))!r}")
    return check_output_file(out, what=what, siblings=SIBLINGS)


class ResultsCSV:
    """The results CSV, read for resuming and appended to row by row (flushed each time)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.file: IO[str] | None = None
        self.writer: Any = None

    def read(self, fix: bool = False) -> list[dict[str, str]]:
        """Rows already there. A cut-off last line (no newline) is ignored, and removed if ``fix``."""
        if not self.path.exists():
            return []
        where = f"out={str(self.path)!r}"
        try:
            data = self.path.read_bytes()
        except OSError as err:
            raise ValueError(f"{where} cannot be read ({err.strerror}): choose another out=PATH") from None
        header = (",".join(COLUMNS) + "\n").encode()
        columns: tuple[str, ...] = COLUMNS
        if data.startswith((",".join(COLUMNS_BEFORE_ROAD) + "\n").encode()):   # written before the ROAD columns
            columns = COLUMNS_BEFORE_ROAD
        elif not (data.startswith(header) or header.startswith(data)):   # (a header cut short is ours too)
            raise ValueError(f"{where} exists and is not a results file of this command (its first line is not "
                             f"{','.join(COLUMNS)!r}): choose another out=PATH, or delete it to start over")
        complete = data[:data.rfind(b"\n") + 1]
        if fix and len(complete) < len(data):
            with open(self.path, "r+b") as f:
                f.truncate(len(complete))
            print(f"note: dropped a cut-off last line of {self.path} (the row in progress when it stopped)",
                  file=sys.stderr)
        if not complete:
            return []
        try:
            lines = list(csv.reader(complete.decode("utf-8").splitlines()))
        except (UnicodeDecodeError, csv.Error) as err:
            raise ValueError(f"{where} cannot be read as CSV ({err}): repair or delete it") from None
        rows = []
        for n, fields in enumerate(lines[1:], start=2):
            if len(fields) != len(columns):
                raise ValueError(f"{where}, line {n}, has {len(fields)} fields instead of {len(columns)}: "
                                 "repair or delete the file")
            rows.append({c: "" for c in COLUMNS} | dict(zip(columns, fields)))
        if fix and columns != COLUMNS:   # add the new columns, empty in the rows computed without them
            text = io.StringIO()
            csv.writer(text, lineterminator="\n").writerows([COLUMNS, *([r[c] for c in COLUMNS] for r in rows)])
            write_text_atomic(self.path, text.getvalue())
            print(f"note: {self.path} was begun before the ROAD columns: added them, empty in its {len(rows)} "
                  "rows (delete the file and run again for ROAD on every image)", file=sys.stderr)
        return rows

    def open(self) -> None:
        """Open for appending, writing the header if the file is new or empty."""
        new = not self.path.exists() or self.path.stat().st_size == 0
        self.file = open(self.path, "a", newline="", encoding="utf-8")  # noqa: SIM115 - closed by close()
        self.writer = csv.writer(self.file, lineterminator="\n")
        if new:
            self.writer.writerow(COLUMNS)
            self.file.flush()

    def append(self, rows: list[Row]) -> None:
        """Write ``rows`` (after :meth:`open`), each flushed to disk at once."""
        assert self.file is not None, "ResultsCSV.append before open"
        for row in rows:
            self.writer.writerow([row[c] for c in COLUMNS])
            self.file.flush()

    def close(self) -> None:
        """Close the file (a no-op when it is not open)."""
        if self.file is not None:
            self.file.close()
            self.file = None


def check_settings(out: Path, settings: dict[str, Any], write: bool) -> None:
    """The settings of the run that wrote ``out`` must equal these (resuming mixes no runs);
    a new ``out`` gets its ``.run.json`` record (when ``write``)."""
    record = out.with_suffix(".run.json")
    if record.is_file():
        try:
            old = json.loads(record.read_text())
        except (OSError, ValueError) as err:
            raise ValueError(f"{record} cannot be read ({err}): delete it and {out} to start over") from None
        diff = [f"{k}: {old.get(k)!r} then, {v!r} now" for k, v in settings.items() if old.get(k) != v]
        if diff:
            raise ValueError(f"out={str(out)!r} holds results of a run with other settings ({'; '.join(diff)}): "
                             "give another out=PATH, or delete the file to start over")
    elif write:
        write_text_atomic(record, json.dumps(settings, indent=1) + "\n")


@contextmanager
def results_lock(out: Path, hold: bool = True) -> Iterator[None]:
    """Hold an exclusive lock on ``<out>.lock`` while the block runs (when ``hold``), so that a second
    run on the same results refuses at once (a ValueError) instead of computing every row again.
    The lock file stays; the lock ends with the process. (No lock where ``fcntl`` is missing.)"""
    try:
        import fcntl
    except ImportError:   # not POSIX
        hold = False
    if not hold:
        yield
        return
    lock = out.with_name(out.name + ".lock")
    if lock.exists() and not lock.is_file():
        raise ValueError(f"out={str(out)!r}: its lock file {str(lock)!r} exists and is not a regular file: remove it")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ValueError(f"out={str(out)!r} is being written by another evaluate run (it holds {lock.name}): "
                             "wait for that run to finish (then run again to add what is missing), or give "
                             "another out=PATH") from None
        yield
    finally:
        os.close(fd)
