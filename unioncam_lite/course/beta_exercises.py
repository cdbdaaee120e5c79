"""Exercise 1 of notebook 04: the score gain β of a map (Eq. 4-5), with the mask in pixel space.

β_X = f_c(L_X ⊙ I0) − f_c(I_b): the map (N, H, W) in [0, 1] multiplies the photograph *in pixel
space* (I0 = x·std + mean), the masked image and the black image I_b (pixels all 0) are normalised
again, (p − mean)/std, for the model, and f_c is the softmax probability of each image's class c —
what the library's :func:`~unioncam_lite.cams.unioncam.score_gain` computes (its ``target=None``).
The checker ``check_beta`` (re-exported by :mod:`.exercises`) compares the learner's
``my_beta(model, x, L, class_idx, mean, std) -> (N,)`` with it on a tiny CNN, on the shapes CNN and,
if the notebook passes them, on its own model and photograph; the hidden cases use the shapes CNN
on other images (non-square ones too), maps all ones / all zeros, and classes it did not predict.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from ..cams.masked import black_scores, class_scores, masked_scores
from ..cams.unioncam import score_gain
from . import hidden_inputs as hidden
from .checking import Args, Cases, Exercise, Mistake, feedback, run_exercise


def score_gain_pixels(model: nn.Module, x: torch.Tensor, L: torch.Tensor, class_idx: torch.Tensor,
                      mean: Sequence[float] | None, std: Sequence[float] | None) -> torch.Tensor:
    """Eq. 4-5 by the library, with ``my_beta``'s arguments: ``score_gain(model, x, L, class_idx, mean=, std=)``
    on the model itself (no batch-norm folding), β (N,) for maps L (N, H, W): the exercise's reference.
    (Notebook 04 falls back to ``score_gain`` itself and calls it with ``mean=``, ``std=`` by name.)"""
    return score_gain(model, x, L, class_idx.to(x.device), mean=mean, std=std, fuse=False)


def _beta_variant(*, mask: str = "pixels", black: str = "pixels", score: str = "probability",
                  subtract: bool = True, softmax_dim: int = 1) -> Callable[..., torch.Tensor]:
    """β computed by hand, right (the defaults) or with one known mistake:
    ``mask``: "pixels" (L ⊙ I0, normalised again), "model input" (L ⊙ x) or "unnormalised" (L ⊙ I0 fed as it is);
    ``black``: "pixels" (zeros in pixel space, normalised) or "zero input" (a zero model input: grey);
    ``score``: "probability" or "logit"; ``subtract``: the black score; ``softmax_dim``: over the classes (1)."""
    def variant(model: nn.Module, x: torch.Tensor, L: torch.Tensor, class_idx: torch.Tensor,
                mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
        m = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        s = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        pixels = x * s + m
        masked = {"pixels": (L[:, None] * pixels - m) / s, "model input": L[:, None] * x,
                  "unnormalised": L[:, None] * pixels}[mask]
        dark = torch.zeros_like(x) if black == "zero input" else (torch.zeros_like(x) - m) / s
        rows = torch.arange(x.shape[0], device=x.device)

        def f_c(inputs: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                out = model(inputs).float()
            out = out.softmax(dim=softmax_dim) if score == "probability" else out
            return out[rows, class_idx.to(x.device)]

        return f_c(masked) - f_c(dark) if subtract else f_c(masked)
    return variant


#: β computed step by step, as the notebook's solution does (the tests' independent check of the reference)
beta_by_hand = _beta_variant()


def _on_cpu(model: nn.Module) -> nn.Module:
    """The model itself if it is on the CPU, else a CPU copy: the checks compare float32 CPU results (a GPU
    computes convolutions in TF32, ~5e-4 apart), and the notebook's model stays where it is."""
    if all(p.device.type == "cpu" for p in model.parameters()):
        return model
    return copy.deepcopy(model).cpu()


class TinyCNN(nn.Module):
    """A small fixed CNN for a visible case (conv 3→4 → ReLU → global average → linear 4→5), seeded."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(42)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 5)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(0.3 * torch.randn(p.shape, generator=g))   # class probabilities of 0.07-0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))


IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _smooth_maps(n: int, h: int, w: int, g: torch.Generator) -> torch.Tensor:
    """(n, h, w) maps in [0, 1]: random 4×4 grids upsampled bilinearly and min-max normalised, like a CAM."""
    from ..cams.common import upsample_normalize

    return upsample_normalize(torch.rand(n, 4, 4, generator=g), (h, w))


def _shapes(n: int, seed: int) -> tuple[nn.Module, torch.Tensor]:
    from ..data.shapes import generate, to_tensor
    from ..models import load_model

    return load_model("shapes_cnn", "cpu")[0], to_tensor(generate(n, seed=seed)[0])


def _beta_cases(model: nn.Module | None = None, x: torch.Tensor | None = None, L: torch.Tensor | None = None,
                class_idx: torch.Tensor | None = None, mean: Sequence[float] | None = None,
                std: Sequence[float] | None = None) -> Cases:
    from ..data.shapes import MEAN, STD

    g = torch.Generator().manual_seed(17)
    pixels = torch.rand(2, 3, 8, 8, generator=g)
    tiny_x = (pixels - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    shapes_model, shapes_x = _shapes(2, 123)
    cases: Cases = [
        ("tiny CNN, 2 images 8×8, ImageNet mean/std",
         (TinyCNN().eval(), tiny_x, _smooth_maps(2, 8, 8, g), torch.tensor([1, 3]), IMAGENET_MEAN, IMAGENET_STD)),
        ("shapes CNN, 2 synthetic images 64×64", (shapes_model, shapes_x, _smooth_maps(2, 64, 64, g),
                                                   torch.tensor([0, 2]), MEAN, STD))]
    if model is not None and x is not None and L is not None and class_idx is not None:
        cases.append((f"your model, {x.shape[0]} image(s) {x.shape[-2]}×{x.shape[-1]}",
                      (_on_cpu(model), x.detach().cpu(), L.detach().cpu(), class_idx.detach().cpu(), mean, std)))
    return cases


def _hidden_beta(seed: int) -> Cases:
    """The shapes CNN: a real run's denoised maps for a class it did not predict (:func:`.hidden_inputs.shapes_run`),
    and three other images cropped to H ≠ W with maps all ones, all zeros and random, classes drawn."""
    from ..data.shapes import CLASSES, MEAN, STD

    d, run = hidden.Draw(seed, 41), hidden.shapes_run(seed)
    model, x = _shapes(2, int(seed))           # shapes_run's images
    r = run["result"]
    _, x3 = _shapes(3, int(seed) + 1)
    h, w = d.integer(40, 56), d.integer(40, 64)
    while w == h:
        w = d.integer(40, 64)
    x3 = x3[..., :h, :w].contiguous()
    g = torch.Generator().manual_seed(int(seed) * 7919 + 42)
    maps = torch.cat([torch.ones(1, h, w), torch.zeros(1, h, w), _smooth_maps(1, h, w, g)])
    classes = torch.tensor([d.integer(0, len(CLASSES) - 1) for _ in range(3)])
    return [("hidden: real denoised maps, shapes CNN, a class it did not predict",
             (model, x, r.denoised, r.class_idx, MEAN, STD)),
            (f"hidden: 3 images {h}×{w}, maps all ones, all zeros, random",
             (model, x3, maps, classes, MEAN, STD))]


def _about(args: Args) -> str:
    """The sizes, classes, the normalisation, and what the maps are (all ones: β = f_c(I0) − f_c(I_b))."""
    _, x, L, class_idx, mean, std = args
    h, w = x.shape[-2:]
    notes = [f"{x.shape[0]} image(s) of {h}×{w} (H {'≠' if h != w else '='} W), "
             f"classes {class_idx.tolist()}, mean {tuple(round(float(v), 3) for v in mean)}, "
             f"std {tuple(round(float(v), 3) for v in std)}"]
    for i, m in enumerate(L):
        if bool((m == 1).all()):
            notes.append(f"map {i} is all ones (β = f_c(I0) − f_c(I_b))")
        elif bool((m == 0).all()):
            notes.append(f"map {i} is all zeros (the masked image is black: β = 0)")
    return "; ".join(notes)


BETA = Exercise(
    "score gain β (Eq. 4-5)", score_gain_pixels, rtol=1e-5,
    forbidden=(score_gain, masked_scores, black_scores, class_scores),
    mistakes=(
        Mistake(_beta_variant(subtract=False),
                "you returned f_c(L ⊙ I0) alone: subtract the black image's score f_c(I_b) (Eq. 4)"),
        Mistake(_beta_variant(mask="model input"),
                "you multiplied the model input x by the map: x is normalised, (I − mean)/std, so a 0 there is the "
                "mean colour, not black. Multiply the pixels I0 = x·std + mean, then normalise the product again"),
        Mistake(_beta_variant(black="zero input"),
                "your black image is a zero model input — that is the image whose pixels equal the mean (grey). "
                "I_b is black in pixel space: zeros, normalised like any image, (0 − mean)/std"),
        Mistake(_beta_variant(mask="unnormalised", black="zero input"),
                "you gave the model pixel-space images: normalise the masked image and the black image, "
                "(p − mean)/std, before the model sees them"),
        Mistake(_beta_variant(mask="unnormalised"),
                "you gave the model the masked image in pixel space: normalise it, (L ⊙ I0 − mean)/std"),
        Mistake(_beta_variant(score="logit"),
                "you used the logits; the course's f_c is the softmax probability of class c "
                "(model(...).softmax(dim=1)), so that every β lies in [−1, 1]"),
        Mistake(_beta_variant(softmax_dim=0),
                "the softmax runs over the classes of each image (dim=1), not over the images (dim=0)"),
    ),
    visible=_beta_cases, hidden=_hidden_beta, about=_about,
    advice="I0 = x·std + mean (pixels), the product L[:, None] * I0, both it and the black image torch.zeros_like(I0) "
           "normalised back, (p − mean)/std; f_c = model(...).softmax(dim=1) at each image's own class "
           "(probs[torch.arange(N), class_idx]); β = f_c(masked) − f_c(black), shape (N,)")


@feedback
def check_beta(fn: Callable, model: nn.Module | None = None, x: torch.Tensor | None = None,
               L: torch.Tensor | None = None, class_idx: torch.Tensor | None = None,
               mean: Sequence[float] | None = None, std: Sequence[float] | None = None, *,
               seed: int | None = None) -> bool:
    """Exercise 1 of notebook 04: ``fn(model, x, L, class_idx, mean, std) -> (N,)`` = f_c(L ⊙ I0) − f_c(I_b)
    (Eq. 4-5), in pixel space, f_c the probability; with the notebook's own tensors as one more case if given."""
    real: tuple[Any, ...] = (model, x, L, class_idx, mean, std)   # a model and numbers besides the tensors
    return run_exercise(BETA, fn, *real, seed=seed)
