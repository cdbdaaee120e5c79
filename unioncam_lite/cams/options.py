"""How the masked forward passes run: one frozen options object, passed down from the public
functions (``scorecam``, ``region_cam``, ``union_cam``, ``UnionCAM``) to the engine in :mod:`.masked`.

The public functions take ``options=CamOptions(...)`` and/or the same fields as keywords
(``union_cam(..., top_k=256)``); a keyword overrides the field of ``options``.

Exact (the map is the one of the paper, up to float rounding):

* ``batch_size``: masked images per forward pass; ``None`` chooses (CPU: 4; CUDA: measured
  from the free memory, see :func:`.masked.auto_batch_size`);
* ``max_memory``: bytes that cap the automatic CUDA batch;
* ``skip``: constant channels are scored as the black image and duplicate masks once;
* ``fuse``: the masked passes run through a copy of the model with batch norms folded into the
  convolutions (:mod:`.fold`).

Approximations, off by default and named as such wherever they are reported:

* ``top_k``: only the k channels of largest activation variance (Faster Score-CAM);
* ``autocast``: ``torch.bfloat16`` / ``torch.float16`` masked passes.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

import torch

if TYPE_CHECKING:
    from typing_extensions import Unpack

AUTOCAST_DTYPES = (torch.bfloat16, torch.float16)


class OptionFields(TypedDict, total=False):
    """The fields of :class:`CamOptions`, for typed ``**overrides``."""

    batch_size: int | None
    max_memory: int | None
    skip: bool
    top_k: int | None
    autocast: torch.dtype | None
    fuse: bool


@dataclass(frozen=True)
class CamOptions:
    """Options of the masked passes (Score-CAM, the region map L_reg, the β of Eq. 4-7).

    ``batch_size``, ``max_memory``, ``skip`` and ``fuse`` are exact; ``top_k`` and ``autocast``
    are approximations, off by default (see the module docstring).
    """

    batch_size: int | None = None
    max_memory: int | None = None
    skip: bool = True
    top_k: int | None = None
    autocast: torch.dtype | None = None
    fuse: bool = True

    def __post_init__(self) -> None:
        for name in ("batch_size", "max_memory", "top_k"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name}={value!r}: give a positive integer, or None for the default")
        if self.autocast is not None and self.autocast not in AUTOCAST_DTYPES:
            raise ValueError(f"autocast={self.autocast!r}: give torch.bfloat16, torch.float16 or None (full precision)")

    @property
    def exact(self) -> bool:
        """True when no approximation (``top_k``, ``autocast``) is switched on."""
        return self.top_k is None and self.autocast is None

    def replace(self, **changes: Unpack[OptionFields]) -> CamOptions:
        """A copy with some fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)


FIELDS = tuple(f.name for f in dataclasses.fields(CamOptions))


def resolve_options(options: CamOptions | None = None, **overrides: Unpack[OptionFields]) -> CamOptions:
    """``options`` (default: ``CamOptions()``) with the keyword ``overrides`` applied."""
    unknown = sorted(set(overrides) - set(FIELDS))
    if unknown:
        raise TypeError(f"unknown option {unknown[0]!r}: the options are {', '.join(FIELDS)}")
    if options is not None and not isinstance(options, CamOptions):
        raise TypeError(f"options must be a CamOptions, not {type(options).__name__}")
    base = options or CamOptions()
    return base.replace(**overrides) if overrides else base
