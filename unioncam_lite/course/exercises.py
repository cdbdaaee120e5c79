"""The notebook exercises and their public checkers: the learner's function against the library's.

Each ``check_*(fn, ...)`` runs the learner's function on random tensors (several shapes, edge
cases) and, if given, on real tensors captured from the model. It prints one ✓/✗ line per case,
with a hint when the answer matches a known mistake (a sum instead of a mean, a nearest-rank
percentile, ``>=`` instead of ``>``, ...), and returns ``True`` only when everything matches, so
a notebook can ``assert check_...(my_function)``. A checker never raises: a crash in the
learner's function, a wrong shape or type, NaN, all become feedback lines and ``False``
(the engine: :mod:`.checking`).

An answer that calls the library function the exercise asks for (``return ucl.union(...)``) is
refused: a profiler hook sees the call under any name it was imported as.

``seed=``: instead of the visible cases, inputs drawn from this seed (:mod:`.hidden_inputs`) —
other shapes, θ and β values, and real tensors of the shapes CNN on synthetic images, for a
class it did not predict. The graded course's hidden tests use it, so an answer fitted to the
visible cases fails (see :mod:`.assignments`).
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..cams.gradient import gradcam_map
from ..cams.unioncam import denoise_gradients, denoised_cam, pixel_alpha
from . import case_notes as notes
from . import hidden_inputs as hidden
from .checking import Args, Cases, Exercise, Mistake, feedback, run_exercise
from .union_exercises import SELECT, UNION


def _random(shape: tuple[int, ...], seed: int, positive: bool = False) -> torch.Tensor:
    """The visible cases' fixed random tensors."""
    t = torch.randn(*shape, generator=torch.Generator().manual_seed(seed))
    return t.abs() if positive else t


# ---------------------------------------------------------------- Grad-CAM (notebook 01)

def _hw(args: Args) -> int:
    return args[0].shape[-2] * args[0].shape[-1]


def _gradcam_weights_cases(W_real: torch.Tensor | None = None) -> Cases:
    cases: Cases = [("random 1x4x3x3", (_random((1, 4, 3, 3), 0),)),
                    ("random 2x8x7x7", (_random((2, 8, 7, 7), 1),))]
    return cases + ([(f"real {tuple(W_real.shape)}", (W_real,))] if W_real is not None else [])


GRADCAM_WEIGHTS = Exercise(
    "Grad-CAM weights (Eq. 1 of Grad-CAM)", lambda W: W.mean(dim=(2, 3)),
    mistakes=(Mistake(lambda W: W.sum(dim=(2, 3)),
                      lambda a: f"your values are h·w = {_hw(a)} times too large: you summed the gradients "
                                "over the positions; Grad-CAM's weight is their mean (divide by h·w, or "
                                ".mean(dim=(2, 3)))"),),
    visible=_gradcam_weights_cases, hidden=hidden.gradcam_weights, about=notes.gradcam_weights,
    advice="average over the last two dimensions (h, w), per image and channel: W.mean(dim=(2, 3)) → (N, K)")


def _gradcam_map_cases(A_real: torch.Tensor | None = None, W_real: torch.Tensor | None = None) -> Cases:
    cases: Cases = [("random 2x8x7x7", (_random((2, 8, 7, 7), 2, True), _random((2, 8, 7, 7), 3)))]
    return cases + ([("real", (A_real, W_real))] if A_real is not None and W_real is not None else [])


GRADCAM_MAP = Exercise("Grad-CAM map", gradcam_map, forbidden=(gradcam_map,),
                       visible=_gradcam_map_cases, hidden=hidden.gradcam_map, about=notes.gradcam_map,
                       advice="weights = the spatial mean of W (N, K); the map = ReLU(Σ_k w_k A_k) over the channels "
                              "(dim=1), the ReLU after the sum, not on A or W")


# ---------------------------------------------------------------- denoising, Eq. 1-3 (notebook 02)

def _denoise_with(threshold_fn: Callable, keep_equal: bool = True) -> Callable:
    """Eq. 1 with another threshold (per image and channel) or another comparison."""
    def variant(W: torch.Tensor, theta: float) -> torch.Tensor:
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


def _denoise_cases(W_real: torch.Tensor | None = None) -> Cases:
    cases: Cases = [("hand-made, θ=50", (torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]]), 50.0)),
                    ("random, θ=0", (_random((2, 3, 5, 5), 4), 0.0)),
                    ("random, θ=10", (_random((2, 3, 5, 5), 5), 10.0)),
                    ("random, θ=95", (_random((1, 6, 7, 7), 6), 95.0))]
    return cases + ([("real, θ=10", (W_real, 10.0))] if W_real is not None else [])


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
    ),
    visible=_denoise_cases, hidden=hidden.denoise, about=notes.denoise,
    advice="the threshold per image and channel over its h·w values (flatten(2), keepdim=True), "
           "torch.quantile's default (linear) method, keep W ≥ threshold, and return W's shape")


def _alpha_over(total_fn: Callable) -> Callable:
    """Eq. 2 with α's denominator (Eq. 3) replaced by ``total_fn(W)``."""
    def variant(A: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
        positive = torch.relu(W)
        alpha = torch.where(W > 0, 1 / total_fn(W), torch.zeros_like(W))
        return (alpha * positive * A).sum(1)
    return variant


def _denoised_cam_cases(A_real: torch.Tensor | None = None, W_real: torch.Tensor | None = None) -> Cases:
    W = denoise_gradients(_random((2, 5, 7, 7), 7), 30)
    cases: Cases = [("random", (_random((2, 5, 7, 7), 8, True), W))]
    if A_real is not None and W_real is not None:
        cases.append(("real", (A_real, denoise_gradients(W_real, 10))))
    return cases


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
    ),
    visible=_denoised_cam_cases, hidden=hidden.denoised_cam, about=notes.denoised_cam,
    advice="α = 1 / Σ_positions ReLU(W) per image and channel where W > 0, else 0 (no division by 0); "
           "L_den = Σ_k α·ReLU(W)·A over the channels, without a ReLU around the sum")


# ---------------------------------------------------------------- Score-CAM (notebook 03)

def _score_weights_cases(scores_real: torch.Tensor | None = None, black_real: torch.Tensor | None = None) -> Cases:
    cases: Cases = [("random", (_random((2, 16), 9) * 5, _random((2,), 10))),
                    ("large scores", (_random((1, 8), 11) * 100, torch.tensor([50.0])))]
    real = scores_real is not None and black_real is not None
    return cases + ([("real", (scores_real, black_real))] if real else [])


SCORE_WEIGHTS = Exercise(
    "Score-CAM channel weights", lambda s, b: torch.softmax(s - b[:, None], dim=1),
    nan_hint="exp of large scores overflows; torch.softmax subtracts the maximum first",
    mistakes=(
        Mistake(lambda s, b: torch.softmax(s - b[:, None], dim=0),
                "the softmax runs over the channels of each image (dim=1), not over the images"),
        Mistake(lambda s, b: s - b[:, None],
                "these are the raw score gains: Score-CAM's weights are their softmax over the channels"),
    ),
    visible=_score_weights_cases, hidden=hidden.score_weights, about=notes.score_weights,
    advice="subtract each image's black score from its row (black[:, None]) and take torch.softmax over dim=1")


# ---------------------------------------------------------------- the checkers the notebooks call

@feedback
def check_gradcam_weights(fn: Callable, W_real: torch.Tensor | None = None, *, seed: int | None = None) -> bool:
    """Exercise 01: ``fn(W) -> (N, K)`` Grad-CAM channel weights, the spatial mean of the gradients."""
    return run_exercise(GRADCAM_WEIGHTS, fn, W_real, seed=seed)


@feedback
def check_gradcam_map(fn: Callable, A_real: torch.Tensor | None = None, W_real: torch.Tensor | None = None, *,
                      seed: int | None = None) -> bool:
    """Exercise 01 (bonus): ``fn(A, W) -> (N, h, w)`` = ReLU(Σ_k w_k A_k)."""
    return run_exercise(GRADCAM_MAP, fn, A_real, W_real, seed=seed)


@feedback
def check_denoise(fn: Callable, W_real: torch.Tensor | None = None, *, seed: int | None = None) -> bool:
    """Exercise 02: ``fn(W, theta)`` zeroes gradients below each channel's θ-th percentile (Eq. 1)."""
    return run_exercise(DENOISE, fn, W_real, seed=seed)


@feedback
def check_denoised_cam(fn: Callable, A_real: torch.Tensor | None = None, W_real: torch.Tensor | None = None, *,
                       seed: int | None = None) -> bool:
    """Exercise 02 (bonus): ``fn(A, W_den) -> (N, h, w)`` with the pixel-level α (Eq. 2-3)."""
    return run_exercise(DENOISED_CAM, fn, A_real, W_real, seed=seed)


@feedback
def check_score_weights(fn: Callable, scores_real: torch.Tensor | None = None,
                        black_real: torch.Tensor | None = None, *, seed: int | None = None) -> bool:
    """Exercise 03: ``fn(scores (N, K), black (N,)) -> (N, K)`` = softmax_k(s_k − s_b), Score-CAM's weights."""
    return run_exercise(SCORE_WEIGHTS, fn, scores_real, black_real, seed=seed)


@feedback
def check_union(fn: Callable, *, seed: int | None = None) -> bool:
    """Exercise 04: ``fn(L_den, L_reg, beta_den, beta_reg)`` = normalise(w_den·L_den + w_reg·L_reg), w = max(β, 0),
    L_reg where both w are 0 (Eq. 6 with the course's weights, :func:`union_weights_relu`)."""
    return run_exercise(UNION, fn, seed=seed)


@feedback
def check_select(fn: Callable, *, seed: int | None = None) -> bool:
    """Exercise 05: ``fn(L_fused, L_reg, beta_fused, beta_reg) -> (cam, choices)`` (Eq. 8)."""
    return run_exercise(SELECT, fn, seed=seed)


# ---------------------------------------------------------------- checkers defined in their own modules
# (one module per idea), re-exported here: notebooks and the graded course's hidden tests look them up here
from .assembly_exercises import check_union_cam  # noqa: E402,F401
from .beta_exercises import check_beta  # noqa: E402,F401
from .claims_exercises import check_agreement, check_background_energy, check_bootstrap_ci, check_object_recall  # noqa: E402,F401
from .fallback import yours_or_library  # noqa: E402,F401
from .metric_exercises import check_drop_increase, check_energy_pointing_game  # noqa: E402,F401
from .region_exercises import check_region_map  # noqa: E402,F401
