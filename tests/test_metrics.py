"""Metrics on cases whose answer is known by construction."""
import math

import pytest
import torch
from conftest import TinyCNN
from torch import nn
from torchvision.transforms.functional import gaussian_blur

from unioncam_lite.metrics import (
    average_drop_increase,
    box_mask,
    drop_increase_per_image,
    energy_pointing_game,
    insertion_deletion,
    iou_at_threshold,
)

sigmoid = lambda v: 1 / (1 + math.exp(-v))


class RegionSum(nn.Module):
    """logits = (Σ of channel-0 pixels inside the top-left 2x2 corner, 0): p_0 = sigmoid(that sum)."""

    def forward(self, x):
        s = x[:, 0, :2, :2].flatten(1).sum(1)
        return torch.stack([s, torch.zeros_like(s)], dim=1)


def test_all_ones_map_gives_average_drop_0_and_no_increase():
    model = TinyCNN(k=4, stride=1).eval()
    x = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    drop, inc = average_drop_increase(model, x, torch.ones(3, 16, 16), torch.tensor([0, 1, 2]),
                                      mean=[0.5] * 3, std=[0.2] * 3)
    assert drop == pytest.approx(0.0, abs=1e-4) and inc == 0.0


def test_a_real_increase_is_counted():
    x = torch.full((1, 1, 4, 4), -1.0)              # the corner sums to -4: p = σ(-4)
    cams = torch.zeros(1, 4, 4)
    cams[0, :2, :2] = 0.25                          # quarter of it: σ(-1) > σ(-4)
    drop, increased = drop_increase_per_image(RegionSum(), x, cams, 0)
    assert increased.tolist() == [True] and drop.item() == 0.0


def test_drop_and_increase_by_hand():
    x = torch.ones(2, 1, 4, 4)                     # pixel space (no mean/std): all ones
    cams = torch.zeros(2, 4, 4)
    cams[0, :2, :2] = 1.0                           # keeps the region -> same score: no drop
    cams[1, :2, :2] = 0.5                           # halves it -> drop (σ(4) − σ(2)) / σ(4)
    drop, increased = drop_increase_per_image(RegionSum(), x, cams, 0)
    assert drop[0].item() == pytest.approx(0.0, abs=1e-6)
    assert drop[1].item() == pytest.approx((sigmoid(4) - sigmoid(2)) / sigmoid(4), rel=1e-5)
    assert not increased.any()
    ad, ai = average_drop_increase(RegionSum(), x, cams, 0)
    assert ad == pytest.approx(50 * (sigmoid(4) - sigmoid(2)) / sigmoid(4), rel=1e-5) and ai == 0.0


def test_deletion_and_insertion_curves_by_hand():
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, :2, :2] = 1.0                           # the object: the 2x2 corner the model reads
    perfect = torch.zeros(1, 8, 8)
    perfect[0, :2, :2] = 1.0
    perfect[0] += torch.linspace(0, 0.1, 64).view(8, 8)  # unique ranks, corner still first
    out = insertion_deletion(RegionSum(), x, perfect, 0, steps=16)
    # deletion: 4 pixels per step and the corner goes first -> σ(4), then σ(0) = 0.5 for 16 steps
    expected_del = torch.tensor([sigmoid(4)] + [0.5] * 16)
    assert torch.allclose(out["deletion_curve"][0], expected_del, atol=1e-6)
    trapezoid = (expected_del.sum() - (expected_del[0] + expected_del[-1]) / 2) / 16
    assert out["deletion"][0].item() == pytest.approx(trapezoid.item(), abs=1e-6)
    # insertion: start from the blurred image (RISE's substrate by default), the corner comes back first
    blurred = rise_blur_reference(x)
    assert out["insertion_curve"][0, 0].item() == pytest.approx(sigmoid(float(blurred[0, 0, :2, :2].sum())), abs=1e-6)
    reflect = insertion_deletion(RegionSum(), x, perfect, 0, steps=16, blur="reflect")
    blurred = gaussian_blur(x, [11, 11], [5.0, 5.0])
    assert reflect["insertion_curve"][0, 0].item() == pytest.approx(sigmoid(float(blurred[0, 0, :2, :2].sum())),
                                                                    abs=1e-6)
    assert torch.allclose(out["insertion_curve"][0, 1:], torch.full((16,), sigmoid(4)), atol=1e-6)
    # a map that puts the corner last deletes it last: higher (worse) deletion, lower insertion
    worst = insertion_deletion(RegionSum(), x, 1 - perfect, 0, steps=16)
    assert worst["deletion"][0] > out["deletion"][0] and worst["insertion"][0] < out["insertion"][0]


def rise_blur_reference(x):
    """RISE's evaluation.py, written out independently: gkern(11, 5) = scipy's gaussian_filter of an
    11×11 delta (σ = 5), one kernel per channel, conv2d with zero padding klen // 2 on the model input."""
    import numpy as np
    from scipy.ndimage import gaussian_filter

    delta = np.zeros((11, 11))
    delta[5, 5] = 1
    k = torch.from_numpy(gaussian_filter(delta, 5).astype("float32"))
    c = x.shape[1]
    kern = torch.zeros(c, c, 11, 11)
    for i in range(c):
        kern[i, i] = k
    return torch.nn.functional.conv2d(x, kern, padding=5)


def test_insertion_starts_from_rises_substrate_on_a_real_model(lite0, chelsea):
    """Issue 9: the blur was torchvision's Gaussian with reflect padding, not RISE's kernel with zero padding."""
    from unioncam_lite.cams.masked import class_scores
    from unioncam_lite.metrics import rise_kernel

    model, spec = lite0
    x = chelsea[1]
    import numpy as np
    from scipy.ndimage import gaussian_filter

    delta = np.zeros((11, 11))
    delta[5, 5] = 1
    assert np.allclose(rise_kernel(11, 5.0).numpy(), gaussian_filter(delta, 5), atol=1e-7)
    cam = torch.rand(1, 224, 224, generator=torch.Generator().manual_seed(0))
    out = insertion_deletion(model, x, cam, 285, steps=4, mean=spec.mean, std=spec.std)
    with torch.no_grad():
        expected = class_scores(model(rise_blur_reference(x)), torch.tensor([285]), probs=True)
    assert out["insertion_curve"][0, 0].item() == pytest.approx(expected.item(), abs=1e-5)


def test_pointing_game_and_iou():
    mask = torch.zeros(2, 8, 8, dtype=torch.bool)
    mask[:, 2:6, 2:6] = True                        # 16 of 64 pixels
    perfect = mask.float()
    uniform = torch.ones(2, 8, 8)
    assert torch.allclose(energy_pointing_game(perfect, mask), torch.ones(2))
    assert torch.allclose(energy_pointing_game(uniform, mask), torch.full((2,), 0.25))
    assert torch.allclose(iou_at_threshold(perfect, mask), torch.ones(2))
    half = torch.zeros(2, 8, 8)
    half[:, 2:6, 2:4] = 0.9                         # covers half the object, nothing else
    assert torch.allclose(iou_at_threshold(half, mask, 0.5), torch.full((2,), 0.5))
    assert torch.equal(box_mask((2, 2, 6, 6), (8, 8)), mask[0])


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match=r"cams must have shape \(N, H, W\)"):
        average_drop_increase(RegionSum(), torch.ones(1, 1, 4, 4), torch.ones(4, 4), 0)
    with pytest.raises(ValueError, match="masks must match"):
        energy_pointing_game(torch.ones(1, 4, 4), torch.ones(1, 5, 5))
    with pytest.raises(ValueError, match="does not fit"):
        box_mask((0, 0, 9, 2), (8, 8))
