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
  convolutions (:mod:`.fold`);
* ``compile_mode``: the masked passes run through ``torch.compile`` of that module, in this
  ``torch.compile`` mode (``"default"``, ``"reduce-overhead"``: CUDA graphs, ``"max-autotune"``,
  ``"max-autotune-no-cudagraphs"``), or ``"eager"``: TorchDynamo's capture with no code generation
  (no speed-up; for tests and the CPU rehearsal of ``make gpu-check``). The same function up to
  float rounding (fused kernels sum in another order); the first call of each batch shape compiles
  (seconds to minutes), and a BN-folded copy, new at every call, compiles again at every call.

Approximations, off by default and named as such wherever they are reported:

* ``top_k``: only the k channels of largest activation variance (Faster Score-CAM);
* ``autocast``: ``torch.bfloat16`` / ``torch.float16`` masked passes;
* ``autocast_masks`` (with ``autocast`` only): the masks, the image and their products are built
  in the autocast dtype on the device (no fp32 mask buffer), so each is rounded before the
  product, not only the product.

Not a speed option but a definition: ``region_weights``, how the region map weights its channels
(:func:`.score.channel_weights`): ``"paper"``, w_k = f_c(M_k ⊙ I0) (UnionCAM §3.2, the original
Score-CAM code; UnionCAM's default) or ``"softmax"``, softmax_k of the logit gains (Score-CAM's
paper, torch-cam and pytorch-grad-cam; ``scorecam``'s default). ``None``: the method's own default.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypedDict

import torch

if TYPE_CHECKING:
    from typing_extensions import Unpack

AUTOCAST_DTYPES = (torch.bfloat16, torch.float16)
#: ``torch.compile`` modes for ``compile_mode``, and "eager" (TorchDynamo's capture, no code generation)
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs", "eager")
#: How a region map weights its channels: the paper's f_c(M_k ⊙ I0), or Score-CAM's softmax of logit gains.
RegionWeights = Literal["paper", "softmax"]
REGION_WEIGHTS: tuple[RegionWeights, ...] = ("paper", "softmax")


class OptionFields(TypedDict, total=False):
    """The fields of :class:`CamOptions`, for typed ``**overrides``."""

    batch_size: int | None
    max_memory: int | None
    skip: bool
    top_k: int | None
    autocast: torch.dtype | None
    fuse: bool
    region_weights: RegionWeights | None
    autocast_masks: bool
    compile_mode: str | None


@dataclass(frozen=True)
class CamOptions:
    """Options of the masked passes (Score-CAM, the region map L_reg, the β of Eq. 4-7).

    ``batch_size``, ``max_memory``, ``skip``, ``fuse`` and ``compile_mode`` are exact; ``top_k``,
    ``autocast`` and ``autocast_masks`` are approximations, off by default; ``region_weights``
    chooses the region map's channel weights (``None``: the method's default; see the module docstring).
    """

    batch_size: int | None = None
    max_memory: int | None = None
    skip: bool = True
    top_k: int | None = None
    autocast: torch.dtype | None = None
    fuse: bool = True
    region_weights: RegionWeights | None = None
    autocast_masks: bool = False
    compile_mode: str | None = None

    def __post_init__(self) -> None:
        for name in ("batch_size", "max_memory", "top_k"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name}={value!r}: give a positive integer, or None for the default")
        if self.autocast is not None and self.autocast not in AUTOCAST_DTYPES:
            raise ValueError(f"autocast={self.autocast!r}: give torch.bfloat16, torch.float16 or None (full precision)")
        if self.region_weights is not None and self.region_weights not in REGION_WEIGHTS:
            raise ValueError(f"region_weights={self.region_weights!r}: give 'paper' (w_k = f_c(M_k ⊙ I0), UnionCAM's "
                             "default), 'softmax' (Score-CAM's softmax of logit gains, scorecam's default) or None")
        if self.autocast_masks and self.autocast is None:
            raise ValueError("autocast_masks=True builds the masks in the autocast dtype: give autocast=torch.bfloat16 "
                             "or torch.float16 as well")
        if self.compile_mode is not None and self.compile_mode not in COMPILE_MODES:
            raise ValueError(f"compile_mode={self.compile_mode!r}: give one of {', '.join(COMPILE_MODES)}, or None "
                             "(no torch.compile)")

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
