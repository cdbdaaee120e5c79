"""The two things every CAM does to a user's model: find the target layer, and run it in eval mode
with every sub-module's train/eval flag restored afterwards."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torch import nn


def resolve_layer(model: nn.Module, layer: nn.Module | str) -> nn.Module:
    """Return the sub-module named by a dotted path (``"features.29"``) or check a given module.

    Raises a ValueError naming the problem and listing valid names when the layer is not in
    the model.
    """
    if isinstance(layer, nn.Module):
        if any(m is layer for m in model.modules()):
            return layer
        raise ValueError("target layer module is not part of the model: pass one of model's sub-modules "
                         "or its dotted name, e.g. 'features.29'")
    if not isinstance(layer, str):
        raise TypeError(f"target layer must be an nn.Module or a dotted name, not {type(layer).__name__}")
    modules = dict(model.named_modules())
    if layer in modules and layer != "":
        return modules[layer]
    convs = [n for n, m in modules.items() if isinstance(m, (nn.Conv2d, nn.ReLU, nn.ReLU6, nn.BatchNorm2d))]
    hint = ", ".join(repr(n) for n in convs[-6:])
    raise ValueError(f"layer {layer!r} not found in {type(model).__name__}; the last conv-block layers are "
                     f"{hint} (all names: [n for n, _ in model.named_modules()])")


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode and restore each sub-module's train/eval flag on exit."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, was_training in flags:
            module.training = was_training
