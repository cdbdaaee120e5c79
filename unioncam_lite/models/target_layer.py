"""The default CAM target layer of any classifier, found by probing the model (no arithmetic)."""
from __future__ import annotations

import torch
from torch import nn

from ..cams.layers import eval_mode
from ..cams.reshape import ReshapeTransform, vit_reshape
from ..device import model_device

#: Modules that only pool: never chosen as a target layer (the maps would be of the layer before).
POOLING = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.LPPool2d)


def _probe_outputs(model: nn.Module, input_size: tuple[int, int]) -> list[tuple[str, nn.Module, object]]:
    """``(name, module, output)`` of every sub-module's call, in the order the calls finish.

    Runs one image through the model on the ``meta`` device (shapes only, no arithmetic, no
    memory: parameters and buffers are swapped for meta tensors with ``torch.func.functional_call``)
    and falls back to a real forward pass on the model's device when the forward needs real data.
    The model comes back unchanged: hooks removed and every ``training`` flag restored.
    """
    from torch.func import functional_call

    events: list[tuple[str, nn.Module, object]] = []
    handles = [m.register_forward_hook(lambda mod, _i, out, name=name: events.append((name, mod, out)))
               for name, m in model.named_modules() if name]
    try:
        with eval_mode(model):
            try:
                tensors = {k: torch.empty_like(v, device="meta")
                           for k, v in [*model.named_parameters(), *model.named_buffers()]}
                with torch.no_grad():
                    functional_call(model, tensors, (torch.zeros(1, 3, *input_size, device="meta"),))
            except Exception:  # a forward that needs real values (or a tensor attribute that is no buffer)
                events.clear()
                device = model_device(model)
                try:
                    with torch.no_grad():
                        model(torch.zeros(1, 3, *input_size, device=device))
                except Exception as err:
                    raise ValueError(f"{type(model).__name__} cannot run on a 1×3×{input_size[0]}×{input_size[1]} "
                                     f"image ({type(err).__name__}: {err}): give the input size it expects") from err
    finally:
        for h in handles:
            h.remove()
    return events


def transformer_target(name: str, model: nn.Module) -> tuple[str, ReshapeTransform] | None:
    """The default target of torchvision's vision transformers, with its reshape transform; None for others.

    ViT (``vit_*``): the last encoder block's first LayerNorm, ``encoder.layers.encoder_layer_{L-1}.ln_1``,
    its tokens without the class token as a grid (the choice of pytorch-grad-cam's ViT example).
    Swin needs none: torchvision's ``permute`` module already returns the last stage as
    (N, C, h, w), and :func:`find_target_layer` picks it; a layer inside a Swin block is
    channels-last (N, h, w, C) and takes :func:`~unioncam_lite.cams.reshape.swin_reshape`.
    """
    if name.startswith("vit_"):
        blocks = list(model.get_submodule("encoder.layers").children())
        return f"encoder.layers.encoder_layer_{len(blocks) - 1}.ln_1", vit_reshape
    return None


def find_target_layer(model: nn.Module, input_size: tuple[int, int] = (224, 224)) -> str:
    """The default CAM target layer of a classifier: the dotted name of the **last module whose
    output is a spatial map (N, C, h, w) with h·w > 1**, found by running one image of
    ``input_size`` through the model (on the meta device: no arithmetic).

    "Last" is in the order the calls finish, so a block's container wins over its last child
    (they return the same tensor: ``layer4`` rather than ``layer4.1`` in a ResNet); after the
    global pooling nothing is spatial any more, so this is the last feature map before the
    pooling/flatten. Not chosen: pooling modules and containers that return a pooling module's
    output (VGG's ``features`` ends in a max-pool, so ``features.29``, its last ReLU, is chosen,
    as in the paper), and modules called more than once per forward pass (a ResNet block's
    shared ``relu``). Squeeze-and-excitation blocks pool to 1×1 in the middle of the network;
    the feature maps after them are later, so they do not stop the search. For torchvision's
    transformers :func:`transformer_target` names the layer instead (their tokens are not
    (N, C, h, w) maps).

    Raises a ValueError when no module has a spatial output at this input size.
    """
    events = _probe_outputs(model, input_size)
    calls: dict[str, int] = {}
    for name, _, _ in events:
        calls[name] = calls.get(name, 0) + 1
    pooled: list[torch.Tensor] = []       # outputs of pooling modules (held, so ids stay unique)
    chosen = None
    for name, module, out in events:
        if not isinstance(out, torch.Tensor):
            continue
        if isinstance(module, POOLING):
            pooled.append(out)
            continue
        if any(out is p for p in pooled) or calls[name] > 1:
            continue
        if out.ndim == 4 and out.shape[-2] * out.shape[-1] > 1:
            chosen = name
    if chosen is None:
        raise ValueError(f"{type(model).__name__} has no layer with a spatial (N, C, h, w) output larger than 1×1 "
                         f"at input size {tuple(input_size)}: give a larger input or name a target layer")
    return chosen
