"""Score-CAM / region map: torch-cam as the reference, and exact skipping."""
import pytest
import torch
from conftest import TinyCNN

from unioncam_lite import capture, normalize_maps, region_cam, region_map, scorecam
from unioncam_lite.cams.common import PixelSpace
from unioncam_lite.cams.score import channel_scores


def test_matches_torchcam_scorecam():
    """At stride 1 the feature map has the input's size, so masks need no resampling and the two agree exactly."""
    torchcam = pytest.importorskip("torchcam.methods")
    model = TinyCNN(k=8, stride=1, seed=3).eval()
    x = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(4))
    mine = scorecam(model, x, "act", 2)
    with torchcam.ScoreCAM(model, "act", batch_size=4, input_shape=(3, 16, 16)) as extractor:
        theirs = extractor(2, model(x))[0]
    assert torch.allclose(mine, theirs, atol=1e-5)


def test_weights_are_softmax_of_masked_score_gains_by_hand():
    """Score-CAM's weighting: scorecam's default, and region_cam's with region_weights="softmax"."""
    model = TinyCNN(k=4, stride=1, seed=5).eval()
    x = torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(6))
    cap = capture(model, x, "act", 1, gradients=False)
    A = cap.activations
    gains = []
    for k in range(4):
        mask = normalize_maps(A[0, k])
        with torch.no_grad():
            gains.append(model(mask * x)[0, 1] - model(torch.zeros_like(x))[0, 1])
    w = torch.softmax(torch.stack(gains), 0)
    expected = normalize_maps(torch.relu((w[:, None, None] * A[0]).sum(0)))
    assert torch.allclose(region_cam(model, x, A, cap.class_idx, region_weights="softmax")[0], expected, atol=1e-5)
    assert torch.allclose(scorecam(model, x, "act", 1)[0], expected, atol=1e-5)


def test_paper_weights_are_the_masked_probabilities_by_hand():
    """UnionCAM §3.2, region_cam's default: w_k = f_c(M_k ⊙ I0), the softmax probability of class c,
    no baseline, no softmax over channels; masks act in pixel space (mean/std undone)."""
    model = TinyCNN(k=4, stride=1, seed=5).eval()
    mean, std = torch.tensor([0.4, 0.5, 0.6]).view(1, 3, 1, 1), torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1)
    pixels = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(6))
    x = (pixels - mean) / std
    cap = capture(model, x, "act", 1, gradients=False)
    A = cap.activations
    w = []
    for k in range(4):
        mask = normalize_maps(A[0, k])
        with torch.no_grad():
            w.append(model((mask * pixels - mean) / std).softmax(1)[0, 1])
    expected = normalize_maps(torch.relu((torch.stack(w)[:, None, None] * A[0]).sum(0)))
    mine = region_cam(model, x, A, cap.class_idx, mean=[0.4, 0.5, 0.6], std=[0.2, 0.25, 0.3])[0]
    assert torch.allclose(mine, expected, atol=1e-5)
    assert not torch.allclose(mine, region_cam(model, x, A, cap.class_idx, mean=[0.4, 0.5, 0.6],
                                               std=[0.2, 0.25, 0.3], region_weights="softmax")[0], atol=1e-3)


def test_paper_weights_match_the_original_scorecam_code():
    """The original Score-CAM code (haofanwang/Score-CAM, cam/scorecam.py), re-typed: upsample A_k, skip a
    constant map, normalise, score = softmax(model(input * mask))[c], add score * upsampled A_k, ReLU,
    min-max. At stride 2 the masks are upsampled, so this also checks that weighting at feature resolution
    and upsampling afterwards is the same map."""
    import torch.nn.functional as F

    model = TinyCNN(k=6, stride=2, seed=11).eval()
    x = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(12))
    cap = capture(model, x, "act", 3, gradients=False)
    total = torch.zeros(1, 1, 16, 16)
    with torch.no_grad():
        for i in range(cap.activations.shape[1]):
            up = F.interpolate(cap.activations[:, i:i + 1], size=(16, 16), mode="bilinear", align_corners=False)
            if up.max() == up.min():
                continue
            mask = (up - up.min()) / (up.max() - up.min())
            total += model(x * mask).softmax(1)[0, 3] * up
    total = F.relu(total)
    expected = ((total - total.min()) / (total.max() - total.min()))[0, 0]
    assert torch.allclose(region_cam(model, x, cap.activations, cap.class_idx)[0], expected, atol=1e-5)
    assert torch.allclose(scorecam(model, x, "act", 3, region_weights="paper")[0], expected, atol=1e-5)


def test_region_weights_is_checked():
    from unioncam_lite import CamOptions

    with pytest.raises(ValueError, match="region_weights='Paper'.*'paper'.*'softmax'"):
        CamOptions(region_weights="Paper")  # type: ignore[arg-type]
    assert CamOptions(region_weights="softmax").replace(top_k=3).region_weights == "softmax"


def test_skipping_is_exact_on_the_real_model(lite0, chelsea):
    """Zero and duplicate channels are not forwarded, yet scores and the map are the same."""
    model, spec = lite0
    x = chelsea[1]
    cap = capture(model, x, spec.target_layer, gradients=False)
    assert (cap.activations.flatten(2).amax(-1) == 0).sum() > 100  # ReLU6 leaves many dead channels
    A = cap.activations[:, :320]  # a quarter of the channels keeps the test fast
    pixels = PixelSpace(spec.mean, spec.std, x)
    skipped, black = channel_scores(model, x, A, cap.class_idx, pixels, skip=True)
    full, black2 = channel_scores(model, x, A, cap.class_idx, pixels, skip=False)
    assert torch.equal(black, black2)
    assert torch.allclose(skipped, full, atol=1e-4)
    a = normalize_maps(region_map(A, skipped, black))
    b = normalize_maps(region_map(A, full, black))
    assert torch.allclose(a, b, atol=1e-5)


def test_duplicate_channels_share_one_forward_pass(monkeypatch):
    import unioncam_lite.cams.score as score

    model = TinyCNN(k=4, stride=1).eval()
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    A = torch.rand(2, 1, 8, 8).repeat(1, 5, 1, 1)     # 5 identical channels per image
    A[:, 1] *= 2.0                                     # a positive rescale (exact in binary): same mask
    A[:, 4] = 0                                        # a dead channel -> black image, no pass
    calls = []
    real = score.masked_scores
    monkeypatch.setattr(score, "masked_scores", lambda *a, **k: calls.append(a[2].shape[0]) or real(*a, **k))
    pixels = PixelSpace(None, None, x)
    s, black = channel_scores(model, x, A, torch.tensor([0, 1]), pixels)
    assert calls == [2]  # one mask per image
    assert torch.allclose(s[:, :4], s[:, :1].expand(2, 4), atol=1e-5) and torch.equal(s[:, 4], black)
