"""Capture a layer's activations A and the gradients W = ∂y_c/∂A (the input of every CAM).

Choices, documented because peers differ:

* The model runs in **eval mode** during the capture (dropout off, batch-norm on running
  statistics, so images in a batch do not influence each other), and every sub-module's own
  ``training`` flag is restored afterwards, also after an error. torch-cam does the same for
  its score passes.
* The hook is a forward hook on the module; the gradient is taken with
  ``torch.autograd.grad`` on the hooked output, so no ``.grad`` is left on the parameters.
  The hook is removed in a ``finally`` block.
* The hook keeps the layer's output and hands a copy on to the rest of the network, so an
  in-place operation after the layer (``ReLU(inplace=True)``, as in torchvision's VGG) changes
  the copy, not the activations and gradients captured: they are the layer's own.
* The layer must run exactly once per forward pass (a module reused twice would make "its"
  activation ambiguous); a model must return class scores (N, C), finite.
* ``y_c`` is the pre-softmax logit of class c, as in Grad-CAM.
"""
from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from .common import ClassIdx, Layer, check_input, resolve_class_idx
from .layers import eval_mode, resolve_layer
from .reshape import ReshapeTransform
from .targets import ClassLogit, OutputKey, Target, check_scores, check_target, select_output


@dataclass
class Capture:
    """What one forward/backward pass tells us about a layer, for N images.

    activations, gradients: (N, K, h, w); logits: (N, C) (N×0 when a custom target's model output
    holds no class scores); class_idx: (N,) long (−1 where a custom target has no class).
    ``gradients`` is ``None`` for a capture made without a backward pass. ``target``: what was
    explained (``ClassLogit(class_idx)`` unless a target was given).
    """

    activations: torch.Tensor
    gradients: torch.Tensor | None
    logits: torch.Tensor
    class_idx: torch.Tensor
    target: Target | None = None

    def require_gradients(self) -> torch.Tensor:
        """The gradients W; a RuntimeError for a capture made with ``gradients=False``."""
        if self.gradients is None:
            raise RuntimeError("this capture has no gradients: call capture(..., gradients=True)")
        return self.gradients


@contextmanager
def layer_output(layer: nn.Module, feature_map: bool = True) -> Iterator[dict]:
    """Forward hook that stores the layer's output in ``store["A"]`` (and counts its calls); removed on exit.

    The output goes on through the network as a copy, so in-place operations after the layer
    do not overwrite what is stored (see the module docstring). ``feature_map``: the output must
    be (N, K, h, w) (without a reshape transform).
    """
    store: dict = {"calls": 0}

    def hook(_module: nn.Module, _inputs: tuple, output: object) -> torch.Tensor:
        store["calls"] += 1
        if not isinstance(output, torch.Tensor) or (feature_map and output.ndim != 4):
            shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
            raise ValueError(f"target layer output is {shape}, not a (N, K, h, w) feature map: "
                             "choose a convolutional layer (or its activation) as the target, or, for a "
                             "transformer's tokens, give reshape_transform= (vit_reshape, swin_reshape)")
        store["A"] = output
        return output.clone()

    handle = layer.register_forward_hook(hook)
    try:
        yield store
    finally:
        handle.remove()


def _layer_name(model: nn.Module, module: nn.Module) -> str:
    return next((n for n, m in model.named_modules() if m is module), type(module).__name__)


def _check_store(store: dict, name: str) -> torch.Tensor:
    if store["calls"] == 0:
        raise ValueError(f"target layer {name!r} did not run in the forward pass: choose a layer the model's "
                         "forward uses (print(model) lists them)")
    if store["calls"] > 1:
        raise ValueError(f"target layer {name!r} ran {store['calls']} times in one forward pass (the model reuses "
                         "this module), so its activation is ambiguous: choose a layer that runs once")
    return store["A"]


def _as_map(raw: torch.Tensor, reshape_transform: ReshapeTransform | None, name: str) -> torch.Tensor:
    """The layer's output as (N, K, h, w), through the reshape transform if there is one."""
    acts = raw if reshape_transform is None else reshape_transform(raw)
    if not isinstance(acts, torch.Tensor) or acts.ndim != 4 or acts.shape[0] != raw.shape[0]:
        shape = tuple(acts.shape) if isinstance(acts, torch.Tensor) else type(acts).__name__
        raise ValueError(f"reshape_transform turned the output of {name!r} into {shape}, not (N, C, h, w)")
    if acts.shape[-2:] == (1, 1):
        warnings.warn(f"target layer {name!r} has a 1×1 feature map (no spatial extent): every CAM of it is "
                      "constant, i.e. all zeros once normalised; choose an earlier layer or a larger input",
                      UserWarning, stacklevel=5)
    return acts


def _check_logits(output: object, key: OutputKey = None) -> torch.Tensor:
    """The (N, C) class scores in the model's output (see :func:`.targets.select_output`), finite."""
    logits = select_output(output, key)
    if logits.ndim != 2:
        raise ValueError(f"model output has shape {tuple(logits.shape)}; expected class scores (N, C)")
    if not bool(torch.isfinite(logits).all()):
        raise ValueError("the model's class scores are not finite (inf or NaN) for this input, so every map would "
                         "be NaN: check the input's scale and normalisation")
    return logits


def check_model(model: nn.Module) -> nn.Module:
    """CAMs hook into sub-modules, which TorchScript and ``torch.compile``d models do not expose to
    Python hooks: both are refused with the fix (the compiled model's ``_orig_mod`` has the same weights)."""
    if isinstance(model, (torch.jit.ScriptModule, torch.jit.ScriptFunction)):
        raise TypeError("TorchScript (torch.jit) models are not supported: hooks cannot see their layers; "
                        "pass the original nn.Module")
    if type(model).__name__ == "OptimizedModule" and isinstance(getattr(model, "_orig_mod", None), nn.Module):
        raise TypeError("a torch.compile'd model is not supported: hooks cannot see inside compiled code; pass "
                        "the original module, model._orig_mod (the same weights, uncompiled)")
    return model


def check_model_input(model: nn.Module, x: torch.Tensor) -> None:
    """The input must match the model's weights in dtype and device, and the weights must hold values."""
    weight = next((t for t in (*model.parameters(), *model.buffers()) if t.is_floating_point()), None)
    if weight is None:
        return
    if weight.device.type == "meta":
        raise ValueError("the model's weights are on the meta device (shapes only, no values): load its weights "
                         "first, e.g. model.to_empty(device='cpu') then model.load_state_dict(...)")
    if weight.device != x.device:
        raise ValueError(f"the input is on {x.device} but the model is on {weight.device}: move one of them, "
                         f"e.g. x.to({str(weight.device)!r})")
    if weight.dtype != x.dtype:
        raise TypeError(f"the input is {x.dtype} but the model's weights are {weight.dtype}: convert the input "
                        f"with x.to({weight.dtype}) (or the model with model.to({x.dtype}))")


def _forward(model: nn.Module, x: torch.Tensor) -> object:
    """``model(x)``; an input too small for the model's pooling/convolutions, or with other channels than
    its first layer takes, becomes one clear error."""
    try:
        return model(x)
    except RuntimeError as err:
        text = str(err)
        if "too small" in text or "Kernel size can't be greater than actual input size" in text:
            raise ValueError(f"the model cannot run on a {tuple(x.shape[-2:])} image ({text.splitlines()[0]}): "
                             "give a larger image, e.g. the model's input size") from None
        channels = re.search(r"to have (\d+) channels, but got (\d+) channels instead", text)
        if channels and int(channels[2]) == x.shape[1]:   # the first layer refused the input's channels
            want = int(channels[1])
            fix = {(3, 4): ": drop the alpha channel, x[:, :3]", (3, 1): ": repeat the grey channel, "
                   "x.expand(-1, 3, -1, -1)"}.get((want, x.shape[1]), "")
            raise ValueError(f"the model takes {want}-channel images but the input has {x.shape[1]} channels "
                             f"(shape {tuple(x.shape)}){fix}") from None
        raise


def _explained(output: object, class_idx: ClassIdx, target: Target | None,
               n: int) -> tuple[torch.Tensor, torch.Tensor, Target, torch.Tensor]:
    """(logits, class per image, the target, its scores (N,)) for one forward pass's output."""
    if target is None:
        logits = _check_logits(output)
        idx = resolve_class_idx(class_idx, logits)
        chosen: Target = ClassLogit(idx)
        return logits, idx, chosen, logits.gather(1, idx[:, None]).squeeze(1)
    if class_idx is not None:
        raise ValueError("give class_idx or target, not both: a target names its own classes, "
                         "e.g. target=ClassProbability(class_idx)")
    scores = check_scores(target(output), n)
    try:
        logits = select_output(output, getattr(target, "output", None))
        logits = logits if logits.ndim == 2 else logits.new_zeros(n, 0)
    except ValueError:   # a custom output without class scores: only the target's scores are known
        logits = scores.new_zeros(n, 0)
    if isinstance(target, ClassLogit):
        idx = target.classes_for(n, scores.device)
    elif logits.shape[1]:
        idx = logits.argmax(1)
    else:
        idx = torch.full((n,), -1, dtype=torch.long, device=scores.device)
    return logits, idx, target, scores


def capture(model: nn.Module, x: torch.Tensor, layer: Layer, class_idx: ClassIdx = None,
            gradients: bool = True, *, target: Target | None = None,
            reshape_transform: ReshapeTransform | None = None) -> Capture:
    """Run ``model`` on ``x``; return A, W = ∂f_c/∂A (if ``gradients``), logits and classes.

    ``class_idx``: None (each image's predicted class), an int, or one int per image; f_c is then
    the logit y_c. ``target`` (instead of ``class_idx``): any f_c, see :mod:`.targets`.
    ``reshape_transform``: the layer's output (tokens) -> (N, C, h, w), applied to A and to W
    (:mod:`.reshape`).
    """
    check_input(x)
    check_target(target)
    module = resolve_layer(check_model(model), layer)
    check_model_input(model, x)
    name = layer if isinstance(layer, str) else _layer_name(model, module)
    with eval_mode(model), layer_output(module, feature_map=reshape_transform is None) as store:
        if not gradients:
            with torch.no_grad():  # plain tensors (not inference tensors) for the caller to reuse
                output = _forward(model, x)
                acts = _as_map(_check_store(store, name), reshape_transform, name)
                logits, idx, explained, _ = _explained(output, class_idx, target, x.shape[0])
            return Capture(acts, None, logits, idx, explained)
        with torch.inference_mode(False), torch.enable_grad():
            xg = x.detach().clone().requires_grad_(True)  # guarantees a graph even for frozen models
            output = _forward(model, xg)
            raw = _check_store(store, name)
            acts = _as_map(raw.detach(), reshape_transform, name)
            logits, idx, explained, scores = _explained(output, class_idx, target, x.shape[0])
            if not scores.requires_grad:
                raise ValueError("the target's scores do not depend on the input (no gradient): "
                                 "it must compute them from the model's output")
            (grads,) = torch.autograd.grad(scores.sum(), raw)  # images are independent in eval mode
            grads = grads if reshape_transform is None else reshape_transform(grads)
    return Capture(acts.detach(), grads.detach(), logits.detach(), idx, explained)
