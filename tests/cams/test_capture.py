"""capture(): the layer's own output, clear errors for odd models, every integer type as a class.

Each test here failed before its fix (the defect it guards is named in its docstring).
"""

import numpy as np
import pytest
import torch
from conftest import TinyCNN
from torch import nn

from unioncam_lite import capture, compute_cam, gradcam, load_model, union_cam

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


class ScoresOut(TinyCNN):
    def forward(self, x):
        return {"scores": super().forward(x), "features": x.mean()}


@pytest.mark.parametrize("cls, message", [(TupleOut, "returns a tuple of 2"),
                                          (ScoresOut, r"returns a dict with keys \['scores', 'features'\]")])
def test_outputs_without_an_obvious_score_get_a_clear_error_naming_the_fix(cls, message, images):
    with pytest.raises(ValueError, match=message + r", not class scores .* target=ClassLogit\(c, output=KEY\)"):
        gradcam(cls().eval(), images, "act")


def test_a_dict_with_logits_is_explained_as_its_logits(images):
    """Issue 20 §1: a HuggingFace-style output ({"logits": ...}) was refused; it is the common case."""
    assert torch.equal(gradcam(DictOut().eval(), images, "act"), gradcam(TinyCNN().eval(), images, "act"))


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
