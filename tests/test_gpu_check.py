"""`make gpu-check`'s CPU-side parts: arguments, the exit without a GPU, the time budget, part
failures that do not stop the run, and the report written from a (fake) result.

(No test here has "cuda" in its name: gpu-check selects the CUDA tests with ``-k cuda``.)
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_unioncam  # noqa: E402
import gpu_check  # noqa: E402
import time_notebooks  # noqa: E402


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_without_a_gpu_one_line_and_exit_2(capsys):
    assert gpu_check.main(["--out", "/nonexistent/never-written"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: make gpu-check needs a CUDA GPU") and err.count("\n") == 1
    assert not Path("/nonexistent/never-written").exists()


@pytest.mark.parametrize("argv,message", [
    (["--parts", "tests,magic"], "unknown part(s) magic in --parts"),
    (["--budget", "0"], "--budget must be a positive number"),
    (["--budget", "soon"], "argument --budget: invalid float value"),
    (["--frobnicate"], "unrecognized arguments: --frobnicate"),
])
def test_bad_arguments(argv, message, capsys):
    assert gpu_check.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_parts_keep_their_order():
    assert gpu_check.parse_args(["--parts", "benchmark, tests"]).parts == ["tests", "benchmark"]


def test_make_target_installs_nothing_and_uses_the_given_python():
    # Run as a top-level make even under `make test`: a parent make's MAKEFLAGS/MAKELEVEL make the child
    # print "Entering directory" lines.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES")}
    dry = subprocess.run(["make", "--no-print-directory", "-n", "gpu-check", "GPU_CHECK_PYTHON=/opt/gpu/python3.12"],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
    assert dry.strip() == "/opt/gpu/python3.12 benchmarks/gpu_check.py --out outputs/gpu-check"
    if "GPU_CHECK_ARGS" in (ROOT / "Makefile").read_text():   # extra arguments, e.g. the rehearsal's, go on the end
        dry = subprocess.run(["make", "--no-print-directory", "-n", "gpu-check", "GPU_CHECK_PYTHON=python3",
                              "GPU_CHECK_ARGS=--rehearse --budget 900"], cwd=ROOT, env=env, capture_output=True,
                             text=True, check=True).stdout
        assert dry.strip() == "python3 benchmarks/gpu_check.py --out outputs/gpu-check --rehearse --budget 900"


def vgg_rows(fp32=0.118, bf16=0.092, batch1_total_mb=677.0):
    row = dict(model="vgg16 (random weights) (224, 224)", peak_mb=100.0, total_mb=700.0, passes=496, gflop=15408.0,
               gflops_per_s=130000.0)
    return [dict(row, method="ours UnionCAM (exact)", seconds=fp32),
            dict(row, method="ours UnionCAM bf16 autocast (approx.)", seconds=bf16, max_abs_error=3e-3),
            dict(row, method="ours UnionCAM (exact, batch 1: memory)", seconds=0.98, total_mb=batch1_total_mb)]


def fake_result():
    rows = vgg_rows()
    targets = bench_unioncam.check_targets("vgg16", torch.device("cuda"), rows, None, quiet=True)
    return {
        "device": "NVIDIA H100 80GB HBM3", "date": "2026-11-28", "software": "torch 2.11.0 (CUDA 13.0)",
        "budget": 480, "seconds": 301.5,
        "tests": {"status": "failed", "seconds": 21.0, "passed": 2, "failed": 1, "skipped": 0, "collected": 3,
                  "failures": ["tests.cams.test_options_and_speed::test_cuda_batch_size_respects_max_memory"],
                  "output": "E   assert 3.1 <= 2.0"},
        "notebooks": [
            {"notebook": "00_setup_and_model", "seconds": 15.7, "status": "passed", "detail": ""},
            {"notebook": "01_gradients", "seconds": 9.0, "status": "passed",
             "detail": "its kernel died at its start (nbval: ...), so it was started again; the time includes both"},
            {"notebook": "02_denoising", "seconds": 4.2, "status": "failed", "detail": "DeadKernelError: Kernel died"},
            {"notebook": "05_selection", "seconds": 120.0, "status": "timeout", "detail": "killed after 120 s"},
            {"notebook": "07_explore", "seconds": 0.0, "status": "not run", "detail": "time budget spent"}],
        "benchmark": {
            "vgg16": {"status": "passed", "seconds": 41.0, "images": 2, "repeats": 3, "warmup": "full",
                      "device": "NVIDIA H100 80GB HBM3 (cudnn.allow_tf32=True, cudnn.benchmark=False)",
                      "models": {"vgg16": {"rows": rows, "targets": targets}}},
            "efficientnet_lite0": {"status": "timeout", "seconds": 160.0, "output": "killed after 160 s"}},
        "sweep": fake_sweep(),
    }


def fake_sweep():
    def row(name, exact, ms, **extra):
        return dict(dict(name=name, exact=exact, status="passed", precision="tf32" if exact else "bf16",
                         ms_per_image=ms, tflops=15400 / ms, peak_tflops=494.5 if exact else 989.5,
                         fraction_of_peak=15400 / ms / (494.5 if exact else 989.5), peak_mb=900.0,
                         max_abs_error=4e-3, warmup_s=2.0, options={}), **extra)

    rows = [row("default (fp32, TF32 convolutions on CUDA)", True, 110.0),
            row("cudnn.benchmark", True, 100.0),
            row("bf16 autocast (approx.)", False, 50.0),
            dict(name="default + torch.compile(default)", exact=True, options={"compile_mode": "default"},
                 status="failed: BackendCompilerFailed: no triton")]
    return {"status": "passed", "seconds": 80.0, "device_name": "NVIDIA H200", "size": 224, "images": 2,
            "repeats": 3, "passes": 496, "gflop": 15408.0, "compile_limit": 60, "rows": rows,
            "winners": {"exact": "cudnn.benchmark", "any": "bf16 autocast (approx.)"},
            "profiles": [dict(name="bf16 autocast (approx.)", wall_ms=61.0, measured_ms=45.0, busy=0.7,
                              kinds={"convolution": 0.9, "elementwise and other": 0.1},
                              top=[("aten::cudnn_convolution", 40.5, 0.9, 26)], kernels=[]),
                         dict(name="cudnn.benchmark", error="RuntimeError: CUPTI_ERROR_NOT_INITIALIZED")]}


def test_report_from_a_fake_result(tmp_path):
    path = gpu_check.write_report(fake_result(), tmp_path / "gpu-check")
    text = path.read_text()
    assert text.startswith("# GPU check: NVIDIA H100 80GB HBM3, 2026-11-28")
    # the three targets, judged by bench_unioncam.check_targets from the rows
    assert "- UnionCAM fp32 ≤ 80 ms: **not met**, 118 ms" in text
    assert "- UnionCAM bf16 ≤ 40 ms: **not met**, 92 ms" in text
    assert "- Peak at batch 1 (weights included) ≤ 2.22 GB: **met**, 677 MB" in text
    assert "**failed**: 2 passed, 1 failed, 0 skipped in 21.0 s" in text and "test_cuda_batch_size" in text
    assert "| `00_setup_and_model` | 15.7 | passed |" in text and "| `05_selection` | 120.0 | timeout |" in text
    assert "| **all 5** | **148.9** | **2 passed** |" in text and "DeadKernelError" in text
    assert "| `01_gradients` | 9.0 | passed (its kernel died at its start (nbval: ...), so it was started" in text
    assert "| ours UnionCAM (exact) | 0.118 | 100 / 700 | 496 | 15408 | 130.0 |  |" in text   # RESULTS.md's columns
    assert "| ours UnionCAM bf16 autocast (approx.) | 0.092 | 100 / 700 | 496 | 15408 | 130.0 | 3.0e-03 |" in text
    assert "### Speed sweep (`benchmarks/speed_sweep.py`): **passed**" in text
    assert "| bf16 autocast (approx.) | approx. | 50.0 | 308.00 | 31 % of 989.5 (bf16) | 900 | 4.0e-03 | 2.0 |" in text
    assert "| default + torch.compile(default) | yes | failed: BackendCompilerFailed: no triton | | | | | |" in text
    assert "Fastest exact: **cudnn.benchmark**; fastest of all: **bf16 autocast (approx.)**" in text
    assert ("- **bf16 autocast (approx.)**: one profiled call 61 ms, GPU busy 70 % of it; 45 ms of kernel time: "
            "convolution 90 %; elementwise and other 10 %.") in text
    assert "- cudnn.benchmark: RuntimeError: CUPTI_ERROR_NOT_INITIALIZED" in text     # no profile: says why
    assert "EfficientNet-Lite0 (ImageNet weights), 224×224, `features.head_act`: **timeout**" in text
    assert (tmp_path / "gpu-check" / "result.json").is_file()
    assert not gpu_check.all_passed(fake_result())


def test_targets_not_met_and_not_measured():
    result = fake_result()
    rows = vgg_rows(fp32=0.2, bf16=0.04, batch1_total_mb=3000)
    result["benchmark"]["vgg16"]["models"]["vgg16"]["targets"] = bench_unioncam.check_targets(
        "vgg16", torch.device("cuda"), rows, None, quiet=True)
    text = gpu_check.render_report(result)
    assert "fp32 ≤ 80 ms: **not met**, 200 ms" in text and "bf16 ≤ 40 ms: **met**, 40 ms" in text
    assert "≤ 2.22 GB: **not met**, 3000 MB" in text
    result["benchmark"]["vgg16"] = {"status": "failed", "output": "CUDA out of memory"}
    assert text.count("**not measured**") == 0
    assert gpu_check.render_report(result).count("**not measured** (VGG16 benchmark: failed)") == 3


def test_a_run_with_fake_parts_keeps_going_and_keeps_the_budget(tmp_path, monkeypatch, capsys):
    """Every part runs (a failing one does not stop the next), the benchmark keeps its reserve, the
    report is written; fake commands stand in for pytest, nbval and the benchmark."""
    calls = []

    def fake_command(cmd, timeout, cwd=None):
        calls.append((cmd, timeout))
        if "bench_unioncam.py" in " ".join(cmd):
            name = cmd[cmd.index("--models") + 1]
            out = Path(cmd[cmd.index("--json") + 1])
            rows = vgg_rows() if name == "vgg16" else []
            out.write_text(__import__("json").dumps({"device": "Fake GPU", "images": 2, "repeats": 3, "warmup": "full",
                                                     "models": {name: {"rows": rows, "targets": []}}}))
            return {"status": "passed", "seconds": 1.0, "output": ""}
        if "speed_sweep.py" in " ".join(cmd):
            assert cmd[cmd.index("--device") + 1] == "cuda" and float(cmd[cmd.index("--budget") + 1]) <= timeout - 20
            Path(cmd[cmd.index("--json") + 1]).write_text(__import__("json").dumps(fake_sweep()))
            return {"status": "passed", "seconds": 1.0, "output": ""}
        return {"status": "failed", "seconds": 1.0, "output": "boom"}

    def fake_nbval(path, timeout, *args, **kwargs):
        calls.append((["nbval", path.stem], timeout))
        if path.stem.startswith("02"):
            raise RuntimeError("kernel died")
        return {"notebook": path.stem, "seconds": 0.1, "status": "passed", "detail": ""}

    monkeypatch.setattr(gpu_check, "cuda_device", lambda: "Fake GPU")
    monkeypatch.setattr(gpu_check, "run_command", fake_command)
    monkeypatch.setattr(time_notebooks, "run_nbval", fake_nbval)
    out = tmp_path / "report"
    assert gpu_check.main(["--out", str(out), "--budget", "480"]) == 1
    text = (out / "report.md").read_text()
    assert "# GPU check: Fake GPU" in text and "**failed**: no test results" in text
    # a notebook whose runner broke is recorded as failed, and the other notebooks still run
    assert "| `02_denoising` | 0.0 | failed |" in text and "RuntimeError: kernel died" in text
    assert "| ours UnionCAM bf16 autocast (approx.) | 0.092 |" in text
    assert "Fastest exact: **cudnn.benchmark**" in text and "GPU check (CPU rehearsal" not in text
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert sorted(c[0][1] for c in calls if c[0][0] == "nbval") == notebooks
    assert "(each in its own process, 3 at a time)" in text and "Wall-clock time of the part:" in text
    assert calls[0][0][1:4] == ["-m", "pytest", "tests/cams/test_options_and_speed.py"] and "cuda" in calls[0][0]
    tests_timeout = calls[0][1]
    assert tests_timeout <= gpu_check.TESTS_LIMIT and all(t <= 480 - gpu_check.BENCH_RESERVE for c, t in calls if c[0] == "nbval")
    # with a budget that only covers the benchmark's reserve, notebooks are skipped, not started
    calls.clear()
    monkeypatch.setattr(time_notebooks, "run_nbval", lambda *a, **k: pytest.fail("notebook started"))
    assert gpu_check.main(["--out", str(out), "--budget", "205", "--parts", "notebooks,benchmark"]) == 1
    text = (out / "report.md").read_text()
    assert text.count("| not run (time budget spent) |") == len(list((ROOT / "notebooks").glob("*.ipynb")))
    assert "## 1. CUDA tests (`pytest -k cuda`)\nnot run (not in --parts)" in text
    assert [Path(c[0][1]).name for c in calls] == ["bench_unioncam.py", "speed_sweep.py", "bench_unioncam.py"]


def test_report_is_written_even_where_the_package_cannot_be_imported(tmp_path):
    code = ("import sys; sys.modules['unioncam_lite'] = None; sys.modules['torch'] = None\n"
            "sys.path.insert(0, 'benchmarks'); import gpu_check; from pathlib import Path\n"
            f"gpu_check.write_report({{'device': 'X', 'benchmark': {{'vgg16': {{'status': 'failed', "
            f"'output': 'ImportError'}}}}}}, Path({str(tmp_path)!r}))")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, timeout=60)
    text = (tmp_path / "report.md").read_text()
    assert "# GPU check: X" in text and "**not measured** (VGG16 benchmark: failed)" in text


def test_rehearsal_commands_run_on_the_cpu_at_the_smallest_size(tmp_path):
    """--rehearse: the same scripts, on the CPU, one photo, small images; the sweep compiles with the eager backend."""
    vgg = gpu_check.bench_command("vgg16", tmp_path / "v.json", rehearse=True, budget=100)
    assert vgg[1].endswith("bench_unioncam.py") and vgg[vgg.index("--device") + 1] == "cpu"
    assert vgg[vgg.index("--size") + 1] == "32" and vgg[vgg.index("--images") + 1] == "1"
    sweep = gpu_check.bench_command("sweep", tmp_path / "s.json", rehearse=True, budget=100)
    assert sweep[1].endswith("speed_sweep.py") and sweep[sweep.index("--compile-mode") + 1] == "eager"
    gpu = gpu_check.bench_command("efficientnet_lite0", tmp_path / "e.json", rehearse=False, budget=100)
    assert gpu[gpu.index("--device") + 1] == "cuda" and "--size" not in gpu


def test_rehearsal_report_says_nothing_was_measured_for_the_gpu():
    result = fake_result()
    result["rehearsal"] = gpu_check.REHEARSAL_TEXT
    result["notebooks"][0]["scope"] = "in full"
    text = gpu_check.render_report(result)
    assert text.startswith("# GPU check (CPU rehearsal: nothing measured for the GPU)")
    assert "## The GPU targets (VGG16, 224×224, per image)\nnot judged: a CPU rehearsal" in text
    assert "| `00_setup_and_model` | 15.7 | passed, in full |" in text and "on the CPU (each" in text
    # a sweep cut short before its first configuration: no pass count yet, every row "not run"
    result["sweep"] = {"status": "timeout", "output": "killed after 190 s", "passes": None, "gflop": None,
                       "rows": [{"name": "default (fp32, TF32 convolutions on CUDA)", "exact": True, "options": {},
                                 "status": "not run (budget: 3 s left)"}]}
    text = gpu_check.render_report(result)
    assert "| default (fp32, TF32 convolutions on CUDA) | yes | not run (budget: 3 s left) |" in text
    assert "0 images forwarded" in text and "killed after 190 s" in text and not gpu_check.all_passed(result)
