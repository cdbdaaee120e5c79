# mypy: disallow-untyped-defs, disallow-incomplete-defs
"""Faithfulness by masking: Average Drop / Average Increase and insertion / deletion (see the
package docstring for the definitions and the substrates)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..cams.common import ClassIdx, Normalization, PixelSpace
from ..cams.common import blur as gaussian_blur
from ..cams.layers import eval_mode
from ..cams.masked import auto_batch_size, class_scores, masked_scores


def _check_maps(cams: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    if cams.ndim != 3 or cams.shape[0] != x.shape[0] or cams.shape[-2:] != x.shape[-2:]:
        raise ValueError(f"cams must have shape (N, H, W) = {(x.shape[0], *x.shape[-2:])} to match the images, "
                         f"got {tuple(cams.shape)}")
    return cams.to(x.device)


def _probs(model: nn.Module, x: torch.Tensor, class_idx: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode(), eval_mode(model):
        return class_scores(model(x), class_idx, probs=True)


INCREASE_TOL = 1e-6


def drop_increase_per_image(model: nn.Module, x: torch.Tensor, cams: torch.Tensor, class_idx: ClassIdx, *,
                            mean: Normalization = None, std: Normalization = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image: relative drop max(0, y − o)/y (fraction) and whether the confidence increased.

    y and o are softmax probabilities of the class, f_c = the probability: the course's choice
    (the paper writes a score y_c = f_c(I0) ∈ ℝ; see the package docstring). "Increased" is
    y < o by more than ``INCREASE_TOL`` (1e-6 in probability), so that float rounding between
    two forward passes of the same image (e.g. an all-ones map) is not counted as an increase.
    """
    cams = _check_maps(cams, x)
    idx = torch.as_tensor(class_idx, device=x.device).long().expand(x.shape[0])
    y = _probs(model, x, idx)
    o = masked_scores(model, x, cams, torch.arange(x.shape[0], device=x.device), idx, PixelSpace(mean, std, x),
                      probs=True, normalize=False)
    return (y - o).clamp_min(0) / y, o - y > INCREASE_TOL


def average_drop_increase(model: nn.Module, x: torch.Tensor, cams: torch.Tensor, class_idx: ClassIdx, *,
                          mean: Normalization = None, std: Normalization = None) -> tuple[float, float]:
    """(Average Drop %, Average Increase %) over the N images."""
    drop, increase = drop_increase_per_image(model, x, cams, class_idx, mean=mean, std=std)
    return 100 * float(drop.mean()), 100 * float(increase.float().mean())


def rise_kernel(klen: int = 11, sigma: float = 5.0) -> torch.Tensor:
    """RISE's ``gkern``: scipy.ndimage.gaussian_filter(delta, sigma) on a klen×klen delta, (klen, klen).

    Written out without scipy: the filter is separable, a 1-D Gaussian truncated at
    ``int(4σ + 0.5)`` and normalised, with scipy's "reflect" boundary (d c b a | a b c d | d c b a)
    folding the tails that fall outside the klen samples back in. tests/test_metrics.py checks it
    against scipy.
    """
    radius = int(4.0 * sigma + 0.5)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    weights = torch.exp(-0.5 * (offsets / sigma) ** 2)
    weights /= weights.sum()
    k1 = torch.zeros(klen, dtype=torch.float64)
    centre = klen // 2
    for i in range(klen):
        for off, w in zip(offsets.tolist(), weights.tolist()):
            j = (i + int(off)) % (2 * klen)            # reflect: period 2·klen, mirrored half
            j = j if j < klen else 2 * klen - 1 - j
            if j == centre:
                k1[i] += w
    return torch.outer(k1, k1).float()


def rise_blur(x: torch.Tensor, klen: int = 11, sigma: float = 5.0) -> torch.Tensor:
    """RISE's insertion substrate: per-channel ``conv2d`` with :func:`rise_kernel`, zero padding klen // 2."""
    c = x.shape[1]
    kernel = rise_kernel(klen, sigma).to(x)[None, None].expand(c, 1, klen, klen)
    return F.conv2d(x, kernel, padding=klen // 2, groups=c)


def insertion_deletion(model: nn.Module, x: torch.Tensor, cams: torch.Tensor, class_idx: ClassIdx, *,
                       mean: Normalization = None, std: Normalization = None,
                       steps: int = 50, batch_size: int | None = None, blur: str = "rise") -> dict[str, torch.Tensor]:
    """Insertion and deletion AUCs (N,) and their curves (N, steps + 1) of the class probability.

    ``blur``: the insertion substrate, ``"rise"`` (default, RISE's code exactly) or ``"reflect"``
    (see the module docstring).
    """
    if steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps}")
    if blur not in ("rise", "reflect"):
        raise ValueError(f"blur must be 'rise' or 'reflect', got {blur!r}")
    cams = _check_maps(cams, x)
    n, hw = x.shape[0], x.shape[-2] * x.shape[-1]
    idx = torch.as_tensor(class_idx, device=x.device).long().expand(n)
    pixels = PixelSpace(mean, std, x)
    bs = batch_size or auto_batch_size(model, x)
    # rank 0 = most salient pixel; after step t the first round(t·hw/steps) ranks are switched
    order = cams.flatten(1).argsort(dim=1, descending=True)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(hw, device=x.device).expand(n, hw))
    counts = torch.round(torch.linspace(0, hw, steps + 1, device=x.device)).long()
    curves = {}
    with torch.inference_mode(), eval_mode(model):
        image = pixels.to_pixels(x)
        blurred = pixels.to_pixels(rise_blur(x)) if blur == "rise" else gaussian_blur(image, 11, 5.0)
        jobs = [(i, t) for i in range(n) for t in range(steps + 1)]
        for name, start, end in (("insertion", blurred, image), ("deletion", image, torch.zeros_like(image))):
            out = torch.empty(len(jobs), device=x.device)
            for s in range(0, len(jobs), bs):
                chunk = jobs[s:s + bs]
                img = torch.tensor([i for i, _ in chunk], device=x.device)
                t = torch.tensor([t for _, t in chunk], device=x.device)
                switched = (rank[img] < counts[t][:, None]).view(-1, 1, *x.shape[-2:]).to(x.dtype)
                # channels_last, as the masked passes (cams/masked.py): the same numbers, faster on the CPU
                batch = (start[img] * (1 - switched) + end[img] * switched).contiguous(
                    memory_format=torch.channels_last)
                out[s:s + len(chunk)] = class_scores(model(pixels.to_model_(batch)), idx[img], probs=True)
            curves[name] = out.view(n, steps + 1)
    auc = {k: torch.trapezoid(v, dx=1.0 / steps, dim=1) for k, v in curves.items()}
    return {"insertion": auc["insertion"], "deletion": auc["deletion"],
            "insertion_curve": curves["insertion"], "deletion_curve": curves["deletion"]}
