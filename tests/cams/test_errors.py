"""Bad input gets a clear error; hooks and train/eval state survive errors."""
import pytest
import torch
from conftest import TinyCNN

from unioncam_lite import (
    METHODS,
    capture,
    compute_cam,
    denoise_gradients,
    gradcam,
    load_image,
    load_model,
    resolve_layer,
    union_cam,
)


def hooks(model):
    return sum(len(m._forward_hooks) + len(m._backward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@pytest.mark.parametrize("method", [m for m in METHODS])
def test_hooks_removed_and_training_flag_restored(method, images):
    model = TinyCNN().train()
    model.drop.eval()  # a mixed state must come back as it was
    compute_cam(method, model, images, "act", 1)
    assert hooks(model) == 0 and model.training and not model.drop.training
    with pytest.raises(ValueError, match="out of range"):
        compute_cam(method, model, images, "act", 99)
    assert hooks(model) == 0 and model.training and not model.drop.training


def test_wrong_layer_name(tiny, images):
    with pytest.raises(ValueError, match=r"layer 'conv9' not found in TinyCNN.*'act'"):
        gradcam(tiny, images, "conv9")
    with pytest.raises(ValueError, match="not part of the model"):
        resolve_layer(tiny, torch.nn.ReLU())


def test_non_4d_input(tiny):
    with pytest.raises(ValueError, match=r"4-D tensor.*unsqueeze\(0\)"):
        gradcam(tiny, torch.randn(3, 16, 16), "act")
    with pytest.raises(TypeError, match="torch.Tensor"):
        gradcam(tiny, [[1.0]], "act")
    with pytest.raises(TypeError, match="float"):
        gradcam(tiny, torch.zeros(1, 3, 16, 16, dtype=torch.uint8), "act")


def test_class_index_checks(tiny, images):
    with pytest.raises(ValueError, match=r"class index 5 is out of range.*0\.\.4"):
        gradcam(tiny, images, "act", 5)
    with pytest.raises(ValueError, match="class index -1"):
        gradcam(tiny, images, "act", -1)
    with pytest.raises(ValueError, match="3 entries for 2 images"):
        gradcam(tiny, images, "act", [0, 1, 2])


@pytest.mark.parametrize("theta", [-1, 100.5, float("nan")])
def test_theta_outside_0_100(theta, tiny, images):
    with pytest.raises(ValueError, match=r"outside \[0, 100\]"):
        union_cam(tiny, images, "act", theta=theta)
    with pytest.raises(ValueError, match=r"outside \[0, 100\]"):
        denoise_gradients(torch.zeros(1, 1, 2, 2), theta)


def test_layer_without_feature_map(tiny, images):
    with pytest.raises(ValueError, match="not a .N, K, h, w. feature map"):
        capture(tiny, images, "fc")
    assert hooks(tiny) == 0


def test_unreadable_and_missing_images(tmp_path, lite0):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match="unreadable"):
        load_image(bad, lite0[1])
    with pytest.raises(FileNotFoundError, match="not found.*chelsea"):
        load_image(tmp_path / "missing.png", lite0[1])


def test_unknown_model_and_class_names(lite0):
    with pytest.raises(ValueError, match="unknown model 'resnet'.*efficientnet_lite0"):
        load_model("resnet")
    spec = lite0[1]
    assert spec.class_index("espresso") == 967 and spec.class_index("Egyptian cat") == 285
    with pytest.raises(ValueError, match="out of range"):
        spec.class_index(1000)
    with pytest.raises(ValueError, match="ambiguous"):
        spec.class_index("cat")
    with pytest.raises(ValueError, match="unknown class name"):
        spec.class_index("unicorn")


def test_vgg16_without_weights_says_how_to_get_them(tmp_path, monkeypatch):
    from torchvision.models import VGG16_Weights

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(type(VGG16_Weights.IMAGENET1K_V1), "get_state_dict", offline)
    with pytest.raises(RuntimeError, match=r"not cached at .*vgg16-397923af.pth.*pretrained=False"):
        load_model("vgg16", device="cpu")
    model, spec = load_model("vgg16", device="cpu", pretrained=False)
    assert spec.target_layer == "features.29" and isinstance(resolve_layer(model, "features.29"), torch.nn.ReLU)


def test_unknown_class_name_on_a_small_model():
    from unioncam_lite.models import class_index

    with pytest.raises(ValueError, match="unknown class name 'dog'.*'square'"):
        class_index(["circle", "square"], "dog")
    assert class_index(["circle", "square"], "SQUARE") == 1
