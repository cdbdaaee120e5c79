"""Batched forward passes of masked images: the engine of Score-CAM, the region map and β.

A mask M (values in [0, 1]) multiplies the image in pixel space, M ⊙ I0, and the product is
normalised again for the model. All masked images of a chunk are written into one
preallocated channels_last buffer and forwarded as one batch under ``torch.inference_mode``;
nothing leaves the model's device and no per-score ``.item()`` is taken. How the passes run
(batch size, BN folding, the approximations) is one :class:`.options.CamOptions`.

Progress: ``masked_scores(..., progress=f)`` calls ``f(done, total)`` with the masked images scored
so far, first ``(0, total)``, then after every batch. Code that calls the library's CAM functions
(which do not pass one) reports the same with ``with reporting_progress(f): ...`` around the call:
every ``masked_scores`` call inside that block, in that thread, reports to ``f`` (a Score-CAM or
region map is one call, each β another). An exception raised by ``f`` stops the passes and
propagates: that is how an app cancels a computation nobody waits for any more.
"""
from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from typing import Any

import torch
from torch import nn

from .common import PixelSpace, normalize_maps, upsample
from .fingerprint import model_structure
from .fold import inference_model
from .layers import eval_mode
from .options import CamOptions
from .targets import ClassLogit, ClassProbability, ClassTarget, Target, check_target, target_rows

CPU_BATCH = 4
#: The masked passes through the model itself: no folding, no approximation.
PLAIN = CamOptions(fuse=False)
_batch_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

#: ``progress(done, total)``: masked images scored so far and in all, in one :func:`masked_scores` call.
Progress = Callable[[int, int], None]
_progress: ContextVar[Progress | None] = ContextVar("unioncam_lite_masked_progress", default=None)


@contextmanager
def reporting_progress(progress: Progress | None) -> Iterator[None]:
    """Within the block, in this thread (a context variable), every :func:`masked_scores` call that
    is given no ``progress`` of its own reports to ``progress``; ``None`` reports nothing."""
    token = _progress.set(progress)
    try:
        yield
    finally:
        _progress.reset(token)


def auto_batch_size(model: nn.Module, x: torch.Tensor, max_memory: int | None = None) -> int:
    """Masked images per forward pass.

    CPU: 4, the fastest per image in the CPU benchmark (benchmarks/RESULTS.md §2: larger batches
    fall out of cache). CUDA: measured, not guessed:
    one probe pass of 8 images gives the peak memory per image, and the batch fills 80 % of
    ``min(free memory, max_memory)`` bytes, between 1 and 1024.
    """
    if x.device.type != "cuda":
        return CPU_BATCH
    key = (model_structure(model), tuple(x.shape[1:]), x.dtype, x.device, max_memory)
    sizes = _batch_cache.setdefault(model, {})
    if key not in sizes:
        probe = x[:1].expand(8, *x.shape[1:]).contiguous()
        torch.cuda.synchronize(x.device)
        base = torch.cuda.memory_allocated(x.device)
        torch.cuda.reset_peak_memory_stats(x.device)
        with torch.inference_mode(), eval_mode(model):
            model(probe)
        per_image = max(1, (torch.cuda.max_memory_allocated(x.device) - base) // 8)
        free, _ = torch.cuda.mem_get_info(x.device)
        budget = min(free, max_memory) if max_memory else free
        sizes[key] = int(max(1, min(1024, 0.8 * budget // per_image)))
    return sizes[key]


def autocast_context(device: torch.device, dtype: torch.dtype | None) -> AbstractContextManager:
    """``torch.autocast`` for the masked passes when ``dtype`` (bf16/fp16) is given, else a no-op.

    An approximation, off by default: scores are computed in reduced precision.
    """
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()


def compiled(net: nn.Module, mode: str | None) -> Callable[..., Any]:
    """``net`` through ``torch.compile`` in ``mode`` (:data:`.options.COMPILE_MODES`; "eager": capture
    only, no code generation), or ``net`` itself for ``None``. Not cached here: TorchDynamo's own
    cache reuses the compiled code of a module's ``forward`` while its guards hold."""
    if mode is None:
        return net
    if mode == "eager":
        return torch.compile(net, backend="eager")
    return torch.compile(net, mode=mode)


def class_scores(logits: torch.Tensor, class_idx: torch.Tensor, probs: bool) -> torch.Tensor:
    """Score of class c per row: the softmax probability (``probs``) or the logit."""
    scores = logits.float().softmax(dim=1) if probs else logits.float()
    return scores.gather(1, class_idx[:, None]).squeeze(1)


def as_target(class_idx_or_target: torch.Tensor | Target, probs: bool) -> Target:
    """A target: given, or the logit (``probs`` False) / the probability of each image's class."""
    if isinstance(class_idx_or_target, torch.Tensor):
        return ClassProbability(class_idx_or_target) if probs else ClassLogit(class_idx_or_target)
    check_target(class_idx_or_target)
    return class_idx_or_target


def masked_scores(model: nn.Module, x: torch.Tensor, masks: torch.Tensor, image_index: torch.Tensor,
                  class_idx: torch.Tensor | Target, pixels: PixelSpace, *, probs: bool = False,
                  normalize: bool = True, options: CamOptions = PLAIN, progress: Progress | None = None
                  ) -> torch.Tensor:
    """f_c(M_j ⊙ I0[image_index[j]]) for every mask j, in batches; returns (M,) scores.

    f_c: a target (:mod:`.targets`), or with a class per image its logit or (``probs``) probability.

    ``masks`` (M, h, w) may be at feature resolution: each chunk is upsampled bilinearly to
    the input size and (if ``normalize``) min-max normalised just before use, so only one
    chunk of full-size masks exists at a time. ``options``: batch size, BN folding and the
    approximations (:class:`.options.CamOptions`); the default here is the plain model
    (``PLAIN``, no folding), the CAM functions pass theirs (folding on). ``progress(done, total)``
    is called with (0, M) and after every batch (default: the one of :func:`reporting_progress`).
    """
    target = as_target(class_idx, probs)
    m = masks.shape[0]
    out = torch.empty(m, device=x.device, dtype=torch.float32)
    if m == 0:
        return out
    report = progress if progress is not None else _progress.get()
    if report is not None:
        report(0, m)
    bs = options.batch_size or auto_batch_size(model, x, options.max_memory)
    size = x.shape[-2:]
    # autocast_masks: masks, image and products in the autocast dtype (an approximation, see .options)
    dtype = options.autocast if options.autocast_masks and options.autocast is not None else x.dtype
    with torch.inference_mode(), inference_model(model, options.fuse) as folded, \
            autocast_context(x.device, options.autocast):
        net = compiled(folded, options.compile_mode)
        images = pixels.to_pixels(x).to(dtype)
        # channels_last input: faster per image on CPU (benchmarks/RESULTS.md §2); NHWC weights add
        # nothing measurable, so the model is left untouched
        buffer = torch.empty((min(bs, m), *x.shape[1:]), device=x.device, dtype=dtype).contiguous(
            memory_format=torch.channels_last)
        for start in range(0, m, bs):
            stop = min(start + bs, m)
            chunk = upsample(masks[start:stop].to(dtype), size)
            if normalize:
                chunk = normalize_maps(chunk)
            idx = image_index[start:stop]
            batch = torch.mul(chunk[:, None], images[idx], out=buffer[: stop - start])
            out[start:stop] = target_rows(target, idx)(net(pixels.to_model_(batch))).float()
            if report is not None:
                report(stop, m)
    return out


def _expand(output: object, n: int) -> object | None:
    """A batch-of-one output repeated to n rows (tensors, tuples, lists, dicts), or None for other objects."""
    if isinstance(output, torch.Tensor):
        return output.expand(n, *output.shape[1:])
    if isinstance(output, (tuple, list)):
        items = [_expand(v, n) if isinstance(v, torch.Tensor) else v for v in output]
        return type(output)(items) if type(output) in (tuple, list) else tuple(items)
    if isinstance(output, dict):
        return {k: _expand(v, n) if isinstance(v, torch.Tensor) else v for k, v in output.items()}
    return None


def black_scores(model: nn.Module, x: torch.Tensor, class_idx: torch.Tensor | Target, pixels: PixelSpace,
                 *, probs: bool = False, fuse: bool = False) -> torch.Tensor:
    """f_c(I_b) for each image, I_b the black image in pixel space; returns (N,). f_c as in :func:`masked_scores`."""
    target, n = as_target(class_idx, probs), x.shape[0]
    black = pixels.black(x)
    with torch.inference_mode(), inference_model(model, fuse) as net:
        output = net(black)
        expanded = _expand(output, n) if isinstance(target, ClassTarget) else output
        if expanded is None:                           # an output object we cannot repeat: forward n copies
            expanded = net(black.expand(n, *black.shape[1:]))
    if not isinstance(target, ClassTarget):            # a plain callable scores every row the same way
        return target(output).float().expand(n)
    return target.rows(torch.arange(n, device=x.device))(expanded).float()
