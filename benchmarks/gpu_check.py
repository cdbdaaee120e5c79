"""`make gpu-check`: the GPU half of the project in one command, with a report to paste.

    python benchmarks/gpu_check.py [--out outputs/gpu-check] [--budget 480] [--parts tests,notebooks,benchmark]
                                   [--notebook-jobs 3] [--rehearse]

Needs CUDA (without it: one ``error:`` line, exit status 2), except with ``--rehearse``. Runs, in
this order, within ``--budget`` seconds (8 minutes by default, sized for one H100):

1. the CUDA tests (``pytest -k cuda`` on the test files that define ``test_cuda_*`` tests, which
   skip on CPU);
2. every notebook through nbval on CUDA, each in its own process with its own time limit, three
   at a time (``--notebook-jobs``; ``benchmarks/time_notebooks.py --nbval``'s ``run_nbval``), with
   per-notebook times;
3. the benchmark on CUDA (``benchmarks/bench_unioncam.py --json``): VGG16 with random weights
   (fp32, bf16 autocast, batch-1 memory: the three GPU targets), then the sweep of the GPU speed
   options on VGG16 in one process (``benchmarks/speed_sweep.py``: cudnn.benchmark, channels_last,
   bf16 masks, batch size, torch.compile; ms/image, TFLOP/s and fraction of the device's peak, and
   which configuration wins; then a profile of the fastest exact and approximate ones), then
   EfficientNet-Lite0; 2 photos each.

``--rehearse`` runs every part on the CPU at the smallest size that goes through the same code
and imports, to prove on a machine without a GPU that the check cannot fail on set-up (a missing
package, an import error, a command line that changed): the same CUDA-test selection (which then
skips), nbval on the first notebook in full and on every other notebook's imports (and its set-up
cell where it differs from one already run), the benchmark on VGG16 at 32×32 and EfficientNet-Lite0
at 64×64 (1 photo, 1 call, batch 64; the peers' rows on EfficientNet-Lite0 only), and the sweep at
32×32 with no warm-up calls and torch.compile's capture-only "eager" backend (inductor would take
minutes of C++ compilation on a small CPU). Nothing in a
rehearsal measures a GPU; its report says so.

A part that fails, hangs or crashes is recorded and the next part runs; the time left is shared
so that the benchmark always gets its turn (a ``--budget`` above 480 s stretches every part's
limit in proportion). ``outputs/gpu-check/report.md`` is (re)written after
every part, so it exists even if the run is killed, in the form of ``benchmarks/RESULTS.md``
(device, tables, each target met or not). Exit status 0 when everything passed, 1 otherwise.

It runs with whatever Python starts it and installs nothing (``make gpu-check`` uses
``GPU_CHECK_PYTHON``, default ``.venv/bin/python`` if it exists, else ``python3``): a GPU machine
without network uses its own torch. The repository is put first on ``PYTHONPATH``.
"""
from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

PARTS = ("tests", "notebooks", "benchmark")
DEFAULT_BUDGET = 480.0
#: the benchmark's steps in order and the seconds each may take at most (the H200 took ~40 s for
#: VGG16 and ~64 s for EfficientNet-Lite0; the sweep stops itself at its --budget, 20 s below its limit)
BENCH_STEPS = (("vgg16", 150), ("sweep", 190), ("efficientnet_lite0", 120))
#: at most 150 s for the CUDA tests (a notebook's limit: gpu_notebooks.NOTEBOOK_LIMIT); 250 s are
#: always kept for the benchmark
TESTS_LIMIT, BENCH_RESERVE = 150, 250
from gpu_notebooks import NOTEBOOK_JOBS, part_notebooks  # noqa: E402
from gpu_report import REHEARSAL_SIZE, render_report, sweep_table, write_report  # noqa: E402,F401  (re-exported)


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def parse_args(argv):
    parser = Parser(prog="benchmarks/gpu_check.py", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "gpu-check", help="folder for report.md")
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET, help=f"seconds for the whole check (default "
                        f"{DEFAULT_BUDGET:g}; a larger budget stretches each part's limit in proportion)")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument("--notebook-jobs", type=int, default=NOTEBOOK_JOBS, help="notebooks run at a time (default "
                        f"{NOTEBOOK_JOBS}; each in its own process and kernel)")
    parser.add_argument("--rehearse", action="store_true", help="run every part on the CPU at its smallest size "
                        "(no GPU needed; nothing measured): proves the set-up of this Python")
    args = parser.parse_args(argv)
    if args.notebook_jobs < 1:
        raise UsageError(f"--notebook-jobs must be 1 or more, got {args.notebook_jobs}")
    if not args.budget > 0:
        raise UsageError(f"--budget must be a positive number of seconds, got {args.budget:g}")
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown or not parts:
        raise UsageError(f"unknown part(s) {', '.join(unknown) or '(none)'} in --parts: choose from {', '.join(PARTS)}")
    args.parts = [p for p in PARTS if p in parts]
    return args


def cuda_device() -> str:
    """The CUDA device's name, or a UsageError that says why there is none."""
    try:
        import torch
    except ImportError as err:
        raise UsageError(f"torch cannot be imported by {sys.executable} ({err}): set GPU_CHECK_PYTHON to a Python "
                         "that has torch with CUDA") from None
    if not torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        raise UsageError(f"make gpu-check needs a CUDA GPU, and torch.cuda.is_available() is False here (torch "
                         f"{torch.__version__}, {build}): run it on a machine with an NVIDIA GPU")
    return torch.cuda.get_device_name(0)


def run_command(cmd: list[str], timeout: float, cwd: Path = ROOT) -> dict:
    """Run ``cmd`` (environment of time_notebooks.subprocess_env) killed after ``timeout`` s:
    ``{"status": passed|failed|timeout, "seconds", "output"}``."""
    from time_notebooks import subprocess_env

    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=max(timeout, 1), cwd=cwd,
                              env=subprocess_env())
    except subprocess.TimeoutExpired as err:
        out = err.stdout.decode(errors="replace") if isinstance(err.stdout, bytes) else (err.stdout or "")
        return {"status": "timeout", "seconds": time.perf_counter() - start,
                "output": f"killed after {timeout:.0f} s\n{out[-3000:]}"}
    status = "passed" if done.returncode == 0 else "failed"
    return {"status": status, "seconds": time.perf_counter() - start, "output": (done.stdout + done.stderr)[-3000:]}


def missing(*modules: str) -> list[str]:
    return [m for m in modules if importlib.util.find_spec(m) is None]


# --------------------------------------------------------------------------- the three parts

def part_tests(result: dict, deadline: float, out: Path, scale: float = 1.0) -> None:
    lacking = missing("pytest")
    if lacking:
        result["tests"] = {"status": "not run", "output": "pytest is not installed: pip install pytest"}
        return
    # only the files that hold CUDA tests are collected: other test files may import packages
    # (nbgrader, playwright, ...) that a bare GPU machine lacks, and a collection error would stop pytest
    files = [str(p.relative_to(ROOT)) for p in sorted((ROOT / "tests").rglob("test_*.py"))
             if "def test_cuda" in p.read_text(errors="replace")]
    if not files:
        result["tests"] = {"status": "not run", "output": "no test_cuda_* tests found in tests/"}
        return
    junit = out / "cuda-tests.xml"
    timeout = min(TESTS_LIMIT * scale, deadline - time.monotonic() - BENCH_RESERVE * scale)
    r = run_command([sys.executable, "-m", "pytest", *files, "-k", "cuda", "-q", "-p", "no:cacheprovider",
                     "-o", "addopts=", f"--junitxml={junit}"], timeout)
    r["files"] = files
    r.update(junit_counts(junit))
    result["tests"] = r


def junit_counts(path: Path) -> dict:
    """passed / failed / skipped counts and failing test names from pytest's JUnit XML."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return {}
    counts = {"passed": 0, "failed": 0, "skipped": 0, "failures": []}
    for case in root.iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        if case.find("failure") is not None or case.find("error") is not None:
            counts["failed"] += 1
            counts["failures"].append(name)
        elif case.find("skipped") is not None:
            counts["skipped"] += 1
        else:
            counts["passed"] += 1
    counts["collected"] = counts["passed"] + counts["failed"] + counts["skipped"]
    return counts


def bench_command(step: str, path: Path, rehearse: bool, budget: float) -> list[str]:
    """The command line of one benchmark step (``bench_unioncam.py`` for a model, ``speed_sweep.py``)."""
    bench = ROOT / "benchmarks"
    if step == "sweep":
        cmd = [sys.executable, str(bench / "speed_sweep.py"), "--json", str(path), "--budget", f"{budget:.0f}"]
        if rehearse:
            cmd += ["--device", "cpu", "--size", str(REHEARSAL_SIZE[step]), "--images", "1", "--repeats", "1",
                    "--batch-size", "64", "--batch-sizes", "128", "--compile-mode", "eager", "--no-warmup"]
        else:
            cmd += ["--device", "cuda"]
        return cmd
    cmd = [sys.executable, str(bench / "bench_unioncam.py"), "--models", step, "--json", str(path)]
    if rehearse:
        # batch 64: at batch 4 VGG16's 400 MB first linear layer would be read 128 times per call; the
        # peers' rows (the same code on both models) run on EfficientNet-Lite0 only, the cheaper one
        only = ["--only", "ours"] if step == "vgg16" else []
        return cmd + ["--device", "cpu", "--size", str(REHEARSAL_SIZE[step]), "--images", "1", "--repeats", "1",
                      "--warmup", "light", "--batch-size", "64", *only]
    return cmd + ["--device", "cuda", "--images", "2"]


def part_benchmark(result: dict, deadline: float, out: Path, write, rehearse: bool = False,
                   scale: float = 1.0) -> None:
    bench = result["benchmark"] = {}
    for step, limit in BENCH_STEPS:
        path = out / f"bench-{step}.json"
        path.unlink(missing_ok=True)
        left = deadline - time.monotonic()
        target = result if step == "sweep" else bench
        if left < 20:
            target[step] = {"status": "not run", "output": "time budget spent"}
            continue
        timeout = min(limit * scale, left)
        r = run_command(bench_command(step, path, rehearse, max(timeout - 20, 10)), timeout)
        if path.is_file():
            r.update(json.loads(path.read_text()))
        target[step] = r
        write()


def software() -> str:
    import torch

    return (f"torch {torch.__version__} (CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}), "
            f"Python {platform.python_version()} ({sys.executable}), {os.cpu_count()} CPU cores")


def cpu_device() -> str:
    """The rehearsal's device: the CPU, or a UsageError when torch cannot be imported."""
    try:
        import torch
    except ImportError as err:
        raise UsageError(f"torch cannot be imported by {sys.executable} ({err}): set GPU_CHECK_PYTHON to a Python "
                         "that has torch") from None
    return f"CPU, {torch.get_num_threads()} threads"


REHEARSAL_TEXT = ("every part on the CPU at its smallest size: the CUDA-test selection (the tests skip without a "
                  "GPU), nbval on the first notebook in full and on the others' imports (and set-up cell where it "
                  "differs), the benchmark on VGG16 at 32×32 (ours only) and EfficientNet-Lite0 at 64×64 (with the "
                  "peers), 1 photo, 1 call, the sweep at 32×32 with torch.compile's capture-only eager backend. It "
                  "proves that this Python runs the check; the times say nothing about a GPU.")


def main(argv=None) -> int:
    try:
        args = parse_args(argv)
        device = cpu_device() if args.rehearse else cuda_device()
    except UsageError as err:
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    start, deadline = time.monotonic(), time.monotonic() + args.budget
    scale = max(1.0, args.budget / DEFAULT_BUDGET)   # a larger budget stretches every part's limit alike
    result = {"device": device, "date": datetime.date.today().isoformat(), "software": software(),
              "budget": args.budget, "seconds": 0.0}
    if args.rehearse:
        result["rehearsal"] = REHEARSAL_TEXT
    out = args.out

    def write():
        result["seconds"] = time.monotonic() - start
        write_report(result, out)

    try:
        write()
    except (OSError, ValueError) as err:
        print(f"error: cannot write the report in {out} ({err})", file=sys.stderr)
        return 2
    print(f"gpu-check{' rehearsal' if args.rehearse else ''} on {device}: {', '.join(args.parts)}; "
          f"report: {out / 'report.md'}", flush=True)
    for part in args.parts:
        begun = time.monotonic()
        try:
            if part == "tests":
                part_tests(result, deadline, out, scale)
            elif part == "notebooks":
                part_notebooks(result, deadline - BENCH_RESERVE * scale, out, write, args.rehearse, scale,
                               args.notebook_jobs)
            else:
                part_benchmark(result, deadline, out, write, args.rehearse, scale)
        except Exception as err:  # a part that breaks is recorded; the next part still runs
            result.setdefault("errors", {})[part] = f"{type(err).__name__}: {err}"
        write()
        print(f"  {part}: {time.monotonic() - begun:.0f} s", flush=True)
    print(render_report(result))
    return 0 if all_passed(result) else 1


def all_passed(result: dict) -> bool:
    ok = not result.get("errors") and result.get("tests", {}).get("status", "passed") == "passed"
    ok &= all(r["status"] == "passed" for r in result.get("notebooks", []))
    ok &= all(r.get("status") == "passed" for r in result.get("benchmark", {}).values())
    ok &= result.get("sweep", {}).get("status", "passed") == "passed"
    return bool(ok)


if __name__ == "__main__":
    sys.exit(main())
