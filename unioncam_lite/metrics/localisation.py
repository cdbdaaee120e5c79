# mypy: disallow-untyped-defs, disallow-incomplete-defs
"""Localisation against a ground-truth mask: the energy-based pointing game, background energy,
object recall and IoU at a threshold."""
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


def background_energy(cams: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Share of each map's energy outside the mask, 1 − Σ L·m / Σ L (1 − the energy pointing game), (N,)."""
    return 1 - energy_pointing_game(cams, masks)


def object_recall(cams: torch.Tensor, masks: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Share of the mask's pixels where the map is at least ``threshold``, |{L ≥ t} ∩ m| / |m|, (N,).

    How *complete* a map is on the object (the claim of AMU, UnionCAM §3.2); an empty mask gives 0.
    """
    m = _check_masks(cams, masks)
    hit = ((cams >= threshold) & m).flatten(1).sum(1)
    return hit / m.flatten(1).sum(1).clamp_min(1)


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
