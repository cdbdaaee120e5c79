"""ThetaHasNoEffectWarning (issue 20 §3): once per model and layer when θ cannot change UnionCAM (gradients
constant in space), never for a flattened head, for θ = 0 or for all-zero gradients."""
import warnings

import pytest
import torch
from conftest import TinyCNN
from torch import nn

from unioncam_lite.cams import ThetaHasNoEffectWarning, capture, denoise_gradients, denoised_cam
from unioncam_lite.cams.gradient import warn_theta_has_no_effect


class FlatHead(nn.Module):
    """conv -> ReLU (``act``) -> flatten -> linear: every position has its own weight, so W varies in space."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.conv, self.act = nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.ReLU()
        self.fc = nn.Linear(4 * 8 * 8, 5)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)

    def forward(self, x):
        return self.fc(self.act(self.conv(x)).flatten(1))


@pytest.fixture
def x():
    return torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))


def _gradients(model, x, layer="act"):
    return capture(model, x, layer, 1).require_gradients()


def test_a_pooled_head_warns_once_per_model_and_layer_and_the_warning_is_true(x):
    model = TinyCNN().eval()
    W = _gradients(model, x)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert warn_theta_has_no_effect(W, model, "act", 10.0)
        assert warn_theta_has_no_effect(W, model, model.act, 50.0)       # the same layer, by module: no repeat
        assert warn_theta_has_no_effect(W, TinyCNN().eval(), "act", 10.0)  # another model: warned again
    assert [w.category for w in caught] == [ThetaHasNoEffectWarning] * 2
    assert "'act' of TinyCNN" in str(caught[0].message) and "θ=10" in str(caught[0].message)
    # true by Eq. 1: no gradient is below its channel's percentile, so L_den is the same for every θ
    A = capture(model, x, "act", 1).activations
    assert torch.equal(denoise_gradients(W, 90.0), W)
    assert torch.equal(denoised_cam(A, denoise_gradients(W, 90.0)), denoised_cam(A, W))


def test_a_flattened_head_theta_zero_and_zero_gradients_do_not_warn(x):
    model = FlatHead().eval()
    W = _gradients(model, x)
    pooled = TinyCNN().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("error")                                    # any warning fails the test
        assert not warn_theta_has_no_effect(W, model, "act", 50.0)
        assert not torch.equal(denoise_gradients(W, 50.0), W)            # θ acts there
        assert not warn_theta_has_no_effect(_gradients(pooled, x), pooled, "act", 0.0)   # θ = 0 asks for nothing
        assert not warn_theta_has_no_effect(torch.zeros(1, 3, 4, 4), pooled, "act", 10.0)


def test_the_course_checkers_do_not_print_it_as_feedback(x, capsys):
    """A checker's reference may run UnionCAM at a pooled layer: the warning is a fact of the layer, not
    feedback on the learner's answer, so ``feedback`` drops it (other warnings still become notes)."""
    from unioncam_lite.course.checking import feedback

    model = TinyCNN().eval()
    W = _gradients(model, x)

    @feedback
    def check_something():
        warn_theta_has_no_effect(W, model, "act", 10.0)
        warnings.warn("something else", stacklevel=1)
        return True

    assert check_something()
    out = capsys.readouterr()
    assert "ThetaHasNoEffect" not in out.out + out.err and "note: UserWarning: something else" in out.out


def test_unioncam_warns_once_per_model_and_layer_and_not_for_a_flattened_head(x):
    from unioncam_lite.cams import UnionCAM, union_cam
    model = TinyCNN().eval()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        explainer = UnionCAM(model, "act", top_k=2)
        explainer(x, None, 10.0)
        explainer(x, None, 50.0)
        union_cam(model, x, "act", theta=10.0, top_k=2)
        union_cam(FlatHead().eval(), x, "act", theta=50.0, top_k=2)
    assert [w.category for w in caught].count(ThetaHasNoEffectWarning) == 1
