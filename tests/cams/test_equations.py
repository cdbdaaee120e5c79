"""Each UnionCAM equation on tiny tensors whose answer is worked out by hand."""
import math

import pytest
import torch
from torch import nn

from unioncam_lite import denoise_gradients, denoised_cam, pixel_alpha, score_gain, select, union
from unioncam_lite.cams.common import normalize_maps, upsample_normalize


def test_eq1_percentile_threshold_per_channel():
    W = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]],          # channel 0
                       [[-4.0, -1.0], [0.5, 8.0]]]])      # channel 1
    # θ=50: channel 0 quantile = 2.5 -> 1, 2 zeroed; channel 1 sorted [-4,-1,.5,8] -> -0.25 -> -4, -1 zeroed
    out = denoise_gradients(W, 50)
    assert torch.equal(out, torch.tensor([[[[0.0, 0.0], [3.0, 4.0]], [[0.0, 0.0], [0.5, 8.0]]]]))
    # θ=10: channel 0 -> 1 + 0.3*(2-1) = 1.3 zeroes only the 1; channel 1 -> -4 + 0.3*3 = -3.1 zeroes only -4
    out = denoise_gradients(W, 10)
    assert torch.equal(out, torch.tensor([[[[0.0, 2.0], [3.0, 4.0]], [[0.0, -1.0], [0.5, 8.0]]]]))


def test_eq1_theta_0_is_identity_and_100_keeps_the_max():
    W = torch.randn(2, 5, 7, 7, generator=torch.Generator().manual_seed(0))
    assert torch.equal(denoise_gradients(W, 0), W)
    top = W.flatten(2).amax(-1)[..., None, None]
    assert torch.equal(denoise_gradients(W, 100), torch.where(top == W, W, torch.zeros_like(W)))


def test_eq1_matches_numpy_percentile():
    import numpy as np

    W = torch.randn(1, 3, 5, 5, generator=torch.Generator().manual_seed(2))
    for theta in (0, 10, 37.5, 90):
        out = denoise_gradients(W, theta)
        for k in range(3):
            w = W[0, k].numpy()
            expected = np.where(w < np.percentile(w, theta), 0, w)
            np.testing.assert_allclose(out[0, k].numpy(), expected, rtol=1e-6)


def test_eq3_pixel_alpha():
    W = torch.tensor([[[[0.0, -1.0], [2.0, 3.0]]]])
    assert torch.allclose(pixel_alpha(W), torch.tensor([[[[0.0, 0.0], [0.2, 0.2]]]]))
    assert torch.equal(pixel_alpha(-W.abs()), torch.zeros_like(W))  # no positive gradient -> α = 0, no NaN


def test_eq2_denoised_cam():
    A = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[2.0, 0.0], [1.0, 1.0]]]])
    W = torch.tensor([[[[0.0, -1.0], [2.0, 3.0]], [[1.0, 1.0], [0.0, 2.0]]]])
    # channel 0: α = .2 at (1,0),(1,1): .2*2*3, .2*3*4 ; channel 1: Σ=4, α=.25 at (0,0),(0,1),(1,1)
    expected = torch.tensor([[[0.25 * 1 * 2, 0.25 * 1 * 0], [0.2 * 2 * 3, 0.2 * 3 * 4 + 0.25 * 2 * 1]]])
    assert torch.allclose(denoised_cam(A, W), expected)


def test_eq6_union_and_eq8_select():
    L_den = torch.tensor([[[0.0, 1.0], [0.5, 0.0]]])
    L_reg = torch.tensor([[[1.0, 0.0], [0.5, 0.0]]])
    fused = union(L_den, L_reg, torch.tensor([0.3]), torch.tensor([0.1]))
    raw = torch.tensor([[[0.1, 0.3], [0.2, 0.0]]])  # 0.3 L_den + 0.1 L_reg
    assert torch.allclose(fused, raw / 0.3)
    cam, chosen = select(torch.stack([fused[0], fused[0]]), torch.stack([L_reg[0], L_reg[0]]),
                         torch.tensor([0.5, 0.1]), torch.tensor([0.2, 0.2]))
    assert chosen == ["fused", "region"]
    assert torch.equal(cam[0], fused[0]) and torch.equal(cam[1], L_reg[0])
    # a tie goes to the region map (Eq. 8 asks for a strict gain)
    assert select(fused, L_reg, torch.tensor([0.2]), torch.tensor([0.2]))[1] == ["region"]


def test_eq6_negative_betas_are_clipped_at_zero():
    """The course's reading of Eq. 6: w = max(β, 0). Worked by hand on 2x2 maps, three images:
    (1) β_den = −0.2, β_reg = 0.4: L_den gets no weight, L_fused = normalise(0.4 L_reg) = L_reg;
    (2) both negative: no weight at all, L_fused = L_reg — the literal formula would give
        normalise(−0.2 L_den − 0.1 L_reg), the map upside down;
    (3) β_den = 0.5, β_reg = −0.3: L_fused = normalise(0.5 L_den) = L_den."""
    L_den = torch.tensor([[0.0, 1.0], [0.5, 0.0]]).expand(3, 2, 2)
    L_reg = torch.tensor([[1.0, 0.0], [0.25, 0.0]]).expand(3, 2, 2)
    fused = union(L_den, L_reg, torch.tensor([-0.2, -0.2, 0.5]), torch.tensor([0.4, -0.1, -0.3]))
    assert torch.allclose(fused[0], L_reg[0]) and torch.equal(fused[1], L_reg[1])
    assert torch.allclose(fused[2], L_den[2])
    literal = normalize_maps(-0.2 * L_den[1] - 0.1 * L_reg[1])   # what the unclipped formula gives
    assert literal[0, 1] == 0 and literal[1, 1] == 1               # L_den's peak lowest, the pixel both call
    assert fused[1][0, 0] == 1 and fused[1][1, 1] == 0             # background highest; clipped: L_reg as it is
    # a zero β is the same as a negative one; positive βs are Eq. 6 as written
    assert torch.equal(union(L_den[:1], L_reg[:1], torch.tensor([0.0]), torch.tensor([0.0])), L_reg[:1])
    both = union(L_den[:1], L_reg[:1], torch.tensor([0.2]), torch.tensor([0.6]))
    assert torch.allclose(both, normalize_maps(0.2 * L_den[:1] + 0.6 * L_reg[:1]))


class SumModel(nn.Module):
    """logits = (Σ pixels, 0): f_0 = sigmoid(Σ x) after softmax."""

    def forward(self, x):
        s = x.flatten(1).sum(1)
        return torch.stack([s, torch.zeros_like(s)], dim=1)


def test_eq4_score_gain_masks_in_pixel_space_against_a_black_image():
    M = torch.tensor([[[1.0, 0.5], [0.0, 0.25]]])
    # pixels all 1, mean = std = 0.5 -> model input x = (1 - .5)/.5 = 1
    x = torch.ones(1, 1, 2, 2)
    beta = score_gain(SumModel(), x, M, torch.tensor([0]), mean=[0.5], std=[0.5])
    sigmoid = lambda v: 1 / (1 + math.exp(-v))
    masked_input_sum = sum((m - 0.5) / 0.5 for m in (1.0, 0.5, 0.0, 0.25))   # (M·1 − .5)/.5
    black_input_sum = 4 * (0 - 0.5) / 0.5
    assert beta.item() == pytest.approx(sigmoid(masked_input_sum) - sigmoid(black_input_sum), abs=1e-6)
    # without mean/std the input is pixel space: black = zeros
    beta = score_gain(SumModel(), x, M, torch.tensor([0]))
    assert beta.item() == pytest.approx(sigmoid(1.75) - 0.5, abs=1e-6)
    # several maps per image in one call: (S, N, H, W) -> (S, N)
    both = score_gain(SumModel(), x, torch.stack([M, torch.ones_like(M)]), torch.tensor([0]))
    assert both.shape == (2, 1) and both[1, 0].item() == pytest.approx(sigmoid(4) - 0.5, abs=1e-6)


def test_normalisation_and_upsampling():
    m = torch.tensor([[[2.0, 4.0], [6.0, 10.0]]])
    assert torch.allclose(normalize_maps(m), torch.tensor([[[0.0, 0.25], [0.5, 1.0]]]))
    assert torch.equal(normalize_maps(torch.full((1, 3, 3), 7.0)), torch.zeros(1, 3, 3))
    up = upsample_normalize(m, (4, 4))
    assert up.shape == (1, 4, 4) and up.min() == 0 and up.max() == 1
    # bilinear with align_corners=False: the corner pixel equals the corner value, the centre averages
    assert up[0, 1:3, 1:3].mean().item() == pytest.approx(((4 + 6 + 10 + 2) / 4 - 2) / 8)


def test_eq2_has_no_outer_relu():
    """The paper's Eq. 2 is Σ_k α_k ⊙ ReLU(W_k) ⊙ A_k, with no ReLU around the sum."""
    A = torch.tensor([[[[-2.0, 1.0]]]])            # one channel, negative activation at the left
    W = torch.tensor([[[[1.0, 3.0]]]])              # α = 1/4 at both; ReLU(W) = W
    assert torch.allclose(denoised_cam(A, W), torch.tensor([[[-0.5, 0.75]]]))


