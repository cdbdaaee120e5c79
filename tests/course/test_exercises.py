"""The exercise checkers: right answers pass, each common mistake gets its hint, nothing raises.

tests/course/test_hidden_cases.py: answers fitted to the visible cases or calling the library fail
the hidden (seeded) cases, and say why."""
import numpy as np
import pytest
import torch
from reference_answers import (
    RIGHT,
    gradcam_weights,
    my_denoise,
    my_denoised_cam,
    my_select,
    my_union,
    run,
    score_weights,
)

import unioncam_lite as ucl
from unioncam_lite.course import exercises as ex

CHECKERS = [getattr(ex, name) for name in sorted(dir(ex)) if name.startswith("check_")]


@pytest.mark.parametrize("check", CHECKERS, ids=[c.__name__ for c in CHECKERS])
def test_blank_answer_is_reported(check, capsys):
    """Every checker of the course (all notebooks): a blank answer is "not implemented yet", never a ✓."""
    def blank(*args, **kwargs):
        raise NotImplementedError("Exercise")
    ok, out = run(check, blank, capsys)
    assert not ok and "not implemented yet" in out.out and "✓" not in out.out


@pytest.mark.parametrize("seed", [None, 0, 271828])
@pytest.mark.parametrize("check,fn", RIGHT, ids=[c.__name__ for c, _ in RIGHT])
def test_right_answers_pass_visible_and_hidden_cases(check, fn, seed, capsys):
    ok, out = run(check, fn, capsys, seed=seed)
    assert ok, out.out
    assert "✗" not in out.out and out.out.rstrip().splitlines()[-1].startswith("PASS: ")
    assert out.err == ""
    if seed is not None:
        assert "hidden: real" in out.out   # the shapes CNN's tensors were used


def test_notebook_reference_answers_pass_with_real_tensors(lite0, chelsea, capsys):
    model, spec = lite0
    _, x = chelsea
    cap = ucl.capture(model, x, "features.block15")
    assert ex.check_gradcam_weights(gradcam_weights, W_real=cap.gradients)
    assert ex.check_denoise(my_denoise, W_real=cap.gradients)
    assert ex.check_denoised_cam(my_denoised_cam, cap.activations, cap.gradients)
    assert "real" in capsys.readouterr().out


def test_hint_sum_instead_of_mean(capsys):
    ok, out = run(ex.check_gradcam_weights, lambda W: W.sum(dim=(2, 3)), capsys)
    assert not ok
    assert "h·w = 9 times too large" in out.out and "h·w = 49 times too large" in out.out   # 3x3 and 7x7 cases
    assert "mean" in out.out


def _numpy_percentile_denoise(method):
    def denoise(W, theta):
        w = W.numpy()
        t = np.percentile(w, theta, axis=(2, 3), keepdims=True, method=method)
        return torch.from_numpy(np.where(w < t, 0, w))
    return denoise


def _sorted_nearest_rank(W, theta):      # "sort and index": the classic nearest-rank percentile
    flat = W.flatten(2)
    n = flat.shape[-1]
    k = max(int(np.ceil(theta / 100 * n)), 1)
    t = flat.sort(dim=-1).values[..., k - 1:k]
    return torch.where(flat < t, torch.zeros_like(flat), flat).view_as(W)


@pytest.mark.parametrize("wrong", [_numpy_percentile_denoise("lower"), _numpy_percentile_denoise("nearest"),
                                   _numpy_percentile_denoise("inverted_cdf"), _sorted_nearest_rank],
                         ids=["np lower", "np nearest", "np inverted_cdf", "sort+index"])
def test_hint_nearest_rank_percentile(wrong, capsys):
    ok, out = run(ex.check_denoise, wrong, capsys)
    assert not ok
    assert "nearest-rank percentile" in out.out and "linear interpolation" in out.out
    assert "np.percentile" in out.out and "torch.quantile" in out.out


def test_numpy_linear_percentile_is_right(capsys):
    ok, out = run(ex.check_denoise, _numpy_percentile_denoise("linear"), capsys)
    assert ok, out.out


def test_hint_greater_or_equal_in_eq8(capsys):
    def select_ge(L_fused, L_reg, beta_fused, beta_reg):
        wins = beta_fused >= beta_reg
        return torch.where(wins[:, None, None], L_fused, L_reg), ["fused" if w else "region" for w in wins.tolist()]

    for seed in (None, 5):
        ok, out = run(ex.check_select, select_ge, capsys, seed=seed)
        assert not ok
        assert "tie" in out.out and "use >, not >=" in out.out


@pytest.mark.parametrize("check,wrong,hint", [
    (ex.check_denoise, lambda W, t: torch.where(W <= torch.quantile(W.flatten(2), t / 100, dim=-1)[..., None, None],  # noqa: SIM300 (W is a tensor)
                                                torch.zeros_like(W), W), "equal to the threshold"),
    (ex.check_denoise, lambda W, t: torch.where(W < torch.quantile(W.flatten(), t / 100), torch.zeros_like(W), W),  # noqa: SIM300
     "per image and channel"),
    (ex.check_denoised_cam, lambda A, W: (torch.relu(W) * A).sum(1), "you left out α"),
    (ex.check_denoised_cam, lambda A, W: (torch.relu(W) / torch.relu(W).sum((2, 3), keepdim=True) * A).sum(1),
     "guard the division"),
    (ex.check_score_weights, lambda s, b: torch.exp(s - b[:, None]) / torch.exp(s - b[:, None]).sum(1, keepdim=True),
     "torch.softmax subtracts the maximum"),
    (ex.check_score_weights, lambda s, b: torch.softmax(s - b[:, None], dim=0), "dim=1"),
    (ex.check_union, lambda L1, L2, b1, b2: torch.relu(b1)[:, None, None] * L1 + torch.relu(b2)[:, None, None] * L2,
     "normalise each"),
    (ex.check_union, lambda L1, L2, b1, b2: b1 * L1 + b2 * L2, "beta[:, None, None]"),
    (ex.check_union, lambda L1, L2, b1, b2: ucl.normalize_maps(b1[:, None, None] * L1 + b2[:, None, None] * L2),
     "you used β with its sign"),
    (ex.check_union, lambda L1, L2, b1, b2: ucl.normalize_maps(torch.relu(b1)[:, None, None] * L1
                                                               + torch.relu(b2)[:, None, None] * L2),
     "the course's choice there is L_fused = L_reg"),
    (ex.check_select, lambda L1, L2, b1, b2: my_select(L2, L1, b1, b2), "swapped"),
], ids=["<= threshold", "global percentile", "no alpha", "alpha 0/0", "exp overflow", "softmax dim",
        "not normalised", "broadcasting", "signed beta", "no fallback", "swapped"])
def test_other_mistakes_get_hints(check, wrong, hint, capsys):
    ok, out = run(check, wrong, capsys, seed=3 if check is ex.check_denoised_cam else None)
    assert not ok
    assert hint in out.out


WRONG_SHAPES = [
    (ex.check_gradcam_weights, lambda W: W.mean(dim=(2, 3), keepdim=True), "the values are right"),
    (ex.check_denoise, lambda W, t: my_denoise(W, t).flatten(2), "shape"),
    (ex.check_denoised_cam, lambda A, W: my_denoised_cam(A, W)[:, None], "shape"),
    (ex.check_score_weights, lambda s, b: score_weights(s, b).T, "shape"),
    (ex.check_union, lambda L1, L2, b1, b2: my_union(L1, L2, b1, b2)[0], "shape"),
    (ex.check_select, lambda L1, L2, b1, b2: (my_select(L1, L2, b1, b2)[0][:, None], ["fused"] * 3), "shape"),
    (ex.check_select, lambda L1, L2, b1, b2: my_select(L1, L2, b1, b2)[0], "expected a pair (cam, choices)"),
    (ex.check_select, lambda L1, L2, b1, b2: (my_select(L1, L2, b1, b2)[0], 3), "choices should be a list"),
    (ex.check_union, lambda *a: None, "forget `return`"),
    (ex.check_union, lambda *a: "a map", "expected a tensor"),
    (ex.check_union, lambda *a: 1 / 0, "ZeroDivisionError"),
]


@pytest.mark.parametrize("check,wrong,message", WRONG_SHAPES)
def test_checkers_report_instead_of_raising(check, wrong, message, capsys):
    ok, out = run(check, wrong, capsys)   # before: a (3, 1, 8, 8) map made check_select raise RuntimeError
    assert ok is False
    assert message in out.out and "FAIL: " in out.out and out.err == ""


def test_not_implemented_and_not_a_function(capsys):
    def stub(W):
        raise NotImplementedError("Exercise: write it")

    ok, out = run(ex.check_gradcam_weights, stub, capsys)
    assert not ok and "not implemented yet" in out.out and out.out.count("✗") == 1   # said once, not per case
    ok, out = run(ex.check_gradcam_weights, gradcam_weights(torch.ones(1, 2, 3, 3)), capsys)
    assert not ok and "pass the function itself" in out.out


def test_bad_real_tensors_are_reported_not_raised(capsys):
    ok, out = run(ex.check_denoise, my_denoise, capsys, W_real=torch.ones(3))
    assert not ok and "could not compute the expected result" in out.out


def test_warnings_go_to_stdout_not_stderr(capsys):
    import warnings

    def noisy(W):
        warnings.warn("careful", stacklevel=2)
        return W.mean(dim=(2, 3))

    ok, out = run(ex.check_gradcam_weights, noisy, capsys)
    assert ok and "careful" in out.out and out.err == ""   # stderr would zero an nbgrader test cell


def test_in_place_change_is_noted_and_inputs_protected(capsys):
    def in_place(W, theta):
        W[W < torch.quantile(W.flatten(2), theta / 100, dim=-1)[..., None, None]] = 0  # noqa: SIM300 (W: a tensor)
        return W

    W = torch.randn(1, 3, 4, 4)
    before = W.clone()
    ok, out = run(ex.check_denoise, in_place, capsys, W_real=W)
    assert ok and "changed its input #1 in place" in out.out
    assert torch.equal(W, before)   # the checker passed copies


def union_ratio(L_den, L_reg, beta_den, beta_reg):
    """The subtly wrong answer 04's old text invited: w = β / (β_den + β_reg), right only for positive β."""
    total = (beta_den + beta_reg)[:, None, None]
    return ucl.normalize_maps(beta_den[:, None, None] / total * L_den + beta_reg[:, None, None] / total * L_reg)


@pytest.mark.parametrize("seed", [None, 0, 271828])
def test_union_ratio_answer_fails_with_its_hint_visible_and_hidden(seed, capsys):
    """Before: the visible cases had no negative sum β_den + β_reg, so this answer passed them; and
    a hidden failure said only '8192 of 8192 values differ' with no hint."""
    ok, out = run(ex.check_union, union_ratio, capsys, seed=seed)
    assert not ok
    assert "you weighted by w = β / (β_den + β_reg)" in out.out and "max(β, 0)" in out.out
    assert "this case: maps of " in out.out and "β_den = [" in out.out
    if seed is None:
        assert "✗ union (Eq. 6) [β_den + β_reg < 0]" in out.out and "✓ union (Eq. 6) [every β positive]" in out.out
    else:
        assert "[hidden: negative β" in out.out


def test_union_reference_by_hand():
    """The course's rule on numbers worked out by hand: one 1x2 map pair, each β case."""
    L1, L2 = torch.tensor([[[1.0, 0.0]]]), torch.tensor([[[0.25, 1.0]]])
    fused = lambda bd, br: ex.UNION.reference(L1, L2, torch.tensor([bd]), torch.tensor([br]))[0, 0].tolist()  # noqa: E731
    # 0.5·[1, 0] + 0.5·[0.25, 1] = [0.625, 0.5] → min-max → [1, 0]
    assert fused(0.5, 0.5) == [1.0, 0.0]
    # 0.2·[1, 0] + 0.6·[0.25, 1] = [0.35, 0.6] → [0, 1]
    assert fused(0.2, 0.6) == pytest.approx([0.0, 1.0])
    # β_den < 0: w_den = 0, so L_fused = normalise(0.6·[0.25, 1]) = [0, 1]
    assert fused(-0.9, 0.6) == pytest.approx([0.0, 1.0])
    # both ≤ 0: L_reg as it is
    assert fused(-0.2, -0.1) == [0.25, 1.0] and fused(0.0, 0.0) == [0.25, 1.0]
    # only the ratio matters while both are positive
    assert fused(0.3, 0.9) == pytest.approx(fused(0.1, 0.3))


def test_union_signed_inverts_where_the_relu_does_not():
    """Why the ReLU: with both β negative, Eq. 6 as printed inverts the map (its object becomes 0)."""
    L1 = torch.tensor([[[1.0, 0.5, 0.0]]])
    L2 = torch.tensor([[[0.8, 1.0, 0.0]]])
    b1, b2 = torch.tensor([-0.2]), torch.tensor([-0.3])
    signed = ucl.normalize_maps(b1[:, None, None] * L1 + b2[:, None, None] * L2)
    # -0.2·[1, 0.5, 0] - 0.3·[0.8, 1, 0] = [-0.44, -0.4, 0] → min-max → [0, 0.04/0.44, 1]: the background on top
    assert signed[0, 0].tolist() == pytest.approx([0.0, 0.04 / 0.44, 1.0])
    assert torch.equal(ex.UNION.reference(L1, L2, b1, b2), L2)   # L_reg: the object stays on top


def test_course_reference_agrees_with_the_library_union_for_non_negative_beta():
    g = torch.Generator().manual_seed(0)
    L1, L2 = ucl.normalize_maps(torch.rand(5, 6, 7, generator=g)), ucl.normalize_maps(torch.rand(5, 6, 7, generator=g))
    b1, b2 = torch.rand(5, generator=g), torch.rand(5, generator=g)
    b1[0] = 0.0
    assert torch.allclose(ex.UNION.reference(L1, L2, b1, b2), ucl.union(L1, L2, b1, b2), atol=1e-6)


def test_course_reference_agrees_with_the_library_union_for_negative_beta():
    """The library's union follows the same rule (ReLU'd weights, L_reg where both are 0)."""
    g = torch.Generator().manual_seed(1)
    L1, L2 = ucl.normalize_maps(torch.rand(4, 6, 7, generator=g)), ucl.normalize_maps(torch.rand(4, 6, 7, generator=g))
    b1, b2 = torch.tensor([-0.3, 0.2, -0.1, 0.0]), torch.tensor([0.1, -0.4, -0.2, 0.0])
    assert torch.allclose(ex.UNION.reference(L1, L2, b1, b2), ucl.union(L1, L2, b1, b2), atol=1e-6)
