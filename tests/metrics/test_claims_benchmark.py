"""benchmarks/claims.py: one error line for bad input, and a tiny run that writes every table."""
import importlib.util
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def claims():
    spec = importlib.util.spec_from_file_location("claims_benchmark", ROOT / "benchmarks" / "claims.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("argv", [["--models", "vgg16"], ["--num-images", "1"],
                                  ["--num-images", "4", "--sanity-images", "5"]])
def test_bad_input_is_one_error_line(claims, argv, capsys, tmp_path):
    assert claims.main([*argv, "--out", str(tmp_path / "c.md")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert not (tmp_path / "c.md").exists()


def test_a_tiny_run_writes_every_table(claims, tmp_path, capsys):
    out = tmp_path / "claims.md"
    assert claims.main(["--models", "shapes_cnn", "--num-images", "4", "--sanity-images", "2", "--out", str(out)]) == 0
    text = out.read_text()
    for heading in ("Claim 1", "Claim 2", "Claim 3", "Claim 4", "module ablation", "Sanity checks", "confound"):
        assert f"### {heading}" in text or heading in text
    rows = pd.read_csv(out.with_suffix(".csv"))
    assert set(rows["image"]) == {0, 1, 2, 3} and {"UnionCAM", "L_reg", "Grad-CAM", "L_den θ=90"} <= set(rows["map"])
    tables = claims.claim_tables(rows, "shapes_cnn")
    assert float(tables["confound"]["drop: UnionCAM higher %"].iloc[0]) == 0     # never above its region map's
    assert list(tables["ablation"]["map"]) == list(claims.ABLATION) and len(tables["amd"]) == len(claims.THETAS)


def test_the_sanity_checks_cover_every_image_by_default(claims, tmp_path, capsys):
    """The full run's sanity checks are on all --num-images (RESULTS.md's 500), not a fixed 100."""
    out = tmp_path / "claims.md"
    assert claims.main(["--models", "shapes_cnn", "--num-images", "3", "--out", str(out)]) == 0
    assert "sanity checks on the first 3;" in out.read_text()
    assert "shapes_cnn: sanity checks on 3 images" in capsys.readouterr().err
