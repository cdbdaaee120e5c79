"""Token grids as feature maps: ``reshape_transform`` for vision transformers.

A CAM needs activations A of shape (N, K, h, w). A transformer block outputs tokens instead:
ViT (N, 1 + h·w, C) with a class token first, Swin (N, h, w, C) channels-last. A
``reshape_transform`` maps the layer's output (and, the same way, its gradient) to (N, C, h, w),
so each "channel" is one embedding dimension over the grid of patches, and the map has one value
per patch (16×16 pixels for ViT-B/16) before upsampling. The class token, which attends to every
patch, is dropped: it has no position.

Where gradient CAMs on transformers are known to be weak: the gradient at a late block mixes
every patch through attention, so Grad-CAM's per-channel mean can be dominated by a few tokens,
and the maps are coarse (a 14×14 grid at 224 pixels for ViT-B/16). Attention-specific methods
(attention rollout, Chefer et al.'s transformer attribution) exist and are not implemented here.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch

#: A reshape transform: a target layer's output (any tensor) -> (N, C, h, w)
ReshapeTransform = Callable[[torch.Tensor], torch.Tensor]


def vit_reshape(tokens: torch.Tensor, class_tokens: int = 1) -> torch.Tensor:
    """ViT tokens (N, class_tokens + h·w, C) -> (N, C, h, w), dropping the class token(s); h = w."""
    if tokens.ndim != 3:
        raise ValueError(f"vit_reshape expects tokens (N, 1 + h·w, C), got shape {tuple(tokens.shape)}")
    grid = tokens[:, class_tokens:]
    side = math.isqrt(grid.shape[1])
    if side * side != grid.shape[1]:
        raise ValueError(f"{grid.shape[1]} patch tokens do not form a square grid: give class_tokens= "
                         f"(the number of non-patch tokens first in the sequence)")
    return grid.reshape(grid.shape[0], side, side, grid.shape[2]).permute(0, 3, 1, 2)


def swin_reshape(features: torch.Tensor) -> torch.Tensor:
    """Swin's channels-last features (N, h, w, C) -> (N, C, h, w)."""
    if features.ndim != 4:
        raise ValueError(f"swin_reshape expects channels-last features (N, h, w, C), got {tuple(features.shape)}")
    return features.permute(0, 3, 1, 2)
