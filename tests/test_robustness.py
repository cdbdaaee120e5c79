"""Issue 9: the library never corrupts the user's model, never goes stale, never crashes on odd input.

Each test here failed before its fix (the defect it guards is named in its docstring).
"""
import io
import warnings

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torch import nn

from conftest import TinyCNN
from unioncam_lite import (UnionCAM, capture, compute_cam, denoised_cam, gradcam, groupcam, load_image, load_model,
                           scorecam, union_cam)
from unioncam_lite.cams.common import normalize_maps, upsample_normalize
from unioncam_lite.cams.masked import inference_model
from unioncam_lite.models import ModelSpec


def model_state(model):
    """Everything a CAM call must leave as it was: flags, tensors (values and identity), hooks, requires_grad."""
    return {
        "training": [(n, m.training) for n, m in model.named_modules()],
        "tensors": {n: (t.data_ptr(), t.detach().clone()) for n, t in
                    [*model.named_parameters(), *model.named_buffers()]},
        "requires_grad": [(n, p.requires_grad) for n, p in model.named_parameters()],
        "grads": [(n, p.grad is None) for n, p in model.named_parameters()],
        "hooks": [(n, len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks))
                  for n, m in model.named_modules()],
    }


def assert_same_state(before, after):
    assert before["training"] == after["training"], "a sub-module's train/eval flag changed"
    assert before["requires_grad"] == after["requires_grad"] and before["grads"] == after["grads"]
    assert before["hooks"] == after["hooks"], "a hook was left behind or removed"
    assert before["tensors"].keys() == after["tensors"].keys()
    for name, (ptr, value) in before["tensors"].items():
        ptr2, value2 = after["tensors"][name]
        assert ptr == ptr2 and torch.equal(value, value2), f"{name} changed"


# --------------------------------------------------------------------------- 1. train mode

def _train_mode_models():
    tv = torchvision.models
    return {
        "resnet18": (lambda: tv.resnet18(weights=None, num_classes=10), "layer4", 64),
        "mobilenet_v3_small": (lambda: tv.mobilenet_v3_small(weights=None, num_classes=10), "features.12", 64),
        "densenet121": (lambda: tv.densenet121(weights=None, num_classes=10), "features.norm5", 64),
        "inception_v3": (lambda: tv.inception_v3(weights=None, num_classes=10, aux_logits=True, init_weights=False),
                         "Mixed_6e", 96),
    }


@pytest.mark.parametrize("name", list(_train_mode_models()))
def test_train_mode_and_bn_statistics_survive_every_cam_call(name):
    """Defect 1: the BN-folded copy shared sub-modules with the user's model and left them in eval mode."""
    make, layer, size = _train_mode_models()[name]
    torch.manual_seed(0)
    model = make().train()
    x = torch.randn(1, 3, size, size)
    before = model_state(model)
    calls = {
        "gradcam": lambda: gradcam(model, x, layer),
        "scorecam": lambda: scorecam(model, x, layer, top_k=4),
        "groupcam": lambda: groupcam(model, x, layer, groups=4),
        "unioncam": lambda: union_cam(model, x, layer, top_k=4),
    }
    for call in calls.values():
        call()
        assert_same_state(before, model_state(model))
    with pytest.raises(ValueError, match="out of range"):
        union_cam(model, x, layer, class_idx=99, top_k=4)
    assert_same_state(before, model_state(model))


# --------------------------------------------------------------------------- 2. stale folded copy / θ-free cache

class BNNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                      nn.Conv2d(8, 8, 3, padding=1, stride=2), nn.BatchNorm2d(8), nn.ReLU())
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))

    def forward(self, x):
        return self.head(self.features(x))


def _bn_net(seed):
    torch.manual_seed(seed)
    net = BNNet()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.normal_(1, 0.3)
                m.bias.normal_(0, 0.3)
    return net.eval()


def test_folded_copy_follows_writes_through_data_and_eps():
    """Defect 2: a cache keyed on data_ptr/_version missed `p.data.copy_` and `bn.eps` changes."""
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    model, other = _bn_net(0), _bn_net(1)
    union_cam(model, x, "features.5")   # builds (and, before the fix, cached) the folded copy
    for p, q in zip(model.parameters(), other.parameters()):
        p.data.copy_(q.data)            # an EMA / target-network style update: _version does not move
    for b, c in zip(model.buffers(), other.buffers()):
        b.data.copy_(c.data)
    got = union_cam(model, x, "features.5")
    expected = union_cam(other, x, "features.5", fuse=False)
    assert torch.allclose(got.beta_region, expected.beta_region, atol=1e-5)
    assert got.chosen == expected.chosen
    model.features[1].eps = 0.5
    other.features[1].eps = 0.5
    assert torch.allclose(union_cam(model, x, "features.5").beta_region,
                          union_cam(other, x, "features.5", fuse=False).beta_region, atol=1e-5)


def test_no_folded_copy_outlives_a_call():
    """Defect 2, by design: the folded copy is built per call and nothing keeps it."""
    import unioncam_lite.cams.fold as masked

    assert not hasattr(masked, "_inference_cache")


def test_unioncam_object_notices_weight_changes_and_can_be_cleared():
    """Defect 2: the UnionCAM object's θ-free cache returned maps of the old weights."""
    x = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    model, other = _bn_net(0), _bn_net(1)
    explainer = UnionCAM(model, "features.5")
    explainer(x)
    for p, q in zip(model.parameters(), other.parameters()):
        p.data.copy_(q.data)
    for b, c in zip(model.buffers(), other.buffers()):
        b.data.copy_(c.data)
    fresh = union_cam(other, x, "features.5")
    again = explainer(x)
    assert torch.allclose(again.region, fresh.region, atol=1e-5)
    assert torch.allclose(again.beta_region, fresh.beta_region, atol=1e-6)
    explainer.clear()
    assert len(explainer._cache) == 0


# --------------------------------------------------------------------------- 3. in-place activation after the layer

class InplaceNet(nn.Module):
    def __init__(self, inplace):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.act = nn.ReLU(inplace=inplace)
        self.fc = nn.Linear(6 * 8 * 8, 3)

    def forward(self, x):
        return self.fc(self.act(self.conv(x)).flatten(1))


def test_capture_returns_the_layers_output_before_an_inplace_relu():
    """Defect 3: the hooked tensor was overwritten by the following ReLU(inplace=True)."""
    x = torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    a, b = InplaceNet(True).eval(), InplaceNet(False).eval()
    b.load_state_dict(a.state_dict())
    ca, cb = capture(a, x, "conv", 1), capture(b, x, "conv", 1)
    assert float(ca.activations.min()) < 0       # a conv output has negative values
    assert torch.equal(ca.activations, cb.activations)
    assert torch.allclose(ca.gradients, cb.gradients)
    assert torch.allclose(gradcam(a, x, "conv", 1), gradcam(b, x, "conv", 1))


def test_vgg16_features_28_is_the_convolution_not_its_relu():
    model, _ = load_model("vgg16", "cpu", pretrained=False)
    cap = capture(model, torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0)), "features.28")
    assert float(cap.activations.min()) < 0


# --------------------------------------------------------------------------- 5. BN folding is the same function

class ScaledConv(nn.Conv2d):
    """A Conv2d subclass that transforms its weight in forward: must not be folded."""

    def forward(self, x):
        return self._conv_forward(x, self.weight * 2.0, self.bias)


def _conv_bn_model(conv):
    torch.manual_seed(0)
    model = nn.Sequential(conv, nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    with torch.no_grad():
        model[1].running_mean.normal_(0, 0.5)
        model[1].running_var.uniform_(0.5, 2)
    return model.eval()


@pytest.mark.parametrize("kind", ["plain", "subclass_forward", "weight_norm_old", "weight_norm_param",
                                  "spectral_norm_param", "hooked"])
def test_bn_folding_is_the_same_function_or_left_alone(kind):
    """Defect 5: weight-norm / spectral-norm convs crashed the fold, a weight-transforming subclass got wrong scores."""
    conv = ScaledConv(3, 4, 3, padding=1) if kind == "subclass_forward" else nn.Conv2d(3, 4, 3, padding=1)
    if kind == "weight_norm_old":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            conv = nn.utils.weight_norm(conv)
    elif kind == "weight_norm_param":
        conv = nn.utils.parametrizations.weight_norm(conv)
    elif kind == "spectral_norm_param":
        conv = nn.utils.parametrizations.spectral_norm(conv)
    elif kind == "hooked":
        conv.register_forward_hook(lambda m, i, o: o * 1.5)
    model = _conv_bn_model(conv)
    x = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model(x)
        with inference_model(model) as net:
            got = net(x)
    assert torch.allclose(got, expected, atol=1e-5), (got - expected).abs().max()
    if kind == "plain":
        with inference_model(model) as net:
            assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())   # it was folded


def test_bn_folding_uses_torch_fusion_arithmetic():
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    model = _conv_bn_model(nn.Conv2d(3, 4, 3, padding=1))
    reference = fuse_conv_bn_eval(model[0], model[1])
    with inference_model(model) as net:
        convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 1
    assert torch.allclose(convs[0].weight, reference.weight) and torch.allclose(convs[0].bias, reference.bias)


# --------------------------------------------------------------------------- 6, 8. images

def _png_bytes(img, **kw):
    buf = io.BytesIO()
    img.save(buf, format="PNG", **kw)
    return buf.getvalue()


SPEC = ModelSpec("test", "x", (32, 32), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), categories=["a", "b"])


def test_decompression_bomb_is_a_one_line_error(tmp_path):
    """Defect 6: a PNG claiming 20000x20000 pixels gave a DecompressionBombError traceback."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b"")
    path = tmp_path / "bomb.png"
    path.write_bytes(png)
    with pytest.raises(ValueError, match="bomb.png.*too large|decompression"):
        load_image(path, SPEC)


def test_sixteen_bit_images_are_scaled_not_clipped(tmp_path):
    """Defect 8: 99.6 % of a 0..65535 ramp became 255."""
    ramp = np.tile(np.linspace(0, 65535, 32).astype(np.uint16), (32, 1))
    path = tmp_path / "ramp16.png"
    Image.fromarray(ramp).save(path)
    assert Image.open(path).mode.startswith("I")
    display, _ = load_image(path, SPEC)
    expected = np.round(ramp / 257.0).astype(np.uint8)
    assert np.abs(display[..., 0].astype(int) - expected.astype(int)).max() <= 1
    assert (display == 255).mean() < 0.1


def test_float_images_are_scaled(tmp_path):
    ramp = np.tile(np.linspace(0, 1, 32, dtype=np.float32), (32, 1))
    img = Image.fromarray(ramp, mode="F")
    display, _ = load_image(img, SPEC)
    assert np.abs(display[..., 0].astype(int) - np.round(ramp * 255).astype(int)).max() <= 1


def test_exif_orientation_is_applied(tmp_path):
    arr = np.zeros((16, 32, 3), dtype=np.uint8)
    arr[:, :16] = 255                                # left half white (landscape as stored)
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6                                 # "rotate 90° clockwise to display"
    path = tmp_path / "rotated.jpg"
    img.save(path, exif=exif, quality=95)
    spec = ModelSpec("t", "x", (32, 16), (0.0,) * 3, (1.0,) * 3, categories=["a"])
    display, _ = load_image(path, spec)
    assert display.shape[:2] == (32, 16)
    assert display[:14].mean() > 200 and display[18:].mean() < 50   # the white half is now on top


def test_rgba_is_composited_on_white(tmp_path):
    arr = np.zeros((32, 32, 4), dtype=np.uint8)
    arr[..., 0] = 255                                # red ...
    arr[:, 16:, 3] = 255                             # ... opaque on the right half, transparent on the left
    display, _ = load_image(Image.fromarray(arr, "RGBA"), SPEC)
    assert (display[:, :14] == 255).all()            # transparent -> white background
    assert (display[:, 18:] == [255, 0, 0]).all()


def test_a_folder_is_not_an_image(tmp_path):
    with pytest.raises(ValueError, match="is a folder"):
        load_image(tmp_path, SPEC)


# --------------------------------------------------------------------------- 7. constant maps

def test_constant_and_one_by_one_maps_normalise_to_zero():
    """Defect 7: a 1x1 map upsampled and min-max normalised gave {0, 0.5, 1} from float rounding."""
    one = torch.full((2, 1, 1), 3.7e4)
    out = upsample_normalize(one, (224, 224))
    assert torch.equal(out, torch.zeros(2, 224, 224))
    noisy_constant = torch.full((1, 4, 4), 1234.5) + torch.randn(1, 4, 4) * 1e-4
    assert torch.equal(normalize_maps(noisy_constant), torch.zeros(1, 4, 4))
    real = torch.tensor([[[0.0, 1e-3], [2e-3, 3e-3]]])   # small but real variation stays
    assert torch.allclose(normalize_maps(real), torch.tensor([[[0.0, 1 / 3], [2 / 3, 1.0]]]))


def test_resnet18_at_32_pixels_warns_about_a_1x1_layer():
    model = torchvision.models.resnet18(weights=None, num_classes=10).eval()
    x = torch.randn(1, 3, 32, 32)
    with pytest.warns(UserWarning, match="1×1"):
        cam = gradcam(model, x, "layer4")
    assert torch.equal(cam, torch.zeros_like(cam))


# --------------------------------------------------------------------------- 9. class_idx types

@pytest.mark.parametrize("class_idx", [np.int64(2), np.int32(2), torch.tensor(2), [np.int64(2), 2],
                                       (2, 2), np.array([2, 2]), torch.tensor([2, 2])])
@pytest.mark.parametrize("method", ["gradcam", "scorecam", "groupcam", "unioncam"])
def test_every_integer_type_is_a_class_index(method, class_idx, images):
    """Defect 9: union_cam(..., class_idx=np.int64(2)) raised TypeError."""
    model = TinyCNN().eval()
    expected = compute_cam(method, model, images, "act", 2)
    assert torch.allclose(compute_cam(method, model, images, "act", class_idx), expected)
    if method == "unioncam":
        assert union_cam(model, images, "act", class_idx).class_idx.tolist() == [2, 2]


# --------------------------------------------------------------------------- minor

class TupleOut(TinyCNN):
    def forward(self, x):
        return super().forward(x), x.mean()


class DictOut(TinyCNN):
    def forward(self, x):
        return {"logits": super().forward(x)}


class TwiceNet(TinyCNN):
    def forward(self, x):
        a = self.act(self.conv(x))
        a = self.act(a)   # the same module runs twice
        return self.fc(self.pool(a).flatten(1))


class SkipsLayer(TinyCNN):
    def forward(self, x):
        return self.fc(self.pool(self.conv(x)).flatten(1))   # self.act never runs


@pytest.mark.parametrize("cls, message", [(TupleOut, "returns a tuple"), (DictOut, "returns a dict")])
def test_models_returning_tuples_or_dicts_get_a_clear_error(cls, message, images):
    with pytest.raises(ValueError, match=message + ".*class scores"):
        gradcam(cls().eval(), images, "act")


def test_a_layer_that_never_runs_or_runs_twice_gets_a_clear_error(images):
    with pytest.raises(ValueError, match="'act' did not run"):
        gradcam(SkipsLayer().eval(), images, "act")
    with pytest.raises(ValueError, match="'act' ran 2 times"):
        gradcam(TwiceNet().eval(), images, "act")


def test_torchscript_models_get_a_clear_error(images):
    traced = torch.jit.trace(TinyCNN().eval(), images)
    with pytest.raises(TypeError, match="TorchScript"):
        gradcam(traced, images, "act")


def test_non_finite_logits_are_an_error_not_nan_maps(images):
    model = TinyCNN().eval()
    with torch.no_grad():
        model.fc.weight.mul_(1e38)     # weights × activations overflow float32 to ±inf
    assert not torch.isfinite(model(images * 100)).all()
    with pytest.raises(ValueError, match="not finite"):
        gradcam(model, images * 100, "act")


# --------------------------------------------------------------------------- paper fidelity

def test_eq2_has_no_outer_relu():
    """The paper's Eq. 2 is Σ_k α_k ⊙ ReLU(W_k) ⊙ A_k, with no ReLU around the sum."""
    A = torch.tensor([[[[-2.0, 1.0]]]])            # one channel, negative activation at the left
    W = torch.tensor([[[[1.0, 3.0]]]])              # α = 1/4 at both; ReLU(W) = W
    assert torch.allclose(denoised_cam(A, W), torch.tensor([[[-0.5, 0.75]]]))


def test_one_cam_call_traces_the_model_once_and_keeps_nothing(monkeypatch):
    """Building the folded copy per call stays cheap: a call's sub-steps share one copy, dropped at the end."""
    import unioncam_lite.cams.fold as masked

    built = []
    real = masked.fold_batch_norms
    monkeypatch.setattr(masked, "fold_batch_norms", lambda m: built.append(m) or real(m))
    model = _bn_net(0)
    x = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    union_cam(model, x, "features.5")
    assert len(built) == 1
    scorecam(model, x, "features.5")
    assert len(built) == 2
    assert masked._active.stack == []
