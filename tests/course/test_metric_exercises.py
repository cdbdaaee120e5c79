"""Notebook 06's exercises: Average Drop / Increase per image and the energy pointing game.

The reference answers (the notebook's own solution cells) pass the visible and hidden cases, each
known mistake gets its hint, a blank or library-calling answer fails, and the references match
hand computations (a model whose probabilities are written out by hand)."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from unioncam_lite import metrics
from unioncam_lite.course import exercises as ex
from unioncam_lite.course import metric_exercises as me
from unioncam_lite.course.assignments import check_calls

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "06_metrics.ipynb"


def solution(name):
    """The notebook's solution cell defining ``name``, executed."""
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    source = next("".join(c["source"]) for c in cells
                  if "solution" in c["metadata"].get("tags", []) and f"def {name}(" in "".join(c["source"]))
    namespace = {"torch": torch}
    exec(source, namespace)
    return namespace[name]


my_drop_increase = solution("my_drop_increase")
my_energy_pointing_game = solution("my_energy_pointing_game")


def run(check, fn, capsys, **kwargs):
    ok = check(fn, **kwargs)
    return ok, capsys.readouterr().out


@pytest.mark.parametrize("seed", [None, 0, 5])
@pytest.mark.parametrize("check,fn", [(ex.check_drop_increase, my_drop_increase),
                                      (ex.check_energy_pointing_game, my_energy_pointing_game)],
                         ids=["drop_increase", "energy_pointing_game"])
def test_reference_passes_visible_and_hidden(check, fn, seed, capsys):
    ok, out = run(check, fn, capsys, seed=seed)
    assert ok, out
    assert "✗" not in out and out.rstrip().splitlines()[-1].startswith("PASS: ")
    assert ("hidden:" in out) == (seed is not None)


def test_hidden_cases_differ_by_seed():
    assert not torch.equal(me.hidden_drop(0)[0][1][1], me.hidden_drop(1)[0][1][1])      # other images
    assert not torch.equal(me.hidden_epg(0)[0][1][0], me.hidden_epg(1)[0][1][0])


def _yo(model, x, cams, c, mean, std, **how):
    return me.y_and_o(model, x, cams, c, mean, std, **how)


def no_max(model, x, cams, c, mean, std):
    y, o = _yo(model, x, cams, c, mean, std)
    return (y - o) / y, o - y > 1e-6


def over_o(model, x, cams, c, mean, std):
    y, o = _yo(model, x, cams, c, mean, std)
    return (y - o).clamp_min(0) / o, o - y > 1e-6


def normalised(model, x, cams, c, mean, std):
    with torch.no_grad():
        p, q = model(x).softmax(1), model(cams[:, None] * x).softmax(1)
    rows = torch.arange(len(x))
    y, o = p[rows, c], q[rows, c]
    return (y - o).clamp_min(0) / y, o - y > 1e-6


def logits(model, x, cams, c, mean, std):
    y, o = _yo(model, x, cams, c, mean, std, logits=True)
    return (y - o).clamp_min(0) / y, o - y > 1e-6


def percent(model, x, cams, c, mean, std):
    drop, increase = my_drop_increase(model, x, cams, c, mean, std)
    return 100 * drop, increase


def reversed_increase(model, x, cams, c, mean, std):
    drop, _ = my_drop_increase(model, x, cams, c, mean, std)
    return drop, drop > 0


DROP_MISTAKES = {"no max(0, ·)": (no_max, "max(0, y − o)"), "divided by o": (over_o, "you divided by o"),
                 "normalised tensor masked": (normalised, "*normalised* tensor"),
                 "logits": (logits, "you used the logits"), "percent": (percent, "a fraction in [0, 1]"),
                 "increase reversed": (reversed_increase, "the comparison is reversed")}


@pytest.mark.parametrize("name", list(DROP_MISTAKES))
def test_drop_increase_mistakes_get_their_hint(name, capsys):
    wrong, hint = DROP_MISTAKES[name]
    ok, out = run(ex.check_drop_increase, wrong, capsys)
    assert not ok and hint in out and "FAIL: " in out


def test_drop_increase_must_return_a_pair(capsys):
    ok, out = run(ex.check_drop_increase, lambda *a, **k: my_drop_increase(*a, **k)[0], capsys)
    assert not ok and "expected a pair: `return drop, increase`" in out


EPG_MISTAKES = {
    "no guard": (lambda L, m: (L * m).flatten(1).sum(1) / L.flatten(1).sum(1), "total.clamp_min(1e-12)"),
    "whole batch": (lambda L, m: (L * m).sum() / L.sum(), "not over the whole batch"),
    "mask area": (lambda L, m: (L * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1), "mask's area"),
    "background": (lambda L, m: 1 - my_energy_pointing_game(L, m), "the background energy"),
    "pointing game": (lambda L, m: m.flatten(1).gather(1, L.flatten(1).argmax(1, keepdim=True))[:, 0].float(),
                      "original pointing game"),
}


@pytest.mark.parametrize("name", list(EPG_MISTAKES))
def test_epg_mistakes_get_their_hint(name, capsys):
    wrong, hint = EPG_MISTAKES[name]
    ok, out = run(ex.check_energy_pointing_game, wrong, capsys)
    assert not ok and hint in out


def test_answers_calling_the_library_fail(capsys):
    ok, out = run(ex.check_drop_increase,
                  lambda model, x, cams, c, mean, std: metrics.drop_increase_per_image(model, x, cams, c, mean=mean,
                                                                                       std=std), capsys)
    assert not ok and "calls the library's `drop_increase_per_image`" in out
    ok, out = run(ex.check_energy_pointing_game, lambda L, m: metrics.energy_pointing_game(L, m), capsys)
    assert not ok and "calls the library's `energy_pointing_game`" in out


class MeanColour(nn.Module):
    """logits = W · (the image's mean colour per channel): probabilities computable by hand."""

    def __init__(self):
        super().__init__()
        self.W = torch.tensor([[2.0, -1.0, 0.5], [-1.0, 1.0, 1.0], [0.0, 0.5, -2.0]])

    def forward(self, x):
        return x.mean(dim=(2, 3)) @ self.W.T


def test_drop_increase_reference_matches_a_hand_computation():
    g = torch.Generator().manual_seed(0)
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    pixels = torch.rand(3, 3, 4, 5, generator=g, dtype=torch.float64).float()
    x = (pixels - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    cams = torch.rand(3, 4, 5, generator=g)
    cams[1] = 1.0                                      # all ones: no drop, no increase
    c = torch.tensor([0, 1, 2])
    P, L = pixels.double().numpy(), cams.double().numpy()
    W = MeanColour().W.double().numpy()
    m, s = np.array(mean)[:, None, None], np.array(std)[:, None, None]

    def prob(images):
        logit = ((images - m) / s).mean(axis=(2, 3)) @ W.T
        e = np.exp(logit - logit.max(1, keepdims=True))
        return (e / e.sum(1, keepdims=True))[np.arange(3), c.numpy()]
    y, o = prob(P), prob(L[:, None] * P)
    expected_drop = np.maximum(0, y - o) / y
    for fn in (me.DROP.reference, lambda *a: my_drop_increase(*a)[0]):
        assert np.allclose(fn(MeanColour(), x, cams, c, mean, std).numpy(), expected_drop, atol=1e-6)
    assert expected_drop[1] < 1e-6 and (o - y > 0).any()
    assert np.array_equal(me.INCREASE.reference(MeanColour(), x, cams, c, mean, std).numpy(), o - y > 1e-6)


def test_epg_reference_matches_a_hand_computation():
    assert torch.allclose(me.EPG.reference(me.HAND_CAM, me.HAND_MASK), torch.tensor([1.25 / 1.75, 0.0]))
    assert torch.allclose(my_energy_pointing_game(me.HAND_CAM, me.HAND_MASK), torch.tensor([1.25 / 1.75, 0.0]))
    zero = torch.zeros(1, 3, 3)
    assert float(me.EPG.reference(zero, zero.bool())[0]) == 0.0 == float(my_energy_pointing_game(zero, zero.bool())[0])


def test_checkers_are_exported_for_the_graded_course():
    assert check_calls("passed = check_drop_increase(my_drop_increase, model, x)") == [("check_drop_increase",
                                                                                         "my_drop_increase")]
    assert check_calls("passed = check_energy_pointing_game(my_energy_pointing_game, cams, masks)")


def test_a_blank_drop_increase_is_said_once(capsys):
    """Before: the drop and the increase parts each printed "not implemented yet" for one blank answer."""
    def my_drop_increase(model, x, cams, class_idx, mean, std):
        raise NotImplementedError("Exercise: ...")

    assert not ex.check_drop_increase(my_drop_increase)
    assert capsys.readouterr().out.count("not implemented yet") == 1
