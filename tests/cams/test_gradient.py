"""Grad-CAM family: hand-computed definition, peer libraries, and invariants."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from unioncam_lite import (
    capture,
    gradcam,
    gradcam_map,
    gradcampp,
    gradcampp_map,
    layercam,
    layercam_map,
    normalize_maps,
    xgradcam,
    xgradcam_map,
)

METHODS = [gradcam, gradcampp, xgradcam, layercam]


def test_gradcam_equals_hand_computed_definition(tiny, images):
    # For conv -> ReLU -> global average pool -> linear, ∂y_c/∂A_k,ij = fc.weight[c, k] / (h*w), so the
    # GAP-of-gradients weight is fc.weight[c, k] / (h*w): Grad-CAM = ReLU(Σ_k fc.weight[c,k]/(hw) A_k).
    A = torch.relu(F.conv2d(images, tiny.conv.weight, tiny.conv.bias, stride=2, padding=1))
    c = torch.tensor([3, 1])
    hw = A.shape[2] * A.shape[3]
    expected_low = torch.relu(torch.einsum("nk,nkij->nij", tiny.fc.weight[c] / hw, A)).detach()
    cap = capture(tiny, images, "act", c)
    assert torch.allclose(cap.gradients, (tiny.fc.weight[c] / hw)[:, :, None, None].expand_as(A), atol=1e-7)
    assert torch.allclose(gradcam_map(cap.activations, cap.gradients), expected_low, atol=1e-6)
    up = F.interpolate(expected_low[:, None], size=(16, 16), mode="bilinear", align_corners=False)[:, 0]
    assert torch.allclose(gradcam(tiny, images, "act", c), normalize_maps(up), atol=1e-5)


@pytest.mark.parametrize("method", METHODS)
def test_shape_range_and_batch_equals_single_runs(method, tiny, images):
    maps = method(tiny, images, "act", [0, 2])
    assert maps.shape == (2, 16, 16) and maps.min() >= 0 and maps.max() <= 1
    for i, c in enumerate([0, 2]):
        assert torch.allclose(maps[i], method(tiny, images[i:i + 1], "act", c)[0], atol=1e-6)


@pytest.mark.parametrize("ours,name", [(gradcam_map, "GradCAM"), (xgradcam_map, "XGradCAM"),
                                       (layercam_map, "LayerCAM")])
def test_matches_torchcam_on_the_real_model(ours, name, lite0, chelsea):
    torchcam = pytest.importorskip("torchcam.methods")
    model, spec = lite0
    x = chelsea[1]
    cap = capture(model, x, spec.target_layer)
    with getattr(torchcam, name)(model, spec.target_layer, input_shape=(3, 224, 224)) as extractor:
        logits = model(x)
        theirs = extractor(int(cap.class_idx[0]), logits)[0].detach()
    mine = normalize_maps(ours(cap.activations, cap.gradients))
    assert torch.allclose(mine, theirs, atol=1e-4)


@pytest.mark.parametrize("ours,name", [(gradcam_map, "GradCAM"), (xgradcam_map, "XGradCAM")])
def test_weights_match_pytorch_grad_cam(ours, name, lite0, chelsea):
    """pytorch-grad-cam's own weight function on our captured A and W gives the same map."""
    pgc = pytest.importorskip("pytorch_grad_cam")
    model, spec = lite0
    cap = capture(model, chelsea[1], spec.target_layer)
    A, W = cap.activations, cap.gradients
    weights = getattr(pgc, name).get_cam_weights(None, None, None, None, A.numpy(), W.numpy())
    reference = torch.relu(torch.einsum("nk,nkij->nij", torch.as_tensor(np.asarray(weights), dtype=A.dtype), A))
    assert torch.allclose(ours(A, W), reference, rtol=1e-4, atol=1e-6 * reference.max())


def test_real_model_gradcam_points_at_the_cat(lite0, chelsea):
    model, spec = lite0
    cam = gradcam(model, chelsea[1], spec.target_layer)[0]
    centre = cam[56:168, 56:168]
    assert centre.mean() > cam.mean()


def test_gradcampp_weights_match_pytorch_grad_cam(tiny, images):
    """With gradients ~1 (fc scaled up), pytorch-grad-cam's ε = 1e-6 is negligible and both agree."""
    pgc = pytest.importorskip("pytorch_grad_cam")
    with torch.no_grad():
        tiny.fc.weight.mul_(200)
    cap = capture(tiny, images, "act", [0, 4])
    A, W = cap.activations, cap.gradients
    assert W.abs().max() > 0.5
    weights = pgc.GradCAMPlusPlus.get_cam_weights(None, None, None, None, A.double().numpy(), W.double().numpy())
    reference = torch.relu(torch.einsum("nk,nkij->nij", torch.as_tensor(weights, dtype=A.dtype), A))
    assert torch.allclose(gradcampp_map(A, W), reference, rtol=1e-4, atol=1e-6)


def test_gradcampp_alpha_by_hand():
    # one channel, A = [[1, 3]] (Σ = 4), W = [[0.5, -1]]: α = 1/(2 + 4·0.5) = 0.25 at the positive gradient
    A = torch.tensor([[[[1.0, 3.0]]]])
    W = torch.tensor([[[[0.5, -1.0]]]])
    weight = 0.25 * 0.5
    assert torch.allclose(gradcampp_map(A, W), weight * A[:, 0])
