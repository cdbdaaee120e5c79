"""Checks for the notebook exercises: the learner's function against the library's.

Each ``check_*(fn, ...)`` runs the learner's function on random tensors (several shapes, edge
cases) and, if given, on real tensors captured from the model. It prints one ✓/✗ line per case,
with a hint when the answer matches a known mistake (a sum instead of a mean, a nearest-rank
percentile, ``>=`` instead of ``>``, ...), and returns ``True`` only when everything matches, so
a notebook can ``assert check_...(my_function)``. A checker never raises: a crash in the
learner's function, a wrong shape or type, NaN, all become feedback lines and ``False``.

An answer that calls the library function the exercise asks for (``return ucl.union(...)``) is
refused: a profiler hook sees the call under any name it was imported as.

``seed=``: instead of the visible cases, inputs drawn from this seed — other shapes, θ and β
values, and real tensors of the shapes CNN (:mod:`unioncam_lite.shapes`) on synthetic images,
for a class it did not predict. The graded course's hidden tests use it, so an answer fitted to
the visible cases fails (see :mod:`unioncam_lite.assignments`).
"""
from __future__ import annotations

import functools
import math
import sys
import warnings
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from .cams.common import PixelSpace, normalize_maps
from .cams.unioncam import denoise_gradients, denoised_cam, pixel_alpha, select, union

Args = tuple
Cases = list[tuple[str, Args]]


@dataclass(frozen=True)
class Mistake:
    """A known wrong answer: if the learner's result equals ``variant(*args)``, print ``hint``."""

    variant: Callable
    hint: str | Callable[[Args], str]

    def message(self, args: Args) -> str:
        return self.hint(args) if callable(self.hint) else self.hint


@dataclass(frozen=True)
class Exercise:
    """What a checker compares against: the reference (the library's function where there is one,
    so the checks follow the library), known mistakes, and the library calls an answer must not make."""

    name: str
    reference: Callable
    rtol: float = 1e-5                  # tolerance relative to the largest expected value
    mistakes: tuple[Mistake, ...] = ()
    forbidden: tuple[Callable, ...] = ()  # library functions the answer must not call
    nan_hint: str = ""


# ---------------------------------------------------------------- running and comparing

def _clone(args: Args) -> Args:
    return tuple(a.detach().clone() if isinstance(a, torch.Tensor) else a for a in args)


@contextmanager
def _watch_calls(functions: Iterable[Callable]):
    """Record calls of ``functions`` (by code object, so any alias counts) while the block runs."""
    codes = {f.__code__: f.__name__ for f in functions}
    called: list[str] = []
    previous = sys.getprofile()

    def hook(frame, event, arg):
        if event == "call" and frame.f_code in codes and codes[frame.f_code] not in called:
            called.append(codes[frame.f_code])
        if previous is not None:
            previous(frame, event, arg)

    if codes:
        sys.setprofile(hook)
    try:
        yield called
    finally:
        if codes:
            sys.setprofile(previous)


def _tensor(x) -> torch.Tensor | str:
    """``x`` as a float64 CPU tensor, or a sentence saying why it is not one."""
    if x is None:
        return "returned None — did you forget `return`?"
    try:
        t = torch.as_tensor(x)
    except Exception:
        return f"returned a {type(x).__name__}, expected a tensor"
    if t.is_complex():
        return "returned a complex tensor, expected real numbers"
    return t.detach().cpu().to(torch.float64)


def _shape(x) -> tuple:
    return tuple(x.shape)


def _differ(got, expected, rtol: float, nan_hint: str = "") -> str | None:
    """None if ``got`` matches ``expected`` (a tensor, or a pair (map, choices)); else what differs."""
    if isinstance(expected, tuple):  # (map, choices), Eq. 8
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return (f"returned {type(got).__name__}, expected a pair (cam, choices): "
                    "`return cam, choices` with choices a list of 'fused' / 'region'")
        problem = _differ(got[0], expected[0], rtol, nan_hint)
        if problem:
            return "cam: " + problem
        try:
            choices = [str(c) for c in got[1]]
        except TypeError:
            return f"choices should be a list of 'fused' / 'region', got a {type(got[1]).__name__}"
        if expected[1] is not None and choices != list(expected[1]):  # None: a mistake about the map only
            return f"choices {choices}, expected {list(expected[1])}"
        return None
    t = _tensor(got)
    if isinstance(t, str):
        return t
    e = expected.detach().cpu().to(torch.float64)
    if t.shape != e.shape:
        note = f"shape {_shape(t)}, expected {_shape(e)}"
        if t.numel() == e.numel() and _differ(t.reshape(e.shape), e, rtol) is None:
            note += " — the values are right: drop the extra dimensions (e.g. keepdim=False, or .squeeze())"
        return note
    bad_values = ~torch.isfinite(t) & torch.isfinite(e)
    if bool(bad_values.any()):
        count = int(bad_values.sum())
        return f"{count} value{'s are' if count > 1 else ' is'} NaN or infinite" + \
            (f" — {nan_hint}" if nan_hint else "")
    scale = float(e.abs().max()) if e.numel() else 1.0
    close = torch.isclose(t, e, rtol=rtol, atol=rtol * (scale if scale > 0 else 1.0), equal_nan=True)
    if bool(close.all()):
        return None
    diff = float((t - e).abs()[~close].max())
    return f"{int((~close).sum())} of {e.numel()} values differ from the library, by up to {diff:.3g}"


def _run_case(ex: Exercise, fn: Callable, label: str, args: Args) -> str:
    """Run one case and print its line; 'ok', 'fail', or 'todo' (not implemented yet)."""
    try:
        expected = ex.reference(*_clone(args))
    except Exception as err:
        print(f"✗ {ex.name} [{label}]: the checker could not compute the expected result from these inputs "
              f"({type(err).__name__}: {err}) — check the tensors passed to the checker")
        return "fail"
    inputs = _clone(args)
    with warnings.catch_warnings(record=True) as caught, _watch_calls(ex.forbidden) as called:
        warnings.simplefilter("always")  # shown on stdout below: stderr would cost a graded cell its points
        try:
            got = fn(*inputs)
        except NotImplementedError:
            print(f"✗ {ex.name}: not implemented yet — replace the `raise NotImplementedError` with your code")
            return "todo"
        except Exception as err:
            hint = ""
            if isinstance(err, RuntimeError) and "size of tensor" in str(err):
                shapes = ", ".join(str(_shape(a)) for a in args if isinstance(a, torch.Tensor))
                hint = (f" — the inputs have shapes {shapes}: add the missing dimensions so they broadcast, "
                        "e.g. beta[:, None, None] for a (N,) tensor against (N, H, W) maps")
            print(f"✗ {ex.name} [{label}]: your function raised {type(err).__name__}: {err}{hint}")
            return "fail"
    for w in caught:
        print(f"  note: your function warned: {w.category.__name__}: {w.message}")
    if called:
        names = ", ".join(f"`{n}`" for n in called)
        print(f"✗ {ex.name} [{label}]: your function calls the library's {names} — the exercise is to write "
              "it yourself (torch operations and the helpers the notebook shows are fine)")
        return "fail"
    changed = [i for i, (a, b) in enumerate(zip(args, inputs))
               if isinstance(a, torch.Tensor) and not (a.shape == b.shape and torch.equal(a, b))]
    if changed:
        print(f"  note: your function changed its input #{changed[0] + 1} in place; other cells using that "
              "tensor would see the change (work on a copy or use torch.where)")
    problem = _differ(got, expected, ex.rtol, ex.nan_hint)
    if problem is None:
        print(f"✓ {ex.name} [{label}]: matches the library")
        return "ok"
    print(f"✗ {ex.name} [{label}]: {problem}")
    for mistake in ex.mistakes:
        try:
            variant = mistake.variant(*_clone(args))
        except Exception:
            continue
        if _differ(got, variant, ex.rtol) is None:
            print(f"  hint: {mistake.message(args)}")
            break
    return "fail"


def _check(ex: Exercise, fn, cases: Cases) -> bool:
    if not callable(fn):
        print(f"✗ {ex.name}: expected your function, got a {type(fn).__name__} — pass the function itself "
              "(its name, without calling it)")
        print(f"FAIL: {ex.name}")
        return False
    ok = True
    for label, args in cases:
        status = _run_case(ex, fn, label, args)
        ok &= status == "ok"
        if status == "todo":
            break
    print(("PASS: " if ok else "FAIL: ") + ex.name)
    return ok


def _feedback(checker: Callable) -> Callable:
    """Make a ``check_*`` print rather than raise: warnings go to stdout (output on stderr would
    cost a graded cell its points in nbgrader) and an unexpected error becomes a ✗ line."""
    @functools.wraps(checker)
    def wrapper(*args, **kwargs) -> bool:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                ok = checker(*args, **kwargs)
            except Exception as err:  # a bug of the checker or of the tensors given to it
                print(f"✗ {checker.__name__} could not run: {type(err).__name__}: {err}")
                ok = False
        for w in caught:
            print(f"  note: {w.category.__name__}: {w.message}")
        return ok
    return wrapper


# ---------------------------------------------------------------- inputs

def _random(shape, seed: int, positive: bool = False) -> torch.Tensor:
    t = torch.randn(*shape, generator=torch.Generator().manual_seed(seed))
    return t.abs() if positive else t


class _Draw:
    """Random sizes and values for the hidden cases, all from one seed."""

    def __init__(self, seed: int, salt: int):
        self.g = torch.Generator().manual_seed(int(seed) * 7919 + salt)

    def int(self, low: int, high: int) -> int:
        return int(torch.randint(low, high + 1, (1,), generator=self.g))

    def uniform(self, low: float, high: float, n: int | None = None):
        u = torch.rand(n or 1, generator=self.g) * (high - low) + low
        return u if n else float(u)

    def tensor(self, *shape, positive: bool = False) -> torch.Tensor:
        t = torch.randn(*shape, generator=self.g)
        return t.abs() if positive else t

    def fmap(self, positive: bool = False) -> torch.Tensor:
        """(N, K, h, w) with h ≠ w, sizes that no visible case has."""
        h = self.int(2, 9)
        return self.tensor(self.int(1, 3), self.int(2, 12), h, h + self.int(1, 4), positive=positive)


@functools.lru_cache(maxsize=4)
def _shapes_run(seed: int) -> dict:
    """Real tensors of the shapes CNN on two synthetic images drawn from ``seed``, for a class
    each image was not predicted as (so nothing matches a notebook's image or class)."""
    from .cams.capture import capture
    from .cams.score import channel_scores
    from .cams.unioncam import union_cam
    from .models import load_model
    from .shapes import CLASSES, MEAN, STD, generate, to_tensor

    model, spec = load_model("shapes_cnn", "cpu")
    images, _, _ = generate(2, seed=int(seed))
    x = to_tensor(images)
    with torch.no_grad():
        predicted = model(x).argmax(1)
    cls = (predicted + 1 + int(seed) % (len(CLASSES) - 1)) % len(CLASSES)
    mid = capture(model, x, "features.block3", cls)        # 64×16×16, gradients vary in space
    conv = capture(model, x, "features.block4.0", cls)     # conv output: gradients with many ties
    last = capture(model, x, spec.target_layer, cls, gradients=False)
    scores, black = channel_scores(model, x, last.activations, cls, PixelSpace(MEAN, STD, x))
    r = union_cam(model, x, spec.target_layer, cls, mean=MEAN, std=STD)
    return {"A": mid.activations, "W": mid.gradients, "W_ties": conv.gradients, "scores": scores,
            "black": black, "result": r}


# ---------------------------------------------------------------- the exercises

def _hw(args: Args) -> int:
    return args[0].shape[-2] * args[0].shape[-1]


def _denoise_with(threshold_fn: Callable, keep_equal: bool = True) -> Callable:
    """Eq. 1 with another threshold (per image and channel) or another comparison."""
    def variant(W, theta):
        flat = W.flatten(2).float()
        t = threshold_fn(flat, float(theta) / 100)
        drop = flat < t if keep_equal else flat <= t
        return torch.where(drop, torch.zeros_like(flat), flat).view_as(W)
    return variant


def _nearest_rank(flat: torch.Tensor, q: float) -> torch.Tensor:
    n = flat.shape[-1]
    rank = min(max(math.ceil(q * n), 1), n)  # the classic nearest-rank definition
    return flat.sort(dim=-1).values[..., rank - 1:rank]


_NEAREST_RANK_HINT = ("your threshold is a nearest-rank percentile (one of the values itself). Eq. 1 uses the "
                      "percentile with linear interpolation between the two nearest ranks: "
                      "torch.quantile(W, theta / 100, ...) or np.percentile(W, theta) with their default method")

GRADCAM_WEIGHTS = Exercise(
    "Grad-CAM weights (Eq. 1 of Grad-CAM)", lambda W: W.mean(dim=(2, 3)),
    mistakes=(Mistake(lambda W: W.sum(dim=(2, 3)),
                      lambda a: f"your values are h·w = {_hw(a)} times too large: you summed the gradients "
                                "over the positions; Grad-CAM's weight is their mean (divide by h·w, or "
                                ".mean(dim=(2, 3)))"),))

DENOISE = Exercise(
    "denoise_gradients (Eq. 1)", denoise_gradients, rtol=1e-6, forbidden=(denoise_gradients,),
    mistakes=(
        *(Mistake(_denoise_with(lambda f, q, m=m: torch.quantile(f, q, dim=-1, keepdim=True, interpolation=m)),
                  _NEAREST_RANK_HINT) for m in ("lower", "nearest")),
        Mistake(_denoise_with(_nearest_rank), _NEAREST_RANK_HINT),
        Mistake(_denoise_with(lambda f, q: torch.quantile(f, q, dim=-1, keepdim=True), keep_equal=False),
                "you also zeroed the values equal to the threshold: Eq. 1 keeps W ≥ P_θ, so zero only W < P_θ "
                "(θ = 0 must leave W unchanged)"),
        Mistake(_denoise_with(lambda f, q: torch.quantile(f.flatten(), q).expand(*f.shape[:-1], 1)),
                "your threshold is one percentile of the whole tensor; Eq. 1 takes it per image and channel, "
                "over that channel's h·w values (flatten the last two dimensions, keepdim=True)"),
    ))


def _alpha_over(total_fn: Callable) -> Callable:
    def variant(A, W):
        positive = torch.relu(W)
        alpha = torch.where(W > 0, 1 / total_fn(W), torch.zeros_like(W))
        return (alpha * positive * A).sum(1)
    return variant


DENOISED_CAM = Exercise(
    "denoised_cam (Eq. 2-3)", denoised_cam, forbidden=(denoised_cam, pixel_alpha),
    nan_hint="a channel with no positive gradient has α = 0 (Eq. 3): guard the division, "
             "e.g. total.clamp_min(1e-30) or torch.where",
    mistakes=(
        Mistake(lambda A, W: (torch.relu(W) * A).sum(1),
                "you left out α (Eq. 3): divide each channel's positive gradients by their sum over positions"),
        Mistake(_alpha_over(lambda W: W.sum(dim=(2, 3), keepdim=True)),
                "Eq. 3 sums ReLU(W) over the positions — the positive gradients only, not all of W"),
        Mistake(_alpha_over(lambda W: torch.relu(W).sum(dim=(1, 2, 3), keepdim=True)),
                "α normalises each channel on its own: sum ReLU(W) over the positions (dim=(2, 3)), "
                "not over channels too"),
    ))

SCORE_WEIGHTS = Exercise(
    "Score-CAM channel weights", lambda s, b: torch.softmax(s - b[:, None], dim=1),
    nan_hint="exp of large scores overflows; torch.softmax subtracts the maximum first",
    mistakes=(
        Mistake(lambda s, b: torch.softmax(s - b[:, None], dim=0),
                "the softmax runs over the channels of each image (dim=1), not over the images"),
        Mistake(lambda s, b: s - b[:, None],
                "these are the raw score gains: Score-CAM's weights are their softmax over the channels"),
    ))

UNION = Exercise(
    "union (Eq. 6)", union, forbidden=(union,),
    mistakes=(
        Mistake(lambda L1, L2, b1, b2: b1[:, None, None] * L1 + b2[:, None, None] * L2,
                "the weighted sum is right; now normalise each image's map to [0, 1] (min-max, e.g. "
                "ucl.normalize_maps)"),
        Mistake(lambda L1, L2, b1, b2: (lambda s: (s - s.min()) / (s.max() - s.min()))(
                    b1[:, None, None] * L1 + b2[:, None, None] * L2),
                "normalise each image's map separately (min and max over its own H×W), not over the whole batch"),
    ))


def _select_ge(L_fused, L_reg, beta_fused, beta_reg):
    wins = beta_fused >= beta_reg
    return torch.where(wins[:, None, None], L_fused, L_reg), ["fused" if w else "region" for w in wins.tolist()]


def _select_swapped(L_fused, L_reg, beta_fused, beta_reg):
    return select(L_reg, L_fused, beta_fused, beta_reg)[0], None  # the maps swapped, whatever the choices


SELECT = Exercise(
    "select (Eq. 8)", select, forbidden=(select,),
    mistakes=(
        Mistake(_select_ge, "your answer differs only where β_fused == β_reg (a tie): Eq. 8 takes L_fused only "
                            "if β_fused > β_reg, strictly, so a tie gives L_reg ('region') — use >, not >="),
        Mistake(_select_swapped, "the branches are swapped: L_fused when β_fused > β_reg, else L_reg"),
    ))


@_feedback
def check_gradcam_weights(fn: Callable, W_real: torch.Tensor | None = None, *, seed: int | None = None) -> bool:
    """Exercise 01: ``fn(W) -> (N, K)`` Grad-CAM channel weights, the spatial mean of the gradients."""
    if seed is None:
        cases = [("random 1x4x3x3", (_random((1, 4, 3, 3), 0),)), ("random 2x8x7x7", (_random((2, 8, 7, 7), 1),))]
        if W_real is not None:
            cases.append((f"real {tuple(W_real.shape)}", (W_real,)))
    else:
        d = _Draw(seed, 1)
        W = d.fmap()
        cases = [(f"hidden: random {'x'.join(map(str, W.shape))}", (W,)),
                 ("hidden: real gradients, shapes CNN", (_shapes_run(seed)["W"],))]
    return _check(GRADCAM_WEIGHTS, fn, cases)


@_feedback
def check_gradcam_map(fn: Callable, A_real: torch.Tensor | None = None, W_real: torch.Tensor | None = None, *,
                      seed: int | None = None) -> bool:
    """Exercise 01 (bonus): ``fn(A, W) -> (N, h, w)`` = ReLU(Σ_k w_k A_k)."""
    from .cams.gradient import gradcam_map

    if seed is None:
        cases = [("random 2x8x7x7", (_random((2, 8, 7, 7), 2, True), _random((2, 8, 7, 7), 3)))]
        if A_real is not None and W_real is not None:
            cases.append(("real", (A_real, W_real)))
    else:
        d, run = _Draw(seed, 7), _shapes_run(seed)
        W = d.fmap()
        cases = [(f"hidden: random {'x'.join(map(str, W.shape))}", (d.tensor(*W.shape, positive=True), W)),
                 ("hidden: real, shapes CNN", (run["A"], run["W"]))]
    return _check(Exercise("Grad-CAM map", gradcam_map, forbidden=(gradcam_map,)), fn, cases)


@_feedback
def check_denoise(fn: Callable, W_real: torch.Tensor | None = None, *, seed: int | None = None) -> bool:
    """Exercise 02: ``fn(W, theta)`` zeroes gradients below each channel's θ-th percentile (Eq. 1)."""
    if seed is None:
        cases = [("hand-made, θ=50", (torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]]), 50.0)),
                 ("random, θ=0", (_random((2, 3, 5, 5), 4), 0.0)),
                 ("random, θ=10", (_random((2, 3, 5, 5), 5), 10.0)),
                 ("random, θ=95", (_random((1, 6, 7, 7), 6), 95.0))]
        if W_real is not None:
            cases.append(("real, θ=10", (W_real, 10.0)))
    else:
        d, run = _Draw(seed, 2), _shapes_run(seed)
        cases = [(f"hidden: random {'x'.join(map(str, W.shape))}, θ={t:.3g}", (W, t))
                 for W, t in [(d.fmap(), 0.0), (d.fmap(), d.uniform(1, 40)), (d.fmap(), d.uniform(40, 99)),
                              (d.fmap(), 100.0)]]
        theta = round(d.uniform(5, 60), 1)
        cases += [(f"hidden: real gradients, shapes CNN, θ={theta:g}", (run["W"], theta)),
                  (f"hidden: real gradients with ties, shapes CNN, θ={theta:g}", (run["W_ties"], theta))]
    return _check(DENOISE, fn, cases)


@_feedback
def check_denoised_cam(fn: Callable, A_real: torch.Tensor | None = None, W_real: torch.Tensor | None = None, *,
                       seed: int | None = None) -> bool:
    """Exercise 02 (bonus): ``fn(A, W_den) -> (N, h, w)`` with the pixel-level α (Eq. 2-3)."""
    if seed is None:
        W = denoise_gradients(_random((2, 5, 7, 7), 7), 30)
        cases = [("random", (_random((2, 5, 7, 7), 8, True), W))]
        if A_real is not None and W_real is not None:
            cases.append(("real", (A_real, denoise_gradients(W_real, 10))))
    else:
        d, run = _Draw(seed, 3), _shapes_run(seed)
        W = d.fmap()
        W[:, 0] = -W[:, 0].abs()  # a channel without any positive gradient: α = 0 there
        A = d.tensor(*W.shape, positive=True)
        theta = round(d.uniform(5, 60), 1)
        cases = [(f"hidden: random {'x'.join(map(str, W.shape))}, one channel all negative",
                  (A, denoise_gradients(W, d.uniform(0, 50)))),
                 (f"hidden: real, shapes CNN, θ={theta:g}", (run["A"], denoise_gradients(run["W"], theta)))]
    return _check(DENOISED_CAM, fn, cases)


@_feedback
def check_score_weights(fn: Callable, scores_real: torch.Tensor | None = None,
                        black_real: torch.Tensor | None = None, *, seed: int | None = None) -> bool:
    """Exercise 03: ``fn(scores (N, K), black (N,)) -> (N, K)`` = softmax_k(s_k − s_b), Score-CAM's weights."""
    if seed is None:
        cases = [("random", (_random((2, 16), 9) * 5, _random((2,), 10))),
                 ("large scores", (_random((1, 8), 11) * 100, torch.tensor([50.0])))]
        if scores_real is not None and black_real is not None:
            cases.append(("real", (scores_real, black_real)))
    else:
        d, run = _Draw(seed, 4), _shapes_run(seed)
        n, k = d.int(2, 4), d.int(3, 40)
        cases = [(f"hidden: random {n}x{k}", (d.tensor(n, k) * d.uniform(1, 10), d.tensor(n))),
                 ("hidden: large scores", (d.tensor(n, k) * 300, d.tensor(n) * 300)),
                 ("hidden: real scores, shapes CNN", (run["scores"], run["black"]))]
    return _check(SCORE_WEIGHTS, fn, cases)


@_feedback
def check_union(fn: Callable, *, seed: int | None = None) -> bool:
    """Exercise 04: ``fn(L_den, L_reg, beta_den, beta_reg)`` = normalise(β_den·L_den + β_reg·L_reg) (Eq. 6)."""
    if seed is None:
        L1 = normalize_maps(_random((3, 8, 8), 12, True))
        L2 = normalize_maps(_random((3, 8, 8), 13, True))
        cases = [("random", (L1, L2, torch.tensor([0.2, 0.5, 0.9]), torch.tensor([0.3, 0.1, 0.8]))),
                 ("one β negative", (L1, L2, torch.tensor([-0.1, 0.4, 0.2]), torch.tensor([0.3, 0.3, 0.3])))]
    else:
        d, r = _Draw(seed, 5), _shapes_run(seed)["result"]
        n, h = d.int(2, 4), d.int(4, 12)
        L1 = normalize_maps(d.tensor(n, h, h + 3, positive=True))
        L2 = normalize_maps(d.tensor(n, h, h + 3, positive=True))
        cases = [(f"hidden: random {n}x{h}x{h + 3}", (L1, L2, d.uniform(-0.5, 1, n), d.uniform(-0.5, 1, n))),
                 ("hidden: real maps, shapes CNN", (r.denoised, r.region, r.beta_denoised, r.beta_region))]
    return _check(UNION, fn, cases)


@_feedback
def check_select(fn: Callable, *, seed: int | None = None) -> bool:
    """Exercise 05: ``fn(L_fused, L_reg, beta_fused, beta_reg) -> (cam, choices)`` (Eq. 8)."""
    if seed is None:
        L1 = normalize_maps(_random((3, 8, 8), 14, True))
        L2 = normalize_maps(_random((3, 8, 8), 15, True))
        cases = [("fused wins, region wins, tie",
                  (L1, L2, torch.tensor([0.5, 0.1, 0.3]), torch.tensor([0.4, 0.2, 0.3])))]
    else:
        d, r = _Draw(seed, 6), _shapes_run(seed)["result"]
        n, h = d.int(4, 6), d.int(4, 12)
        beta_fused, beta_reg = d.uniform(-0.5, 1, n), d.uniform(-0.5, 1, n)
        tie = d.int(0, n - 1)
        beta_reg[tie] = beta_fused[tie]  # Eq. 8's strict > decides the tie: L_reg
        cases = [(f"hidden: random {n}x{h}x{h + 1}, with ties",
                  (normalize_maps(d.tensor(n, h, h + 1, positive=True)),
                   normalize_maps(d.tensor(n, h, h + 1, positive=True)), beta_fused, beta_reg)),
                 ("hidden: real maps, shapes CNN", (r.fused, r.region, r.beta_fused, r.beta_region))]
    return _check(SELECT, fn, cases)
