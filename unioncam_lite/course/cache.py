"""A disk cache for the course's expensive, repeated calls: ``cached(union_cam, model, x, ...)``.

Notebooks 05 and 06 (and the rendered course) explain the same six photographs with the same
UnionCAM call; the second one loads the first one's result instead of running a few hundred
forward passes again. The key is a SHA-256 (:func:`unioncam_lite.cams.fingerprint.digest_update`,
the package's one answer to "has this model changed") of

* the function's name and code (not the globals it reads), the source of every module of this package (a code change
  invalidates it) and the torch version,
* the model's structure (``repr``), every parameter and buffer byte for byte, and every other
  attribute of each of its modules (a tensor or array held as a plain attribute by its bytes),
* the arguments exactly (:func:`.cache_keys.key_update`): tensors and NumPy arrays by their bytes (with
  shape, dtype and device type; CPU and GPU arithmetic differ), numbers and strings by value,
  containers element by element, functions of this package and torch by name.

An argument it cannot key exactly (an object whose ``repr`` does not describe it, e.g. a module
with a forward hook) is not cached: the call is computed and returned, with one warning.

Entries hold plain data only, never code: a result of an allowed type (:class:`UnionResult`, a
tensor, lists, tuples and dicts of tensors and numbers) is stored as tensors, numbers, strings and
containers (a dataclass as ``{"__dataclass__": "<module>.<qualname>", "fields": {...}}``) with
``torch.save`` and read back with ``torch.load(weights_only=True)``, which refuses anything else.
An entry that is unreadable, of another format or key, or whose rebuilt result has not the
structure its type declares, is recomputed (and overwritten).

**The cache folder must be private to its user** (the default under the home folder is): whoever
can write there can plant results — never code, but wrong maps — that a later call returns.

Entries are written atomically (:func:`unioncam_lite.outputs.atomic_path`) under
``UNIONCAM_CACHE`` (default ``~/.cache/unioncam-lite``). A failure to save (a read-only or full
disk, a result of a type not allowed) costs one warning; the result is returned all the same.
``clear_cache()`` empties the folder (leftover temporary files too); ``UNIONCAM_CACHE=off``
turns the cache off.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import types
import typing
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch

from ..cams.unioncam import UnionResult
from ..outputs import atomic_path
from .cache_keys import Uncacheable, code_update, key_update

PACKAGE_DIR = Path(__file__).resolve().parents[1]
FORMAT = "unioncam-lite cache 1"
T = TypeVar("T")


def _qualified(obj: Any) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


#: the dataclasses an entry may rebuild, by "<module>.<qualname>"
DATACLASSES: dict[str, type] = {_qualified(UnionResult): UnionResult}


class _Invalid(ValueError):
    """A stored entry that is not what this cache writes."""


def cache_dir() -> Path | None:
    """Where results are kept (``UNIONCAM_CACHE``, default ~/.cache/unioncam-lite); None when turned off."""
    setting = os.environ.get("UNIONCAM_CACHE", "")
    if setting.lower() in ("off", "0", "none"):
        return None
    return Path(setting) if setting else Path.home() / ".cache" / "unioncam-lite"


def code_digest() -> str:
    """SHA-256 of this package's source files."""
    h = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        h.update(path.relative_to(PACKAGE_DIR).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def cache_key(fn: Callable, *args: Any, **kwargs: Any) -> str:
    """SHA-256 (hex) of the function (name and code), the package's code, the torch version and
    every argument, exactly; :class:`Uncacheable` for an argument that cannot be keyed exactly."""
    h = hashlib.sha256()
    h.update(f"{code_digest()} torch {torch.__version__} {_qualified(fn)}".encode())
    if isinstance(fn, types.FunctionType):
        code_update(h, fn.__code__)
    else:
        key_update(h, fn)
    key_update(h, args)
    key_update(h, kwargs)
    return h.hexdigest()


# ---------------------------------------------------------------- plain data in, plain data out

_PLAIN = (type(None), bool, int, float, str)


def encode(value: object) -> object:
    """``value`` as plain data ``torch.load(weights_only=True)`` reads; a TypeError for a type not allowed."""
    if isinstance(value, (torch.Tensor, *_PLAIN)):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        name = _qualified(type(value))
        if DATACLASSES.get(name) is not type(value):
            raise TypeError(f"the disk cache does not store a {name}")
        return {"__dataclass__": name, "fields": {f.name: encode(getattr(value, f.name))
                                                  for f in dataclasses.fields(value)}}
    if type(value) is list:
        return [encode(v) for v in value]
    if type(value) is tuple:
        return tuple(encode(v) for v in value)
    if type(value) is dict and all(isinstance(k, _PLAIN) for k in value):
        return {"__dict__": {k: encode(v) for k, v in value.items()}}
    raise TypeError(f"the disk cache does not store a {type(value).__name__}")


@functools.lru_cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _matches(value: object, hint: Any) -> bool:
    """Whether ``value`` is of the declared type ``hint`` (a class, or ``list[X]``)."""
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_matches(v, item) for v in value)
    if hint is float:
        return isinstance(value, (float, int)) and not isinstance(value, bool)
    return isinstance(hint, type) and isinstance(value, hint)


def decode(data: object) -> object:
    """The value :func:`encode` made ``data`` from; :class:`_Invalid` for anything it does not make."""
    if isinstance(data, (torch.Tensor, *_PLAIN)):
        return data
    if isinstance(data, list):
        return [decode(v) for v in data]
    if isinstance(data, tuple):
        return tuple(decode(v) for v in data)
    if isinstance(data, dict) and set(data) == {"__dict__"} and isinstance(data["__dict__"], dict):
        return {k: decode(v) for k, v in data["__dict__"].items()}
    if isinstance(data, dict) and set(data) == {"__dataclass__", "fields"} and isinstance(data["fields"], dict):
        cls = DATACLASSES.get(str(data["__dataclass__"]))
        if cls is None:
            raise _Invalid(f"a {data['__dataclass__']!r} is not an allowed result type")
        hints = _hints(cls)
        fields = {k: decode(v) for k, v in data["fields"].items()}
        if set(fields) != {f.name for f in dataclasses.fields(cls)} or \
                not all(_matches(v, hints[k]) for k, v in fields.items()):
            raise _Invalid(f"the stored fields do not make a {cls.__name__}")
        return cls(**fields)
    raise _Invalid(f"a stored {type(data).__name__} is not a cached result")


# ---------------------------------------------------------------- the cache

def _load(path: Path, key: str, device: torch.device) -> object:
    entry = torch.load(path, map_location=device, weights_only=True)
    if not isinstance(entry, dict) or entry.get("format") != FORMAT or entry.get("key") != key or "value" not in entry:
        raise _Invalid(f"{path.name} is not an entry of this cache for this call")
    return decode(entry["value"])


def _save(folder: Path, path: Path, key: str, result: object) -> None:
    entry = {"format": FORMAT, "key": key, "value": encode(result)}   # a TypeError before any file is made
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:   # the temporary file is removed if torch.save fails
        torch.save(entry, tmp)


_warned: set[str] = set()   # the reasons not to cache already warned about (once each)


def cached(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``, loaded from the disk cache when this exact call was made before.

    Tensors in the result are loaded onto the device of the first tensor argument.
    """
    folder = cache_dir()
    if folder is None:
        return fn(*args, **kwargs)
    try:
        key = cache_key(fn, *args, **kwargs)
    except Uncacheable as err:   # computed every time: a wrong key would return another call's result
        if str(err) not in _warned:
            _warned.add(str(err))
            warnings.warn(f"{fn.__name__} is not cached: {err}; it is computed every time", stacklevel=2)
        return fn(*args, **kwargs)
    path = folder / f"{fn.__name__}-{key[:32]}.pt"
    device = next((a.device for a in args if isinstance(a, torch.Tensor)), torch.device("cpu"))
    if path.is_file():
        try:
            return typing.cast(T, _load(path, key, device))
        except Exception:  # truncated, foreign or planted: compute again (and overwrite it)
            pass
    result = fn(*args, **kwargs)
    try:
        _save(folder, path, key, result)
    except Exception as err:  # a read-only or full disk, a result type not allowed: still return it
        warnings.warn(f"the result of {fn.__name__} was not cached ({type(err).__name__}: {err}); "
                      "it is returned all the same", stacklevel=2)
    return result


def clear_cache() -> int:
    """Delete every cached result and leftover temporary file; returns how many files were removed."""
    folder = cache_dir()
    if folder is None or not folder.is_dir():
        return 0
    files = [*folder.glob("*.pt"), *folder.glob("*.tmp")]
    for f in files:
        f.unlink(missing_ok=True)
    return len(files)
