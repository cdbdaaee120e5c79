"""The explorer says when θ cannot change anything (issue 18, issue 20 §3): pooled head yes, flattened head no."""
import torch
from tiny_explorer import SPEC, tiny_explorer
from torch import nn

from unioncam_lite.apps.explore import Explorer


class FlatHead(nn.Module):
    """conv -> ReLU (``act``) -> flatten -> linear: every position has its own weight, so W varies in space."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv, self.act = nn.Conv2d(3, 4, 3, stride=4, padding=1), nn.ReLU()
        self.fc = nn.Linear(4 * 8 * 8, 1000)

    def forward(self, x):
        return self.fc(self.act(self.conv(x)).flatten(1))


def test_a_pooled_head_gets_the_theta_notice_and_a_flattened_head_does_not():
    pooled = tiny_explorer()
    note = pooled.theta_notice("chelsea", 3)
    assert note.startswith("θ cannot change the map at this layer")
    # and it is true: UnionCAM's map is the same at θ = 0 and θ = 90
    a, b = (pooled.cam("chelsea", 3, "unioncam", t)[1].denoised for t in (0.0, 90.0))
    assert torch.allclose(a, b, atol=1e-6)
    flat = Explorer(FlatHead().eval(), SPEC, top_k=3)
    assert flat.theta_notice("chelsea", 3) == ""
