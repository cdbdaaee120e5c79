"""Capture a layer's activations A and the gradients W = ∂y_c/∂A (the input of every CAM).

Choices, documented because peers differ:

* The model runs in **eval mode** during the capture (dropout off, batch-norm on running
  statistics, so images in a batch do not influence each other), and every sub-module's own
  ``training`` flag is restored afterwards, also after an error. torch-cam does the same for
  its score passes.
* The hook is a forward hook on the module; the gradient is taken with
  ``torch.autograd.grad`` on the hooked output, so no ``.grad`` is left on the parameters.
  The hook is removed in a ``finally`` block.
* ``y_c`` is the pre-softmax logit of class c, as in Grad-CAM.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from ..models import resolve_layer
from .common import ClassIdx, check_input, resolve_class_idx


@dataclass
class Capture:
    """What one forward/backward pass tells us about a layer, for N images.

    activations, gradients: (N, K, h, w); logits: (N, C); class_idx: (N,) long.
    ``gradients`` is ``None`` for a capture made without a backward pass.
    """

    activations: torch.Tensor
    gradients: torch.Tensor | None
    logits: torch.Tensor
    class_idx: torch.Tensor


@contextmanager
def eval_mode(model: nn.Module):
    """Put ``model`` in eval mode and restore each sub-module's train/eval flag on exit."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, was_training in flags:
            module.training = was_training


@contextmanager
def layer_output(layer: nn.Module):
    """Forward hook that stores the layer's output in ``store["A"]``; removed on exit."""
    store: dict[str, torch.Tensor] = {}

    def hook(_module, _inputs, output):
        if not isinstance(output, torch.Tensor) or output.ndim != 4:
            shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
            raise ValueError(f"target layer output is {shape}, not a (N, K, h, w) feature map: "
                             "choose a convolutional layer (or its activation) as the target")
        store["A"] = output

    handle = layer.register_forward_hook(hook)
    try:
        yield store
    finally:
        handle.remove()


def capture(model: nn.Module, x: torch.Tensor, layer: nn.Module | str, class_idx: ClassIdx = None,
            gradients: bool = True) -> Capture:
    """Run ``model`` on ``x``; return A, W = ∂y_c/∂A (if ``gradients``), logits and classes.

    ``class_idx``: None (each image's predicted class), an int, or one int per image.
    """
    check_input(x)
    module = resolve_layer(model, layer)
    with eval_mode(model), layer_output(module) as store:
        if not gradients:
            with torch.no_grad():  # plain tensors (not inference tensors) for the caller to reuse
                logits = model(x)
            idx = resolve_class_idx(class_idx, logits)
            return Capture(store["A"], None, logits, idx)
        with torch.inference_mode(False), torch.enable_grad():
            xg = x.detach().clone().requires_grad_(True)  # guarantees a graph even for frozen models
            logits = model(xg)
            if logits.ndim != 2:
                raise ValueError(f"model output has shape {tuple(logits.shape)}; expected class scores (N, C)")
            idx = resolve_class_idx(class_idx, logits)
            acts = store["A"]
            score = logits.gather(1, idx[:, None]).sum()  # images are independent in eval mode
            (grads,) = torch.autograd.grad(score, acts)
    return Capture(acts.detach(), grads.detach(), logits.detach(), idx)
