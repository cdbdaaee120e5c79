"""The exercise checkers read fresh from the package's files, for the graded course's hidden tests.

An answer cell runs in the same kernel as the test cell after it, so it can replace what the test
cell would import (``unioncam_lite.course.exercises.check_union = lambda *a, **k: True``, or the
library function a checker compares with). The hidden tests (:mod:`.assignments`) therefore
do not import the checkers: they read this file, check its SHA-256 against the one recorded when
the course was made, run it, and call :func:`fresh_exercises`, which checks the digest of every
source file of the package (:func:`package_digest`) and runs them, from the bytes it hashed,
as a private copy of the package that no earlier cell has seen.

This module uses the standard library only: the test cell runs it without importing the package.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.abc
import importlib.machinery
import secrets
import sys
import types
from pathlib import Path


def package_sources(package_dir: str | Path) -> dict[str, bytes]:
    """Every ``*.py`` file of the package, ``{relative POSIX path: bytes}``, sorted by path."""
    root = Path(package_dir)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.py"))}


def package_digest(package_dir: str | Path, sources: dict[str, bytes] | None = None) -> str:
    """SHA-256 (hex) of the package's source files, their paths and contents."""
    h = hashlib.sha256()
    for rel, data in (package_sources(package_dir) if sources is None else sources).items():
        h.update(rel.encode())
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


class _Sources(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports ``<prefix>.*`` from the source bytes already read and hashed (no ``.pyc``, no second read)."""

    def __init__(self, prefix: str, root: Path, sources: dict[str, bytes]):
        self.prefix, self.root, self.sources = prefix, root, sources

    def find_spec(self, fullname: str, path: object = None, target: object = None
                  ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.prefix and not fullname.startswith(self.prefix + "."):
            return None
        rel = "/".join(fullname.split(".")[1:])
        package = f"{rel}/__init__.py" if rel else "__init__.py"
        file = package if package in self.sources else f"{rel}.py"
        if file not in self.sources:
            return None
        spec = importlib.machinery.ModuleSpec(fullname, self, origin=str(self.root / file),
                                              is_package=file == package)
        spec.has_location = True   # __file__: the package finds its data next to its modules
        if file == package:
            spec.submodule_search_locations = [str((self.root / file).parent)]
        return spec

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        origin = str(module.__spec__.origin) if module.__spec__ else ""
        code = compile(self.sources[Path(origin).relative_to(self.root).as_posix()], origin, "exec",
                       dont_inherit=True)
        exec(code, module.__dict__)


def fresh_exercises(package_dir: str | Path, digest: str) -> types.ModuleType:
    """``unioncam_lite.course.exercises`` from a private copy of the package at ``package_dir``,
    whose source files must have the SHA-256 ``digest`` (:func:`package_digest`); a RuntimeError
    saying so if they have not."""
    root = Path(package_dir)
    sources = package_sources(root)
    if package_digest(root, sources) != digest:
        raise RuntimeError(f"the unioncam_lite package in {root} is not the one this course was made with (its "
                           "source files differ): grade with that version, or make the course again "
                           "(python -m unioncam_lite assignments) and regrade")
    prefix = f"_unioncam_lite_fresh_{secrets.token_hex(6)}"
    sys.meta_path.insert(0, _Sources(prefix, root, sources))   # kept: the package imports inside functions too
    return importlib.import_module(f"{prefix}.course.exercises")
