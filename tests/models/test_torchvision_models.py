"""Any torchvision classifier by name: metadata from its weights, the target layer found automatically,
Grad-CAM and UnionCAM on it (random weights, 64×64 inputs: nothing is downloaded)."""
import warnings

import pytest
import torch
from torch import nn

from unioncam_lite import gradcam, load_model, resolve_layer, union_cam
from unioncam_lite.apps.cli import main
from unioncam_lite.models import find_target_layer, torchvision_classifiers

# the expected default layer of each family, by reading its torchvision source: the module that
# returns the last spatial map before global pooling (a container wins over its last child)
FAMILIES = {
    "resnet18": ("layer4", "BasicBlock ×2, then avgpool + fc"),
    "mobilenet_v3_small": ("features", "features[12] (576×h×w, Hardswish), then avgpool"),
    "densenet121": ("features", "features.norm5, then F.relu + adaptive_avg_pool2d in forward"),
    "efficientnet_b0": ("features", "features[8] (1280×h×w, SiLU), then avgpool"),
    "convnext_tiny": ("features", "stage 4 (768×h×w), then avgpool + LayerNorm2d"),
    "regnet_y_400mf": ("trunk_output", "block4 (440×h×w), then avgpool"),
    "vgg11_bn": ("features.27", "last ReLU; features.28 is a max-pool and avgpool is a pooling layer"),
}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """64×64 passes gain little from a second thread and lose much when the cores are shared:
    three of these models took 2.5–5 s with one thread and 32–35 s with two on the 2-core
    development machine under load."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {name: load_model(name, "cpu", pretrained=False) for name in FAMILIES}


@pytest.mark.parametrize("name", FAMILIES)
def test_default_layer_metadata_and_cams(models, name):
    from torchvision.models import get_model_weights

    model, spec = models[name]
    assert spec.target_layer == FAMILIES[name][0]
    meta = get_model_weights(name).DEFAULT.transforms()
    assert spec.mean == tuple(meta.mean) and spec.std == tuple(meta.std) and spec.input_size == (224, 224)
    assert spec.resize_size == meta.resize_size[0] and len(spec.categories) == 1000
    assert spec.categories[1] == "goldfish"
    assert not model.training
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    layer = resolve_layer(model, spec.target_layer)
    seen = []
    handle = layer.register_forward_hook(lambda m, i, out: seen.append(out.shape))
    try:
        g = gradcam(model, x, spec.target_layer, 3)
    finally:
        handle.remove()
    assert len(seen) == 1 and len(seen[0]) == 4 and seen[0][-1] * seen[0][-2] > 1   # a spatial map at 64×64 too
    r = union_cam(model, x, spec.target_layer, 3, mean=spec.mean, std=spec.std, top_k=8, batch_size=8)
    for maps in (g, r.cam, r.denoised, r.region):
        assert maps.shape == (1, 64, 64) and torch.isfinite(maps).all() and maps.min() >= 0 and maps.max() <= 1
    assert r.chosen[0] in ("fused", "region") and -1 <= float(r.beta_region[0]) <= 1


class SqueezeExcite(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.pool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, c, 1)

    def forward(self, x):
        return x * torch.sigmoid(self.fc(self.pool(x)))


class Net(nn.Module):
    """conv -> SE (pools to 1×1 in the middle) -> conv -> ReLU reused twice -> max-pool -> head."""

    def __init__(self):
        super().__init__()
        self.stem, self.se = nn.Conv2d(3, 8, 3, padding=1), SqueezeExcite(8)
        self.conv, self.relu = nn.Conv2d(8, 8, 3, padding=1), nn.ReLU()
        self.last = nn.Conv2d(8, 8, 3, padding=1)
        self.pool, self.head = nn.MaxPool2d(2), nn.Linear(8, 4)

    def forward(self, x):
        x = self.relu(self.conv(self.se(self.stem(x))))
        x = self.relu(self.last(x))
        return self.head(self.pool(x).mean((2, 3)))


def test_finder_rules_on_a_hand_built_net():
    # the SE block's 1×1 pooling does not end the search; `relu` is called twice (not a safe target);
    # the max-pool is skipped: the last feature map is `last`
    net = Net().train()
    net.se.eval()
    before = {n: m.training for n, m in net.named_modules()}
    assert find_target_layer(net, (16, 16)) == "last"
    assert {n: m.training for n, m in net.named_modules()} == before      # flags restored
    assert all(not m._forward_hooks for m in net.modules())                # hooks removed
    with pytest.raises(ValueError, match=r"Net cannot run on a 1×3×1×1 image \(RuntimeError"):
        find_target_layer(net, (1, 1))
    flat = nn.Sequential(nn.Flatten(), nn.Linear(48, 2))
    with pytest.raises(ValueError, match=r"no layer with a spatial .* larger than 1×1 at input size \(4, 4\)"):
        find_target_layer(flat, (4, 4))


def test_finder_agrees_with_the_named_vgg16_and_needs_no_arithmetic():
    from torchvision.models import vgg16

    with torch.device("meta"):     # built without memory; the finder only needs shapes
        model = vgg16()
    assert find_target_layer(model) == "features.29"   # the layer the named "vgg16" (the paper's) uses


def test_every_torchvision_classifier_is_a_known_name():
    names = torchvision_classifiers()
    assert {"resnet50", "convnext_tiny", "vit_b_16", "regnet_y_400mf"} <= set(names) and len(names) >= 70


def test_offline_without_cache_says_how_to_get_the_weights(tmp_path, monkeypatch, capsys):
    from torchvision.models import ResNet18_Weights

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(type(ResNet18_Weights.IMAGENET1K_V1), "get_state_dict", offline)
    with pytest.raises(RuntimeError, match=r"resnet18 ImageNet weights .* not cached at .*resnet18-f37072fd.pth"
                                           r".*pretrained=False"):
        load_model("resnet18", device="cpu")
    assert main(["explain", "chelsea", "--model", "resnet18", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: resnet18 ImageNet weights") and err.count("\n") == 1


def test_cached_weights_are_loaded(tmp_path, monkeypatch):
    """With the file in torch's cache the pretrained path loads it (here: a copy of random weights)."""
    import os

    from torchvision.models import ResNet18_Weights, resnet18

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    reference = resnet18()
    url = ResNet18_Weights.IMAGENET1K_V1.url
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(reference.state_dict(), tmp_path / "hub" / "checkpoints" / os.path.basename(url))
    monkeypatch.setattr(type(ResNet18_Weights.IMAGENET1K_V1), "get_state_dict",
                        lambda self, *a, **k: torch.hub.load_state_dict_from_url(self.url, check_hash=False))
    model, spec = load_model("resnet18", device="cpu")
    assert torch.equal(model.fc.weight, reference.fc.weight) and spec.target_layer == "layer4"


def test_unknown_name_lists_both_kinds():
    with pytest.raises(ValueError, match="unknown model 'resnet'.*efficientnet_lite0.*torchvision classifier"):
        load_model("resnet")
