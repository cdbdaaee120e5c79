"""benchmarks/theta_ablation.py and benchmarks/region_weights.py on two images, and their shared
command line (benchmarks/shapes_cli.py): one error line, exit 2, nothing written, before any work."""
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(script, *args, cwd):
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("script", ["theta_ablation.py", "region_weights.py"])
@pytest.mark.parametrize("args,message", [(["--model", "vgg16"], "was not trained on the shapes images"),
                                          (["--num-images", "0"], "--num-images must be a positive integer")])
def test_bad_arguments_are_one_error_line(tmp_path, script, args, message):
    out = run(script, *args, "--out", str(tmp_path / "r.md"), cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.startswith("error: ") and message in out.stderr
    assert out.stderr.count("\n") == 1 and not list(tmp_path.iterdir())


def test_theta_ablation_on_two_images(tmp_path):
    out = run("theta_ablation.py", "--model", "shapes_cnn", "--num-images", "2", "--thetas", "0,50", "--steps", "4",
              "--no-road", "--out", str(tmp_path / "t.md"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = pd.read_csv(tmp_path / "t.csv")
    assert len(rows) == 4 and set(rows["theta"]) == {0, 50}
    assert (rows["dL_den"] == 0).all()                          # the pooled head: θ moves nothing
    table = (tmp_path / "t.md").read_text()
    for title in ("Average Drop % ↓", "Insertion ↑", "energy pointing game ↑"):
        assert title in table
    mean_drop = 100 * rows.groupby("theta")["drop"].mean()
    assert f"| {mean_drop[0]:.3f} |" in table                   # the column is the rows' mean, in %


def test_region_weights_on_two_images(tmp_path):
    out = run("region_weights.py", "--model", "shapes_cnn", "--num-images", "2", "--steps", "4",
              "--out", str(tmp_path / "w.md"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = pd.read_csv(tmp_path / "w.csv")
    assert sorted(rows["weights"]) == ["paper", "paper", "softmax", "softmax"]
    assert "UnionCAM (paper weights)" in (tmp_path / "w.md").read_text()
