# mypy: disallow-untyped-defs, disallow-incomplete-defs
"""How alike two maps are, per image: Spearman rank correlation and SSIM (the sanity checks' measures).

* ``spearman``: Pearson correlation of the pixels' ranks, ties given their average rank (as
  ``scipy.stats.spearmanr``); NaN where a map is constant (no ranking to compare).
* ``ssim``: the structural similarity of Wang et al. (IEEE TIP 2004) as scikit-image's
  ``structural_similarity`` computes it by default — what Adebayo et al. (NeurIPS 2018) used:
  a 7×7 uniform window, sample (co)variances (÷ 48), K1 = 0.01, K2 = 0.03, ``data_range`` 1 for
  maps in [0, 1], averaged over the windows that fit inside the image.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

SSIM_WINDOW = 7
SSIM_K1, SSIM_K2 = 0.01, 0.03


def _pair(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"compare maps of the same shape (N, H, W), got {tuple(a.shape)} and {tuple(b.shape)}")
    return a.detach().double(), b.to(a.device).detach().double()


def average_ranks(values: torch.Tensor) -> torch.Tensor:
    """Ranks 1..P of each row of (N, P), ties sharing their average rank (``scipy.stats.rankdata``)."""
    out = torch.empty_like(values, dtype=torch.float64)
    for i, row in enumerate(values):
        ordered, order = row.sort(stable=True)
        _, inverse, counts = torch.unique_consecutive(ordered, return_inverse=True, return_counts=True)
        ends = counts.cumsum(0).double()                    # 1-based rank of each tie group's last member
        mean_rank = ends - (counts.double() - 1) / 2
        out[i, order] = mean_rank[inverse]
    return out


def spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman rank correlation over the pixels of each pair of maps (N, H, W) -> (N,); NaN if a map is constant."""
    x, y = _pair(a, b)
    rx, ry = average_ranks(x.flatten(1)), average_ranks(y.flatten(1))
    rx, ry = rx - rx.mean(1, keepdim=True), ry - ry.mean(1, keepdim=True)
    denominator = (rx.square().sum(1) * ry.square().sum(1)).sqrt()
    return torch.where(denominator > 0, (rx * ry).sum(1) / denominator.clamp_min(1e-300),
                       torch.full_like(denominator, float("nan")))


def ssim(a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0, win_size: int = SSIM_WINDOW) -> torch.Tensor:
    """Mean SSIM of each pair of maps (N, H, W) -> (N,), scikit-image's default form (module docstring)."""
    x, y = _pair(a, b)
    if min(x.shape[-2:]) < win_size or win_size < 2:
        raise ValueError(f"maps of {tuple(x.shape[-2:])} pixels are smaller than the {win_size}×{win_size} window")
    window = torch.full((1, 1, win_size, win_size), 1.0 / win_size**2, dtype=x.dtype, device=x.device)

    def local_mean(t: torch.Tensor) -> torch.Tensor:   # only windows inside the map (scikit-image crops the rest)
        return F.conv2d(t[:, None], window)[:, 0]

    n = win_size**2
    cov_norm = n / (n - 1)
    ux, uy = local_mean(x), local_mean(y)
    vx = cov_norm * (local_mean(x * x) - ux * ux)
    vy = cov_norm * (local_mean(y * y) - uy * uy)
    vxy = cov_norm * (local_mean(x * y) - ux * uy)
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.flatten(1).mean(1)
