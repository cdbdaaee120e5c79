"""The exercises of notebook 08: background energy, object recall, the agreement of Eq. 8, the bootstrap interval.

* ``my_background_energy(cams, masks)`` = 1 − Σ L·m / Σ L per image (a map without energy: 1),
  :func:`~unioncam_lite.metrics.localisation.background_energy`;
* ``my_object_recall(cams, masks, t)`` = |{L ≥ t} ∩ m| / |m| per image (an empty mask: 0),
  :func:`~unioncam_lite.metrics.localisation.object_recall`;
* ``my_agreement(fused_chosen, fused_score, region_score)``: per image, does the map Eq. 8 kept
  score at least as well as the one it rejected (:func:`agreement`, the reference: no library function);
* ``my_bootstrap_ci(d, idx, level)`` → (low, high): the percentile bootstrap interval of the mean
  of d from given resampled indices (:func:`percentile_interval`, equal to
  :func:`~unioncam_lite.metrics.statistics.bootstrap_ci` for ``idx = bootstrap_indices(n, B, seed)``:
  the same resamples make the comparison exact).
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from ..metrics.localisation import background_energy, energy_pointing_game, iou_at_threshold, object_recall
from .bootstrap_exercise import check_bootstrap_ci, percentile_interval  # noqa: F401 (exercise 4, re-exported)
from .checking import Args, Cases, Exercise, Mistake, feedback, run_exercise
from .hidden_inputs import Draw, shapes_run
from .metric_exercises import HAND_CAM, HAND_MASK, about_energy, random_boxes, real_case, shapes_masks

SALT_BACKGROUND, SALT_RECALL, SALT_AGREEMENT = 63, 64, 65


def _batch(L: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    return 1 - (L * m).sum() / L.sum()


# ---------------------------------------------------------------- Exercise 1: background energy

def _background_cases(cams: torch.Tensor | None = None, masks: torch.Tensor | None = None) -> Cases:
    maps = torch.rand(3, 6, 4, generator=torch.Generator().manual_seed(63))
    maps[2] = 0.0
    return [("hand-made 2×2×2: 0.5 of 1.75 outside, then all", (HAND_CAM, HAND_MASK)),
            ("random 3×6×4, boxes, one map all zero", (maps, random_boxes(None, 3, 6, 4))),
            *real_case("real maps and masks", cams, masks)]


def _background_hidden(seed: int) -> Cases:
    d = Draw(seed, SALT_BACKGROUND)
    n, h = d.integer(2, 5), d.integer(4, 12)
    maps = d.tensor(n, h, h + 2, positive=True)
    maps[d.integer(0, n - 1)] = 0.0
    r = shapes_run(seed)["result"]
    return [(f"hidden: random {n}×{h}×{h + 2}, boxes, one map all zero", (maps, random_boxes(d, n, h, h + 2))),
            ("hidden: real denoised maps, shapes CNN, exact masks", (r.denoised, shapes_masks(seed)))]


BACKGROUND = Exercise(
    "background energy 1 − Σ L·m / Σ L", background_energy, forbidden=(background_energy, energy_pointing_game),
    nan_hint="an all-zero map has no energy: 0 / 0. Divide by total.clamp_min(1e-12); such a map counts as all "
             "background (1)",
    mistakes=(
        Mistake(energy_pointing_game, "that is the share *inside* the mask (the energy pointing game): the "
                                      "background energy is 1 minus it"),
        Mistake(lambda L, m: (L * ~m.bool()).flatten(1).sum(1) / L.flatten(1).sum(1).clamp_min(1e-12),
                "right except for the all-zero map: Σ L·(1 − m) / Σ L gives it 0, and the course counts a map "
                "without energy as all background — compute 1 − Σ L·m / Σ L"),
        Mistake(_batch, "one value per image: sum over each image's pixels (flatten(1).sum(1)), not the batch"),
        Mistake(lambda L, m: _batch(L, m).expand(L.shape[0]),
                "every image got the same value: sum over each image's pixels (flatten(1).sum(1)), not the batch"),
        Mistake(lambda L, m: 1 - (L * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1),
                "you divided by the mask's area: divide Σ L·m by the map's total energy Σ L"),
    ),
    visible=_background_cases, hidden=_background_hidden, about=about_energy(1),
    advice="inside = (cams * masks).flatten(1).sum(1), total = cams.flatten(1).sum(1); "
           "1 - inside / total.clamp_min(1e-12), shape (N,)")


# ---------------------------------------------------------------- Exercise 2: object recall

def _about_recall(args: Args) -> str:
    cams, masks, t = args
    ties = int(((cams == t) & masks.bool()).sum())
    empty = int((masks.flatten(1).sum(1) == 0).sum())
    note = f"{about_energy(0)((cams, masks)).split('; ')[0]}; t = {float(t):g}"
    return (note + (f"; {ties} mask pixel(s) with L exactly t (counted: L ≥ t)" if ties else "")
            + (f"; {empty} empty mask(s) (recall 0, not NaN)" if empty else ""))


def _quantised(g: torch.Generator | Draw, n: int, h: int, w: int) -> torch.Tensor:
    """Maps with values in {0, 0.25, …, 1}: many pixels exactly at the thresholds."""
    gen = g.g if isinstance(g, Draw) else g
    return torch.randint(0, 5, (n, h, w), generator=gen).float() / 4


def _recall_cases(cams: torch.Tensor | None = None, masks: torch.Tensor | None = None, t: float = 0.5) -> Cases:
    g = torch.Generator().manual_seed(64)
    boxes = random_boxes(None, 3, 5, 6)
    boxes[2] = False
    return [("hand-made 2×2×2, t = 0.5", (HAND_CAM, HAND_MASK, 0.5)),
            ("hand-made 2×2×2, t = 0.2", (HAND_CAM, HAND_MASK, 0.2)),
            ("quantised 3×5×6, t = 0.5 (ties), one empty mask", (_quantised(g, 3, 5, 6), boxes, 0.5)),
            *real_case(f"real maps and masks, t = {t:g}", cams, masks, t)]


def _recall_hidden(seed: int) -> Cases:
    d = Draw(seed, SALT_RECALL)
    n, h = d.integer(3, 5), d.integer(4, 10)
    masks = random_boxes(d, n, h, h + 3)
    masks[d.integer(0, n - 1)] = False
    t = (0.25, 0.5, 0.75)[d.integer(0, 2)]
    t_real = round(d.uniform(0.2, 0.8), 2)
    r = shapes_run(seed)["result"]
    return [(f"hidden: quantised {n}×{h}×{h + 3}, t = {t:g} (ties), one empty mask", (_quantised(d, n, h, h + 3),
                                                                                      masks, t)),
            (f"hidden: real fused maps, shapes CNN, exact masks, t = {t_real:g}", (r.fused, shapes_masks(seed),
                                                                                   t_real))]


def _recall_with(count: Callable, over: Callable) -> Callable:
    def variant(L: torch.Tensor, m: torch.Tensor, t: float) -> torch.Tensor:
        return count(L, m.bool(), t).flatten(1).sum(1) / over(L, m.bool(), t).flatten(1).sum(1).clamp_min(1)
    return variant


RECALL = Exercise(
    "object recall |{L ≥ t} ∩ m| / |m|", object_recall, forbidden=(object_recall, iou_at_threshold),
    nan_hint="an empty mask has no pixels: 0 / 0. Divide by masks.flatten(1).sum(1).clamp_min(1) (recall 0)",
    mistakes=(
        Mistake(_recall_with(lambda cam, m, t: (cam > t) & m, lambda cam, m, t: m),
                "you used L > t: a pixel exactly at the threshold counts, L ≥ t"),
        Mistake(_recall_with(lambda cam, m, t: (cam >= t) & m, lambda cam, m, t: cam >= t),
                "you divided by the pixels where L ≥ t: that is the precision of the map; recall divides by "
                "the mask's pixels |m|"),
        Mistake(_recall_with(lambda cam, m, t: (cam >= t) & m, lambda cam, m, t: torch.ones_like(m)),
                "you divided by all H·W pixels: recall divides by the mask's pixels |m|"),
        Mistake(_recall_with(lambda cam, m, t: cam >= t, lambda cam, m, t: torch.ones_like(m)),
                "that is the share of the whole image where L ≥ t: count only the mask's pixels, ((cams >= t) & "
                "masks), and divide by |m|"),
        Mistake(iou_at_threshold, "that is the IoU of {L ≥ t} with the mask: recall divides by |m| only"),
        Mistake(lambda cam, m, t: object_recall(cam, m, 0.5),
                "you used t = 0.5 whatever t is given: compare with the argument t"),
    ),
    visible=_recall_cases, hidden=_recall_hidden, about=_about_recall,
    advice="hit = ((cams >= t) & masks).flatten(1).sum(1); hit / masks.flatten(1).sum(1).clamp_min(1), shape (N,)")


# ---------------------------------------------------------------- Exercise 3: the agreement of Eq. 8

def agreement(fused_chosen: torch.Tensor, fused_score: torch.Tensor, region_score: torch.Tensor) -> torch.Tensor:
    """(N,) bool: the map Eq. 8 kept scores at least as well as the one it rejected (a tie agrees)."""
    return torch.where(fused_chosen.bool(), fused_score >= region_score, region_score >= fused_score)


def _about_agreement(args: Args) -> str:
    chosen, fused, region = args
    ties = int((fused == region).sum())
    return (f"{chosen.numel()} images, L_fused kept on {int(chosen.sum())}; fused scores {_fmt(fused)}, region "
            f"scores {_fmt(region)}" + (f"; {ties} tie(s) (a tie agrees)" if ties else ""))


def _fmt(t: torch.Tensor) -> str:
    return "[" + ", ".join(f"{float(v):.3g}" for v in t.flatten()[:6]) + (", …]" if t.numel() > 6 else "]")


def _agreement_cases(chosen: torch.Tensor | None = None, fused: torch.Tensor | None = None,
                     region: torch.Tensor | None = None) -> Cases:
    g = torch.Generator().manual_seed(65)
    scores = torch.randint(0, 4, (2, 8), generator=g).float() / 4
    return [("hand-made: fused kept twice (once a tie), region kept twice",
             (torch.tensor([True, True, False, False]), torch.tensor([0.5, 0.2, 0.5, 0.3]),
              torch.tensor([0.4, 0.2, 0.6, 0.1]))),
            ("8 images with ties", (torch.rand(8, generator=g) < 0.5, scores[0], scores[1])),
            *real_case("real choices and scores", chosen, fused, region)]


def _agreement_hidden(seed: int) -> Cases:
    d = Draw(seed, SALT_AGREEMENT)
    n = d.integer(5, 12)
    fused, region = (torch.randint(0, 3, (2, n), generator=d.g).float() / 2).unbind(0)
    r = shapes_run(seed)["result"]
    masks = shapes_masks(seed)
    kept = torch.tensor([c == "fused" for c in r.chosen])
    return [(f"hidden: {n} images with ties", (d.uniforms(0, 1, n) < 0.5, fused, region)),
            (f"hidden: {n} images, L_fused always kept", (torch.ones(n, dtype=torch.bool), fused, region)),
            ("hidden: real choices, shapes CNN, energy pointing game", (kept, energy_pointing_game(r.fused, masks),
                                                                        energy_pointing_game(r.region, masks)))]


AGREEMENT = Exercise(
    "agreement of Eq. 8 with a localisation score", agreement,
    mistakes=(
        Mistake(lambda c, f, r: torch.where(c.bool(), f > r, r > f),
                "you used >: where both maps score the same (a tie) the kept map is no worse, so it agrees — use >="),
        Mistake(lambda c, f, r: f >= r, "you ignored which map Eq. 8 kept: where it kept L_reg (fused_chosen False), "
                                        "agreement is region_score >= fused_score"),
        Mistake(lambda c, f, r: torch.where(c.bool(), f <= r, r <= f),
                "reversed: the kept map must score at least as well as the rejected one (kept >= rejected)"),
        Mistake(lambda c, f, r: agreement(c, f, r).float().mean(),
                "one True/False per image: the agreement rate is their mean, taken later (bootstrap_ci)"),
    ),
    visible=_agreement_cases, hidden=_agreement_hidden, about=_about_agreement,
    advice="kept = torch.where(fused_chosen, fused_score, region_score), rejected = the other one; kept >= rejected")


# ---------------------------------------------------------------- the checkers

@feedback
def check_background_energy(fn: Callable, cams: torch.Tensor | None = None, masks: torch.Tensor | None = None, *,
                            seed: int | None = None) -> bool:
    """Exercise 08.1: ``fn(cams (N, H, W), masks (N, H, W) bool) -> (N,)`` = 1 − Σ L·m / Σ L (no energy: 1)."""
    return run_exercise(BACKGROUND, fn, cams, masks, seed=seed)


@feedback
def check_object_recall(fn: Callable, cams: torch.Tensor | None = None, masks: torch.Tensor | None = None,
                        t: float = 0.5, *, seed: int | None = None) -> bool:
    """Exercise 08.2: ``fn(cams, masks, t) -> (N,)`` = |{L ≥ t} ∩ m| / |m| (an empty mask: 0)."""
    return run_exercise(RECALL, fn, cams, masks, t, seed=seed)


@feedback
def check_agreement(fn: Callable, fused_chosen: torch.Tensor | None = None, fused_score: torch.Tensor | None = None,
                    region_score: torch.Tensor | None = None, *, seed: int | None = None) -> bool:
    """Exercise 08.3: ``fn(fused_chosen, fused_score, region_score) -> (N,) bool``, kept ≥ rejected per image."""
    return run_exercise(AGREEMENT, fn, fused_chosen, fused_score, region_score, seed=seed)
