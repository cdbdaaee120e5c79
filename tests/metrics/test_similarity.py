"""Spearman and SSIM against scipy and a hand computation of the SSIM formula."""
import numpy as np
import pytest
import scipy.stats
import torch

from unioncam_lite.metrics.similarity import average_ranks, spearman, ssim


def test_ranks_and_spearman_match_scipy_with_ties():
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 5, (3, 6, 7), generator=g).float()          # many ties, as in ReLU'd maps
    b = torch.rand(3, 6, 7, generator=g).round(decimals=1)
    for i in range(3):
        assert np.allclose(average_ranks(a[i].flatten()[None])[0].numpy(), scipy.stats.rankdata(a[i].flatten()))
    ours = spearman(a, b)
    ref = [scipy.stats.spearmanr(a[i].flatten(), b[i].flatten()).statistic for i in range(3)]
    assert np.allclose(ours.numpy(), ref, atol=1e-12)
    assert torch.allclose(spearman(a, a), torch.ones(3, dtype=torch.float64))


def test_spearman_of_a_constant_map_is_nan():
    a = torch.rand(2, 4, 4)
    b = a.clone()
    b[1] = 0.0
    out = spearman(a, b)
    assert out[0] == pytest.approx(1.0) and torch.isnan(out[1])


def _ssim_one_window(x, y, data_range=1.0):
    """The SSIM formula written out for one 7x7 window (sample variances, as scikit-image)."""
    x, y = x.flatten(), y.flatten()
    ux, uy = x.mean(), y.mean()
    vx, vy = x.var(ddof=1), y.var(ddof=1)
    vxy = np.cov(x, y, ddof=1)[0, 1]
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    return (2 * ux * uy + c1) * (2 * vxy + c2) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))


def test_ssim_equals_the_formula_by_hand():
    rng = np.random.default_rng(0)
    x, y = rng.random((7, 7)), rng.random((7, 7))
    assert float(ssim(torch.tensor(x)[None], torch.tensor(y)[None])[0]) == pytest.approx(_ssim_one_window(x, y))
    # a 9x8 map: the mean over the 3x2 windows that fit, as scikit-image crops the border
    x, y = rng.random((9, 8)), rng.random((9, 8))
    windows = [_ssim_one_window(x[i:i + 7, j:j + 7], y[i:i + 7, j:j + 7]) for i in range(3) for j in range(2)]
    assert float(ssim(torch.tensor(x)[None], torch.tensor(y)[None])[0]) == pytest.approx(np.mean(windows))


def test_ssim_identity_and_errors():
    a = torch.rand(2, 10, 10)
    assert torch.allclose(ssim(a, a), torch.ones(2, dtype=torch.float64))
    assert float(ssim(a, 1 - a).max()) < 0.5
    with pytest.raises(ValueError, match="window"):
        ssim(torch.rand(1, 5, 5), torch.rand(1, 5, 5))
    with pytest.raises(ValueError, match="same shape"):
        spearman(torch.rand(1, 5, 5), torch.rand(1, 5, 4))
