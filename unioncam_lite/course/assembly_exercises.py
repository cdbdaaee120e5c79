"""Exercise 2 of notebook 05: the whole of UnionCAM (Eq. 1-8) assembled from the steps of notebooks 02-05.

The learner's ``my_union_cam(model, x, layer, class_idx, theta, mean, std) -> (cam, choices)`` captures
A and W (given), then calls one step per equation — denoise (Eq. 1), the denoised map (Eq. 2-3,
upsampled and normalised), the region map (§3.2), the gains β_den, β_reg (Eq. 4-5), the union
(Eq. 6), β_fused (Eq. 7) and the selection (Eq. 8) — through the notebook's names of those steps
(the learner's own functions where their checks passed, else the library's). ``check_union_cam``
(re-exported by :mod:`.exercises`) compares the result with the library's ``union_cam`` on the two
shapes models (θ acts at their layers); the hidden cases use other synthetic images, layers, θ and
classes the model did not predict. Choices are compared except where β_fused and β_reg are closer
than :data:`TIE` (then only the map: float rounding decides such a tie, and the two maps are then
the same up to rounding, as when β_den ≤ 0 makes L_fused = normalise(w_reg·L_reg)).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from ..cams.capture import capture
from ..cams.common import upsample, upsample_normalize
from ..cams.options import RegionWeights
from ..cams.score import region_cam
from ..cams.unioncam import UnionCAM, denoise_gradients, denoised_cam, score_gain, select, union, union_cam
from . import hidden_inputs as hidden
from .checking import Args, Cases, Exercise, Mistake, feedback, run_exercise

#: |β_fused − β_reg| below this is a tie that float rounding decides: the choices are not compared there
TIE = 1e-4
Pair = tuple[torch.Tensor, list[str] | None]


def union_cam_pair(model: nn.Module, x: torch.Tensor, layer: nn.Module | str, class_idx: torch.Tensor | None,
                   theta: float, mean: Sequence[float] | None, std: Sequence[float] | None
                   ) -> tuple[torch.Tensor, list[str]]:
    """The library's UnionCAM (Eq. 1-8) with ``my_union_cam``'s arguments and result, ``(cam (N, H, W), choices)``:
    notebook 05's fallback for ``my_union_cam``."""
    r = union_cam(model, x, layer, class_idx, theta, mean=mean, std=std)
    return r.cam, r.chosen


def union_cam_reference(model: nn.Module, x: torch.Tensor, layer: nn.Module | str, class_idx: torch.Tensor | None,
                        theta: float, mean: Sequence[float] | None, std: Sequence[float] | None) -> Pair:
    """The exercise's reference: :func:`union_cam_pair`, with choices None where an image's β_fused and β_reg
    tie within :data:`TIE` (float rounding decides such a tie)."""
    r = union_cam(model, x, layer, class_idx, theta, mean=mean, std=std)
    tie = bool(((r.beta_fused - r.beta_region).abs() < TIE).any())
    return r.cam, None if tie else r.chosen


def assemble(model: nn.Module, x: torch.Tensor, layer: nn.Module | str, class_idx: torch.Tensor | None,
             theta: float, mean: Sequence[float] | None, std: Sequence[float] | None, *, denoise: bool = True,
             normalise_den: bool = True, region_weights: RegionWeights = "paper", predicted: bool = False,
             select_on: str = "fused", fallback: str = "region", swap_weights: bool = False) -> Pair:
    """UnionCAM step by step with the library's functions, right (the defaults, the notebook's solution) or
    with one known mistake: ``denoise`` False skips Eq. 1; ``normalise_den`` False upsamples L_den without
    min-max; ``region_weights="softmax"`` is Score-CAM's region map; ``predicted`` explains the predicted
    class; ``select_on="denoised"`` compares β_den in Eq. 8; ``fallback="denoised"`` falls back to L_den;
    ``swap_weights`` gives each map the other's β in Eq. 6."""
    cap = capture(model, x, layer, None if predicted else class_idx)
    A, W, c = cap.activations, cap.require_gradients(), cap.class_idx
    size = x.shape[-2:]
    W_den = denoise_gradients(W, theta) if denoise else W                                  # Eq. 1
    L_den = (upsample_normalize if normalise_den else upsample)(denoised_cam(A, W_den), size)   # Eq. 2-3
    L_reg = region_cam(model, x, A, c, mean=mean, std=std, region_weights=region_weights)   # §3.2

    def beta(L: torch.Tensor) -> torch.Tensor:                                             # Eq. 4-5, 7
        return score_gain(model, x, L, c, mean=mean, std=std)

    beta_den, beta_reg = beta(L_den), beta(L_reg)
    L_fused = union(L_den, L_reg, *((beta_reg, beta_den) if swap_weights else (beta_den, beta_reg)))   # Eq. 6
    beta_fused = beta(L_fused)
    if fallback == "denoised":
        return select(L_fused, L_den, beta_fused, beta_den)                                # Eq. 8
    return select(L_fused, L_reg, beta_den if select_on == "denoised" else beta_fused, beta_reg)


def _variant(**mistake: object) -> Callable[..., Pair]:
    def variant(*args: object) -> Pair:
        return assemble(*args, **mistake)  # type: ignore[arg-type]
    return variant


def _shapes(name: str, n: int, seed: int, crop: tuple[int, int] | None = None) -> tuple[nn.Module, torch.Tensor]:
    from ..data.shapes import generate, to_tensor
    from ..models import load_model

    x = to_tensor(generate(n, seed=seed)[0])
    return load_model(name, "cpu")[0], x if crop is None else x[..., :crop[0], :crop[1]].contiguous()


def _union_cam_cases() -> Cases:
    """Two cases where every known mistake changes the result of one of them: θ acts at both layers, the fused map
    wins on an image of each, and the second case explains a class the model did not predict for its image 1."""
    from ..data.shapes import MEAN, STD

    vgg, x_vgg = _shapes("shapes_vgg", 2, 7)
    cnn, x_cnn = _shapes("shapes_cnn", 2, 9)
    return [("shapes VGG, 2 images, layer features.block4, θ=30, the predicted classes",
             (vgg, x_vgg, "features.block4", None, 30.0, MEAN, STD)),
            ("shapes CNN, 2 images, layer features.block3, θ=50, classes [2, 2]",
             (cnn, x_cnn, "features.block3", torch.tensor([2, 2]), 50.0, MEAN, STD))]


def _hidden_union_cam(seed: int) -> Cases:
    """Other synthetic images (the shapes CNN's cropped to H ≠ W), layers and θ; image 0's predicted class and
    for image 1 a class the model did not predict."""
    from ..data.shapes import CLASSES, MEAN, STD

    d = hidden.Draw(seed, 43)
    cases: Cases = []
    for name, layer, crop in (("shapes_cnn", "features.block3", (d.integer(48, 56), 64)),
                              ("shapes_vgg", "features.block4", None)):
        model, x = _shapes(name, 2, int(seed) * 3 + len(cases) + 11, crop)
        with torch.no_grad():
            predicted = model(x).argmax(1)
        theta = round(d.uniform(5, 80), 1)
        cls = predicted.clone()
        cls[1] = (predicted[1] + d.integer(1, len(CLASSES) - 1)) % len(CLASSES)
        args = (model, x, layer, cls, theta, MEAN, STD)
        h, w = x.shape[-2:]
        cases.append((f"hidden: {name.replace('_', ' ')}, 2 images {h}×{w}, layer {layer}, θ={theta:g}, "
                      "image 1 for a class it did not predict", args))
    return cases


def _about(args: Args) -> str:
    """The model, layer, θ, the classes and what the library's run chose."""
    model, x, layer, class_idx, theta, mean, std = args
    r = union_cam(model, x, layer, class_idx, theta, mean=mean, std=std)
    return (f"{type(model).__name__}, {x.shape[0]} image(s) of {x.shape[-2]}×{x.shape[-1]}, layer {layer}, "
            f"θ = {float(theta):g}, classes {r.class_idx.tolist()}"
            + (" (class_idx None: the predicted ones)" if class_idx is None else "")
            + f"; the library's gains: β_den = {[round(v, 4) for v in r.beta_denoised.tolist()]}, "
              f"β_reg = {[round(v, 4) for v in r.beta_region.tolist()]}, "
              f"β_fused = {[round(v, 4) for v in r.beta_fused.tolist()]}, choices {r.chosen}")


UNION_CAM = Exercise(
    "UnionCAM assembled (Eq. 1-8)", union_cam_reference, rtol=1e-4,
    forbidden=(union_cam, UnionCAM.__call__, UnionCAM._call),   # _call: the method __call__ runs
    mistakes=(
        Mistake(_variant(denoise=False),
                "your L_den is the map of the raw gradients: denoise them first, W_den = denoise_gradients(W, theta) "
                "(Eq. 1), and give W_den to denoised_cam"),
        Mistake(_variant(normalise_den=False),
                "your L_den is upsampled but not normalised: β, the union and the selection expect maps in [0, 1] — "
                "ucl.upsample_normalize(denoised_cam(A, W_den), x.shape[-2:])"),
        Mistake(_variant(region_weights="softmax"),
                "your region map has Score-CAM's weights (a softmax of logit gains); UnionCAM's region map (§3.2) "
                "weights each channel by the probability f_c(M_k ⊙ I0): region_cam's default "
                "(region_weights='paper')"),
        Mistake(_variant(predicted=True),
                "you explained each image's predicted class: capture with class_idx and use cap.class_idx for the "
                "region map and every β"),
        Mistake(_variant(select_on="denoised"),
                "Eq. 8 compares β_fused, the gain of the fused map (Eq. 7: beta(model, x, L_fused, c, mean, std)), "
                "with β_reg — not β_den"),
        Mistake(_variant(fallback="denoised"),
                "Eq. 8 falls back to the region map: select(L_fused, L_reg, beta_fused, beta_reg)"),
        Mistake(_variant(swap_weights=True),
                "Eq. 6 weights L_den by β_den and L_reg by β_reg: union(L_den, L_reg, beta_den, beta_reg)"),
    ),
    visible=_union_cam_cases, hidden=_hidden_union_cam, about=_about,
    advice="one step per equation on the captured A, W and c = cap.class_idx: W_den (Eq. 1); L_den upsampled to "
           "x's size and normalised (Eq. 2-3); L_reg = region_cam(...) (§3.2); β_den, β_reg (Eq. 4-5); "
           "L_fused = union(L_den, L_reg, β_den, β_reg) (Eq. 6); β_fused (Eq. 7); "
           "return select(L_fused, L_reg, β_fused, β_reg) (Eq. 8)")


@feedback
def check_union_cam(fn: Callable, *, seed: int | None = None) -> bool:
    """Exercise 2 of notebook 05: ``fn(model, x, layer, class_idx, theta, mean, std) -> (cam, choices)`` equals
    the library's ``union_cam`` (Eq. 1-8) on the shapes models."""
    return run_exercise(UNION_CAM, fn, seed=seed)
