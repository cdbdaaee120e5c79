"""The methods by short name: adding a method is one :func:`register` call here.

Each entry says what the method needs, so the programs (command line, evaluation, explorer)
call every method the same way through :func:`compute_cam`:

* ``pixel_space``: it masks or blurs the image, so it needs the model's ``mean``/``std``;
* ``gradients``: it needs a backward pass (Grad-CAM family, UnionCAM's AMD);
* ``masked``: its masked forward passes take :class:`.options.CamOptions`;
* ``theta``: it takes UnionCAM's θ (Eq. 1);
* ``default``: it is in :func:`default_methods`, the set the programs run unless told otherwise.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .common import ClassIdx, Layer, Normalization
from .gradient import gradcam, gradcampp, layercam, xgradcam
from .group import groupcam
from .options import CamOptions
from .reshape import ReshapeTransform
from .score import scorecam
from .targets import Target
from .unioncam import union_cam


@dataclass(frozen=True)
class Method:
    """One CAM method: its short name, display label, function and what it needs."""

    name: str
    label: str
    fn: Callable[..., torch.Tensor]
    pixel_space: bool = False
    gradients: bool = True
    masked: bool = False
    theta: bool = False
    default: bool = True


METHODS: dict[str, Method] = {}


def register(method: Method) -> Method:
    """Add a method to :data:`METHODS` (its order is the order of tables and menus)."""
    if method.name in METHODS:
        raise ValueError(f"a CAM method named {method.name!r} is already registered")
    METHODS[method.name] = method
    return method


def _union_cam_map(model: nn.Module, x: torch.Tensor, target_layer: Layer, class_idx: ClassIdx = None, *,
                   theta: float = 10.0, mean: Normalization = None, std: Normalization = None,
                   options: CamOptions | None = None, target: Target | None = None,
                   reshape_transform: ReshapeTransform | None = None) -> torch.Tensor:
    return union_cam(model, x, target_layer, class_idx, theta, mean=mean, std=std, options=options,
                     target=target, reshape_transform=reshape_transform).cam


for _method in (
    Method("gradcam", "Grad-CAM", gradcam),
    Method("gradcampp", "Grad-CAM++", gradcampp),
    Method("xgradcam", "XGrad-CAM", xgradcam),
    Method("layercam", "LayerCAM", layercam),
    Method("scorecam", "Score-CAM", scorecam, pixel_space=True, gradients=False, masked=True),
    Method("groupcam", "Group-CAM", groupcam, pixel_space=True, default=False),
    Method("unioncam", "UnionCAM", _union_cam_map, pixel_space=True, masked=True, theta=True),
):
    register(_method)


def default_methods() -> tuple[str, ...]:
    """The short names of the methods the programs run unless told otherwise (Group-CAM is opt-in)."""
    return tuple(name for name, m in METHODS.items() if m.default)


def get_method(name: str) -> Method:
    """The registered method of this short name; a ValueError lists the names."""
    if name not in METHODS:
        raise ValueError(f"unknown CAM method {name!r}: choose from {', '.join(METHODS)}")
    return METHODS[name]


def compute_cam(method: str, model: nn.Module, x: torch.Tensor, target_layer: Layer, class_idx: ClassIdx = None,
                *, mean: Normalization = None, std: Normalization = None, theta: float = 10.0,
                batch_size: int | None = None, options: CamOptions | None = None,
                target: Target | None = None, reshape_transform: ReshapeTransform | None = None) -> torch.Tensor:
    """Maps (N, H, W) in [0, 1] of one method by its short name (see :data:`METHODS`).

    Pixel-space methods get ``mean``/``std``; ``batch_size`` (masked images per forward pass,
    None: automatic) goes to every method that batches masked passes, ``options`` to those that
    take :class:`.options.CamOptions`; ``theta`` to UnionCAM; ``target`` (instead of ``class_idx``,
    :mod:`.targets`) and ``reshape_transform`` (:mod:`.reshape`) to every method.
    """
    m = get_method(method)
    kwargs: dict = {}
    if m.pixel_space:
        kwargs.update(mean=mean, std=std)
    if m.masked:
        opts = options or CamOptions()
        kwargs["options"] = opts.replace(batch_size=batch_size) if batch_size is not None else opts
    elif m.pixel_space:
        kwargs["batch_size"] = batch_size
    if m.theta:
        kwargs["theta"] = theta
    if target is not None:
        kwargs["target"] = target
    if reshape_transform is not None:
        kwargs["reshape_transform"] = reshape_transform
    return m.fn(model, x, target_layer, class_idx, **kwargs)
