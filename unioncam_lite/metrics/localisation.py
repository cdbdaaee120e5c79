# mypy: disallow-untyped-defs, disallow-incomplete-defs
"""Localisation against a ground-truth mask: the energy-based pointing game and IoU at a threshold."""
from __future__ import annotations

import torch


def _check_masks(cams: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    if masks.shape != cams.shape:
        raise ValueError(f"ground-truth masks must match the maps' shape {tuple(cams.shape)}, got {tuple(masks.shape)}")
    return masks.to(cams.device).bool()


def energy_pointing_game(cams: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Share of each map's energy inside the ground-truth mask, Σ L·m / Σ L, (N,) in [0, 1]."""
    m = _check_masks(cams, masks)
    total = cams.flatten(1).sum(1)
    return (cams * m).flatten(1).sum(1) / total.clamp_min(torch.finfo(cams.dtype).tiny)


def iou_at_threshold(cams: torch.Tensor, masks: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """IoU between {L ≥ threshold} and the ground-truth mask, (N,) in [0, 1]."""
    m = _check_masks(cams, masks)
    pred = cams >= threshold
    inter = (pred & m).flatten(1).sum(1)
    union = (pred | m).flatten(1).sum(1)
    return inter / union.clamp_min(1)


def box_mask(box: tuple[int, int, int, int], size: tuple[int, int]) -> torch.Tensor:
    """Boolean (H, W) mask of a box given as (x0, y0, x1, y1), end-exclusive pixel coordinates."""
    x0, y0, x1, y1 = box
    if not (0 <= x0 < x1 <= size[1] and 0 <= y0 < y1 <= size[0]):
        raise ValueError(f"box {box} does not fit an image of size {size} (x0 < x1 <= W, y0 < y1 <= H)")
    mask = torch.zeros(size, dtype=torch.bool)
    mask[y0:y1, x0:x1] = True
    return mask
