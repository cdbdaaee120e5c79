# mypy: disallow-untyped-defs, disallow-incomplete-defs
"""Per-image comparisons with their uncertainty: paired differences and percentile bootstrap intervals.

Two maps scored on the *same* images are compared image by image, d_i = a_i − b_i, and the mean
difference is reported with a percentile bootstrap confidence interval (Efron & Tibshirani, *An
Introduction to the Bootstrap*, 1993, §13.3): B resamples of the n images drawn with replacement,
the mean of each, and the (1 − level)/2 and (1 + level)/2 quantiles of those B means (linear
interpolation, NumPy's default). The resamples come from ``numpy.random.default_rng(seed)`` as
``integers(0, n, (B, n))``, the draw ``scipy.stats.bootstrap`` makes, so the interval equals
scipy's ``method="percentile"`` interval for the same seed (tests/metrics/test_statistics.py).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

ArrayLike = torch.Tensor | np.ndarray | Sequence[float]

#: Resamples per interval: the Monte-Carlo error of a 95 % percentile bound is then well below the
#: differences these intervals are read for (a course choice; ``n_resamples=`` changes it).
N_RESAMPLES = 10_000


def _as_array(values: ArrayLike, name: str) -> np.ndarray:
    array = values.detach().cpu().double().numpy() if isinstance(values, torch.Tensor) else np.asarray(
        values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be one non-empty value per image (1-D), got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds NaN or infinite values: drop those images first")
    return array


def bootstrap_indices(n: int, n_resamples: int = N_RESAMPLES, seed: int = 0) -> np.ndarray:
    """(n_resamples, n) image indices drawn with replacement: ``default_rng(seed).integers(0, n, (B, n))``."""
    if n < 1 or n_resamples < 1:
        raise ValueError(f"need at least one image and one resample, got n={n}, n_resamples={n_resamples}")
    return np.random.default_rng(seed).integers(0, n, (n_resamples, n))


@dataclass(frozen=True)
class Interval:
    """A mean over n images and its percentile bootstrap interval [low, high] at ``level``."""

    mean: float
    low: float
    high: float
    n: int
    level: float = 0.95

    @property
    def excludes_zero(self) -> bool:
        """True when the whole interval is on one side of 0 (a difference the resampling supports)."""
        return self.low > 0 or self.high < 0

    def __str__(self) -> str:
        return f"{self.mean:+.4f} [{self.low:+.4f}, {self.high:+.4f}]"


def bootstrap_ci(values: ArrayLike, *, level: float = 0.95, n_resamples: int = N_RESAMPLES,
                 seed: int = 0) -> Interval:
    """Mean of ``values`` (one per image) with its percentile bootstrap interval at ``level``."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    v = _as_array(values, "values")
    means = v[bootstrap_indices(v.size, n_resamples, seed)].mean(axis=1)
    low, high = np.percentile(means, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return Interval(float(v.mean()), float(low), float(high), int(v.size), level)


def paired_differences(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """d_i = a_i − b_i for two scores of the same n images (same order), as float64."""
    x, y = _as_array(a, "a"), _as_array(b, "b")
    if x.shape != y.shape:
        raise ValueError(f"paired scores need the same images: got {x.size} and {y.size} values")
    return x - y


@dataclass(frozen=True)
class PairedComparison:
    """a − b on the same images: the mean difference with its interval, and how often a > b, a < b, a = b."""

    difference: Interval
    wins: int
    losses: int
    ties: int

    @property
    def n(self) -> int:
        return self.difference.n

    def verdict(self, a: str = "a", b: str = "b", higher_is_better: bool = True) -> str:
        """One line from the numbers: which is better, or that the interval includes 0."""
        d = self.difference
        if not d.excludes_zero:
            return f"{a} vs {b}: no difference the data support (mean {d}, {d.level:.0%} CI includes 0)"
        better = a if (d.mean > 0) == higher_is_better else b
        return (f"{a} vs {b}: {better} is better (mean difference {d}; {a} higher on {self.wins}, "
                f"lower on {self.losses}, equal on {self.ties} of {self.n} images)")


def paired_bootstrap(a: ArrayLike, b: ArrayLike, *, level: float = 0.95, n_resamples: int = N_RESAMPLES,
                     seed: int = 0, tie_tol: float = 0.0) -> PairedComparison:
    """Paired comparison of two per-image scores: mean of a − b with a percentile bootstrap interval
    (images resampled together, so the pairing is kept) and the counts of a > b, a < b, |a − b| ≤ ``tie_tol``."""
    d = paired_differences(a, b)
    tie = np.abs(d) <= tie_tol
    return PairedComparison(bootstrap_ci(d, level=level, n_resamples=n_resamples, seed=seed),
                            int(((d > 0) & ~tie).sum()), int(((d < 0) & ~tie).sum()), int(tie.sum()))
