"""Gradient-based CAMs: Grad-CAM, Grad-CAM++, XGrad-CAM and LayerCAM.

Each method is two functions: ``*_map(A, W)`` computes the feature-resolution map (N, h, w)
from captured activations and gradients (its paper's equation, so the notebooks can show
it), and the public ``method(model, x, target_layer, class_idx=None)`` captures, maps,
upsamples bilinearly and min-max normalises to (N, H, W) in [0, 1]. ``target=`` explains any
output instead of a class logit (:mod:`.targets`); ``reshape_transform=`` takes a transformer's
tokens (:mod:`.reshape`).

Where gradients are the same at every position of a channel (a global-average-pool head),
UnionCAM's θ (Eq. 1) cannot change anything: :func:`warn_theta_has_no_effect` checks W for it and
warns once per model and layer with :class:`ThetaHasNoEffectWarning`.
"""
from __future__ import annotations

import warnings
import weakref
from collections.abc import Callable

import torch
from torch import nn

from .capture import _layer_name, capture
from .common import CONSTANT_RTOL, EPS, ClassIdx, Layer, upsample_normalize, weighted_sum
from .reshape import ReshapeTransform
from .targets import Target


def gradcam_map(A: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """Grad-CAM (Selvaraju et al., ICCV 2017, Eq. 1-2): w_k = mean_ij W_k,ij; L = ReLU(Σ_k w_k A_k)."""
    return weighted_sum(W.mean(dim=(2, 3)), A)


def gradcampp_map(A: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """Grad-CAM++ (Chattopadhay et al., WACV 2018, Eq. 19 with the exponential score).

    α_k,ij = W² / (2 W² + Σ_ab A_k,ab · W³) = 1 / (2 + Σ_ab A_k,ab · W_k,ij) where W ≠ 0;
    w_k = Σ_ij α_k,ij ReLU(W_k,ij); L = ReLU(Σ_k w_k A_k).
    The simplified form is exact and needs no ε: pytorch-grad-cam adds ε = 1e-6 to the
    unsimplified denominator, which dominates it when gradients are ~1e-4 (as at
    EfficientNet's head), and torch-cam 0.5 sums A·W³ and never applies its α division; so
    the peer check (tests/cams/test_gradient.py) uses gradients large enough for ε not to matter.
    """
    positive = torch.relu(W)  # α only matters where W > 0, where the denominator is 2 + S·W > 0 for A ≥ 0
    denom = 2 + A.sum(dim=(2, 3), keepdim=True) * W
    alpha = torch.where(positive > 0, 1.0 / denom.where(positive > 0, torch.ones_like(denom)), torch.zeros_like(W))
    return weighted_sum((alpha * positive).sum(dim=(2, 3)), A)


def xgradcam_map(A: torch.Tensor, W: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """XGrad-CAM (Fu et al., BMVC 2020, Eq. 14): w_k = Σ_ij (A_k,ij / Σ_ab A_k,ab) W_k,ij."""
    weights = (A * W).sum(dim=(2, 3)) / (A.sum(dim=(2, 3)) + eps)
    return weighted_sum(weights, A)


def layercam_map(A: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """LayerCAM (Jiang et al., IEEE TIP 2021, Eq. 5-6): L = ReLU(Σ_k ReLU(W_k) ⊙ A_k), pixel-wise."""
    return weighted_sum(torch.relu(W), A)


MapFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class ThetaHasNoEffectWarning(UserWarning):
    """θ (UnionCAM's Eq. 1) cannot change the map at this layer: its gradients are constant in space.

    Filter it with ``warnings.filterwarnings("ignore", category=ThetaHasNoEffectWarning)``; it is
    issued once per model and layer (:func:`warn_theta_has_no_effect`)."""


def constant_in_space(W: torch.Tensor) -> torch.Tensor:
    """Per image and channel (N, K): is the channel's gradient the same at every position?
    (Up to float rounding: a spread below 1e-5 of its largest magnitude.)"""
    flat = W.flatten(2).float()
    spread = flat.amax(-1) - flat.amin(-1)
    scale = flat.abs().amax(-1)
    return spread <= torch.maximum(CONSTANT_RTOL * scale, torch.full_like(scale, EPS))


_theta_warned: weakref.WeakKeyDictionary[nn.Module, set[str]] = weakref.WeakKeyDictionary()


def warn_theta_has_no_effect(W: torch.Tensor, model: nn.Module, layer: Layer, theta: float) -> bool:
    """Warn (:class:`ThetaHasNoEffectWarning`, once per ``model`` and ``layer``) when θ > 0 cannot change
    UnionCAM's denoised map: every channel's gradient W_k is constant over positions, so Eq. 1's θ-th
    percentile of W_k is W_k itself and nothing is zeroed (e.g. a global-average-pool head right after
    the layer). All-zero gradients are not this case (:func:`.diagnose.diagnose` says what they mean).
    Returns whether θ has no effect here (warned now or before)."""
    if theta <= 0 or W.numel() == 0 or not bool((W != 0).any()) or not bool(constant_in_space(W).all()):
        return False
    if tuple(W.shape[-2:]) == (1, 1):   # capture already warned: every CAM of a 1×1 map is constant
        return True
    name = layer if isinstance(layer, str) else _layer_name(model, layer)
    warned = _theta_warned.setdefault(model, set())
    if name not in warned:
        warned.add(name)
        warnings.warn(f"θ={theta:g} has no effect at layer {name!r} of {type(model).__name__}: its gradients are "
                      "the same at every position of each channel (a global-average-pool head), so Eq. 1 removes "
                      "nothing and UnionCAM's denoised map is the same for every θ. Choose a layer before the "
                      "pooling to let θ act; diagnose() says more. (Warned once per model and layer.)",
                      ThetaHasNoEffectWarning, stacklevel=3)
    return True


def _gradient_cam(map_fn: MapFn, model: nn.Module, x: torch.Tensor, target_layer: Layer,
                  class_idx: ClassIdx, target: Target | None, reshape_transform: ReshapeTransform | None
                  ) -> torch.Tensor:
    cap = capture(model, x, target_layer, class_idx, target=target, reshape_transform=reshape_transform)
    return upsample_normalize(map_fn(cap.activations, cap.require_gradients()), x.shape[-2:])


def gradcam(model: nn.Module, x: torch.Tensor, target_layer: Layer, class_idx: ClassIdx = None, *,
            target: Target | None = None, reshape_transform: ReshapeTransform | None = None) -> torch.Tensor:
    """Grad-CAM maps (N, H, W) in [0, 1]. See :func:`gradcam_map`."""
    return _gradient_cam(gradcam_map, model, x, target_layer, class_idx, target, reshape_transform)


def gradcampp(model: nn.Module, x: torch.Tensor, target_layer: Layer, class_idx: ClassIdx = None, *,
              target: Target | None = None, reshape_transform: ReshapeTransform | None = None) -> torch.Tensor:
    """Grad-CAM++ maps (N, H, W) in [0, 1]. See :func:`gradcampp_map`."""
    return _gradient_cam(gradcampp_map, model, x, target_layer, class_idx, target, reshape_transform)


def xgradcam(model: nn.Module, x: torch.Tensor, target_layer: Layer, class_idx: ClassIdx = None, *,
             target: Target | None = None, reshape_transform: ReshapeTransform | None = None) -> torch.Tensor:
    """XGrad-CAM maps (N, H, W) in [0, 1]. See :func:`xgradcam_map`."""
    return _gradient_cam(xgradcam_map, model, x, target_layer, class_idx, target, reshape_transform)


def layercam(model: nn.Module, x: torch.Tensor, target_layer: Layer, class_idx: ClassIdx = None, *,
             target: Target | None = None, reshape_transform: ReshapeTransform | None = None) -> torch.Tensor:
    """LayerCAM maps (N, H, W) in [0, 1]. See :func:`layercam_map`."""
    return _gradient_cam(layercam_map, model, x, target_layer, class_idx, target, reshape_transform)
