"""Batched forward passes of masked images: the engine of Score-CAM, the region map and β.

A mask M (values in [0, 1]) multiplies the image in pixel space, M ⊙ I0, and the product is
normalised again for the model. All masked images of a chunk are written into one
preallocated channels_last buffer and forwarded as one batch under ``torch.inference_mode``;
nothing leaves the model's device and no per-score ``.item()`` is taken.

``fuse=True`` runs these passes through :func:`inference_model`, a copy of the model with each
batch norm folded into the convolution before it (exact algebra; results differ from the
unfused model by float rounding only, ~1e-6 relative, as a different batch size also does).
"""
from __future__ import annotations

import copy
import weakref
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import nn

from .capture import eval_mode
from .common import PixelSpace, normalize_maps, upsample

CPU_BATCH = 4
_batch_cache: dict[tuple, int] = {}
_inference_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _leaf_conv_tracer():
    """A ``torch.fx.Tracer`` that keeps every ``nn.Conv2d`` (subclasses too) a leaf module."""
    import torch.fx as fx

    class Tracer(fx.Tracer):
        def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
            return isinstance(m, nn.Conv2d) or super().is_leaf_module(m, qualname)

    return Tracer()


def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A copy of ``conv`` computing bn(conv(x)) with running statistics: w·s, (b − μ)·s + β, s = γ/√(σ²+ε).

    A TensorFlow-style symmetric zero pad done by a separate module (``static_padding``, as in
    efficientnet_lite_pytorch) moves into the convolution's own padding: same zeros, one copy less.
    """
    fused = copy.deepcopy(conv)
    with torch.no_grad():
        gamma = bn.weight if bn.weight is not None else torch.ones_like(bn.running_var)
        beta = bn.bias if bn.bias is not None else torch.zeros_like(bn.running_var)
        scale = gamma / torch.sqrt(bn.running_var + bn.eps)
        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        shape = (-1,) + (1,) * (conv.weight.ndim - 1)
        fused.weight = nn.Parameter(conv.weight * scale.view(shape), requires_grad=False)
        fused.bias = nn.Parameter((bias - bn.running_mean) * scale + beta, requires_grad=False)
    pad = getattr(fused, "static_padding", None)
    if (isinstance(pad, nn.ZeroPad2d) and fused.padding_mode == "zeros" and tuple(fused.padding) == (0, 0)
            and pad.padding[0] == pad.padding[1] and pad.padding[2] == pad.padding[3]):
        fused.static_padding = nn.Identity()
        fused.padding = (pad.padding[2], pad.padding[0])
    return fused


def _fold_batch_norms(model: nn.Module) -> nn.Module | None:
    """fx graph of ``model`` (traced in eval mode) with conv→BN pairs folded; None if nothing to fold.

    A pair is folded when the convolution's output feeds only the batch norm and the batch norm
    has running statistics. A ReLU/ReLU6 right after a folded convolution runs in place (its
    input has no other use). Models that fx cannot trace are left as they are (None).
    """
    import torch.fx as fx

    try:
        with eval_mode(model):
            graph = _leaf_conv_tracer().trace(model)
    except Exception:  # data-dependent control flow etc.: run the model itself
        return None
    gm = fx.GraphModule(model, graph)
    modules = dict(gm.named_modules())
    folded = set()
    for node in list(gm.graph.nodes):
        bn = modules.get(node.target) if node.op == "call_module" else None
        if not isinstance(bn, nn.BatchNorm2d) or bn.running_mean is None or len(node.args) != 1:
            continue
        prev = node.args[0]
        conv = modules.get(prev.target) if isinstance(prev, fx.Node) and prev.op == "call_module" else None
        if not isinstance(conv, nn.Conv2d) or len(prev.users) != 1 or prev.kwargs:
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
                and len(node.args[0].users) == 1 and not act._forward_hooks and not act._forward_pre_hooks):
            node.op, node.kwargs = "call_function", {}
            node.target, node.args = ((F.relu_, (node.args[0],)) if type(act) is nn.ReLU
                                      else (F.hardtanh_, (node.args[0], 0.0, 6.0)))
    gm.graph.eliminate_dead_code()
    gm.graph.lint()
    gm.recompile()
    gm.delete_all_unused_submodules()
    return gm.eval()


def inference_model(model: nn.Module, fuse: bool = True) -> nn.Module:
    """The module that runs the masked passes: ``model`` itself, or (``fuse``) its BN-folded copy.

    The copy shares every unchanged sub-module with ``model`` and is rebuilt when any parameter
    or buffer of ``model`` changes (moved, replaced or updated in place). Forward hooks on the
    whole model, or on folded convolutions, batch norms and in-place activations, do not fire
    in it. For eval-mode inference only (running statistics), which is how the passes run.
    """
    if not fuse:
        return model
    state = tuple((t.data_ptr(), t._version) for t in (*model.parameters(), *model.buffers()))
    hit = _inference_cache.get(model)
    if hit is None or hit[0] != state:
        hit = (state, _fold_batch_norms(model))
        _inference_cache[model] = hit
    return hit[1] if hit[1] is not None else model


def auto_batch_size(model: nn.Module, x: torch.Tensor, max_memory: int | None = None) -> int:
    """Masked images per forward pass.

    CPU: 4 (measured on 2 cores with EfficientNet-Lite0, channels_last input: fastest per image
    at 4, ~20 % slower at 8-12; larger batches fall out of cache). CUDA: measured, not guessed:
    one probe pass of 8 images gives the peak memory per image, and the batch fills 80 % of
    ``min(free memory, max_memory)`` bytes, between 1 and 1024.
    """
    if x.device.type != "cuda":
        return CPU_BATCH
    key = (id(model), tuple(x.shape[1:]), x.dtype, max_memory)
    if key not in _batch_cache:
        probe = x[:1].expand(8, *x.shape[1:]).contiguous()
        torch.cuda.synchronize(x.device)
        base = torch.cuda.memory_allocated(x.device)
        torch.cuda.reset_peak_memory_stats(x.device)
        with torch.inference_mode(), eval_mode(model):
            model(probe)
        per_image = max(1, (torch.cuda.max_memory_allocated(x.device) - base) // 8)
        free, _ = torch.cuda.mem_get_info(x.device)
        budget = min(free, max_memory) if max_memory else free
        _batch_cache[key] = int(max(1, min(1024, 0.8 * budget // per_image)))
    return _batch_cache[key]


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
    net = inference_model(model, fuse)
    with torch.inference_mode(), eval_mode(model), eval_mode(net), autocast_context(x.device, autocast):
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
    net = inference_model(model, fuse)
    with torch.inference_mode(), eval_mode(model), eval_mode(net):
        logits = net(pixels.black(x))
    return class_scores(logits.expand(len(class_idx), -1), class_idx, probs)
