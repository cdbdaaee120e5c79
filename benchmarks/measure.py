"""How the benchmarks (``bench_unioncam.py``, ``speed_sweep.py``) measure: FLOPs of a forward pass,
images forwarded, peak memory, the error of an approximate map, and the device's peak throughput.

FLOPs: one forward pass of one image is counted with ``torch.utils.flop_counter`` (convolutions and
matrix products); a UnionCAM call's total is (images forwarded) × that + 2 × that for its backward
pass (the issue's convention; the real backward stops at the target layer and costs far less).
Images forwarded are counted by a hook on the model's last linear layer, which the BN-folded copy
of the model shares, so channels a method skips are not counted.

Memory: on CUDA the peak of ``torch.cuda.max_memory_allocated`` during a block, as growth over what
was allocated before it (model weights excluded) and as total (weights included, what the paper's
2.22 GB compares with). On the CPU the peak growth of this process's resident set (RSS, psutil,
sampled every 5 ms), after ``gc.collect()`` and glibc ``malloc_trim(0)`` so that memory freed by an
earlier method does not hide the next one's.
"""
from __future__ import annotations

import contextlib
import ctypes
import gc
import threading
import time

import torch
from torch import nn

#: dense (no sparsity) tensor-core peaks in TFLOP/s by precision, from NVIDIA's data sheets (which
#: print the 2:4-sparsity figures, twice these); matched in this order against the device name
PEAKS: tuple[tuple[str, dict[str, float]], ...] = (
    ("H200 NVL", {"bf16": 835.5, "tf32": 417.5, "fp32": 60.0}),
    ("H200", {"bf16": 989.5, "tf32": 494.5, "fp32": 67.0}),
    ("H100 NVL", {"bf16": 835.5, "tf32": 417.5, "fp32": 60.0}),
    ("H100 PCIe", {"bf16": 756.5, "tf32": 378.0, "fp32": 51.0}),
    ("H100", {"bf16": 989.5, "tf32": 494.5, "fp32": 67.0}),   # SXM5: "NVIDIA H100 80GB HBM3"
)


def device_peak(name: str, precision: str) -> float | None:
    """The dense peak (TFLOP/s) of ``precision`` on the device called ``name``, or None if unknown."""
    for key, peaks in PEAKS:
        if key.lower() in name.lower():
            return peaks.get(precision)
    return None


def forward_flops(model: nn.Module, x: torch.Tensor) -> int:
    """FLOPs of one forward pass of one image ``x[:1]`` (convolutions and matrix products)."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x[:1])
    return counter.get_total_flops()


def call_flops(forwarded: float, one_pass: float, backward: bool = True) -> float:
    """FLOPs of one call: images forwarded × one forward pass, + 2 × one pass for the backward pass."""
    return forwarded * one_pass + (2 * one_pass if backward else 0)


class ForwardCounter:
    """Counts the images that reach ``model``'s last linear layer (a forward pre-hook), until removed.

    ``count`` is the running total; ``reset()`` zeroes it; use as a context manager or call ``remove()``."""

    def __init__(self, model: nn.Module):
        linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
        if not linears:
            raise ValueError("the model has no nn.Linear layer to count the images forwarded at")
        self.count = 0
        self._handle = linears[-1].register_forward_pre_hook(self._add)

    def _add(self, module: nn.Module, inputs: tuple) -> None:
        self.count += inputs[0].shape[0]

    def reset(self) -> None:
        self.count = 0

    def remove(self) -> None:
        self._handle.remove()

    def __enter__(self) -> ForwardCounter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def map_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a − b| over the pixels of two maps in [0, 1] (each min-max normalised by its method)."""
    return float((a.float() - b.float()).abs().max())


def _malloc_trim() -> None:
    with contextlib.suppress(OSError, AttributeError):  # not glibc
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class PeakMemory:
    """Peak memory during a block, in bytes: ``peak`` (growth) and, on CUDA, ``total`` (weights included)."""

    def __init__(self, device: torch.device):
        self.device, self.peak, self.total = device, 0, None

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.base = torch.cuda.memory_allocated(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            import psutil

            gc.collect()
            _malloc_trim()
            self.proc = psutil.Process()
            self.base = self.proc.memory_info().rss
            self.running = True
            self.thread = threading.Thread(target=self._sample, daemon=True)
            self.thread.start()
        return self

    def _sample(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.proc.memory_info().rss - self.base)
            time.sleep(0.005)

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.total = torch.cuda.max_memory_allocated(self.device)
            self.peak = self.total - self.base
        else:
            self.running = False
            self.thread.join()
            self.peak = max(self.peak, self.proc.memory_info().rss - self.base)
