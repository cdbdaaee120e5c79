"""diagnose(): each finding checked against a hand-built case or an independent computation."""
import pytest
import torch
import torchvision
from conftest import TinyCNN

from unioncam_lite import diagnose, gradcam, load_model, union_cam, xgradcam
from unioncam_lite.cams.diagnose import constant_in_space
from unioncam_lite.data.shapes import generate, to_tensor


@pytest.fixture(scope="module")
def shapes_x():
    images, _, _ = generate(2, seed=3)
    return to_tensor(images)


def test_a_pooled_head_has_constant_gradients_so_xgradcam_is_gradcam_and_theta_does_nothing(shapes_x):
    model, spec = load_model("shapes_cnn", "cpu")
    d = diagnose(model, shapes_x, spec.target_layer)
    assert torch.equal(d.constant_gradient_channels, torch.ones(2))
    assert d.xgradcam_equals_gradcam.all() and not d.theta_changes_map.any()
    # independently: the two methods' maps, and UnionCAM's denoised map at two θ
    assert torch.allclose(gradcam(model, shapes_x, spec.target_layer), xgradcam(model, shapes_x, spec.target_layer),
                          atol=1e-5)
    a, b = (union_cam(model, shapes_x, spec.target_layer, theta=t, top_k=4).denoised for t in (0, 50))
    assert torch.allclose(a, b, atol=1e-6)
    assert "θ (Eq. 1) has no effect" in "\n".join(d.findings(0))


def test_a_flattened_head_lets_theta_act(shapes_x):
    model, spec = load_model("shapes_vgg", "cpu")
    d = diagnose(model, shapes_x, spec.target_layer)
    assert (d.constant_gradient_channels < 0.5).all() and d.theta_changes_map.all()
    a, b = (union_cam(model, shapes_x, spec.target_layer, theta=t, top_k=4).denoised for t in (0, 50))
    assert not torch.allclose(a, b, atol=1e-3)


def test_a_max_pool_after_the_layer_zeroes_three_quarters_of_the_gradients():
    """VGG's 2×2 max pool passes each window's gradient to one position: ≥ 75 % exact zeros (hand count)."""
    model = torchvision.models.vgg11(weights=None).eval()
    d = diagnose(model, torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0)), "features.19")
    assert d.zero_gradients[0] >= 0.75
    assert any("max pool" in line for line in d.findings(0))


def test_dead_and_duplicate_channels_are_counted():
    model = TinyCNN(k=4).eval()
    with torch.no_grad():
        model.conv.weight[1] = 2 * model.conv.weight[0]    # after the ReLU: twice channel 0, the same mask
        model.conv.bias[1] = 2 * model.conv.bias[0]
        model.conv.weight[2] = 0                           # always -1 before the ReLU: dead
        model.conv.bias[2] = -1
    d = diagnose(model, torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(0)), "act")
    assert int(d.dead_channels[0]) == 1 and int(d.duplicate_channels[0]) == 1
    assert "need 2 masked passes, not 4" in "\n".join(d.findings(0))


def test_a_class_with_only_negative_weights_gives_a_constant_gradcam_map():
    model = TinyCNN(k=4).eval()
    with torch.no_grad():
        model.fc.weight[0] = -model.fc.weight[0].abs() - 0.1   # every w_k < 0 and A ≥ 0 after the ReLU
    x = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    d = diagnose(model, x, "act", 0)
    assert bool(d.constant_maps["Grad-CAM"][0])
    assert torch.equal(gradcam(model, x, "act", 0), torch.zeros(1, 16, 16))    # independently: all zeros


def test_negative_activations_before_the_relu():
    model = TinyCNN(k=4).eval()
    d = diagnose(model, torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(0)), "conv")
    assert 0 < float(d.negative_activations[0]) < 1
    assert any("before its ReLU" in line for line in d.findings(0))
    assert str(d).startswith("image 0:\n  layer 'conv'")


def test_constant_in_space_by_hand():
    W = torch.tensor([[[[2.0, 2.0], [2.0, 2.0]], [[1.0, 0.0], [0.0, 0.0]]]])
    assert constant_in_space(W).tolist() == [[True, False]]


def test_all_zero_gradients_are_named_as_such():
    """A freshly built torchvision ViT has a zero head: every gradient is 0 and diagnose says so (not "a pooled head")."""
    from torchvision.models import vit_b_16

    from unioncam_lite import vit_reshape

    model = vit_b_16(weights=None, image_size=32).eval()
    d = diagnose(model, torch.randn(1, 3, 32, 32), "encoder.layers.encoder_layer_11.ln_1", 1,
                 reshape_transform=vit_reshape)
    lines = "\n".join(d.findings(0))
    assert float(d.zero_gradients[0]) == 1.0 and "every gradient is exactly zero" in lines
    assert "global-average-pool" not in lines and "max pool" not in lines
