"""Batched forward passes of masked images: the engine of Score-CAM, the region map and β.

A mask M (values in [0, 1]) multiplies the image in pixel space, M ⊙ I0, and the product is
normalised again for the model. All masked images of a chunk are written into one
preallocated channels_last buffer and forwarded as one batch under ``torch.inference_mode``;
nothing leaves the model's device and no per-score ``.item()`` is taken.

``fuse=True`` runs these passes through :func:`inference_model`, a copy of the model with each
batch norm folded into the convolution before it (exact algebra; results differ from the
unfused model by float rounding only, ~1e-6 relative, as a different batch size also does).
The copy is built per call from the current weights and never cached.
"""
from __future__ import annotations

import threading
import weakref
from contextlib import contextmanager, nullcontext

import torch
import torch.nn.functional as F
from torch import nn

from .capture import eval_mode
from .common import PixelSpace, normalize_maps, upsample

CPU_BATCH = 4
_batch_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _leaf_conv_tracer():
    """A ``torch.fx.Tracer`` that keeps every ``nn.Conv2d`` (subclasses too) a leaf module."""
    import torch.fx as fx

    class Tracer(fx.Tracer):
        def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
            return isinstance(m, nn.Conv2d) or super().is_leaf_module(m, qualname)

    return Tracer()


def _hooked(m: nn.Module) -> bool:
    return bool(m._forward_hooks or m._forward_pre_hooks or getattr(m, "_forward_hooks_with_kwargs", None))


def _static_padding(conv: nn.Module) -> nn.Module | None:
    """The zero pad of efficientnet_lite_pytorch's ``Conv2dStaticSamePadding``, or None for other convolutions.

    That class's ``forward`` is ``F.conv2d(self.static_padding(x), self.weight, self.bias, ...)``
    (checked by tests/test_speed_options.py against the unfolded model), so it folds like a
    plain convolution preceded by its pad.
    """
    cls = type(conv)
    if cls.__name__ == "Conv2dStaticSamePadding" and cls.__module__.startswith("efficientnet_lite_pytorch"):
        pad = conv.static_padding
        if isinstance(pad, nn.ZeroPad2d) or type(pad).__name__ == "Identity":
            return pad
    return None


def _foldable_conv(conv) -> bool:
    """Exactly ``nn.Conv2d`` (or the one verified subclass above), zero padding, no parametrization or hook."""
    from torch.nn.utils import parametrize

    return ((type(conv) is nn.Conv2d or _static_padding(conv) is not None) and conv.padding_mode == "zeros"
            and not parametrize.is_parametrized(conv) and not _hooked(conv))


def _foldable_bn(bn) -> bool:
    """Exactly ``nn.BatchNorm2d`` with running statistics (used in eval mode) and no hook."""
    return type(bn) is nn.BatchNorm2d and bn.running_mean is not None and not _hooked(bn)


def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Module:
    """A new plain ``nn.Conv2d`` computing bn(conv(x)) with running statistics.

    The arithmetic is torch's own, ``torch.nn.utils.fusion.fuse_conv_bn_weights``:
    w·s and (b − μ)·s + β with s = γ/√(σ²+ε). A symmetric TensorFlow-style zero pad
    (``static_padding``) moves into the convolution's own padding (same zeros, one copy less);
    an asymmetric one stays in front of it.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_weights

    weight, bias = fuse_conv_bn_weights(conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps,
                                        bn.weight, bn.bias)
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                      conv.dilation, conv.groups, bias=True, device="meta")  # no init: both tensors replaced
    fused.weight, fused.bias = weight.requires_grad_(False), bias.requires_grad_(False)
    pad = _static_padding(conv)
    if not isinstance(pad, nn.ZeroPad2d):
        return fused
    left, right, top, bottom = pad.padding
    if left == right and top == bottom and tuple(conv.padding) == (0, 0):
        fused.padding = (top, left)
        return fused
    return nn.Sequential(pad, fused)


def fold_batch_norms(model: nn.Module) -> nn.Module | None:
    """fx graph of ``model`` with each conv→BN pair folded into one convolution; None if nothing folds.

    Call it with ``model`` in eval mode (:func:`inference_model` does). A pair is folded only
    when the convolution is exactly ``nn.Conv2d`` (not a subclass that may transform its weight,
    except efficientnet_lite_pytorch's verified same-padding one), has no parametrization
    (weight/spectral norm) or hook, feeds only the batch norm, and the batch norm is exactly
    ``nn.BatchNorm2d`` with running statistics and no hook. Everything else runs unchanged.
    A ReLU/ReLU6 right after a folded convolution runs in place (its input has no other use).
    The graph shares every unfolded sub-module with ``model``; models fx cannot trace give None.
    """
    import torch.fx as fx

    try:
        graph = _leaf_conv_tracer().trace(model)
    except Exception:  # data-dependent control flow etc.: run the model itself
        return None
    gm = fx.GraphModule(model, graph)
    modules = dict(gm.named_modules())
    folded = set()
    for node in list(gm.graph.nodes):
        bn = modules.get(node.target) if node.op == "call_module" else None
        if not _foldable_bn(bn) or len(node.args) != 1 or node.kwargs:
            continue
        prev = node.args[0]
        conv = modules.get(prev.target) if isinstance(prev, fx.Node) and prev.op == "call_module" else None
        if conv is None or not _foldable_conv(conv) or len(prev.users) != 1 or prev.kwargs or len(prev.args) != 1:
            continue
        name = f"folded_{len(folded)}"
        gm.add_submodule(name, _fold(conv, bn))
        with gm.graph.inserting_after(prev):
            new = gm.graph.call_module(name, prev.args)
        node.replace_all_uses_with(new)
        gm.graph.erase_node(node)
        gm.graph.erase_node(prev)
        folded.add(new)
    if not folded:
        return None
    for node in gm.graph.nodes:
        act = modules.get(node.target) if node.op == "call_module" else None
        if (type(act) in (nn.ReLU, nn.ReLU6) and not act.inplace and node.args and node.args[0] in folded
                and len(node.args[0].users) == 1 and not _hooked(act)):
            node.op, node.kwargs = "call_function", {}
            node.target, node.args = ((F.relu_, (node.args[0],)) if type(act) is nn.ReLU
                                      else (F.hardtanh_, (node.args[0], 0.0, 6.0)))
    gm.graph.eliminate_dead_code()
    gm.graph.lint()
    gm.recompile()
    gm.delete_all_unused_submodules()
    return gm


_active = threading.local()   # the folded copies of the calls in progress (this thread)


@contextmanager
def inference_model(model: nn.Module, fuse: bool = True):
    """Context: ``model`` in eval mode, and the module to run masked passes with.

    That module is ``model`` itself, or (``fuse``) a BN-folded copy built on entry, from the
    weights as they are, and dropped on exit: nothing is cached across calls, so no copy can
    outlive a change to the weights. A nested ``inference_model`` of the same model (a CAM
    call's own sub-steps: region map, black image, β passes) reuses the copy of the outermost
    one instead of tracing again. Every sub-module's train/eval flag is restored on exit, also
    after an error. Forward hooks on the whole model, or on folded convolutions, batch norms and
    in-place activations, do not fire in the copy.
    """
    stack = _active.__dict__.setdefault("stack", [])
    outer = next((net for m, f, net in reversed(stack) if m is model and f == fuse), None)
    if outer is not None:
        yield outer
        return
    with eval_mode(model):
        net = (fold_batch_norms(model) if fuse else None) or model
        stack.append((model, fuse, net))
        try:
            yield net
        finally:
            stack.pop()


def auto_batch_size(model: nn.Module, x: torch.Tensor, max_memory: int | None = None) -> int:
    """Masked images per forward pass.

    CPU: 4 (measured on 2 cores with EfficientNet-Lite0, channels_last input: fastest per image
    at 4, ~20 % slower at 8-12; larger batches fall out of cache). CUDA: measured, not guessed:
    one probe pass of 8 images gives the peak memory per image, and the batch fills 80 % of
    ``min(free memory, max_memory)`` bytes, between 1 and 1024.
    """
    if x.device.type != "cuda":
        return CPU_BATCH
    key = (tuple(x.shape[1:]), x.dtype, x.device, max_memory)
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


def autocast_context(device: torch.device, dtype: torch.dtype | None):
    """``torch.autocast`` for the masked passes when ``dtype`` (bf16/fp16) is given, else a no-op.

    An approximation, off by default: scores are computed in reduced precision.
    """
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()


def class_scores(logits: torch.Tensor, class_idx: torch.Tensor, probs: bool) -> torch.Tensor:
    """Score of class c per row: the softmax probability (``probs``) or the logit."""
    scores = logits.float().softmax(dim=1) if probs else logits.float()
    return scores.gather(1, class_idx[:, None]).squeeze(1)


def masked_scores(model: nn.Module, x: torch.Tensor, masks: torch.Tensor, image_index: torch.Tensor,
                  class_idx: torch.Tensor, pixels: PixelSpace, *, probs: bool, normalize: bool = True,
                  batch_size: int | None = None, max_memory: int | None = None,
                  autocast: torch.dtype | None = None, fuse: bool = False) -> torch.Tensor:
    """f_c(M_j ⊙ I0[image_index[j]]) for every mask j, in batches; returns (M,) scores.

    ``masks`` (M, h, w) may be at feature resolution: each chunk is upsampled bilinearly to
    the input size and (if ``normalize``) min-max normalised just before use, so only one
    chunk of full-size masks exists at a time. ``autocast`` (bf16/fp16, an approximation) and
    ``fuse`` (BN folding, exact up to rounding) are off here; the CAM functions turn ``fuse`` on.
    """
    m = masks.shape[0]
    out = torch.empty(m, device=x.device, dtype=torch.float32)
    if m == 0:
        return out
    bs = batch_size or auto_batch_size(model, x, max_memory)
    size = x.shape[-2:]
    with torch.inference_mode(), inference_model(model, fuse) as net, autocast_context(x.device, autocast):
        images = pixels.to_pixels(x)
        # channels_last input: EfficientNet-Lite0 forwards in 11.6 instead of 16.1 ms/image on 2 CPU
        # cores at batch 4 (NHWC weights add nothing measurable, so the model is left untouched)
        buffer = torch.empty((min(bs, m), *x.shape[1:]), device=x.device, dtype=x.dtype).contiguous(
            memory_format=torch.channels_last)
        for start in range(0, m, bs):
            stop = min(start + bs, m)
            chunk = upsample(masks[start:stop].to(x.dtype), size)
            if normalize:
                chunk = normalize_maps(chunk)
            idx = image_index[start:stop]
            batch = torch.mul(chunk[:, None], images[idx], out=buffer[: stop - start])
            out[start:stop] = class_scores(net(pixels.to_model_(batch)), class_idx[idx], probs)
    return out


def black_scores(model: nn.Module, x: torch.Tensor, class_idx: torch.Tensor, pixels: PixelSpace,
                 *, probs: bool, fuse: bool = False) -> torch.Tensor:
    """f_c(I_b) for each image's class c, I_b the black image in pixel space; returns (N,)."""
    with torch.inference_mode(), inference_model(model, fuse) as net:
        logits = net(pixels.black(x))
    return class_scores(logits.expand(len(class_idx), -1), class_idx, probs)
