"""Cascading randomisation (Adebayo et al., 2018): order, reproducibility, the user's model untouched."""
import copy

import pytest
import torch
from torch import nn

from unioncam_lite.cams import compute_cam
from unioncam_lite.metrics.sanity import (
    cascading_randomization,
    random_labels,
    randomize_layer,
    sanity_check,
    weight_layers,
)
from unioncam_lite.metrics.similarity import spearman


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                                      nn.Conv2d(4, 6, 3, padding=1), nn.ReLU())
        self.head = nn.Sequential(nn.Flatten(1), nn.Linear(6 * 8 * 8, 5))

    def forward(self, x):
        return self.head(self.features(x))


@pytest.fixture
def net():
    return Net().eval()


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_layers_from_the_head_down_cumulatively(net):
    assert weight_layers(net) == ["features.0", "features.3", "head.1"]    # the batch norm is not one
    before = _state(net)
    seen = []
    for name, randomized in cascading_randomization(net, seed=3):
        seen.append(name)
        changed = {k.rsplit(".", 1)[0] for k, v in randomized.state_dict().items() if not torch.equal(v, before[k])}
        assert changed == set(seen)                # this layer and every one above it, nothing else
    assert seen == ["head.1", "features.3", "features.0"]
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())


def test_reproducible_and_leaves_the_global_random_state_alone(net):
    state = torch.random.get_rng_state()
    a, b = copy.deepcopy(net.head[1]), copy.deepcopy(net.head[1])
    randomize_layer(a, 5)
    randomize_layer(b, 5)
    assert torch.equal(a.weight, b.weight) and not torch.equal(a.weight, net.head[1].weight)
    assert torch.equal(torch.random.get_rng_state(), state)
    with pytest.raises(ValueError, match="no layer named"):
        next(cascading_randomization(net, ["nope"]))


def test_random_labels_are_wrong_and_cover_the_others():
    c = torch.tensor([0, 1, 2, 3, 4] * 40)
    wrong = random_labels(c, 5, seed=1)
    assert (wrong != c).all() and set(wrong.tolist()) == set(range(5))
    assert torch.equal(wrong, random_labels(c, 5, seed=1))


def test_sanity_check_against_a_copy_randomised_by_hand(net):
    x = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    before, flags = _state(net), [m.training for m in net.modules()]
    net.features[1].train()           # a module in train mode stays so, and its running stats unchanged
    r = sanity_check(net, x, "features.4", ["gradcam", "scorecam"], seed=2)
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    assert net.features[1].training and [m.training for m in net.modules()] != flags
    net.features[1].eval()
    assert r.steps == ["head.1", "features.3", "features.0"] and r.spearman["gradcam"].shape == (4, 3)
    assert r.maps["scorecam"].shape == (4, 3, 8, 8)
    trained = compute_cam("scorecam", net, x, "features.4", r.class_idx)
    hand = copy.deepcopy(net)
    randomize_layer(hand.head[1], 2)                 # step 0 gets seed + 0
    randomize_layer(hand.features[3], 3)              # step 1 gets seed + 1
    again = compute_cam("scorecam", hand, x, "features.4", r.class_idx)
    assert torch.allclose(r.spearman["scorecam"][2], spearman(trained, again), equal_nan=True)
    finite = r.spearman["scorecam"][0][~torch.isnan(r.spearman["scorecam"][0])]
    assert torch.allclose(finite, torch.ones_like(finite))
    assert (r.wrong_class != r.class_idx).all() and r.label_spearman["gradcam"].shape == (3,)
    with pytest.raises(TypeError, match="by name"):
        sanity_check(net, x, net.features[4])
