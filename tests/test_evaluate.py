"""The evaluate command: one process, and sharded over two with torchrun."""
import csv
import os
import subprocess
import sys

import pytest

from unioncam_lite.cli import main


def run_evaluate(tmp_path, *extra, nproc=1):
    out = tmp_path / "results.csv"
    args = ["evaluate", "--model", "shapes_cnn", "--images", "shapes", "--num-images", "6", "--methods",
            "gradcam,unioncam", "--steps", "4", "--out", str(out), *extra]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_port",
                "29517", "-m", "unioncam_lite"] if nproc > 1 else [sys.executable, "-m", "unioncam_lite"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(launcher + args, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(out) as f:
        return list(csv.DictReader(f)), out


def test_torchrun_two_ranks_gather_every_row_once(tmp_path):
    rows, out = run_evaluate(tmp_path, nproc=2)
    pairs = sorted((r["image"], r["method"]) for r in rows)
    assert pairs == sorted((f"shape{i:04d}", m) for i in range(6) for m in ("gradcam", "unioncam"))
    for r in rows:
        assert 0 <= float(r["drop"]) <= 1 and 0 <= float(r["insertion"]) <= 1 and 0 <= float(r["IoU@0.5"]) <= 1
    table = out.with_suffix(".md").read_text()
    assert "| Grad-CAM |" in table and "| UnionCAM |" in table and out.with_suffix(".png").stat().st_size > 5000
    single, _ = run_evaluate(tmp_path / "single")
    by_key = {(r["image"], r["method"]): r for r in single}
    for r in rows:  # sharding changes nothing but who computes what
        assert float(r["deletion"]) == pytest.approx(float(by_key[r["image"], r["method"]]["deletion"]), abs=1e-5)


@pytest.mark.parametrize("argv,message", [
    (["evaluate", "--images", "no/such/dir", "--num-images", "1"], "not found"),
    (["evaluate", "--methods", "gradcam,magic"], "unknown method"),
    (["evaluate", "--model", "efficientnet_lite0", "--images", "shapes"], "needs --model shapes_cnn"),
])
def test_bad_input(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err
