import os

os.environ.setdefault("MPLBACKEND", "Agg")

import pytest
import torch
from torch import nn

torch.set_num_threads(min(2, os.cpu_count() or 1))


class TinyCNN(nn.Module):
    """conv(3->K) -> ReLU (the target layer, ``act``) -> global average pool -> linear(K->C)."""

    def __init__(self, k: int = 6, classes: int = 5, stride: int = 2, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.conv = nn.Conv2d(3, k, 3, stride=stride, padding=1)
        self.act = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(k, classes)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)

    def forward(self, x):
        return self.fc(self.drop(self.pool(self.act(self.conv(x))).flatten(1)))


@pytest.fixture
def tiny():
    return TinyCNN().eval()


@pytest.fixture
def images():
    return torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="session")
def lite0():
    from unioncam_lite import load_model

    return load_model("efficientnet_lite0", device="cpu")


@pytest.fixture(scope="session")
def chelsea(lite0):
    from unioncam_lite import load_image

    return load_image("chelsea", lite0[1])
