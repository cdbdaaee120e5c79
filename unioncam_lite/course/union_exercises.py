"""The exercises of notebooks 04 and 05: the union (Eq. 6) with the course's weights, and the selection (Eq. 8).

Their checkers (``check_union``, ``check_select``) are in :mod:`.exercises` with the others.
:func:`union_weights_relu` is exercise 04's reference: Eq. 6 with ReLU'd weights, the rule the
library's ``union`` follows (notebook 04 says why).
"""
from __future__ import annotations

import torch

from ..cams.common import normalize_maps
from ..cams.unioncam import select, union
from . import case_notes as notes
from . import hidden_inputs as hidden
from .checking import Cases, Exercise, Mistake


def _random(shape: tuple[int, ...], seed: int, positive: bool = False) -> torch.Tensor:
    """The visible cases' fixed random tensors (as in :mod:`.exercises`)."""
    t = torch.randn(*shape, generator=torch.Generator().manual_seed(seed))
    return t.abs() if positive else t


def union_weights_relu(L_den: torch.Tensor, L_reg: torch.Tensor, beta_den: torch.Tensor,
                       beta_reg: torch.Tensor) -> torch.Tensor:
    """Eq. 6 as the course computes it (the reference of exercise 04, the library's ``union`` rule):
    w = max(β, 0), L_fused = normalise(w_den·L_den + w_reg·L_reg); where both w are 0, L_reg.

    Why the ReLU (the course's choice, the paper is silent): min-max normalising a map that enters
    with a negative weight turns it upside down — its object becomes the minimum, the background
    the maximum — so a map that lowers the class score is left out rather than inverted."""
    w_den, w_reg = beta_den.clamp_min(0)[:, None, None], beta_reg.clamp_min(0)[:, None, None]
    fused = normalize_maps(w_den * L_den + w_reg * L_reg)
    return torch.where((w_den == 0) & (w_reg == 0), L_reg, fused)


def _union_ratio(L1: torch.Tensor, L2: torch.Tensor, b1: torch.Tensor, b2: torch.Tensor) -> torch.Tensor:
    total = (b1 + b2)[:, None, None]
    return normalize_maps(b1[:, None, None] / total * L1 + b2[:, None, None] / total * L2)


def _union_signed(L1: torch.Tensor, L2: torch.Tensor, b1: torch.Tensor, b2: torch.Tensor) -> torch.Tensor:
    return normalize_maps(b1[:, None, None] * L1 + b2[:, None, None] * L2)


def _union_no_fallback(L1: torch.Tensor, L2: torch.Tensor, b1: torch.Tensor, b2: torch.Tensor) -> torch.Tensor:
    return normalize_maps(b1.clamp_min(0)[:, None, None] * L1 + b2.clamp_min(0)[:, None, None] * L2)


def _union_cases() -> Cases:
    L1 = normalize_maps(_random((3, 8, 8), 12, True))
    L2 = normalize_maps(_random((3, 8, 8), 13, True))
    return [("every β positive", (L1, L2, torch.tensor([0.2, 0.5, 0.9]), torch.tensor([0.3, 0.1, 0.8]))),
            ("one β negative", (L1, L2, torch.tensor([-0.1, 0.4, 0.2]), torch.tensor([0.3, 0.3, 0.3]))),
            ("β_den + β_reg < 0", (L1, L2, torch.tensor([-0.3, 0.2, 0.5]), torch.tensor([0.1, -0.4, 0.2]))),
            ("both β ≤ 0", (L1, L2, torch.tensor([-0.2, 0.0, 0.4]), torch.tensor([-0.1, 0.0, 0.1])))]


UNION = Exercise(
    "union (Eq. 6)", union_weights_relu, forbidden=(union,),
    mistakes=(
        Mistake(_union_ratio,
                "you weighted by w = β / (β_den + β_reg): that equals the course's answer only when both β are "
                "positive. Where a β is negative the ratio gives it a negative weight (and a negative sum flips "
                "both signs), and min-max normalisation then turns that map upside down. Use w = max(β, 0): "
                "beta.clamp_min(0)"),
        Mistake(_union_signed,
                "you used β with its sign, Eq. 6 as printed: a negative β subtracts its map, and min-max "
                "normalisation turns the result upside down (the background lights up). The course clips each "
                "weight at 0: w = max(β, 0), i.e. beta.clamp_min(0)"),
        Mistake(_union_no_fallback,
                "right where a β is positive; where both β ≤ 0 both weights are 0 and your map is all zeros: "
                "the course's choice there is L_fused = L_reg (torch.where on (w_den == 0) & (w_reg == 0))"),
        Mistake(lambda L1, L2, b1, b2: b1.clamp_min(0)[:, None, None] * L1 + b2.clamp_min(0)[:, None, None] * L2,
                "the weighted sum is right; now normalise each image's map to [0, 1] (min-max, e.g. "
                "ucl.normalize_maps)"),
        Mistake(lambda L1, L2, b1, b2: (lambda s: (s - s.min()) / (s.max() - s.min()))(
                    b1.clamp_min(0)[:, None, None] * L1 + b2.clamp_min(0)[:, None, None] * L2),
                "normalise each image's map separately (min and max over its own H×W), not over the whole batch"),
    ),
    visible=_union_cases, hidden=hidden.union, about=notes.union,
    advice="w = max(β, 0) for each map, reshaped to (N, 1, 1); normalise(w_den·L_den + w_reg·L_reg) per image; "
           "L_reg where both weights are 0")


def _select_ge(L_fused: torch.Tensor, L_reg: torch.Tensor, beta_fused: torch.Tensor,
               beta_reg: torch.Tensor) -> tuple[torch.Tensor, list[str]]:
    wins = beta_fused >= beta_reg
    return torch.where(wins[:, None, None], L_fused, L_reg), ["fused" if w else "region" for w in wins.tolist()]


def _select_swapped(L_fused: torch.Tensor, L_reg: torch.Tensor, beta_fused: torch.Tensor,
                    beta_reg: torch.Tensor) -> tuple[torch.Tensor, None]:
    return select(L_reg, L_fused, beta_fused, beta_reg)[0], None  # the maps swapped, whatever the choices


def _select_cases() -> Cases:
    L1 = normalize_maps(_random((3, 8, 8), 14, True))
    L2 = normalize_maps(_random((3, 8, 8), 15, True))
    return [("fused wins, region wins, tie", (L1, L2, torch.tensor([0.5, 0.1, 0.3]), torch.tensor([0.4, 0.2, 0.3])))]


SELECT = Exercise(
    "select (Eq. 8)", select, forbidden=(select,),
    mistakes=(
        Mistake(_select_ge, "your answer differs only where β_fused == β_reg (a tie): Eq. 8 takes L_fused only "
                            "if β_fused > β_reg, strictly, so a tie gives L_reg ('region') — use >, not >="),
        Mistake(_select_swapped, "the branches are swapped: L_fused when β_fused > β_reg, else L_reg"),
    ),
    visible=_select_cases, hidden=hidden.select, about=notes.select,
    advice="per image: L_fused where β_fused > β_reg (strictly), else L_reg; choices 'fused' / 'region' in order")


