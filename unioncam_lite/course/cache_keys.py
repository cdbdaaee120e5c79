"""The keys of the course's disk cache (:mod:`.cache`): every argument of a call, described exactly.

:func:`key_update` feeds a value into a ``hashlib`` hash so that two values get the same key only
if they are the same: tensors (:func:`~unioncam_lite.cams.fingerprint.digest_update`) and NumPy
arrays by their bytes, shape and dtype (a ``repr`` abbreviates arrays over 1,000 elements);
numbers, strings, dtypes and devices by value; containers, named tuples and dataclasses element by element; a
module by its structure and every attribute of every submodule (parameters, buffers, plain tensors
and arrays, hyper-parameters, hooks); classes, built-in functions and the functions of this package
and torch by name. Anything else (another function, whose closure and globals a key cannot hold;
an object whose ``repr`` may not tell two values apart) raises :class:`Uncacheable`, and the
cache computes that call instead.
"""
from __future__ import annotations

import collections
import dataclasses
import enum
import functools
import types
from typing import Any

import numpy as np
import torch
from torch import nn

from ..cams.fingerprint import digest_update


def _qualified(obj: Any) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


class Uncacheable(TypeError):
    """An argument :func:`key_update` cannot describe exactly."""


_PLAIN_KEYS = (type(None), bool, int, float, complex, str, bytes, torch.dtype, torch.device)
_CONTAINERS = (list, tuple, set, frozenset, torch.Size)


#: the functions known by their name: this package's code and torch's version are part of every key
_LIBRARIES = ("unioncam_lite", "torch")


def code_update(h: Any, code: types.CodeType) -> None:
    """Feed a function's code (bytecode, names, constants) into ``h``."""
    h.update(code.co_code + repr(code.co_names).encode())
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            code_update(h, c)
        else:
            key_update(h, c)


def _module_update(h: Any, module: nn.Module, seen: set[int]) -> None:
    """The structure, then every attribute of every submodule: parameters and buffers, plain
    tensors and arrays, hyper-parameters, hooks (a hook that is not a named function: Uncacheable)."""
    h.update(repr(module).encode())
    for name, sub in module.named_modules(remove_duplicate=False):
        h.update(f"module {name} {_qualified(type(sub))}".encode())
        for attr, value in sorted(vars(sub).items()):
            if attr != "_modules":
                h.update(attr.encode())
                try:
                    key_update(h, value, seen)
                except Uncacheable as err:
                    where = f"{type(module).__name__}.{name + '.' if name else ''}{attr}"
                    raise Uncacheable(f"{err} in the module's attribute {where}") from None


def key_update(h: Any, value: object, seen: set[int] | None = None) -> None:
    """Feed ``value`` into a ``hashlib`` hash exactly (see the module's docstring); raise
    :class:`Uncacheable` for a value it cannot describe exactly. Tensors go through
    :func:`~unioncam_lite.cams.fingerprint.digest_update`."""
    seen = set() if seen is None else seen
    if isinstance(value, torch.Tensor):
        digest_update(h, value)
    elif isinstance(value, np.ndarray) and not value.dtype.hasobject:
        array = np.ascontiguousarray(value)
        h.update(f"ndarray{array.shape}{array.dtype.descr}".encode())
        h.update(array.tobytes())
    elif isinstance(value, np.generic) and not isinstance(value, np.object_):
        h.update(f"{type(value).__name__}".encode() + value.tobytes())
    elif type(value) in _PLAIN_KEYS or isinstance(value, enum.Enum):
        h.update(f"{_qualified(type(value))}:{value!r}".encode())
    elif isinstance(value, nn.Module):
        if id(value) in seen:   # a module that refers back to one being keyed
            h.update(b"seen module")
            return
        seen.add(id(value))
        _module_update(h, value, seen)
    elif isinstance(value, (list, tuple, set, frozenset)) and type(value) in _CONTAINERS:
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else list(value)
        h.update(f"{type(value).__name__}{len(items)}".encode())
        for v in items:
            key_update(h, v, seen)
    elif isinstance(value, tuple) and hasattr(type(value), "_fields"):   # a named tuple
        h.update(_qualified(type(value)).encode())
        key_update(h, tuple(value), seen)
    elif isinstance(value, dict) and type(value) in (dict, collections.OrderedDict):
        h.update(f"dict{len(value)}".encode())
        for k, v in sorted(value.items(), key=lambda kv: repr(kv[0])):
            key_update(h, k, seen)
            key_update(h, v, seen)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        h.update(_qualified(type(value)).encode())
        for f in dataclasses.fields(value):
            key_update(h, (f.name, getattr(value, f.name)), seen)
    elif isinstance(value, types.FunctionType) and str(value.__module__).split(".")[0] in _LIBRARIES:
        h.update(f"function {_qualified(value)}".encode())   # its code is in the key (the package's, torch's version)
    elif isinstance(value, functools.partial):
        key_update(h, (value.func, value.args, value.keywords), seen)
    elif isinstance(value, type) or isinstance(value, types.BuiltinFunctionType) and \
            (value.__self__ is None or isinstance(value.__self__, types.ModuleType)):
        h.update(f"{type(value).__name__} {_qualified(value)}".encode())
    else:
        raise Uncacheable(f"a {type(value).__name__} (its repr does not describe it exactly)")
