"""benchmarks/profile_call.py: one call profiled, its time grouped by operator kind (issue 21: a GPU run
that says why bf16 is or is not near its target). On the CPU, against calls whose only work is known."""
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.autograd import DeviceType
from torch.autograd.profiler_util import EventList, FunctionEvent

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from gpu_report import profile_lines  # noqa: E402
from profile_call import OTHER, kind_of, profile_call, summarise  # noqa: E402

CPU = torch.device("cpu")


@pytest.mark.parametrize("name, kind", [
    ("aten::cudnn_convolution", "convolution"), ("aten::convolution_backward", "convolution"),
    ("aten::mkldnn_convolution", "convolution"), ("aten::addmm", "matrix product"), ("aten::mm", "matrix product"),
    ("aten::max_pool2d_with_indices", "pooling"), ("aten::adaptive_avg_pool2d", "pooling"),
    ("aten::upsample_bilinear2d", "upsampling (masks)"), ("aten::copy_", "copy and type cast"),
    ("aten::_to_copy", "copy and type cast"), ("aten::mul", OTHER), ("aten::relu_", OTHER)])
def test_operators_are_grouped_by_kind(name, kind):
    assert kind_of(name) == kind


def test_a_matrix_product_is_all_matrix_product():
    a, b = torch.rand(1024, 1024), torch.rand(1024, 1024)
    a @ b
    p = profile_call(lambda: a @ b, CPU)
    assert p["kinds"]["matrix product"] > 0.9 and p["top"][0][0] == "aten::mm" and p["top"][0][3] == 1
    assert abs(sum(p["kinds"].values()) - 1) < 1e-9
    assert 0 < p["measured_ms"] <= p["wall_ms"] + 0.5       # the operators ran within the timed call
    assert p["busy"] is None and p["kernels"] == []          # no device on the CPU


def test_every_operator_of_a_call_is_counted_once_in_its_kind():
    """Counts, not shares, for a call with as much elementwise work as convolution (shares of such a call
    move with the load of a shared machine)."""
    conv, x = nn.Conv2d(3, 8, 3, padding=1), torch.rand(2, 3, 32, 32)

    def call():
        conv(x).sum().backward()

    call()
    p = profile_call(call, CPU, top=100)
    calls = {op: n for op, _, _, n in p["top"]}
    assert calls["aten::convolution_backward"] == 1 and calls["aten::sum"] == 1
    assert sum(1 for op in calls if "conv" in op) >= 2 and p["kinds"]["convolution"] > 0
    assert abs(sum(p["kinds"].values()) - 1) < 1e-9
    assert abs(sum(ms for _, ms, _, _ in p["top"]) - p["measured_ms"]) < 1e-6   # top=100: every operator


def cuda_trace() -> EventList:
    """A CUDA trace made of torch's own profiler events, as ``torch.autograd.profiler`` builds them from
    Kineto's (``_parse_kineto_results``): each kernel is appended to the operator that launched it and
    listed again as a device-side event. Two convolutions (600 + 400 µs of kernels) and an addition
    (200 µs); the wrappers ``aten::conv2d`` / ``aten::convolution`` and ``cudaLaunchKernel`` launch none."""
    def op(i, name, start, end, kernels=()):
        e = FunctionEvent(id=i, name=name, thread=1, start_us=start, end_us=end, use_device="cuda", stack=[],
                          input_shapes=[])
        for kernel, us in kernels:
            e.append_kernel(kernel, 0, us)
        return e

    def kernel(i, name, start, us):
        return FunctionEvent(id=i, name=name, thread=7, start_us=start, end_us=start + us, use_device="cuda",
                             device_type=DeviceType.CUDA, stack=[], input_shapes=[])

    trace = EventList([
        op(1, "aten::conv2d", 0, 100), op(2, "aten::convolution", 5, 95),
        op(3, "aten::cudnn_convolution", 10, 90, [("sm90_xmma_fprop", 600)]), op(4, "cudaLaunchKernel", 20, 30),
        op(5, "aten::add", 110, 120, [("vectorized_elementwise_kernel", 200)]),
        op(6, "aten::cudnn_convolution", 130, 150, [("sm90_xmma_fprop", 400)]),
        kernel(7, "sm90_xmma_fprop", 40, 600), kernel(8, "vectorized_elementwise_kernel", 700, 200),
        kernel(9, "sm90_xmma_fprop", 900, 400)], use_device="cuda")
    trace._build_tree()
    return trace


def test_on_cuda_each_kernel_counts_once_for_its_operator_and_for_busy():
    """The CUDA branch without a GPU: 1.2 ms of kernels in a 1.6 ms call is 75 % busy; the convolutions'
    1.0 ms is 5/6 of the operators' time, not counted again for the wrappers or the kernels' own entries."""
    p = summarise(cuda_trace().key_averages(), wall_s=0.0016, cuda=True)
    assert p["measured_ms"] == pytest.approx(1.2) and p["busy"] == pytest.approx(0.75)
    assert p["kinds"] == pytest.approx({"convolution": 1.0 / 1.2, OTHER: 0.2 / 1.2})
    assert p["top"] == [("aten::cudnn_convolution", pytest.approx(1.0), pytest.approx(1.0 / 1.2), 2),
                        ("aten::add", pytest.approx(0.2), pytest.approx(0.2 / 1.2), 1)]
    assert p["kernels"] == [("sm90_xmma_fprop", pytest.approx(1.0)), ("vectorized_elementwise_kernel",
                                                                      pytest.approx(0.2))]


def test_a_profile_renders_its_kinds_operators_and_kernels():
    p = dict(wall_ms=80.4, measured_ms=60.0, busy=0.75, kinds={"convolution": 0.8, "copy and type cast": 0.2,
                                                                 OTHER: 0.001},
             top=[("aten::cudnn_convolution", 48.0, 0.8, 40), ("aten::copy_", 12.0, 0.2, 9), ("aten::mul", 0.06,
                                                                                                 0.001, 3)],
             kernels=[("sm90_xmma_fprop_bf16", 30.0)])
    assert profile_lines("bf16 autocast (approx.)", p) == [
        "- **bf16 autocast (approx.)**: one profiled call 80 ms, GPU busy 75 % of it; 60 ms of kernel time: "
        "convolution 80 %; copy and type cast 20 %.",
        "  Most: `aten::cudnn_convolution` 48.0 ms (80 %, 40×), `aten::copy_` 12.0 ms (20 %, 9×).",
        "  Longest kernels: `sm90_xmma_fprop_bf16` 30.0 ms."]
