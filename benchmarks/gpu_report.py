"""The report of `make gpu-check` (benchmarks/gpu_check.py): ``report.md`` in the form of
benchmarks/RESULTS.md, rendered from the collected results, every part optional.

No import of torch or of the package: the report must be written even where they cannot be imported.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

#: the rehearsal's sizes: the smallest that exercise the same code (VGG16's features.29 is 2×2 at 32×32,
#: EfficientNet-Lite0's head_act 2×2 at 64×64)
REHEARSAL_SIZE = {"vgg16": 32, "efficientnet_lite0": 64, "sweep": 32}
TARGET_TEXT = {"fp32_s": ("UnionCAM fp32", 1000, "ms"), "bf16_s": ("UnionCAM bf16", 1000, "ms"),
               "batch1_total_gb": ("Peak at batch 1 (weights included)", 1, "MB")}


def _target_lines(result: dict) -> list[str]:
    from targets import GPU_TARGETS

    if result.get("rehearsal"):
        return ["not judged: a CPU rehearsal measures nothing for the GPU"]
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
    lines = ["| method | s / image | peak MB (+ / total) | images forwarded | GFLOP | TFLOP/s | max abs. error |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in model["rows"]:
        error = f"{r['max_abs_error']:.1e}" if "max_abs_error" in r else ""
        lines.append(f"| {r['method']} | {r['seconds']:.3f} | {r['peak_mb']:.0f} / {r['total_mb']:.0f} | "
                     f"{r['passes']:.0f} | {r['gflop']:.0f} | {r['gflops_per_s'] / 1000:.1f} | {error} |")
    return lines


def sweep_table(sweep: dict) -> list[str]:
    """The sweep's rows (benchmarks/speed_sweep.py's JSON) as a markdown table, and which configuration wins."""
    lines = ["| configuration | exact | ms / image | TFLOP/s | of the device's peak | peak MB | max abs. error "
             "| warm-up s |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in sweep.get("rows", []):
        exact = "yes" if r.get("exact") else "approx."
        if r.get("status") != "passed":
            lines.append(f"| {r.get('name')} | {exact} | {r.get('status')} | | | | | |")
            continue
        frac = (f"{100 * r['fraction_of_peak']:.0f} % of {r['peak_tflops']:g} ({r['precision']})"
                if r.get("fraction_of_peak") is not None else "")
        mb = f"{r['peak_mb']:.0f}" if "peak_mb" in r else ""
        error = f"{r['max_abs_error']:.1e}" if "max_abs_error" in r else ""
        lines.append(f"| {r['name']} | {exact} | {r['ms_per_image']:.1f} | {r['tflops']:.2f} | {frac} | {mb} | "
                     f"{error} | {r.get('warmup_s', 0):.1f} |")
    win = sweep.get("winners", {})
    lines += ["", f"Fastest exact: **{win.get('exact', 'none')}**; fastest of all: **{win.get('any', 'none')}** "
              f"(a compiled configuration counts only if it compiled within {sweep.get('compile_limit', 60):g} s). "
              "The library's CUDA defaults are not changed by the sweep: the winner becomes the default by a "
              "decision taken from this table."]
    return lines


def profile_lines(name: str, p: dict) -> list[str]:
    """One profile (``profile_call.profile_call``'s result) as markdown: a line of kinds, then the operators
    that took most, then (CUDA) the longest kernels."""
    busy = f", GPU busy {100 * p['busy']:.0f} % of it" if p.get("busy") is not None else ""
    kinds = "; ".join(f"{kind} {100 * s:.0f} %" for kind, s in p["kinds"].items() if s >= 0.005)
    ops = ", ".join(f"`{op}` {ms:.1f} ms ({100 * s:.0f} %, {n}×)" for op, ms, s, n in p["top"] if s >= 0.005)
    lines = [f"- **{name}**: one profiled call {p['wall_ms']:.0f} ms{busy}; {p['measured_ms']:.0f} ms of "
             f"{'kernel' if p.get('busy') is not None else 'operator'} time: {kinds}.", f"  Most: {ops}."]
    if p.get("kernels"):
        lines.append(f"  Longest kernels: {', '.join(f'`{k}` {ms:.1f} ms' for k, ms in p['kernels'])}.")
    return lines


def _fence(text: str) -> list[str]:
    return ["```", text.strip()[-1500:], "```"] if text and text.strip() else []


def render_report(result: dict) -> str:
    """report.md from the collected results (every part optional: what did not run says so)."""
    rehearsal = result.get("rehearsal")
    title = "GPU check (CPU rehearsal: nothing measured for the GPU)" if rehearsal else "GPU check"
    lines = [f"# {title}: {result.get('device', '?')}, {result.get('date', '')}", "",
             f"{result.get('software', '')}; `make gpu-check` took {result.get('seconds', 0):.0f} s "
             f"(budget {result.get('budget', 0):.0f} s).", ""]
    if rehearsal:
        lines += [f"Rehearsal: {rehearsal}", ""]
    lines += [
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
    jobs = result.get("notebook_jobs", 1)
    at_a_time = f", {jobs} at a time" if jobs > 1 else ""
    lines += [f"## 2. Notebooks through nbval on {'the CPU' if rehearsal else 'CUDA'} (each in its own process"
              f"{at_a_time})"]
    if notebooks is None:
        lines += ["not run (not in --parts)", ""]
    else:
        lines += ["| notebook | seconds | result |", "|---|---:|---|"]
        for r in notebooks:
            note = f" ({r['detail']})" if r["status"] in ("not run", "passed") and r.get("detail") else ""
            scope = f", {r['scope']}" if r.get("scope") else ""
            lines.append(f"| `{r['notebook']}` | {r['seconds']:.1f} | {r['status']}{scope}{note} |")
        passed = sum(r["status"] == "passed" for r in notebooks)
        lines.append(f"| **all {len(notebooks)}** | **{sum(r['seconds'] for r in notebooks):.1f}** | "
                     f"**{passed} passed** |")
        if "notebooks_wall" in result:
            shared = f"; each time above shares the machine with up to {jobs - 1} other notebooks" if jobs > 1 else ""
            lines += ["", f"Wall-clock time of the part: {result['notebooks_wall']:.1f} s{shared}."]
        for r in notebooks:
            if r["status"] not in ("passed", "not run"):
                lines += ["", f"`{r['notebook']}` ({r['status']}):", *_fence(r.get("detail", ""))]
        lines += [""]
    bench = result.get("benchmark")
    lines += [f"## 3. Benchmark (`benchmarks/bench_unioncam.py --device {'cpu' if rehearsal else 'cuda'}"
              f"{' --size S --images 1' if rehearsal else ' --images 2'}`)"]
    if bench is None:
        lines += ["not run (not in --parts)", ""]
    for name, r in (bench or {}).items():
        model = r.get("models", {}).get(name)
        size = f"{REHEARSAL_SIZE[name]}×{REHEARSAL_SIZE[name]}" if rehearsal else "224×224"
        title = {"vgg16": f"VGG16 (random weights, timing only), {size}, `features.29`",
                 "efficientnet_lite0": f"EfficientNet-Lite0 (ImageNet weights), {size}, `features.head_act`"}[name]
        lines += ["", f"{title}: **{r.get('status')}** in {r.get('seconds', 0):.0f} s"]
        if model:
            lines += [f"({r.get('images')} photos, median of {r.get('repeats')} calls each, warm-up {r.get('warmup')};"
                      f" {r.get('device')})", "", *_bench_table(model)]
        if r.get("status") != "passed":
            lines += _fence(r.get("output", ""))
    sweep = result.get("sweep")
    if sweep is not None:
        size = sweep.get("size", REHEARSAL_SIZE["sweep"] if rehearsal else 224)
        lines += ["", f"### Speed sweep (`benchmarks/speed_sweep.py`): **{sweep.get('status')}** in "
                  f"{sweep.get('seconds', 0):.0f} s"]
        if sweep.get("rows"):
            lines += [f"VGG16 (random weights), {size}×{size}, UnionCAM θ = 10, {sweep.get('images')} photos, "
                      f"median of {sweep.get('repeats')} calls each; {sweep.get('passes') or 0:.0f} images forwarded "
                      f"and {sweep.get('gflop') or 0:.0f} GFLOP per call; on {sweep.get('device_name')}. Max abs. "
                      "error: against the strict-fp32 (TF32 off) map.", "", *sweep_table(sweep)]
        if sweep.get("profiles"):
            lines += ["", "Where the time goes (`benchmarks/profile_call.py`: one profiled call of the fastest exact "
                      "and the fastest approximate configuration, uncompiled; the profiler slows the call, so read "
                      "the shares):", ""]
            for p in sweep["profiles"]:
                lines += profile_lines(p["name"], p) if "error" not in p else [f"- {p['name']}: {p['error']}"]
        if sweep.get("status") != "passed":
            lines += _fence(sweep.get("output", ""))
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


