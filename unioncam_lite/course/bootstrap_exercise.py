"""Exercise 4 of notebook 08: the percentile bootstrap interval from given resamples.

``my_bootstrap_ci(d, idx, level)`` → (low, high): the 100·(1 − level)/2 and 100·(1 + level)/2
percentiles of the B resample means ``d[idx].mean(axis=1)`` (Efron & Tibshirani 1993, §13.3).
The resamples are given, so the comparison is exact: :func:`percentile_interval` (the reference)
equals :func:`~unioncam_lite.metrics.statistics.bootstrap_ci` for ``idx = bootstrap_indices(n, B, seed)``
(tests/course/test_claims_exercises.py). The answer's pair is compared as a float64 tensor (2,)
(:func:`as_interval`); the arrays it gets are copies.
"""
from __future__ import annotations

import statistics
from collections.abc import Callable

import numpy as np
import torch

from ..metrics.localisation import energy_pointing_game
from ..metrics.statistics import bootstrap_ci, bootstrap_indices, paired_bootstrap
from .checking import Args, Cases, Exercise, Mistake, feedback, run_exercise
from .hidden_inputs import Draw, shapes_run
from .metric_exercises import real_case, shapes_masks

SALT_BOOTSTRAP = 66


def percentile_interval(d: np.ndarray, idx: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The percentile bootstrap interval (low, high) of the mean of d from the resamples idx (B, n):
    the 100·(1 − level)/2 and 100·(1 + level)/2 percentiles (linear interpolation) of the B means."""
    means = np.asarray(d, dtype=np.float64)[idx].mean(axis=1)
    low, high = np.percentile(means, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return float(low), float(high)


def _pair(low: object, high: object) -> torch.Tensor:
    return torch.tensor([float(low), float(high)], dtype=torch.float64)   # type: ignore[arg-type]


def _means(d: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return np.asarray(d, dtype=np.float64)[idx].mean(axis=1)


def _percentiles(q: Callable[[float], tuple[float, float]], axis: int = 1, method: str = "linear",
                 of_d: bool = False) -> Callable:
    """A mistake: percentiles ``q(level)`` of the resample means (over ``axis``), or of d itself."""
    def variant(d: np.ndarray, idx: np.ndarray, level: float) -> torch.Tensor:
        values = np.asarray(d, dtype=np.float64) if of_d else np.asarray(d, dtype=np.float64)[idx].mean(axis=axis)
        return _pair(*np.percentile(values, list(q(level)), method=method))   # type: ignore[call-overload]
    return variant


def _normal(d: np.ndarray, idx: np.ndarray, level: float) -> torch.Tensor:
    z = statistics.NormalDist().inv_cdf((1 + level) / 2)
    sd = float(_means(d, idx).std())
    return _pair(float(np.mean(d)) - z * sd, float(np.mean(d)) + z * sd)


def _correct(level: float) -> tuple[float, float]:
    return 100 * (1 - level) / 2, 100 * (1 + level) / 2


_NUMBER = (float, int, np.float64, np.float32, np.float16, np.int64, np.int32)


def as_interval(fn: object) -> object:
    """The learner's ``fn(d, idx, level)`` on copies of the arrays, its (low, high) as a float64 tensor (2,) to
    compare; anything but two numbers is refused with a sentence saying what to return."""
    if not callable(fn):
        return fn                       # check() says so

    def interval(d: np.ndarray, idx: np.ndarray, level: float) -> torch.Tensor:
        got = fn(np.array(d), np.array(idx), level)
        if type(got) is np.ndarray and got.shape == (2,):
            got = tuple(got.tolist())
        if type(got) not in (tuple, list) or len(got) != 2:
            raise TypeError(f"returned {type(got).__name__}, expected a pair: `return low, high` (two numbers)")
        values = [v.item() if type(v) is np.ndarray and v.shape == () else v for v in got]
        if not all(type(v) in _NUMBER or (type(v) is torch.Tensor and v.numel() == 1) for v in values):
            raise TypeError("expected two numbers (low, high), got " + ", ".join(type(v).__name__ for v in values))
        return _pair(*values)
    interval.__name__ = getattr(fn, "__name__", "answer")
    return interval


def _about_bootstrap(args: Args) -> str:
    d, idx, level = args
    return (f"n = {len(d)} differences, B = {len(idx)} resamples, level = {level:g} (the "
            f"{100 * (1 - level) / 2:g}th and {100 * (1 + level) / 2:g}th percentiles)")


def _bootstrap_cases(d: np.ndarray | None = None, idx: np.ndarray | None = None) -> Cases:
    rng = np.random.default_rng(66)
    skewed = rng.exponential(0.1, 30) - 0.05
    return [("hand-made d of 5 images, B = 2000, level 0.95",
             (np.array([0.1, 0.1, 0.0, 0.2, 0.1]), bootstrap_indices(5, 2000, seed=0), 0.95)),
            ("skewed d of 30 images, B = 1000, level 0.9", (skewed, bootstrap_indices(30, 1000, seed=1), 0.9)),
            ("one image, B = 50", (np.array([0.3]), bootstrap_indices(1, 50, seed=2), 0.95)),
            *real_case("real differences, level 0.95", d, idx, 0.95)]


def _bootstrap_hidden(seed: int) -> Cases:
    d = Draw(seed, SALT_BOOTSTRAP)
    n, b = d.integer(6, 60), d.integer(200, 3000)
    level = round(d.uniform(0.8, 0.99), 2)
    values = (d.tensor(n) ** 3).double().numpy()             # heavy tails: the interval is not symmetric
    r = shapes_run(seed)["result"]
    masks = shapes_masks(seed)
    real = (energy_pointing_game(r.cam, masks) - energy_pointing_game(r.denoised, masks)).double().numpy()
    return [(f"hidden: heavy-tailed d of {n}, B = {b}, level {level:g}",
             (values, bootstrap_indices(n, b, seed=int(seed)), level)),
            (f"hidden: heavy-tailed d of {n}, B = {b}, level 0.95", (values, bootstrap_indices(n, b, seed=1), 0.95)),
            ("hidden: real EPG differences, shapes CNN, level 0.9", (real, bootstrap_indices(2, b, seed=3), 0.9))]


BOOTSTRAP = Exercise(
    "percentile bootstrap interval", lambda d, idx, level: _pair(*percentile_interval(d, idx, level)), rtol=1e-6,
    forbidden=(bootstrap_ci, paired_bootstrap),
    mistakes=(
        Mistake(_percentiles(lambda level: (2.5, 97.5)),
                "right at level 0.95 only: the percentiles are 100·(1 − level)/2 and 100·(1 + level)/2"),
        Mistake(_percentiles(lambda level: (100 * (1 - level), 100 * level)),
                "the two tails share 1 − level: the percentiles are 100·(1 − level)/2 and 100·(1 + level)/2"),
        Mistake(_percentiles(lambda level: ((1 - level) / 2, (1 + level) / 2)),
                "np.percentile takes percent (0–100): multiply (1 ± level)/2 by 100 (np.quantile takes fractions)"),
        Mistake(_percentiles(_correct, of_d=True),
                "those are percentiles of the differences d themselves: take the mean of each resample first, "
                "d[idx].mean(axis=1), then the percentiles of those B means"),
        Mistake(_percentiles(_correct, axis=0),
                "you averaged over the resamples (axis=0): each resample's mean is over its n images, "
                "d[idx].mean(axis=1), giving B means"),
        *(Mistake(_percentiles(_correct, method=m),
                  "your percentile is one of the means itself (a nearest-rank rule): use np.percentile's default "
                  "linear interpolation")
          for m in ("lower", "higher", "nearest", "inverted_cdf")),
        Mistake(_normal, "that is the normal interval mean ± z·sd of the resample means: the percentile bootstrap "
                         "reads the percentiles of the B means directly"),
        Mistake(lambda d, idx, level: _pair(*percentile_interval(d, idx, level)[::-1]),
                "low and high are swapped: return (low, high)"),
    ),
    visible=_bootstrap_cases, hidden=_bootstrap_hidden, about=_about_bootstrap,
    advice="means = d[idx].mean(axis=1) (B values); np.percentile(means, [100 * (1 - level) / 2, "
           "100 * (1 + level) / 2])")



@feedback
def check_bootstrap_ci(fn: Callable, d: np.ndarray | None = None, idx: np.ndarray | None = None, *,
                       seed: int | None = None) -> bool:
    """Exercise 08.4: ``fn(d (n,), idx (B, n), level) -> (low, high)``, the percentile bootstrap interval."""
    return run_exercise(BOOTSTRAP, as_interval(fn), d, idx, seed=seed)
