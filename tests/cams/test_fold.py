"""BN folding (cams/fold.py) is the same function, is never stale, and no copy outlives a call.

Each test here failed before its fix (the defect it guards is named in its docstring).
"""
import warnings

import pytest
import torch
from torch import nn

from unioncam_lite import (
    UnionCAM,
    scorecam,
    union_cam,
)
from unioncam_lite.cams.fold import inference_model

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
