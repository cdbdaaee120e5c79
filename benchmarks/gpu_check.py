"""`make gpu-check`: the GPU half of the project in one command, with a report to paste.

    python benchmarks/gpu_check.py [--out outputs/gpu-check] [--budget 480] [--parts tests,notebooks,benchmark]

Needs CUDA (without it: one ``error:`` line, exit status 2). Runs, in this order, within
``--budget`` seconds (8 minutes by default, sized for one H100):

1. the CUDA tests (``pytest -k cuda`` on the test files that define ``test_cuda_*`` tests, which
   skip on CPU);
2. every notebook through nbval on CUDA, each in its own process with its own time limit
   (``benchmarks/time_notebooks.py --nbval``'s ``run_nbval``), with per-notebook times;
3. the benchmark on CUDA (``benchmarks/bench_unioncam.py --json``): VGG16 with random weights
   (fp32, bf16 autocast, batch-1 memory: the three GPU targets) and EfficientNet-Lite0, 2 photos each.

A part that fails, hangs or crashes is recorded and the next part runs; the time left is shared
so that the benchmark always gets its turn. ``outputs/gpu-check/report.md`` is (re)written after
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
#: the benchmark's models and the seconds each may take at most (the H200 took ~40 s and ~64 s)
BENCH_MODELS = (("vgg16", 200), ("efficientnet_lite0", 160))
#: at most 150 s for the CUDA tests and 120 s per notebook; 200 s are always kept for the benchmark
TESTS_LIMIT, NOTEBOOK_LIMIT, BENCH_RESERVE = 150, 120, 200
TARGET_TEXT = {"fp32_s": ("UnionCAM fp32", 1000, "ms"), "bf16_s": ("UnionCAM bf16", 1000, "ms"),
               "batch1_total_gb": ("Peak at batch 1 (weights included)", 1, "MB")}


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def parse_args(argv):
    parser = Parser(prog="benchmarks/gpu_check.py", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "gpu-check", help="folder for report.md")
    parser.add_argument("--budget", type=float, default=480, help="seconds for the whole check (default 480)")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    args = parser.parse_args(argv)
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

def part_tests(result: dict, deadline: float, out: Path) -> None:
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
    timeout = min(TESTS_LIMIT, deadline - time.monotonic() - BENCH_RESERVE)
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


def part_notebooks(result: dict, deadline: float, out: Path, write) -> None:
    from time_notebooks import NOTEBOOKS, run_nbval

    lacking = missing("nbval", "ipykernel", "nbformat")
    paths = sorted(NOTEBOOKS.glob("*.ipynb"))
    rows = result["notebooks"] = []
    for path in paths:
        left = deadline - time.monotonic() - BENCH_RESERVE
        if lacking:
            rows.append({"notebook": path.stem, "seconds": 0.0, "status": "not run",
                         "detail": f"{', '.join(lacking)} not installed (pip install nbval ipykernel)"})
        elif left < 10:
            rows.append({"notebook": path.stem, "seconds": 0.0, "status": "not run", "detail": "time budget spent"})
        else:
            rows.append(run_nbval(path, min(NOTEBOOK_LIMIT, left)))
        write()


def part_benchmark(result: dict, deadline: float, out: Path, write) -> None:
    bench = result["benchmark"] = {}
    for name, limit in BENCH_MODELS:
        path = out / f"bench-{name}.json"
        path.unlink(missing_ok=True)
        left = deadline - time.monotonic()
        if left < 20:
            bench[name] = {"status": "not run", "output": "time budget spent"}
            continue
        r = run_command([sys.executable, str(ROOT / "benchmarks" / "bench_unioncam.py"), "--device", "cuda",
                         "--models", name, "--images", "2", "--json", str(path)], min(limit, left))
        if path.is_file():
            r.update(json.loads(path.read_text()))
        bench[name] = r
        write()


# --------------------------------------------------------------------------- the report

def _target_lines(result: dict) -> list[str]:
    from targets import GPU_TARGETS

    vgg = result.get("benchmark", {}).get("vgg16", {})
    verdicts = {t["target"]: t for t in vgg.get("models", {}).get("vgg16", {}).get("targets", [])}
    lines = []
    for key, limit in GPU_TARGETS.items():
        label, scale, unit = TARGET_TEXT[key]
        limit_text = f"{limit * scale:g} {unit}" if unit == "ms" else f"{limit:g} GB"
        if key in verdicts:
            t = verdicts[key]
            value = f"{t['value'] * scale:.0f} {unit}"
            lines.append(f"- {label} ≤ {limit_text}: **{'met' if t['met'] else 'not met'}**, {value}")
        else:
            why = vgg.get("status", "not run")
            lines.append(f"- {label} ≤ {limit_text}: **not measured** (VGG16 benchmark: {why})")
    return lines


def _bench_table(model: dict) -> list[str]:
    lines = ["| method | s / image | peak MB (+ / total) | images forwarded | GFLOP | TFLOP/s |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in model["rows"]:
        lines.append(f"| {r['method']} | {r['seconds']:.3f} | {r['peak_mb']:.0f} / {r['total_mb']:.0f} | "
                     f"{r['passes']:.0f} | {r['gflop']:.0f} | {r['gflops_per_s'] / 1000:.1f} |")
    return lines


def _fence(text: str) -> list[str]:
    return ["```", text.strip()[-1500:], "```"] if text and text.strip() else []


def render_report(result: dict) -> str:
    """report.md from the collected results (every part optional: what did not run says so)."""
    lines = [f"# GPU check: {result.get('device', '?')}, {result.get('date', '')}", "",
             f"{result.get('software', '')}; `make gpu-check` took {result.get('seconds', 0):.0f} s "
             f"(budget {result.get('budget', 0):.0f} s).", "",
             "## The GPU targets (VGG16, 224×224, per image)", *_target_lines(result), ""]
    tests = result.get("tests")
    lines += ["## 1. CUDA tests (`pytest -k cuda`)"]
    if tests is None:
        lines += ["not run (not in --parts)", ""]
    else:
        counts = (f"{tests.get('passed', 0)} passed, {tests.get('failed', 0)} failed, {tests.get('skipped', 0)} skipped"
                  if "collected" in tests else "no test results")
        files = f" ({', '.join(f'`{f}`' for f in tests['files'])})" if tests.get("files") else ""
        lines += [f"**{tests['status']}**: {counts} in {tests.get('seconds', 0):.1f} s{files}."]
        lines += [f"- failed: `{name}`" for name in tests.get("failures", [])]
        if tests["status"] != "passed":
            lines += _fence(tests.get("output", ""))
        lines += [""]
    notebooks = result.get("notebooks")
    lines += ["## 2. Notebooks through nbval on CUDA (each in its own process)"]
    if notebooks is None:
        lines += ["not run (not in --parts)", ""]
    else:
        lines += ["| notebook | seconds | result |", "|---|---:|---|"]
        for r in notebooks:
            note = f" ({r['detail']})" if r["status"] == "not run" and r.get("detail") else ""
            lines.append(f"| `{r['notebook']}` | {r['seconds']:.1f} | {r['status']}{note} |")
        passed = sum(r["status"] == "passed" for r in notebooks)
        lines.append(f"| **all {len(notebooks)}** | **{sum(r['seconds'] for r in notebooks):.1f}** | "
                     f"**{passed} passed** |")
        for r in notebooks:
            if r["status"] not in ("passed", "not run"):
                lines += ["", f"`{r['notebook']}` ({r['status']}):", *_fence(r.get("detail", ""))]
        lines += [""]
    bench = result.get("benchmark")
    lines += ["## 3. Benchmark (`benchmarks/bench_unioncam.py --device cuda --images 2`)"]
    if bench is None:
        lines += ["not run (not in --parts)", ""]
    for name, r in (bench or {}).items():
        model = r.get("models", {}).get(name)
        title = {"vgg16": "VGG16 (random weights, timing only), 224×224, `features.29`",
                 "efficientnet_lite0": "EfficientNet-Lite0 (ImageNet weights), 224×224, `features.head_act`"}[name]
        lines += ["", f"{title}: **{r.get('status')}** in {r.get('seconds', 0):.0f} s"]
        if model:
            lines += [f"({r.get('images')} photos, median of {r.get('repeats')} calls each, warm-up {r.get('warmup')};"
                      f" {r.get('device')})", "", *_bench_table(model)]
        if r.get("status") != "passed":
            lines += _fence(r.get("output", ""))
    for part, error in result.get("errors", {}).items():
        lines += ["", f"**{part} stopped with an error**:", *_fence(error)]
    return "\n".join(lines).rstrip() + "\n"


def write_text_atomic(path: Path, text: str) -> None:
    """Through a temporary file and a rename (no import of the package: the report must be written
    even where unioncam_lite cannot be imported)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_report(result: dict, out: Path) -> Path:
    """``out/report.md``, written atomically (and ``out/result.json`` with the raw results)."""
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "result.json", json.dumps(result, indent=1, default=str))
    write_text_atomic(out / "report.md", render_report(result))
    return out / "report.md"


def software() -> str:
    import torch

    return (f"torch {torch.__version__} (CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}), "
            f"Python {platform.python_version()}, {os.cpu_count()} CPU cores")


def main(argv=None) -> int:
    try:
        args = parse_args(argv)
        device = cuda_device()
    except UsageError as err:
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    start, deadline = time.monotonic(), time.monotonic() + args.budget
    result = {"device": device, "date": datetime.date.today().isoformat(), "software": software(),
              "budget": args.budget, "seconds": 0.0}
    out = args.out

    def write():
        result["seconds"] = time.monotonic() - start
        write_report(result, out)

    try:
        write()
    except (OSError, ValueError) as err:
        print(f"error: cannot write the report in {out} ({err})", file=sys.stderr)
        return 2
    print(f"gpu-check on {device}: {', '.join(args.parts)}; report: {out / 'report.md'}", flush=True)
    for part in args.parts:
        begun = time.monotonic()
        try:
            if part == "tests":
                part_tests(result, deadline, out)
            elif part == "notebooks":
                part_notebooks(result, deadline, out, write)
            else:
                part_benchmark(result, deadline, out, write)
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
    return bool(ok)


if __name__ == "__main__":
    sys.exit(main())
