"""Notebook 08's exercises: background energy, object recall, the agreement of Eq. 8, the bootstrap interval.

The notebook's solution cells pass the visible and hidden cases, each known mistake gets its hint,
a blank or library-calling answer fails, and the references match hand computations (the bootstrap
interval also the library's ``bootstrap_ci`` drawn from the same seed)."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from unioncam_lite import metrics
from unioncam_lite.course import claims_exercises as ce
from unioncam_lite.course import exercises as ex
from unioncam_lite.course.assignments import check_calls
from unioncam_lite.course.bootstrap_exercise import percentile_interval
from unioncam_lite.course.metric_exercises import HAND_CAM, HAND_MASK
from unioncam_lite.metrics.statistics import bootstrap_indices

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "08_testing_the_claims.ipynb"


def solution(name):
    """The notebook's solution cell defining ``name``, executed."""
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    source = next("".join(c["source"]) for c in cells
                  if "solution" in c["metadata"].get("tags", []) and f"def {name}(" in "".join(c["source"]))
    namespace = {"torch": torch, "np": np}
    exec(source, namespace)
    return namespace[name]


SOLUTIONS = {ex.check_background_energy: solution("my_background_energy"),
             ex.check_object_recall: solution("my_object_recall"),
             ex.check_agreement: solution("my_agreement"),
             ex.check_bootstrap_ci: solution("my_bootstrap_ci")}


def run(check, fn, capsys, **kwargs):
    ok = check(fn, **kwargs)
    return ok, capsys.readouterr().out


@pytest.mark.parametrize("seed", [None, 0, 5])
@pytest.mark.parametrize("check", list(SOLUTIONS), ids=[c.__name__ for c in SOLUTIONS])
def test_reference_passes_visible_and_hidden(check, seed, capsys):
    ok, out = run(check, SOLUTIONS[check], capsys, seed=seed)
    assert ok, out
    assert "✗" not in out and out.rstrip().splitlines()[-1].startswith("PASS: ")
    assert ("hidden: real" in out) == (seed is not None)


def _recall(count, over):
    return lambda L, m, t: count(L, m, t).flatten(1).sum(1) / over(L, m, t).flatten(1).sum(1).clamp_min(1)


def _interval(q, of_d=False, axis=1, method="linear"):
    def answer(d, idx, level=0.95):
        values = d if of_d else d[idx].mean(axis=axis)
        return tuple(np.percentile(values, q(level), method=method))
    return answer


RIGHT_Q = (lambda level: [100 * (1 - level) / 2, 100 * (1 + level) / 2])
MISTAKES = {
    "background: the energy inside": (ex.check_background_energy, lambda L, m: (L * m).flatten(1).sum(1)
                                      / L.flatten(1).sum(1).clamp_min(1e-12), "share *inside*"),
    "background: outside / total": (ex.check_background_energy,
                                    lambda L, m: (L * ~m).flatten(1).sum(1) / L.flatten(1).sum(1).clamp_min(1e-12),
                                    "counts a map without energy as all background"),
    "background: no guard": (ex.check_background_energy, lambda L, m: 1 - (L * m).flatten(1).sum(1)
                             / L.flatten(1).sum(1), "total.clamp_min(1e-12)"),
    "background: whole batch": (ex.check_background_energy, lambda L, m: 1 - (L * m).sum() / L.sum(),
                                "not the batch"),
    "recall: L > t": (ex.check_object_recall, _recall(lambda cam, m, t: (cam > t) & m, lambda cam, m, t: m), "L ≥ t"),
    "recall: precision": (ex.check_object_recall, _recall(lambda cam, m, t: (cam >= t) & m, lambda cam, m, t: cam >= t),
                          "precision"),
    "recall: all pixels": (ex.check_object_recall,
                           _recall(lambda cam, m, t: (cam >= t) & m, lambda cam, m, t: torch.ones_like(m)), "all H·W"),
    "recall: no clamp": (ex.check_object_recall,
                         lambda cam, m, t: ((cam >= t) & m).flatten(1).sum(1) / m.flatten(1).sum(1), "empty mask"),
    "recall: IoU": (ex.check_object_recall, _recall(lambda cam, m, t: (cam >= t) & m, lambda cam, m, t: (cam >= t) | m),
                    "IoU"),
    "agreement: >": (ex.check_agreement, lambda c, f, r: torch.where(c, f > r, r > f), "use >="),
    "agreement: ignores the choice": (ex.check_agreement, lambda c, f, r: f >= r, "you ignored which map"),
    "agreement: reversed": (ex.check_agreement, lambda c, f, r: torch.where(c, f <= r, r <= f), "reversed"),
    "agreement: a rate": (ex.check_agreement, lambda c, f, r: torch.where(c, f >= r, r >= f).float().mean(),
                          "one True/False per image"),
    "bootstrap: 2.5 and 97.5": (ex.check_bootstrap_ci, _interval(lambda level: [2.5, 97.5]), "level 0.95 only"),
    "bootstrap: no / 2": (ex.check_bootstrap_ci, _interval(lambda level: [100 * (1 - level), 100 * level]),
                          "share 1 − level"),
    "bootstrap: fractions": (ex.check_bootstrap_ci, _interval(lambda level: [(1 - level) / 2, (1 + level) / 2]),
                             "takes percent"),
    "bootstrap: percentiles of d": (ex.check_bootstrap_ci, _interval(RIGHT_Q, of_d=True), "differences d themselves"),
    "bootstrap: axis 0": (ex.check_bootstrap_ci, _interval(RIGHT_Q, axis=0), "axis=0"),
    "bootstrap: nearest rank": (ex.check_bootstrap_ci, _interval(RIGHT_Q, method="lower"), "nearest-rank"),
    "bootstrap: swapped": (ex.check_bootstrap_ci, lambda d, idx, level=0.95: _interval(RIGHT_Q)(d, idx, level)[::-1],
                           "swapped"),
}


@pytest.mark.parametrize("name", list(MISTAKES))
def test_mistakes_get_their_hint(name, capsys):
    check, wrong, hint = MISTAKES[name]
    ok, out = run(check, wrong, capsys)
    assert not ok and hint in out and ("hint: " in out or "NaN" in out), out


def test_normal_interval_gets_its_hint(capsys):
    from statistics import NormalDist

    def normal(d, idx, level=0.95):
        z, means = NormalDist().inv_cdf((1 + level) / 2), d[idx].mean(axis=1)
        return d.mean() - z * means.std(), d.mean() + z * means.std()
    ok, out = run(ex.check_bootstrap_ci, normal, capsys)
    assert not ok and "normal interval" in out


def test_bootstrap_answer_must_be_two_numbers(capsys):
    ok, out = run(ex.check_bootstrap_ci, lambda d, idx, level=0.95: d[idx].mean(axis=1), capsys)
    assert not ok and "expected a pair: `return low, high`" in out
    ok, out = run(ex.check_bootstrap_ci, lambda d, idx, level=0.95: np.array(percentile_interval(d, idx, level)),
                  capsys)
    assert ok, out                                               # an array of two numbers is fine


def test_answers_calling_the_library_fail(capsys):
    ok, out = run(ex.check_background_energy, lambda L, m: metrics.background_energy(L, m), capsys)
    assert not ok and "calls the library's `background_energy`" in out
    ok, out = run(ex.check_object_recall, lambda L, m, t: metrics.object_recall(L, m, t), capsys)
    assert not ok and "calls the library's `object_recall`" in out

    def library_ci(d, idx, level=0.95):
        ci = metrics.bootstrap_ci(d, level=level, n_resamples=len(idx), seed=0)
        return ci.low, ci.high
    ok, out = run(ex.check_bootstrap_ci, library_ci, capsys)
    assert not ok and "calls the library's `bootstrap_ci`" in out


def test_references_match_hand_computations():
    # background energy: 0.5 of 1.75 outside, then all of it; object recall: 1 of 2 mask pixels ≥ 0.5, 2 ≥ 0.2
    assert torch.allclose(ce.BACKGROUND.reference(HAND_CAM, HAND_MASK), torch.tensor([0.5 / 1.75, 1.0]))
    assert torch.allclose(ce.RECALL.reference(HAND_CAM, HAND_MASK, 0.5), torch.tensor([0.5, 0.0]))
    assert torch.allclose(ce.RECALL.reference(HAND_CAM, HAND_MASK, 0.2), torch.tensor([1.0, 0.0]))
    assert float(ce.BACKGROUND.reference(torch.zeros(1, 2, 2), HAND_MASK[:1])[0]) == 1.0    # no energy: background
    hand = (torch.tensor([True, True, False, False]), torch.tensor([0.5, 0.2, 0.5, 0.3]),
            torch.tensor([0.4, 0.2, 0.6, 0.1]))
    assert ce.agreement(*hand).tolist() == [True, True, True, False]
    # d = (0, 1), resample means 0, 0.5, 1: their 25th and 75th percentiles (level 0.5) are 0.25 and 0.75
    idx = np.array([[0, 0], [0, 1], [1, 1]])
    assert percentile_interval(np.array([0.0, 1.0]), idx, 0.5) == pytest.approx((0.25, 0.75))


@pytest.mark.parametrize("n,b,seed,level", [(5, 2000, 0, 0.95), (30, 1000, 3, 0.9), (48, 10_000, 0, 0.95)])
def test_bootstrap_reference_equals_the_library_with_the_same_resamples(n, b, seed, level):
    d = np.random.default_rng(seed + 100).normal(size=n)
    ci = metrics.bootstrap_ci(d, level=level, n_resamples=b, seed=seed)
    assert percentile_interval(d, bootstrap_indices(n, b, seed), level) == pytest.approx((ci.low, ci.high), abs=1e-12)


def test_checkers_are_exported_for_the_graded_course():
    for name in ("check_background_energy", "check_object_recall", "check_agreement", "check_bootstrap_ci"):
        assert check_calls(f"passed = {name}(my_x, a, b)") == [(name, "my_x")]
