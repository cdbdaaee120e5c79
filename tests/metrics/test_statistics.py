"""Paired differences and percentile bootstrap intervals, against scipy.stats.bootstrap and hand cases."""
import numpy as np
import pytest
import scipy.stats
import torch

from unioncam_lite.metrics.statistics import (
    bootstrap_ci,
    bootstrap_indices,
    paired_bootstrap,
    paired_differences,
)


@pytest.mark.parametrize(("n", "level", "seed"), [(37, 0.9, 3), (200, 0.95, 0), (5, 0.99, 11)])
def test_interval_is_scipys_percentile_bootstrap_on_the_same_resamples(n, level, seed):
    v = np.random.default_rng(n).normal(size=n)
    ref = scipy.stats.bootstrap((v,), np.mean, n_resamples=2000, method="percentile", confidence_level=level,
                                rng=np.random.default_rng(seed), vectorized=True).confidence_interval
    ci = bootstrap_ci(torch.tensor(v), level=level, n_resamples=2000, seed=seed)
    assert ci.low == pytest.approx(ref.low, abs=1e-12) and ci.high == pytest.approx(ref.high, abs=1e-12)
    assert ci.mean == pytest.approx(v.mean()) and ci.n == n and ci.level == level


def test_hand_cases():
    same = bootstrap_ci([0.25] * 9)                       # every resample has the same mean
    assert (same.mean, same.low, same.high) == (0.25, 0.25, 0.25) and same.excludes_zero
    two = bootstrap_ci([0.0, 1.0], n_resamples=4000, seed=1, level=0.4)
    # resample means are 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4: the 30th and 70th percentiles are 0.5
    assert two.low == pytest.approx(0.5) and two.high == pytest.approx(0.5)
    idx = bootstrap_indices(3, 4, seed=7)
    assert idx.shape == (4, 3) and np.array_equal(idx, np.random.default_rng(7).integers(0, 3, (4, 3)))


def test_paired_comparison_counts_and_verdict():
    a = torch.tensor([0.5, 0.6, 0.7, 0.8, 0.4])
    b = torch.tensor([0.4, 0.5, 0.7, 0.6, 0.3])
    assert np.allclose(paired_differences(a, b), [0.1, 0.1, 0.0, 0.2, 0.1])
    cmp = paired_bootstrap(a, b, seed=0, tie_tol=1e-6)
    assert (cmp.wins, cmp.losses, cmp.ties, cmp.n) == (4, 0, 1, 5)
    assert cmp.difference.excludes_zero and cmp.difference.low >= 0
    assert cmp.verdict("A", "B").startswith("A vs B: A is better")
    assert "B is better" in cmp.verdict("A", "B", higher_is_better=False)   # e.g. background energy
    noise = paired_bootstrap([1.0, -1.0, 1.0, -1.0], [0.0] * 4)
    assert "no difference" in noise.verdict() and not noise.difference.excludes_zero


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="same images"):
        paired_differences([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="NaN"):
        bootstrap_ci([1.0, float("nan")])
    with pytest.raises(ValueError, match="level"):
        bootstrap_ci([1.0], level=1.5)
    with pytest.raises(ValueError, match="1-D"):
        bootstrap_ci(np.zeros((2, 2)))
