"""The exercise checkers' hidden (seeded) cases, which keep grading honest: an answer that calls the
library function it exercises fails, under any alias; one fitted to the visible cases fails the hidden
ones; the hidden cases change with the seed; a hidden failure says what is special about its case and
what to check. (The right answers and ``run``: tests/course/reference_answers.py.)"""
import pytest
import torch
from reference_answers import RIGHT, my_union, run

import unioncam_lite as ucl
from unioncam_lite.course import exercises as ex

LIBRARY_CALLS = [
    (ex.check_denoise, lambda W, t: ucl.denoise_gradients(W, t), "`denoise_gradients`"),
    (ex.check_denoised_cam, lambda A, W: ucl.denoised_cam(A, W), "`denoised_cam`"),
    (ex.check_denoised_cam, lambda A, W: (ucl.pixel_alpha(W) * torch.relu(W) * A).sum(1), "`pixel_alpha`"),
    (ex.check_union, lambda *a: ucl.union(*a), "`union`"),
    (ex.check_select, lambda *a: ucl.select(*a), "`select`"),
]


@pytest.mark.parametrize("seed", [None, 11])
@pytest.mark.parametrize("check,cheat,name", LIBRARY_CALLS)
def test_answers_calling_the_library_function_fail(check, cheat, name, seed, capsys):
    ok, out = run(check, cheat, capsys, seed=seed)
    assert not ok and f"calls the library's {name}" in out.out


def test_library_call_is_caught_under_any_alias(capsys):
    from unioncam_lite.cams.unioncam import union as fuse  # bound before the check: monkeypatching would miss it
    ok, out = run(ex.check_union, lambda *a: fuse(*a), capsys, seed=2)
    assert not ok and "`union`" in out.out
    # helpers are allowed: my_union calls ucl.normalize_maps
    assert ex.check_union(my_union, seed=2)


def _memorising(check, right, seed_for_visible=None):
    """An answer fitted to the visible cases: it returns the right result for the inputs it saw
    and something plausible otherwise."""
    seen = []

    def record(*args):
        seen.append(tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in args))
        return right(*args)

    check(record)

    def same(a, b):
        if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
            return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape \
                and torch.equal(a, b)
        return a == b

    def fitted(*args):
        for s in seen:
            if all(same(a, b) for a, b in zip(args, s)):
                return right(*args)
        out = right(*args)
        return (out[0] * 0.5, out[1]) if isinstance(out, tuple) else out * 0.5
    return fitted


@pytest.mark.parametrize("check,fn", RIGHT, ids=[c.__name__ for c, _ in RIGHT])
def test_answers_fitted_to_the_visible_cases_fail_the_hidden_ones(check, fn, capsys):
    fitted = _memorising(check, fn)
    assert check(fitted)                       # passes everything it was fitted to
    capsys.readouterr()
    ok, out = run(check, fitted, capsys, seed=1234)
    assert not ok and "hidden:" in out.out


def test_hidden_cases_differ_by_seed():
    shapes = []
    for seed in (1, 2):
        seen = []
        ex.check_gradcam_weights(lambda W, seen=seen: seen.append(tuple(W.shape)) or W.mean(dim=(2, 3)), seed=seed)
        shapes.append(seen)
    assert shapes[0] != shapes[1]


@pytest.mark.parametrize("check,wrong", [(ex.check_gradcam_weights, lambda W: W.sum(dim=(2, 3)) * 0.5),
                                         (ex.check_denoise, lambda W, t: W * 0.5),
                                         (ex.check_score_weights, lambda s, b: s * 0),
                                         (ex.check_select, lambda L1, L2, b1, b2: (L1 * 0.5, ["fused"] * len(b1)))])
def test_hidden_failures_say_what_is_special_and_what_to_check(check, wrong, capsys):
    """Before: a hidden case's failure showed only how many values differ."""
    ok, out = run(check, wrong, capsys, seed=7)
    assert not ok
    failed = [line for line in out.out.splitlines() if line.startswith("✗")]
    assert failed and all("hidden" in line for line in failed)
    assert out.out.count("  this case: ") == len(failed) and out.out.count("  check: ") == len(failed)
