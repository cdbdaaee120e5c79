import json
import os
from pathlib import Path

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


# --------------------------------------------------------------------------- a second torch (tests/other_torch_venv.py)

def _other_torch_available() -> None:
    """Skip unless torch 2.13.0+cpu can be installed here without a download of several GB."""
    import sys

    import other_torch_venv as otv

    if sys.version_info[:2] != (3, 11):
        pytest.skip(f"the torch {otv.TORCH}+cpu wheel on this machine is for Python 3.11")
    if not otv.local_torch_wheel():
        pytest.skip(f"no torch-{otv.TORCH}+cpu wheel in pip's find-links (/opt/wheels here): pip would download "
                    "a CUDA build of several GB")


@pytest.fixture(scope="session")
def other_torch_venv(tmp_path_factory):
    """A venv with torch 2.13.0+cpu and torchvision 0.28.0 (not `make`'s pins), the package installed
    by a plain ``pip install`` (checked there before any extra: ``.info["bare"]``), then the
    ``test`` extra: built once per session (a few minutes), see tests/other_torch_venv.py.
    ``UNIONCAM_OTHER_TORCH_VENV=<a built root>`` reuses one (its ``info.json``) instead."""
    from types import SimpleNamespace

    import other_torch_venv as otv

    if os.environ.get("UNIONCAM_OTHER_TORCH_VENV"):   # iterating on a test: a venv an earlier session built
        root = Path(os.environ["UNIONCAM_OTHER_TORCH_VENV"])   # (its package is the checkout as it was then)
        return SimpleNamespace(python=root / "venv" / "bin" / "python", root=root,
                               info=json.loads((root / "info.json").read_text()))
    _other_torch_available()
    root = tmp_path_factory.mktemp("other-torch")
    python, info = otv.build(root)
    otv.add_test_extra(python, root, info)
    return SimpleNamespace(python=python, info=info, root=root)


@pytest.fixture(scope="session")
def gpu_machine_venv(tmp_path_factory):
    """A venv shaped like a lent GPU machine (torch 2.13.0+cpu and the numeric stack, nothing else)
    and the kit of wheels a device call carries (``.kit``): tests/gpu_machine_venv.py.
    ``UNIONCAM_REHEARSAL_TORCH=TORCH/TORCHVISION`` (e.g. ``2.11.0/0.26.0``, the lent machines' own)
    builds it with those versions instead, from the package index (PyPI's CUDA build: several GB)."""
    import platform
    from types import SimpleNamespace

    import gpu_machine_venv as gmv
    import other_torch_venv as otv

    chosen = os.environ.get("UNIONCAM_REHEARSAL_TORCH", "")
    if chosen:
        torch_version, _, vision_version = chosen.partition("/")
        if not torch_version or not vision_version:
            pytest.fail(f"UNIONCAM_REHEARSAL_TORCH={chosen!r}: give TORCH/TORCHVISION, e.g. 2.11.0/0.26.0")
    else:
        torch_version, vision_version = otv.TORCH, otv.TORCHVISION
        _other_torch_available()
    if platform.machine() != "x86_64":
        pytest.skip("the kit of benchmarks/gpu_kit.py holds x86-64 wheels (the GPU machines' processor)")
    root = tmp_path_factory.mktemp("gpu-machine")
    python, kit, info = gmv.build(root, torch_version, vision_version)
    return SimpleNamespace(python=python, kit=kit, info=info, root=root)


@pytest.fixture(scope="module")
def browser():
    """Chromium through Playwright, one per test module (tests/chromium.py: skipped without Chromium,
    a failure instead where UNIONCAM_BROWSER_TESTS=required)."""
    from chromium import launch_chromium

    yield from launch_chromium()
