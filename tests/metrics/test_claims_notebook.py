"""Notebook 08's exercises: the reference solutions agree with the library, and a blank or wrong
answer falls back to the library's function with one line (the experiments still run; the checkers
themselves: tests/course/test_claims_exercises.py)."""
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from unioncam_lite import metrics
from unioncam_lite.course.student import blank_solution
from unioncam_lite.metrics.statistics import bootstrap_indices

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "08_testing_the_claims.ipynb"


@pytest.fixture(scope="module")
def cells():
    return nbformat.read(NOTEBOOK, as_version=4).cells


def _run(source, namespace=None):
    namespace = {"np": np, "torch": torch, "metrics": metrics} if namespace is None else namespace
    exec(source, namespace)
    return namespace


def _solutions(cells):
    return {fn.__name__: fn for c in cells if "solution" in c.metadata.get("tags", [])
            for fn in [v for k, v in _run(c.source).items() if k.startswith("my_")]}


def test_reference_solutions_match_the_library(cells):
    sol = _solutions(cells)
    assert set(sol) == {"my_background_energy", "my_object_recall", "my_agreement", "my_bootstrap_ci"}
    g = torch.Generator().manual_seed(0)
    cams = torch.rand(5, 9, 9, generator=g)
    cams[0] = 0                                                    # no energy at all: all background
    masks = torch.rand(5, 9, 9, generator=g) > 0.6
    masks[1] = False                                               # an empty mask: recall 0
    assert torch.allclose(sol["my_background_energy"](cams, masks), metrics.background_energy(cams, masks))
    for t in (0.1, 0.5, 0.9):
        assert torch.allclose(sol["my_object_recall"](cams, masks, t), metrics.object_recall(cams, masks, t))
    chosen = torch.tensor([True, False, True, False, True])
    f, r = torch.tensor([0.3, 0.3, 0.1, 0.5, 0.2]), torch.tensor([0.2, 0.4, 0.2, 0.5, 0.2])
    assert sol["my_agreement"](chosen, f, r).tolist() == [True, True, False, True, True]
    d = np.random.default_rng(0).normal(size=30)
    ci = metrics.bootstrap_ci(d, level=0.9, n_resamples=3000, seed=4)
    assert np.allclose(sol["my_bootstrap_ci"](d, bootstrap_indices(30, 3000, seed=4), 0.9), (ci.low, ci.high))


def test_blank_or_wrong_answers_fall_back_with_one_line(cells, capsys, monkeypatch):
    # the check cells' pattern: check_x(my_x) prints ✓/✗ lines, yours_or_library says in one line which one is used
    from unioncam_lite.course.exercises import check_object_recall, yours_or_library

    monkeypatch.delenv("UNIONCAM_EXERCISES_STRICT", raising=False)
    assert any("check_object_recall(my_object_recall" in c.source for c in cells if "check" in c.metadata.get("tags", []))
    source = next(c.source for c in cells if "def my_object_recall" in c.source)
    blank = _run(blank_solution(source), {})["my_object_recall"]
    assert yours_or_library(blank, check_object_recall(blank), metrics.object_recall) is metrics.object_recall
    out = capsys.readouterr().out
    assert "not implemented yet" in out and out.rstrip().splitlines()[-1].startswith("→ the cells below use the library's")

    def my_object_recall(cams, masks, t=0.5):   # a mistake: the share of the map above t, not of the mask
        return (cams >= t).flatten(1).float().mean(1)
    assert yours_or_library(my_object_recall, check_object_recall(my_object_recall), metrics.object_recall) \
        is metrics.object_recall
    assert "hint: that is the share of the whole image" in capsys.readouterr().out

    def crashes(cams, masks, t=0.5):
        return cams @ masks
    assert yours_or_library(crashes, check_object_recall(crashes), metrics.object_recall) is metrics.object_recall
    assert "raised RuntimeError" in capsys.readouterr().out
    right = _solutions(cells)["my_object_recall"]
    assert yours_or_library(right, check_object_recall(right), metrics.object_recall) is right
