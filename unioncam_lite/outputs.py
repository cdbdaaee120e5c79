"""Output files that never lose work: checked before any computation, written atomically.

A bad ``--out`` (a file where a folder is needed, a folder where a file is needed, a path
under a file, a folder that cannot be written) is reported as one ``ValueError`` before the
model is even loaded; figures and tables are written to a temporary file in the same folder
and renamed over the target (``os.replace``, atomic on POSIX), so an interruption leaves
either the old file or the new one, never half of one.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _first_existing_parent(path: Path) -> Path:
    for parent in [path, *path.parents]:
        if parent.exists():
            return parent
    return Path(".")


def _check_can_create(folder: Path, what: str) -> None:
    """Create ``folder`` (and its parents) and check that a file can be written in it."""
    existing = _first_existing_parent(folder)
    if not existing.is_dir():
        raise ValueError(f"{what} {str(folder)!r} cannot be created: {str(existing)!r} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise ValueError(f"{what} {str(folder)!r} is not writable ({err.strerror}): choose another folder") from None


def check_output_dir(folder: str | os.PathLike, what: str = "--out") -> Path:
    """A folder for output files: created if needed; a ValueError if it is a file or not writable."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{what} {str(folder)!r} is a file, not a folder: give a folder for the figures")
    _check_can_create(folder, what)
    return folder


def check_output_file(path: str | os.PathLike, what: str = "--out", siblings: tuple[str, ...] = ()) -> Path:
    """A file path to write (and the ``siblings`` suffixes next to it, e.g. ``.md``): its folder is
    created if needed; a ValueError if any of them is a folder or another existing thing that is
    not a regular file (a FIFO, a device, a socket: reading or writing it could block forever), or
    the folder is not writable."""
    path = Path(path)
    for p in [path, *(path.with_suffix(s) for s in siblings)]:
        if p.is_dir():
            raise ValueError(f"{what} {str(path)!r}: {str(p)!r} is a folder; give a file path such as "
                             f"{str(path / 'results.csv')!r}")
        if p.exists() and not p.is_file():
            raise ValueError(f"{what} {str(path)!r}: {str(p)!r} exists and is not a regular file (a FIFO, device "
                             "or socket); give the path of a regular file")
    _check_can_create(path.parent, f"{what} folder")
    return path


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it over ``path``, else delete it."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it 0600; give it the permissions of a normal new file
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """``text`` (UTF-8) to ``path`` through a temporary file; the folder must exist."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def save_figure_atomic(fig: Figure, path: str | os.PathLike, **kwargs: Any) -> None:
    """``fig.savefig`` through a temporary file (the format taken from ``path``'s suffix)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", **kwargs)
