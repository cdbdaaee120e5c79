"""benchmarks/measure.py, what every benchmark's speed and memory figures rest on: FLOPs against a
hand count, images forwarded, peak memory, the error of a map, the device peaks.

(No test name here contains "cuda": `make gpu-check` selects the CUDA tests with ``-k cuda``.)
"""
import sys
from pathlib import Path

import pytest
import torch
from conftest import TinyCNN
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import measure  # noqa: E402


def test_forward_flops_match_a_hand_count():
    model = TinyCNN(k=6, classes=5, stride=2).eval()
    x = torch.rand(4, 3, 16, 16)
    # conv 3→6, 3×3, stride 2 on 16×16: 8×8 outputs, each 3·3·3 multiply-adds; linear 6→5; one image
    conv = 2 * (6 * 8 * 8) * (3 * 3 * 3)
    linear = 2 * 6 * 5
    assert measure.forward_flops(model, x) == conv + linear
    assert measure.call_flops(10, 100) == 10 * 100 + 2 * 100
    assert measure.call_flops(10, 100, backward=False) == 1000


def test_forward_counter_counts_images_and_leaves_no_hook():
    model = TinyCNN().eval()
    with torch.no_grad(), measure.ForwardCounter(model) as counter:
        model(torch.rand(3, 3, 16, 16))
        model(torch.rand(2, 3, 16, 16))
        assert counter.count == 5
        counter.reset()
        model(torch.rand(1, 3, 16, 16))
        assert counter.count == 1
    assert all(not m._forward_pre_hooks for m in model.modules())
    with torch.no_grad():
        model(torch.rand(4, 3, 16, 16))
    assert counter.count == 1
    with pytest.raises(ValueError, match="no nn.Linear"):
        measure.ForwardCounter(nn.Sequential(nn.Conv2d(3, 2, 1)))


def test_peak_memory_on_the_cpu_sees_an_allocation():
    with measure.PeakMemory(torch.device("cpu")) as mem:
        block = torch.ones(64, 2**20)        # 64 rows of 2**20 float32 (4 MiB each), every page written
    assert block.numel() and mem.peak >= 200 * 2**20 and mem.total is None


def test_map_error_is_the_largest_pixel_difference():
    a = torch.tensor([[0.0, 0.5], [1.0, 0.25]])
    b = torch.tensor([[0.1, 0.5], [0.7, 0.25]], dtype=torch.bfloat16)
    assert measure.map_error(a, b) == pytest.approx(0.3, abs=2e-3)   # bf16 rounds 0.7 and 0.1


def test_known_peaks_by_device_name():
    assert measure.device_peak("NVIDIA H100 80GB HBM3", "bf16") == 989.5      # SXM
    assert measure.device_peak("NVIDIA H100 PCIe", "tf32") == 378.0
    assert measure.device_peak("NVIDIA H200", "bf16") == 989.5
    assert measure.device_peak("NVIDIA H200 NVL", "bf16") == 835.5
    assert measure.device_peak("NVIDIA A100-SXM4-80GB", "bf16") is None
