"""The configurations of ``speed_sweep.py``, in this order (each alone first, then together):

* ``default``: the library's defaults on CUDA (fp32 with PyTorch's default TF32 convolutions,
  ``cudnn.benchmark`` off, the automatic batch size, or ``--batch-size``) — what users get; exact;
* ``TF32 off``: ``torch.backends.cudnn.allow_tf32 = False`` — strict fp32, the reference of every
  configuration's error (no effect on the CPU);
* ``cudnn.benchmark``, ``channels_last weights`` (the model's 4-D weights in NHWC; the masked
  images already are), and both: exact (other kernels, the same function up to float rounding);
* ``bf16 autocast`` of the masked passes, ``+ bf16 masks`` (masks, image and products built on the
  device in bf16, no fp32 mask buffer: ``CamOptions.autocast_masks``), ``+ cudnn.benchmark +
  channels_last``: approximations;
* the fastest configuration so far at other batch sizes (``--batch-sizes``);
* ``torch.compile`` of the masked-pass model (``CamOptions.compile_mode``; ``reduce-overhead`` is
  CUDA graphs) on the fastest exact and the fastest overall configuration: exact up to float
  rounding itself; its warm-up time (the compilation) is reported, and a configuration that
  takes longer than ``--compile-limit`` seconds to compile is not eligible as a default.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


@contextlib.contextmanager
def settings(model: nn.Module, cudnn_benchmark: bool = False, channels_last: bool = False,
             tf32: bool | None = None) -> Iterator[None]:
    """The process-wide switches and the model's memory format for one configuration, restored after."""
    saved = torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.benchmark = cudnn_benchmark
    if tf32 is not None:
        torch.backends.cudnn.allow_tf32 = tf32
    if channels_last:
        model.to(memory_format=torch.channels_last)
    try:
        yield
    finally:
        if channels_last:
            model.to(memory_format=torch.contiguous_format)
        torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32 = saved


def config(name: str, exact: bool, cudnn_benchmark: bool = False, channels_last: bool = False,
           tf32: bool | None = None, **options) -> dict:
    return dict(name=name, exact=exact, switches=dict(cudnn_benchmark=cudnn_benchmark, channels_last=channels_last,
                                                      tf32=tf32), options=options)


def base_configs() -> list[dict]:
    bf16 = dict(autocast=torch.bfloat16)
    return [
        config("default (fp32, TF32 convolutions on CUDA)", True),
        config("TF32 off (strict fp32: the reference)", True, tf32=False),
        config("cudnn.benchmark", True, cudnn_benchmark=True),
        config("channels_last weights", True, channels_last=True),
        config("cudnn.benchmark + channels_last", True, cudnn_benchmark=True, channels_last=True),
        config("bf16 autocast (approx.)", False, **bf16),
        config("bf16 autocast + bf16 masks (approx.)", False, autocast_masks=True, **bf16),
        config("bf16 autocast + bf16 masks + cudnn.benchmark + channels_last (approx.)", False,
               cudnn_benchmark=True, channels_last=True, autocast_masks=True, **bf16),
    ]


def variant(base: dict, suffix: str, **options) -> dict:
    name = base["name"].replace(" (approx.)", "")
    return dict(base, name=f"{name} + {suffix}{'' if base['exact'] else ' (approx.)'}",
                options={**base["options"], **options})


def precision(cfg: dict, device: torch.device) -> str:
    if cfg["options"].get("autocast") is not None:
        return "bf16"
    tf32 = cfg["switches"]["tf32"]
    return "tf32" if device.type == "cuda" and (torch.backends.cudnn.allow_tf32 if tf32 is None else tf32) else "fp32"
