"""Where one call's time goes: ``torch.profiler`` over one call, the time summed by the PyTorch
operator that spent it and grouped in a few kinds, the operators that took most, and (on CUDA) how
busy the device was.

On CUDA the time is the GPU kernels' time, attributed to the operator that launched them (the
profiler's *self device time*); on the CPU it is each operator's self CPU time. "Busy" is the
kernels' time over the call's wall-clock time: well below 1 means the GPU waited for the host
(launch overhead, synchronisation, Python), which is where CUDA graphs or ``torch.compile`` help;
near 1 with most time in convolutions means the kernels themselves are the limit. The profiler
adds its own overhead, so the profiled call is slower than the timed one: read shares, not times.

Written for issue 21's GPU run (``speed_sweep.py`` profiles its fastest exact and approximate
configurations), so that one run already says why bf16 is or is not near its target, instead of
needing a second run to profile it. The kinds are this project's own grouping of operator names.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import torch
from torch.profiler import ProfilerActivity, profile

#: (kind, test on the operator's name), first match wins; whatever matches none is "elementwise and other"
KINDS: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("convolution", lambda n: "conv" in n),
    ("matrix product", lambda n: n in {"aten::mm", "aten::addmm", "aten::bmm", "aten::matmul", "aten::linear",
                                       "aten::baddbmm", "aten::addmv", "aten::mv"}),
    ("pooling", lambda n: "pool" in n),
    ("upsampling (masks)", lambda n: "upsample" in n or "interpolate" in n),
    ("copy and type cast", lambda n: "copy" in n or n in {"aten::to", "aten::clone", "aten::contiguous"}),
)
OTHER = "elementwise and other"


def kind_of(name: str) -> str:
    """The kind of an operator, by its name (e.g. ``aten::cudnn_convolution`` -> convolution)."""
    return next((kind for kind, test in KINDS if test(name)), OTHER)


def _self_time_us(event, cuda: bool) -> float:
    if not cuda:
        return float(event.self_cpu_time_total)
    value = getattr(event, "self_device_time_total", None)     # torch >= 2.4; older: self_cuda_time_total
    return float(value if value is not None else event.self_cuda_time_total)


def profile_call(fn: Callable[[], object], device: torch.device, top: int = 8) -> dict:
    """Profile one ``fn()`` on ``device`` (call it once before, so that nothing is first-time work).

    Returns ``wall_ms`` (the profiled call), ``measured_ms`` (the operators' time summed),
    ``busy`` (CUDA: the kernels' time over ``wall_ms``; None on the CPU), ``kinds`` ({kind: share
    of ``measured_ms``}, largest first), ``top`` ([(operator, ms, share, calls)], largest first)
    and ``kernels`` (CUDA: the five longest kernels, [(name, ms)]; empty on the CPU).
    """
    cuda = device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(device)

    sync()
    with profile(activities=activities) as prof:
        start = time.perf_counter()
        fn()
        sync()
        wall = time.perf_counter() - start
    return summarise(prof.key_averages(), wall, cuda, top)


def summarise(events: Iterable, wall_s: float, cuda: bool, top: int = 8) -> dict:
    """:func:`profile_call`'s result from a profiler's ``key_averages()`` over a call of ``wall_s`` seconds.

    On CUDA the profiler lists each operator (a host-side entry, with the time of the kernels it
    launched) and each kernel again (a device-side entry): the operators give the kinds and the top,
    the kernels the busy time and the longest kernels, so no kernel is counted twice.
    """
    # operators, with the time of the kernels they launched; on CUDA the kernels are also listed on
    # their own, as device-side entries (their sum is the GPU's busy time)
    on_host, kernels = [], []
    for e in events:
        (on_host if str(getattr(e, "device_type", "CPU")).endswith("CPU") else kernels).append(e)
    times = {e.key: (_self_time_us(e, cuda) / 1000, e.count) for e in on_host}
    measured = sum(ms for ms, _ in times.values())
    kinds: dict[str, float] = {}
    for name, (ms, _) in times.items():
        kind = kind_of(name)
        kinds[kind] = kinds.get(kind, 0.0) + ms
    share = (lambda ms: ms / measured) if measured > 0 else (lambda ms: 0.0)
    ranked = sorted(times.items(), key=lambda item: -item[1][0])[:top]
    kernel_ms = sorted(((e.key, _self_time_us(e, True) / 1000) for e in kernels), key=lambda item: -item[1])
    busy_ms = sum(ms for _, ms in kernel_ms)
    return dict(
        wall_ms=1000 * wall_s, measured_ms=measured,
        busy=busy_ms / (1000 * wall_s) if cuda and wall_s > 0 else None,
        kinds=dict(sorted(((k, share(ms)) for k, ms in kinds.items()), key=lambda item: -item[1])),
        top=[(name, ms, share(ms), count) for name, (ms, count) in ranked if ms > 0],
        kernels=[(name[:100], ms) for name, ms in kernel_ms[:5]])
