"""Shared pieces of every CAM method: input checks, class indices, normalisation, pixel space.

Conventions (as in torch-cam and pytorch-grad-cam):

* a map is upsampled with ``F.interpolate(mode="bilinear", align_corners=False)`` and then
  min-max normalised per image to [0, 1]; a constant map becomes all zeros, where "constant"
  allows float rounding: a range below 1e-5 of the map's magnitude (upsampling a 1×1 map
  leaves differences of ~1e-7 relative, which a plain min-max would stretch to {0, 0.5, 1});
* ``x`` is the model's input, ``(pixels - mean) / std``. Operations that must happen in
  pixel space (masking an image, the black baseline) take the model's ``mean`` and ``std``;
  when these are ``None`` the input is taken to be in pixel space already, which is what
  torch-cam and pytorch-grad-cam do.

Two inputs (:data:`InputNormalization`): ``"model"``, the mean/std the model's weights were
trained with (ImageNet's for VGG16 and torchvision's models) — the package's default, because a
pretrained model is only accurate on the inputs it was trained on — or ``"none"``, the pixels in
[0, 1] as they are: the paper's input (§4.1: "normalized to the range [0,1]. No additional
preprocessing was applied"). In the CAM functions ``"none"`` is ``mean=None, std=None`` with x
in [0, 1] (:func:`input_normalization`); ``evaluate --normalize none`` runs a whole evaluation so.
"""
from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

#: The class(es) to explain: None (each image's prediction), one int, or one int per image.
ClassIdx = int | Sequence[int] | torch.Tensor | np.ndarray | None
#: A target layer: one of the model's sub-modules or its dotted name (``"features.29"``).
Layer = nn.Module | str
#: A model's per-channel input normalisation (mean or std), or None for pixel-space inputs.
Normalization = Sequence[float] | None
#: How images become model inputs: the model's own mean/std, or none (pixels in [0, 1], the paper's §4.1).
InputNormalization = Literal["model", "none"]
INPUT_NORMALIZATIONS: tuple[InputNormalization, ...] = ("model", "none")
EPS = 1e-8
CONSTANT_RTOL = 1e-5


def input_normalization(how: str, mean: Normalization, std: Normalization) -> tuple[Normalization, Normalization]:
    """The ``(mean, std)`` to normalise inputs with: the model's own (``how="model"``, the default
    everywhere) or ``(None, None)`` (``"none"``: pixels in [0, 1], the paper's input, §4.1)."""
    if how == "model":
        return mean, std
    if how == "none":
        return None, None
    raise ValueError(f"normalize={how!r}: give 'model' (the model's own mean/std, the default) or 'none' "
                     "(pixels in [0, 1] as they are, the paper's §4.1 input)")


def check_input(x: torch.Tensor) -> torch.Tensor:
    """Raise a clear error unless ``x`` is a float tensor of shape (N, C, H, W)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"input must be a torch.Tensor of shape (N, 3, H, W), not {type(x).__name__}: "
                        "use unioncam_lite.load_image to make one")
    if x.ndim != 4:
        hint = " : add a batch dimension with x.unsqueeze(0)" if x.ndim == 3 else ""
        raise ValueError(f"input must be a 4-D tensor (N, 3, H, W); got shape {tuple(x.shape)}{hint}")
    if not x.is_floating_point():
        raise TypeError(f"input must be a float tensor, got {x.dtype}: convert with x.float() and normalise it")
    if x.shape[0] == 0:
        raise ValueError("input batch is empty: give at least one image")
    return x


def check_theta(theta: float) -> float:
    """θ is a percentile: a finite number in [0, 100] (not a bool, which float() would take as 0 or 1,
    nor a string, which it would parse)."""
    if isinstance(theta, (bool, np.bool_, str, bytes)):   # float("10") would take a string
        fix = ": convert it with float()" if isinstance(theta, (str, bytes)) else ""
        raise TypeError(f"theta must be a number in [0, 100], not {theta!r}{fix}")
    try:
        theta = float(theta)
    except (TypeError, ValueError) as err:
        raise TypeError(f"theta must be a number in [0, 100], not {theta!r}") from err
    if not 0.0 <= theta <= 100.0:  # also rejects NaN
        raise ValueError(f"theta={theta} is outside [0, 100]: it is a percentile, e.g. 10 zeroes each channel's "
                         "lowest 10% of gradients")
    return theta


def resolve_class_idx(class_idx: ClassIdx, logits: torch.Tensor) -> torch.Tensor:
    """Class index per image as a long tensor (N,) on the logits' device.

    ``None`` picks each image's predicted class; an integer of any type (``int``, NumPy, a
    0-d tensor) applies to every image; a sequence, array or tensor gives one class per image.
    Out-of-range indices raise a ValueError.
    """
    n, num_classes = logits.shape
    if class_idx is None:
        return logits.argmax(dim=1)
    idx = class_idx_tensor(class_idx).to(logits.device)
    if idx.numel() == 1:
        idx = idx.expand(n)
    elif idx.numel() != n:
        raise ValueError(f"class_idx has {idx.numel()} entries for {n} images: give one per image, one int, or None")
    bad = (idx < 0) | (idx >= num_classes)
    if bool(bad.any()):
        raise ValueError(f"class index {idx[bad][0].item()} is out of range: the model has {num_classes} classes "
                         f"(use 0..{num_classes - 1})")
    return idx


def class_idx_tensor(class_idx: ClassIdx) -> torch.Tensor:
    """Any integer, or a sequence / array / tensor of integers, as a flat long tensor (on its own device)."""
    if isinstance(class_idx, (bool, np.bool_)):
        raise TypeError("class_idx must be an int, one int per image, or None (not a bool)")
    if isinstance(class_idx, numbers.Integral):
        return torch.tensor([int(class_idx)], dtype=torch.long)
    try:
        idx = class_idx if isinstance(class_idx, torch.Tensor) else torch.as_tensor(np.asarray(class_idx))
    except (TypeError, ValueError) as err:
        raise TypeError(f"class_idx must be an int, one int per image, or None, not {class_idx!r}") from err
    if idx.dtype == torch.bool or idx.is_floating_point() or idx.is_complex():
        raise TypeError(f"class_idx must hold integers, got {idx.dtype}")
    return idx.long().flatten()


def normalize_maps(maps: torch.Tensor) -> torch.Tensor:
    """Min-max normalise each map over its last two dimensions to [0, 1]; a constant map -> 0.

    A map counts as constant when its range is below ``CONSTANT_RTOL`` (1e-5) of its largest
    magnitude, or below ``EPS`` (1e-8): float rounding is not structure.
    """
    flat = maps.flatten(-2)
    lo = flat.amin(-1, keepdim=True)
    hi = flat.amax(-1, keepdim=True)
    span = hi - lo
    constant = span <= torch.maximum(CONSTANT_RTOL * torch.maximum(hi.abs(), lo.abs()), torch.full_like(span, EPS))
    out = (flat - lo) / torch.where(constant, torch.ones_like(span), span)
    return torch.where(constant, torch.zeros_like(out), out).view_as(maps)


def upsample(maps: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear upsampling (align_corners=False) of (..., h, w) maps to (..., H, W)."""
    lead = maps.shape[:-2]
    out = F.interpolate(maps.reshape(-1, 1, *maps.shape[-2:]), size=tuple(size), mode="bilinear", align_corners=False)
    return out.view(*lead, *out.shape[-2:])


def upsample_normalize(maps: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Feature-resolution maps (N, h, w) -> input-resolution maps (N, H, W) in [0, 1]."""
    return normalize_maps(upsample(maps.float(), size))


class PixelSpace:
    """Moves model inputs to pixel space and back: ``pixels = x * std + mean``.

    With ``mean``/``std`` of ``None`` it is the identity (the input already is in pixel space).
    """

    def __init__(self, mean: Sequence[float] | None, std: Sequence[float] | None, like: torch.Tensor):
        if (mean is None) != (std is None):
            raise ValueError("give both mean and std (the model's input normalisation), or neither")
        self.identity = mean is None
        if mean is not None and std is not None:
            channels = like.shape[1]
            for name, values in (("mean", mean), ("std", std)):
                if len(values) != channels:
                    raise ValueError(f"{name} has {len(values)} values but the input has {channels} channel(s): "
                                     "give one mean and one std per input channel (the model's normalisation)")
            self.mean = torch.as_tensor(mean, dtype=like.dtype, device=like.device).view(1, -1, 1, 1)
            self.std = torch.as_tensor(std, dtype=like.dtype, device=like.device).view(1, -1, 1, 1)

    def to_pixels(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.identity else x * self.std + self.mean

    def to_model_(self, pixels: torch.Tensor) -> torch.Tensor:
        """In place: pixel-space images -> model input."""
        return pixels if self.identity else pixels.sub_(self.mean).div_(self.std)

    def black(self, x: torch.Tensor) -> torch.Tensor:
        """The black image I_b (pixels all 0) as a model input of shape (1, C, H, W)."""
        return self.to_model_(torch.zeros_like(x[:1]))


def blur(image: torch.Tensor, kernel_size: int, sigma: float) -> torch.Tensor:
    """Gaussian blur with reflect padding; the kernel shrinks to 2·min(H, W) − 1 for small images."""
    from torchvision.transforms.functional import gaussian_blur

    k = min(kernel_size, 2 * min(image.shape[-2:]) - 1)
    return gaussian_blur(image, kernel_size=[k, k], sigma=[sigma, sigma])


def weighted_sum(weights: torch.Tensor, activations: torch.Tensor, relu: bool = True) -> torch.Tensor:
    """ReLU(Σ_k w_k A_k) (or the plain sum, ``relu=False``) for channel weights (N, K) or pixel
    weights (N, K, h, w) -> (N, h, w)."""
    if weights.ndim == 2:
        weights = weights[:, :, None, None]
    total = (weights * activations).sum(1)
    return torch.relu(total) if relu else total
