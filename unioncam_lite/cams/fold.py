"""Batch norms folded into the convolutions before them, for the masked forward passes.

:func:`inference_model` gives the module that Score-CAM, the region map and every β run their
masked passes through: the model itself, or (``fuse``) an fx copy with each conv→BN pair
folded into one convolution — exact algebra, results differ by float rounding only (~1e-6
relative, as a different batch size also does). The copy is built per call from the current
weights and never cached, so no copy can outlive a change to the weights.

Why not ``torch.fx.experimental.optimization.fuse``, which does the same folding? It deep-copies
the whole model first (VGG16: 528 MB more per call; here only the folded convolutions are new
tensors, every other sub-module is shared), it folds only exact ``nn.Conv2d`` and so leaves
efficientnet_lite_pytorch's ``Conv2dStaticSamePadding`` unfused, and it does not guard against
weight parametrizations or hooks on the modules it replaces. The arithmetic is torch's own
(``torch.nn.utils.fusion.fuse_conv_bn_weights``).
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeGuard, cast

import torch
import torch.nn.functional as F
from torch import nn

from .layers import eval_mode


def _leaf_conv_tracer() -> torch.fx.Tracer:
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
    (checked by tests/cams/test_options_and_speed.py against the unfolded model), so it folds like a
    plain convolution preceded by its pad.
    """
    cls = type(conv)
    if cls.__name__ == "Conv2dStaticSamePadding" and cls.__module__.startswith("efficientnet_lite_pytorch"):
        pad = conv.static_padding
        if isinstance(pad, nn.Module) and (isinstance(pad, nn.ZeroPad2d) or type(pad).__name__ == "Identity"):
            return pad
    return None


def _foldable_conv(conv: object) -> TypeGuard[nn.Conv2d]:
    """Exactly ``nn.Conv2d`` (or the one verified subclass above), zero padding, no parametrization or hook."""
    from torch.nn.utils import parametrize

    return (isinstance(conv, nn.Conv2d) and (type(conv) is nn.Conv2d or _static_padding(conv) is not None)
            and conv.padding_mode == "zeros"
            and not parametrize.is_parametrized(conv) and not _hooked(conv))


def _foldable_bn(bn: object) -> TypeGuard[nn.BatchNorm2d]:
    """Exactly ``nn.BatchNorm2d`` with running statistics (used in eval mode) and no hook."""
    return (isinstance(bn, nn.BatchNorm2d) and type(bn) is nn.BatchNorm2d and bn.running_mean is not None
            and bn.running_var is not None and not _hooked(bn))


def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Module:
    """A new plain ``nn.Conv2d`` computing bn(conv(x)) with running statistics.

    The arithmetic is torch's own, ``torch.nn.utils.fusion.fuse_conv_bn_weights``:
    w·s and (b − μ)·s + β with s = γ/√(σ²+ε). A symmetric TensorFlow-style zero pad
    (``static_padding``) moves into the convolution's own padding (same zeros, one copy less);
    an asymmetric one stays in front of it.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_weights

    mean, var = cast(torch.Tensor, bn.running_mean), cast(torch.Tensor, bn.running_var)  # _foldable_bn: not None
    weight, bias = fuse_conv_bn_weights(conv.weight, conv.bias, mean, var, bn.eps, bn.weight, bn.bias)
    pair = tuple[int, int]
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, cast(pair, conv.kernel_size), cast(pair, conv.stride),
                      cast(pair, conv.padding), cast(pair, conv.dilation), conv.groups, bias=True,
                      device="meta")  # no init: both tensors replaced
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
    folded: set[fx.Node] = set()
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
        if (isinstance(act, (nn.ReLU, nn.ReLU6)) and type(act) in (nn.ReLU, nn.ReLU6) and not act.inplace
                and node.args and node.args[0] in folded
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
def inference_model(model: nn.Module, fuse: bool = True) -> Iterator[nn.Module]:
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
