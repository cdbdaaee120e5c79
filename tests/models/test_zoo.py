"""The bundled model, images and their preprocessing."""
import numpy as np
import pytest
import torch

from unioncam_lite import capture, gradcam, load_samples, sample_images


def test_at_least_six_sample_images_with_licences():
    samples = sample_images()
    assert len(samples) >= 6
    readme = (next(iter(samples.values())).parents[1] / "README.md").read_text()
    for name in samples:
        assert name in readme


def test_efficientnet_lite0_predicts_the_sample_images(lite0):
    model, spec = lite0
    names, shows, x = load_samples(spec)
    assert shows.dtype == np.uint8 and shows.shape[1:] == (224, 224, 3) and x.shape[1:] == (3, 224, 224)
    with torch.no_grad():
        pred = model(x).argmax(1)
    top = dict(zip(names, (spec.categories[int(i)] for i in pred)))
    assert top["chelsea"] in {"tabby", "tiger cat", "Egyptian cat", "Persian cat", "Siamese cat"}
    assert top["coffee"] == "espresso"
    assert top["motorcycle_left"] in {"moped", "motor scooter"}


def test_target_layer_is_the_head_activation(lite0, chelsea):
    model, spec = lite0
    cap = capture(model, chelsea[1], spec.target_layer)
    assert cap.activations.shape == (1, 1280, 7, 7)
    assert cap.activations.min() >= 0 and cap.activations.max() <= 6  # ReLU6


def test_any_module_with_a_dotted_layer_name():
    from torchvision.models import resnet18

    model = resnet18(weights=None).eval()
    maps = gradcam(model, torch.randn(1, 3, 64, 64), "layer4.1.conv2", 3)
    assert maps.shape == (1, 64, 64)
    maps2 = gradcam(model, torch.randn(1, 3, 64, 64), model.layer4, 3)  # a module works too
    assert maps2.shape == (1, 64, 64)


@pytest.mark.parametrize("name", ["efficientnet_lite0", "shapes_cnn", "shapes_vgg", "vgg16"])
def test_pretrained_false_gives_the_same_architecture_with_fresh_weights(name):
    """``pretrained=False`` was honoured for vgg16 and torchvision models only (the others ignored it)."""
    import torch

    from unioncam_lite import load_model

    fresh, spec = load_model(name, "cpu", pretrained=False)
    assert not fresh.training
    if name == "vgg16":   # no ImageNet weights on a test machine: the architecture is torchvision's
        import torchvision

        assert [t.shape for t in fresh.state_dict().values()] == \
            [t.shape for t in torchvision.models.vgg16().state_dict().values()]
        return
    trained, spec2 = load_model(name, "cpu")
    assert spec == spec2
    a, b = fresh.state_dict(), trained.state_dict()
    assert a.keys() == b.keys() and all(a[k].shape == b[k].shape for k in a)
    assert any(not torch.equal(a[k], b[k]) for k in a if a[k].is_floating_point())
