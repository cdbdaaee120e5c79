# mypy: disallow-untyped-defs, disallow-incomplete-defs
"""ROAD, RemOve And Debias (Rong, Leemann, Borisov, Kasneci, Kasneci, "A Consistent and Efficient
Evaluation Strategy for Attribution Methods", ICML 2022), without retraining.

For each image and map and each percentage p, the ⌊p·H·W/100⌋ pixels with the highest map values
(MoRF, most relevant first) or, separately, the lowest (LeRF, least relevant first) are removed
and filled in by the noisy linear imputation (:mod:`.imputation`) in pixel space; the score is the
softmax probability of the explained class on the imputed image. Imputing from the neighbours
instead of painting black or blur keeps the image close to the data, and leaks little of the
removed shape (the paper's answer to "masked images are out of distribution").
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ..cams.common import ClassIdx, Normalization, PixelSpace
from ..cams.layers import eval_mode
from ..cams.masked import auto_batch_size, class_scores
from .faithfulness import _check_maps
from .imputation import ROAD_NOISE, linear_imputation

#: The paper's percentages of removed pixels (also pytorch-grad-cam's ROAD*Average).
ROAD_PERCENTAGES: tuple[float, ...] = (10, 20, 30, 40, 50, 60, 70, 80, 90)


def _check_percentages(percentages: Sequence[float]) -> list[float]:
    ps = [float(p) for p in percentages]
    if not ps or not all(0 <= p < 100 for p in ps):
        raise ValueError(f"percentages must be a non-empty list of numbers in [0, 100) (a share of the pixels "
                         f"removed; 100 would leave nothing to impute from), got {list(percentages)}")
    return ps


def removal_orders(cams: torch.Tensor, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(MoRF order, LeRF order), each (N, H·W) flat pixel indices, first removed first: by decreasing
    resp. increasing map value, exact ties broken by one seeded random permutation of the pixels
    (the same for both orders and every image). So a constant map removes the same pixels in both
    orders, and ties (e.g. the zeros of a ReLU'd map) are removed scattered, not row by row."""
    hw = cams.shape[-2] * cams.shape[-1]
    tiebreak = torch.randperm(hw, generator=torch.Generator().manual_seed(seed)).to(cams.device)
    values = cams.flatten(1)[:, tiebreak]
    morf = tiebreak[values.argsort(dim=1, descending=True, stable=True)]
    lerf = tiebreak[values.argsort(dim=1, stable=True)]
    return morf, lerf


def road(model: nn.Module, x: torch.Tensor, cams: torch.Tensor, class_idx: ClassIdx, *,
         mean: Normalization = None, std: Normalization = None, percentages: Sequence[float] = ROAD_PERCENTAGES,
         noise: float = ROAD_NOISE, seed: int = 0, batch_size: int | None = None) -> dict[str, torch.Tensor]:
    """ROAD of ``cams`` (N, H, W) for the images ``x`` (model inputs; ``mean``/``std`` their normalisation).

    Returns, per image:

    * ``"morf_curve"``, ``"lerf_curve"`` (N, P): the probability p_c of class c after removing
      ``percentages[k]`` % of the pixels, most relevant first resp. least relevant first;
    * ``"morf"`` (N,): the mean of the MoRF curve over the percentages, **lower is better** (removing
      what the map calls relevant should destroy the prediction);
    * ``"lerf"`` (N,): the mean of the LeRF curve, **higher is better** (removing what it calls
      irrelevant should not matter);
    * ``"road"`` (N,): ``lerf − morf``, in [−1, 1], **higher is better**: one number for the map.
      (pytorch-grad-cam's ``ROADCombined`` reports (LeRF − MoRF)/2 of its target's score.)
    * ``"percentages"`` (P,).

    Removal order: :func:`removal_orders` (``seed`` breaks ties). Imputation: the paper's noisy
    linear imputation in pixel space, noise std ``noise`` (0.01) drawn once from ``seed`` as one
    (C, H, W) field per percentage, shared by MoRF, LeRF and every image: an image's scores do not
    depend on the other images evaluated with it, and a constant map gets the same imputed images
    for MoRF and LeRF (``road`` = 0 up to the rounding of batched forward passes). Kept pixels go
    to the model as they were (no round trip through pixel space), so 0 % gives the original
    probability. Imputed pixels are not clipped to [0, 1] (nor are they in the paper's code).

    Percentages here are always the share *removed*. The authors' code takes LeRF's as the share
    kept, pytorch-grad-cam's ``ROAD*RelevantFirst(percentile=q)`` removes 100 − q % in both orders;
    over the default, symmetric percentages the means are the same.
    """
    if noise < 0:
        raise ValueError(f"noise must be a standard deviation >= 0, got {noise}")
    ps = _check_percentages(percentages)
    cams = _check_maps(cams, x)
    n, c, h, w = x.shape
    idx = torch.as_tensor(class_idx, device=x.device).long().expand(n)
    pixels = PixelSpace(mean, std, x)
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    bs = batch_size or auto_batch_size(model, x)
    orders = removal_orders(cams, seed)
    fields = torch.randn((len(ps), c, h, w), generator=torch.Generator().manual_seed(seed + 1)).to(x)
    counts = [math.floor(p * h * w / 100 + 1e-9) for p in ps]
    jobs = [(i, o, k) for i in range(n) for o in range(2) for k in range(len(ps))]
    out = torch.empty(len(jobs), device=x.device)
    with torch.inference_mode(), eval_mode(model):
        image = pixels.to_pixels(x)
        for s in range(0, len(jobs), bs):
            chunk = jobs[s:s + bs]
            batch = torch.stack([_imputed(x[i], image[i], orders[o][i, :counts[k]], fields[k], noise, pixels)
                                 for i, o, k in chunk])
            img = torch.tensor([i for i, _, _ in chunk], device=x.device)
            out[s:s + len(chunk)] = class_scores(model(batch), idx[img], probs=True)
    morf_curve, lerf_curve = out.view(n, 2, len(ps)).unbind(1)
    morf, lerf = morf_curve.mean(1), lerf_curve.mean(1)
    return {"morf": morf, "lerf": lerf, "road": lerf - morf, "morf_curve": morf_curve, "lerf_curve": lerf_curve,
            "percentages": torch.tensor(ps)}


def _imputed(x: torch.Tensor, image: torch.Tensor, removed: torch.Tensor, field: torch.Tensor, noise: float,
             pixels: PixelSpace) -> torch.Tensor:
    """One model input (C, H, W): ``x`` with the ``removed`` flat pixels imputed (noisy, pixel space)."""
    mask = torch.zeros(x.shape[-2] * x.shape[-1], dtype=torch.bool, device=x.device)
    mask[removed] = True
    mask = mask.view(x.shape[-2:])
    if not bool(mask.any()):
        return x
    filled = linear_imputation(image, mask) + noise * field
    return torch.where(mask, pixels.to_model_(filled[None])[0], x)
