"""benchmarks/speed_sweep.py end to end on a tiny model (the GPU sweep of issue 21, on the CPU):
every configuration runs in one process, errors are measured against strict fp32, the process-wide
switches and the model come back as they were, a configuration that breaks does not stop the others.

(No test name here contains "cuda": `make gpu-check` selects the CUDA tests with ``-k cuda``.)
"""
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import torch
from conftest import TinyCNN

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import speed_sweep  # noqa: E402


def tiny_sweep(monkeypatch):
    model = TinyCNN(k=6, seed=3).eval()
    spec = SimpleNamespace(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    photos = [torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(i)) for i in range(2)]
    monkeypatch.setattr(speed_sweep, "load_model", lambda name, device, pretrained: (model, spec))
    monkeypatch.setattr(speed_sweep, "sample_images", lambda: {"a": 0, "b": 1})
    monkeypatch.setattr(speed_sweep, "load_image", lambda p, spec: (None, photos[p]))
    monkeypatch.setattr(speed_sweep, "LAYER", "act")
    return model


def test_every_configuration_runs_and_reports_time_speed_and_error(monkeypatch, tmp_path, capsys):
    model = tiny_sweep(monkeypatch)
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    flags = torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32
    out = tmp_path / "sweep.json"
    assert speed_sweep.main(["--device", "cpu", "--images", "2", "--repeats", "1", "--batch-size", "4",
                             "--batch-sizes", "2", "--compile-mode", "eager", "--json", str(out),
                             "--markdown"]) == 0
    report = json.loads(out.read_text())
    rows = {r["name"]: r for r in report["rows"]}
    # 8 configurations, 1 other batch size, torch.compile of the fastest exact and the fastest (maybe the same)
    assert list(rows)[0] == "TF32 off (strict fp32: the reference)" and len(rows) in (8 + 1 + 1, 8 + 1 + 2)
    assert all(r["status"] == "passed" and r["ms_per_image"] > 0 and r["tflops"] > 0 for r in rows.values())
    # the images forwarded per call: every live channel once, plus the capture, the black image and the β passes
    assert 0 < report["passes"] <= 6 + 5 and report["gflop"] > 0   # ≤ 6 masks, capture, black, 3 β passes
    # exact configurations are exact on the CPU; bf16 ones are not, and say so
    for name, r in rows.items():
        assert (r["max_abs_error"] < 1e-5) == r["exact"], name
    assert rows["bf16 autocast + bf16 masks (approx.)"]["options"]["autocast_masks"] == "True"
    assert [n for n in rows if "batch 2" in n] and [n for n in rows if "torch.compile(eager)" in n]
    assert all(r["fraction_of_peak"] is None for r in rows.values())          # the CPU is not in the table
    assert report["winners"]["exact"] in rows and report["winners"]["any"] in rows
    # the fastest exact and the fastest approximate configuration (uncompiled) profiled, one call each
    profiled = [p["name"] for p in report["profiles"]]
    uncompiled = [r for r in rows.values() if "torch.compile" not in r["name"]]
    assert profiled == [min((r for r in uncompiled if r["exact"] is exact), key=lambda r: r["ms_per_image"])["name"]
                        for exact in (True, False)]
    for p in report["profiles"]:
        assert p["kinds"]["convolution"] > 0 and abs(sum(p["kinds"].values()) - 1) < 1e-9 and p["busy"] is None
    out = capsys.readouterr().out
    assert "Fastest exact: **" in out and f"- **{profiled[1]}**: one profiled call" in out
    # the process-wide switches and the model come back as they were
    assert (torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32) == flags
    assert all(torch.equal(v, weights[k]) for k, v in model.state_dict().items())
    assert model.conv.weight.is_contiguous()


def test_a_configuration_that_breaks_is_recorded_and_the_next_runs(monkeypatch, tmp_path):
    tiny_sweep(monkeypatch)
    run = speed_sweep.Sweep.run

    def flaky(self, cfg):
        if cfg["options"].get("autocast_masks"):
            raise RuntimeError("no bf16 kernels here")
        return run(self, cfg)

    monkeypatch.setattr(speed_sweep.Sweep, "run", flaky)
    out = tmp_path / "sweep.json"
    assert speed_sweep.main(["--device", "cpu", "--images", "1", "--repeats", "1", "--batch-sizes", "",
                             "--compile-mode", "none", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    failed = [r for r in rows if r["status"].startswith("failed: RuntimeError: no bf16 kernels here")]
    assert len(failed) == 2 and sum(r["status"] == "passed" for r in rows) == 6


def test_the_profiles_say_when_the_budget_left_none():
    rows = [dict(name="default", exact=True, status="passed", ms_per_image=5.0),
            dict(name="bf16", exact=False, status="failed: no kernels")]
    report = {"rows": rows}
    speed_sweep.profile_fastest(None, report, {"default": {}, "bf16": {}}, deadline=0.0)   # long past
    [only] = report["profiles"]                                                     # no approximate row passed
    assert set(only) == {"name", "error"} and only["name"] == "default"
    assert only["error"].startswith("not profiled (budget: ")
