"""Has this model changed? One module answers it for every cache of the package.

* :func:`model_fingerprint` (cheap, statistical): UnionCAM's θ-free cache and the explorer's
  caches compare it at every call;
* :func:`model_structure` (no weight read): the automatic CUDA batch size, which depends on the
  architecture and not on the weights' values;
* :func:`digest_update` (exact, byte for byte): the key of the course's disk cache
  (:mod:`unioncam_lite.course.cache`), where a false hit would outlive the session.

The cost of reading the weights is measured in benchmarks/RESULTS.md.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn


def model_structure(model: nn.Module, tensors: list[torch.Tensor] | None = None) -> tuple:
    """The model's structure and hyper-parameters (``repr``) and each parameter's and buffer's shape,
    dtype and device: what changes when layers are replaced or moved, without reading a weight.
    ``tensors``: the model's parameters and buffers when the caller has them already."""
    if tensors is None:
        tensors = [*model.parameters(), *model.buffers()]
    layout = tuple((tuple(t.shape), str(t.dtype), str(t.device)) for t in tensors)
    return repr(model), layout


def model_fingerprint(model: nn.Module) -> tuple:
    """What the θ-free cache must see change: the model's structure and hyper-parameters
    (``repr``, e.g. a batch norm's ``eps``) and per parameter or buffer its shape, dtype, device,
    norm and per-row sums (float64). (Train/eval flags do not matter: every pass runs in eval mode.)

    Reads every weight once (cost: benchmarks/RESULTS.md), so changes made through any path are
    seen, ``p.data.copy_(...)`` included, which a ``_version`` counter misses. A change that keeps
    each tensor's norm and every row's sum (values permuted within one row) is not seen: call
    :meth:`UnionCAM.clear` after such an edit. Inside a :func:`weights_held` block the weights are
    read only the first time.
    """
    held = getattr(_held, "models", {})
    if held.get(id(model)) is not None:
        return held[id(model)]
    fingerprint = weight_statistics(model)
    if id(model) in held:
        held[id(model)] = fingerprint
    return fingerprint


def weight_statistics(model: nn.Module) -> tuple:
    """The value of :func:`model_fingerprint`, computed from the weights."""
    tensors = [t.detach() for t in (*model.parameters(), *model.buffers())]
    stats = []
    with torch.no_grad():
        for t in tensors:
            if t.numel() == 0:
                continue
            if not t.is_floating_point():   # integer buffers, e.g. num_batches_tracked
                t = t.double()
            rows = t.reshape(t.shape[0], -1) if t.ndim > 1 else t.reshape(1, -1)
            stats.append(rows.sum(1, dtype=torch.float64).cpu())
            stats.append(torch.linalg.vector_norm(t, dtype=torch.float64).reshape(1).cpu())
    values = torch.cat(stats).numpy().tobytes() if stats else b""
    return (*model_structure(model, tensors), hash(values))


_held = threading.local()   # models in a weights_held block of this thread: id -> fingerprint (None: not read yet)


@contextmanager
def weights_held(model: nn.Module) -> Iterator[nn.Module]:
    """A block in which the caller does not change ``model``'s weights, so :func:`model_fingerprint`
    reads them once and then returns that value (the explorer holds one around each call, in which
    its own caches and each UnionCAM's check the model several times). Nested blocks share it."""
    held = _held.__dict__.setdefault("models", {})
    if id(model) in held:
        yield model
        return
    held[id(model)] = None
    try:
        yield model
    finally:
        del held[id(model)]


def digest_update(h: Any, value: object) -> None:
    """Feed any value into a ``hashlib`` hash, exactly: tensors by their bytes (with shape, dtype and
    device type), a module by its ``repr`` and every named parameter and buffer, containers element
    by element, anything else by its ``repr``."""
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous()
        h.update(f"tensor{tuple(t.shape)}{t.dtype}{value.device.type}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(value, nn.Module):
        h.update(repr(value).encode())
        for name, t in (*value.named_parameters(), *value.named_buffers()):
            h.update(name.encode())
            digest_update(h, t)
    elif isinstance(value, (list, tuple)):
        h.update(f"{type(value).__name__}{len(value)}".encode())
        for v in value:
            digest_update(h, v)
    elif isinstance(value, dict):
        for k in sorted(value):
            h.update(repr(k).encode())
            digest_update(h, value[k])
    else:
        h.update(repr(value).encode())
