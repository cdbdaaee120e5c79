"""benchmarks/paired_csv.py and benchmarks/time_checkers.py: their arithmetic and their error lines
(the timing runs themselves are benchmarks, not tests)."""
import importlib.util
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _module(name):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def paired():
    return _module("paired_csv")


@pytest.fixture(scope="module")
def timing():
    return _module("time_checkers")


def _results(path, scores):
    rows = [{"image": f"im{i}", "method": m, "ROAD": v} for m, vals in scores.items() for i, v in enumerate(vals)]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_paired_differences_and_counts_by_hand(paired, tmp_path, capsys):
    a, b = [0.5, 0.7, 0.2, 0.9], [0.4, 0.7, 0.3, 0.6]
    csv = _results(tmp_path / "results.csv", {"unioncam": a, "gradcam": b})
    other = _results(tmp_path / "other.csv", {"unioncam": [0.5, 0.5, 0.5, 0.5], "gradcam": [9, 9, 9, 9]})
    table = paired.compare(paired.load(csv, [f"soft={other}"], "unioncam"), "ROAD", "unioncam")
    row = table.set_index("against").loc["gradcam"]
    assert row["unioncam − other"].startswith(f"{np.mean(np.subtract(a, b)):+.4f} [")
    assert row["higher / lower / equal"] == "2 / 1 / 1" and row["images"] == 4
    assert set(table["against"]) == {"gradcam", "soft"}      # --also adds only --method's rows, renamed
    assert paired.main([str(csv)]) == 0 and "| gradcam" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["missing.csv"], ["{csv}", "--metric", "IoU"], ["{csv}", "--method", "x"],
                                  ["{csv}", "--also", "no-equals-sign"]])
def test_paired_bad_input_is_one_error_line(paired, argv, tmp_path, capsys):
    csv = _results(tmp_path / "results.csv", {"unioncam": [1.0], "gradcam": [0.0]})
    assert paired.main([a.format(csv=csv) for a in argv]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1 and not captured.out


def test_time_checkers_finds_check_cells_in_both_versions(timing):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1"),
                nbformat.v4.new_code_cell("passed = check_a(f)", metadata={"tags": ["check"]}),
                nbformat.v4.new_code_cell("assert 1", metadata={"nbgrader": {"grade": True, "solution": False}}),
                nbformat.v4.new_code_cell("def f(): ...", metadata={"nbgrader": {"grade": True, "solution": True}})]
    assert [c.source for c in timing.check_cells(nb)] == ["passed = check_a(f)", "assert 1"]
    timed = nbformat.v4.new_code_cell("x", metadata={"execution": {
        "iopub.execute_input": "2026-12-02T15:00:00.250000Z", "shell.execute_reply": "2026-12-02T15:00:02.000000Z"}})
    assert timing.cell_seconds(timed) == pytest.approx(1.75) and timing.cell_seconds(nb.cells[0]) == 0.0


def test_time_checkers_names_a_missing_notebook(timing, capsys):
    assert timing.main(["no_such.ipynb"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no notebook no_such.ipynb") and err.count("\n") == 1
