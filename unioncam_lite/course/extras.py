"""The optional parts of the install, imported where they are used.

``pip install unioncam-lite`` brings the library (CAM methods, models, metrics, the command line);
the course's stack — nbformat, nbgrader, ipywidgets, JupyterLab, Voila — is the ``course`` extra.
Every module of the package imports without it; what needs it asks for it here, when it runs, and
a missing package gives one error that names the extra to install.
"""
from __future__ import annotations

import importlib
import types
from typing import Any

#: the extra that brings each optional package (pyproject.toml [project.optional-dependencies])
EXTRA_OF = {"nbformat": "course", "nbgrader": "course", "nbclient": "course", "ipywidgets": "course",
            "IPython": "course", "voila": "course"}


class MissingExtra(ImportError):
    """An optional package is not installed; the message says which extra brings it."""


def require(module: str) -> types.ModuleType:
    """``module`` imported, or :class:`MissingExtra` naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        root = module.partition(".")[0]
        if err.name is None or err.name.partition(".")[0] != root:
            raise   # the package is there but something it imports is missing: its own error says what
        extra = EXTRA_OF.get(root, "course")
        raise MissingExtra(f"{root} is not installed; it comes with the {extra!r} extra: "
                           f"pip install 'unioncam-lite[{extra}]'", name=root) from err


class LazyModule(types.ModuleType):
    """A module imported (by :func:`require`) on its first attribute access, so that a module of
    the package can say ``nbformat = LazyModule("nbformat")`` at its top and still import without
    the extra."""

    def __init__(self, name: str) -> None:
        super().__init__(name)

    def __getattr__(self, attr: str) -> Any:
        return getattr(require(self.__name__), attr)
