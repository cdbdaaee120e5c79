"""A disk cache for the course's expensive, repeated calls: ``cached(union_cam, model, x, ...)``.

Notebooks 05 and 06 (and the rendered course) explain the same six photographs with the same
UnionCAM call; the second one loads the first one's result instead of running a few hundred
forward passes again. The cache can never return a result the current call would not compute:
its key is a SHA-256 of

* the function's name and the source of every module of this package (a code change invalidates it),
* the model's structure (``repr``) and every parameter and buffer, byte for byte,
* the input tensors byte for byte, their device type (CPU and GPU arithmetic differ), and the
  other arguments.

Results are written atomically (temporary file, then rename) under ``UNIONCAM_CACHE``
(default ``~/.cache/unioncam-lite``, the usual place for a library's cache); an unreadable
entry is recomputed. ``clear_cache()`` empties it; ``UNIONCAM_CACHE=off`` turns it off.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import torch
from torch import nn

PACKAGE_DIR = Path(__file__).resolve().parent


def cache_dir() -> Path | None:
    """Where results are kept (``UNIONCAM_CACHE``, default ~/.cache/unioncam-lite); None when turned off."""
    setting = os.environ.get("UNIONCAM_CACHE", "")
    if setting.lower() in ("off", "0", "none"):
        return None
    return Path(setting) if setting else Path.home() / ".cache" / "unioncam-lite"


def _update(h, value) -> None:
    """Feed any argument into the hash: tensors by their bytes, containers element by element."""
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous()
        h.update(f"tensor{tuple(t.shape)}{t.dtype}{value.device.type}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(value, nn.Module):
        h.update(repr(value).encode())
        for name, t in (*value.named_parameters(), *value.named_buffers()):
            h.update(name.encode())
            _update(h, t)
    elif isinstance(value, (list, tuple)):
        h.update(f"{type(value).__name__}{len(value)}".encode())
        for v in value:
            _update(h, v)
    elif isinstance(value, dict):
        for k in sorted(value):
            h.update(repr(k).encode())
            _update(h, value[k])
    else:
        h.update(repr(value).encode())


def code_digest() -> str:
    """SHA-256 of this package's source files."""
    h = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        h.update(path.relative_to(PACKAGE_DIR).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def cache_key(fn, *args, **kwargs) -> str:
    h = hashlib.sha256()
    h.update(f"{fn.__module__}.{fn.__qualname__}".encode())
    h.update(code_digest().encode())
    _update(h, args)
    _update(h, kwargs)
    return h.hexdigest()


def cached(fn, *args, **kwargs):
    """``fn(*args, **kwargs)``, loaded from the disk cache when this exact call was made before.

    Tensors in the result are loaded onto the device of the first tensor argument.
    """
    folder = cache_dir()
    if folder is None:
        return fn(*args, **kwargs)
    path = folder / f"{fn.__name__}-{cache_key(fn, *args, **kwargs)[:32]}.pt"
    device = next((a.device for a in args if isinstance(a, torch.Tensor)), torch.device("cpu"))
    if path.is_file():
        try:
            return torch.load(path, map_location=device, weights_only=False)
        except Exception:  # a truncated or foreign file: compute again
            pass
    result = fn(*args, **kwargs)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, suffix=".tmp", delete=False) as tmp:
            torch.save(result, tmp)
        os.replace(tmp.name, path)
    except OSError:  # a read-only home: the result is still returned, just not kept
        pass
    return result


def clear_cache() -> int:
    """Delete every cached result; returns how many files were removed."""
    folder = cache_dir()
    if folder is None or not folder.is_dir():
        return 0
    files = list(folder.glob("*.pt"))
    for f in files:
        f.unlink(missing_ok=True)
    return len(files)
