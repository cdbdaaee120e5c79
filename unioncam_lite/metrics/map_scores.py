# mypy: disallow-untyped-defs, disallow-incomplete-defs
"""Any map scored the same way: every localisation metric of every map on the same images.

UnionCAM's intermediate maps (L_den, L_reg, L_fused), its output and the baselines' maps are all
(N, H, W) in [0, 1]; :func:`score_maps` gives each of them the same per-image scores against the
ground-truth masks, so two maps can be compared image by image (:mod:`.statistics`). The
evaluation command (``python -m unioncam_lite evaluate``) and ``benchmarks/theta_ablation.py``
take their mask columns from :func:`localisation_scores` too.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch

from .localisation import background_energy, energy_pointing_game, iou_at_threshold, object_recall


def recall_name(threshold: float = 0.5) -> str:
    """The column name of object recall at ``threshold``: ``"object recall@0.5"``."""
    return f"object recall@{threshold:g}"


def iou_name(threshold: float = 0.5) -> str:
    """The column name of IoU at ``threshold``: ``"IoU@0.5"``."""
    return f"IoU@{threshold:g}"


def localisation_names(threshold: float = 0.5) -> tuple[str, ...]:
    """The names :func:`localisation_scores` returns, in order."""
    return ("energy pointing game", "background energy", recall_name(threshold), iou_name(threshold))


def localisation_scores(cams: torch.Tensor, masks: torch.Tensor, threshold: float = 0.5) -> dict[str, torch.Tensor]:
    """Per image (N,): energy pointing game (↑), background energy (↓), object recall at ``threshold``
    (↑) and IoU at ``threshold`` (↑) of maps (N, H, W) against boolean masks (N, H, W)."""
    epg = energy_pointing_game(cams, masks)
    return dict(zip(localisation_names(threshold),
                    (epg, background_energy(cams, masks), object_recall(cams, masks, threshold),
                     iou_at_threshold(cams, masks, threshold))))


def score_maps(maps: Mapping[str, torch.Tensor], masks: torch.Tensor,
               threshold: float = 0.5) -> dict[str, dict[str, torch.Tensor]]:
    """``{map name: {metric: per-image scores (N,)}}`` for every map, all on the same images and masks."""
    shapes = {name: tuple(m.shape) for name, m in maps.items()}
    if len(set(shapes.values())) > 1:
        raise ValueError(f"every map must cover the same images at the same size, got {shapes}")
    return {name: localisation_scores(m, masks, threshold) for name, m in maps.items()}
