"""The exercises of notebook 06: Average Drop / Increase per image, and the energy pointing game.

* ``my_drop_increase(model, x, cams, class_idx, mean, std) -> (drop, increase)``, Grad-CAM++'s
  terms as :func:`~unioncam_lite.metrics.faithfulness.drop_increase_per_image` computes them:
  y = f_c(I0) and o = f_c(L ⊙ I0) with f_c the softmax probability (the course's choice) and the
  map multiplying the image in pixel space; drop = max(0, y − o) / y, increase = o − y > 1e-6.
  :func:`check_drop_increase` checks the two outputs as two exercises (two ✓/✗ groups).
* ``my_energy_pointing_game(cams, masks) -> (N,)``, Σ L·m / Σ L per image (Score-CAM §5.2),
  :func:`~unioncam_lite.metrics.localisation.energy_pointing_game`.

Visible and hidden cases run the shapes CNN on 64×64 synthetic images with their exact object
masks (fast on a CPU); the hidden ones draw images, maps and classes from the seed.
"""
from __future__ import annotations

import contextlib
import functools
import io
from collections.abc import Callable

import torch

from ..cams.masked import masked_scores
from ..metrics.faithfulness import INCREASE_TOL, average_drop_increase, drop_increase_per_image
from ..metrics.localisation import background_energy, energy_pointing_game
from .checking import Args, Cases, Exercise, Mistake, feedback, run_exercise
from .hidden_inputs import Draw, shapes_run

SALT_DROP, SALT_EPG = 61, 62


@functools.lru_cache(maxsize=4)
def shapes_case(seed: int, n: int) -> tuple:
    """The shapes CNN, ``n`` synthetic images from ``seed`` (normalised), their predicted and runner-up
    classes, exact object masks (n, 64, 64) bool and Grad-CAM maps of the predicted class."""
    from ..cams.gradient import gradcam
    from ..data.shapes import generate, to_tensor
    from ..models import load_model

    model, spec = load_model("shapes_cnn", "cpu")
    images, _, gt = generate(n, seed=int(seed))
    x = to_tensor(images)
    with torch.no_grad():
        order = model(x).argsort(dim=1, descending=True)
    return model, x, order[:, 0], order[:, 1], torch.from_numpy(gt), gradcam(model, x, spec.target_layer, order[:, 0])


# ---------------------------------------------------------------- Average Drop / Increase (notebook 06)

def y_and_o(model: torch.nn.Module, x: torch.Tensor, cams: torch.Tensor, class_idx: torch.Tensor,
            mean: tuple, std: tuple, *, pixel_space: bool = True, logits: bool = False
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """y = f_c(I0) and o = f_c(L ⊙ I0) per image, written out; the mistakes' variants (the normalised
    tensor masked instead of the pixels, logits instead of probabilities)."""
    m = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    masked = (cams[:, None] * (x * s + m) - m) / s if pixel_space else cams[:, None] * x
    rows = torch.arange(x.shape[0], device=x.device)
    with torch.no_grad():
        f = (lambda z: model(z).float()) if logits else (lambda z: model(z).float().softmax(dim=1))
        return f(x)[rows, class_idx], f(masked)[rows, class_idx]


def _library(part: int) -> Callable:
    def reference(model: torch.nn.Module, x: torch.Tensor, cams: torch.Tensor, c: torch.Tensor, mean: tuple,
                  std: tuple) -> torch.Tensor:
        return drop_increase_per_image(model, x, cams, c, mean=mean, std=std)[part]
    return reference


def _variant(formula: Callable, **how: bool) -> Callable:
    """A mistake: ``formula(y, o)`` on y and o computed as :func:`y_and_o` does with ``how``."""
    def variant(model: torch.nn.Module, x: torch.Tensor, cams: torch.Tensor, c: torch.Tensor, mean: tuple,
                std: tuple) -> torch.Tensor:
        return formula(*y_and_o(model, x, cams, c, mean, std, **how))
    return variant


def answer_part(fn: object, part: int) -> object:
    """The learner's ``fn(model, x, cams, class_idx, mean=, std=)``, keeping part 0 (drop) or 1 (increase)
    of the pair it returns; anything but a pair is refused with a sentence saying what to return."""
    if not callable(fn):
        return fn                       # check() says so
    name = ("drop", "increase")[part]

    def part_of(model: torch.nn.Module, x: torch.Tensor, cams: torch.Tensor, c: torch.Tensor, mean: tuple,
                std: tuple) -> object:
        got = fn(model, x, cams, c, mean=mean, std=std)
        if type(got) not in (tuple, list) or len(got) != 2:
            raise TypeError(f"returned {type(got).__name__}, expected a pair: `return drop, increase` "
                            "(two tensors of shape (N,))")
        return got[part]
    part_of.__name__ = f"{getattr(fn, '__name__', 'answer')} ({name})"
    return part_of


def real_case(label: str, *args: object) -> Cases:
    """The case of the learner's real tensors, if all were given."""
    return [(label, args)] if all(a is not None for a in args) else []


def shapes_masks(seed: int) -> torch.Tensor:
    """The exact object masks of the two images of ``shapes_run(seed)``."""
    from ..data.shapes import generate

    return torch.from_numpy(generate(2, seed=int(seed))[2])


def _fmt(t: torch.Tensor) -> str:
    return "[" + ", ".join(f"{float(v):.4g}" for v in t.flatten()[:6]) + (", …]" if t.numel() > 6 else "]")


def about_drop(args: Args) -> str:
    """The images, and y and o computed the library's way."""
    model, x, cams, c, mean, std = args
    y, o = y_and_o(model, x, cams, c, mean, std)
    rose = int((o - y > INCREASE_TOL).sum())
    return (f"{x.shape[0]} images {x.shape[-2]}×{x.shape[-1]}, classes {c.tolist()}; y_c = {_fmt(y)}, "
            f"o_c = {_fmt(o)} (probabilities); the masked image raises p_c on {rose} of them"
            + ("; an all-ones map keeps the image: o = y up to float rounding"
               if bool((cams.flatten(1) == 1).all(1).any()) else ""))


def _drop_cases(model: torch.nn.Module | None = None, x: torch.Tensor | None = None,
                cams: torch.Tensor | None = None, class_idx: torch.Tensor | None = None,
                mean: tuple | None = None, std: tuple | None = None) -> Cases:
    from ..data.shapes import MEAN, STD

    net, xs, first, second, gt, grad = shapes_case(606, 4)
    mixed = torch.stack([gt[0].float(), torch.ones_like(grad[1]), torch.zeros_like(grad[2]), grad[3]])
    return [("shapes CNN: object mask, all ones, all zeros, Grad-CAM", (net, xs, mixed, first, MEAN, STD)),
            ("shapes CNN: object masks, the runner-up class", (net, xs, gt.float(), second, MEAN, STD)),
            *real_case("real images and maps", model, x, cams, class_idx, mean, std)]


def hidden_drop(seed: int) -> Cases:
    """Shapes CNN images from ``seed``: Grad-CAM maps, random smooth maps with an all-ones one, object masks."""
    from ..cams.common import normalize_maps, upsample
    from ..data.shapes import MEAN, STD

    d = Draw(seed, SALT_DROP)
    n = d.integer(3, 5)
    net, x, first, second, gt, grad = shapes_case(10_000 + int(seed), n)
    smooth = normalize_maps(upsample(d.tensor(n, d.integer(3, 8), d.integer(3, 8), positive=True), (64, 64)))
    smooth[d.integer(0, n - 1)] = 1.0
    which = torch.where(d.uniforms(0, 1, n) < 0.5, first, second)
    return [(f"hidden: {n} shapes images, Grad-CAM maps", (net, x, grad, first, MEAN, STD)),
            (f"hidden: {n} shapes images, smooth random maps, one all ones", (net, x, smooth, first, MEAN, STD)),
            (f"hidden: {n} shapes images, object masks, some runner-up classes",
             (net, x, gt.float(), which, MEAN, STD))]


_PERCENT = "the per-image drop is a fraction in [0, 1]: the × 100 comes only in the Average Drop (a mean, in %)"
DROP = Exercise(
    "Average Drop: the per-image drop max(0, y − o) / y", _library(0), rtol=1e-4,
    forbidden=(drop_increase_per_image, average_drop_increase, masked_scores),
    nan_hint="y is a probability (never 0 for a softmax): divide by y, not by o or by y − o",
    mistakes=(
        Mistake(_variant(lambda y, o: (y - o) / y),
                "your drop is negative where the masked image is *more* confident (o > y): Grad-CAM++ counts "
                "no drop there, max(0, y − o) — e.g. (y - o).clamp_min(0) / y"),
        Mistake(_variant(lambda y, o: (y - o).clamp_min(0) / o),
                "you divided by o (the masked image's probability): the drop is relative to the original "
                "image's y, max(0, y − o) / y"),
        Mistake(_variant(lambda y, o: (y - o).clamp_min(0) / y, pixel_space=False),
                "you multiplied the *normalised* tensor x by the map: a 0 there is the mean colour, not "
                "black. Go to pixel space first (pixels = x · std + mean), multiply by the map, normalise again"),
        Mistake(_variant(lambda y, o: (y - o).clamp_min(0)), "that is the absolute drop max(0, y − o): divide by y"),
        Mistake(_variant(lambda y, o: 100 * (y - o).clamp_min(0) / y), _PERCENT),
        Mistake(_variant(lambda y, o: (y - o).clamp_min(0) / y, logits=True),
                "you used the logits: the course's f_c is the softmax probability of class c "
                "(model(x).softmax(dim=1)), as in the notebook's definition"),
        Mistake(_variant(lambda y, o: ((y - o).clamp_min(0) / y).mean()),
                "one value per image: return the (N,) drops, the Average Drop is their mean (taken later)"),
    ),
    visible=_drop_cases, hidden=hidden_drop, about=about_drop,
    advice="y = softmax(model(x))[i, c_i]; the masked input = (L · (x·std + mean) − mean) / std with L of shape "
           "(N, 1, H, W); o = the same probability on it; drop = (y − o).clamp_min(0) / y")

INCREASE = Exercise(
    "Average Increase: did the map raise the probability (o > y)?", _library(1),
    forbidden=DROP.forbidden,
    mistakes=(
        Mistake(_variant(lambda y, o: o > y),
                "right but for float rounding: an all-ones map gives o = y up to ~1e-7, and o > y then counts "
                "rounding as an increase. Count it only when o − y > 1e-6 (the library's INCREASE_TOL)"),
        Mistake(_variant(lambda y, o: y - o > INCREASE_TOL), "the comparison is reversed: an increase is o > y"),
        Mistake(_variant(lambda y, o: o - y > INCREASE_TOL, pixel_space=False),
                "you multiplied the *normalised* tensor x by the map: go to pixel space first "
                "(pixels = x · std + mean), multiply by the map, normalise again"),
        Mistake(_variant(lambda y, o: o - y > INCREASE_TOL, logits=True),
                "you compared logits: the course's f_c is the softmax probability of class c"),
        Mistake(_variant(lambda y, o: (o - y > INCREASE_TOL).float().mean()),
                "one value per image (True/False): the Average Increase is their mean, taken later"),
    ),
    visible=_drop_cases, hidden=hidden_drop, about=about_drop,
    advice="increase = o − y > 1e-6 per image, a bool tensor of shape (N,) (o and y as for the drop)")


# ---------------------------------------------------------------- the energy pointing game (notebook 06)

def about_energy(no_energy: float) -> Callable[[Args], str]:
    """What is special about an energy case (maps, masks): the sizes, the masks' area, the maps without energy
    (whose score is ``no_energy``, not NaN)."""
    def about(args: Args) -> str:
        cams, masks = args
        empty_map = int((cams.flatten(1).sum(1) == 0).sum())
        area = masks.flatten(1).float().mean(1)
        return (f"{cams.shape[0]} maps of {cams.shape[-2]}×{cams.shape[-1]}; masks cover {_fmt(area)} of each image"
                + (f"; {empty_map} map(s) all zero (no energy: {no_energy:g}, not NaN)" if empty_map else ""))
    return about


def _pointing_game(cams: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    return masks.flatten(1).gather(1, cams.flatten(1).argmax(1, keepdim=True)).squeeze(1).float()


# image 0: energy 1.75, 1.25 of it inside the mask; image 1: all its energy outside
HAND_CAM = torch.tensor([[[1.0, 0.5], [0.25, 0.0]], [[0.0, 0.0], [0.0, 2.0]]])
HAND_MASK = torch.tensor([[[True, False], [True, False]], [[True, True], [False, False]]])


def random_boxes(d: Draw | None, n: int, h: int, w: int) -> torch.Tensor:
    """A box per image: drawn from ``d``, or fixed (the visible case)."""
    masks = torch.zeros(n, h, w, dtype=torch.bool)
    for i in range(n):
        y0, x0 = (d.integer(0, h - 2), d.integer(0, w - 2)) if d is not None else (i % h, 0)
        masks[i, y0:d.integer(y0 + 1, h) if d else h, x0:d.integer(x0 + 1, w) if d else 1 + i % w] = True
    return masks


def _epg_cases(cams: torch.Tensor | None = None, masks: torch.Tensor | None = None) -> Cases:
    maps = torch.rand(3, 5, 7, generator=torch.Generator().manual_seed(62))
    maps[1] = 0.0
    return [("hand-made 2×2×2: 1.25 of 1.75 inside, then none", (HAND_CAM, HAND_MASK)),
            ("random 3×5×7, boxes, one map all zero", (maps, random_boxes(None, 3, 5, 7))),
            *real_case("real maps and masks", cams, masks)]


def hidden_epg(seed: int) -> Cases:
    """Random maps (H ≠ W) with random boxes and one all-zero map; real shapes maps with exact masks."""
    d = Draw(seed, SALT_EPG)
    n, h = d.integer(2, 5), d.integer(4, 12)
    w = h + d.integer(1, 5)
    maps = d.tensor(n, h, w, positive=True) ** 2
    maps[d.integer(0, n - 1)] = 0.0
    r = shapes_run(seed)["result"]
    return [(f"hidden: random {n}×{h}×{w}, boxes, one map all zero", (maps, random_boxes(d, n, h, w))),
            ("hidden: real maps, shapes CNN, exact masks", (r.cam, shapes_masks(seed))),
            ("hidden: real region maps, shapes CNN, exact masks", (r.region, shapes_masks(seed)))]


EPG = Exercise(
    "energy pointing game Σ L·m / Σ L", energy_pointing_game, forbidden=(energy_pointing_game, background_energy),
    nan_hint="an all-zero map has no energy: 0 / 0. Guard the division (total.clamp_min(1e-12)); the library "
             "gives such a map 0",
    mistakes=(
        Mistake(lambda L, m: (L * m).sum() / L.sum(),
                "one value per image: sum over each image's pixels (flatten(1).sum(1)), not over the whole batch"),
        Mistake(lambda L, m: ((L * m).sum() / L.sum()).expand(L.shape[0]),
                "every image got the same value: sum over each image's pixels (flatten(1).sum(1)), not the batch"),
        Mistake(lambda L, m: (L * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1),
                "you divided by the mask's area (the mean of L inside the object): the energy pointing game "
                "divides by the map's total energy Σ L"),
        Mistake(lambda L, m: 1 - energy_pointing_game(L, m),
                "that is the share *outside* the mask (the background energy): Σ L·m / Σ L with m the object"),
        Mistake(_pointing_game,
                "that is the original pointing game (is the maximum inside the mask?): the energy version "
                "sums L over the mask, Σ L·m / Σ L"),
    ),
    visible=_epg_cases, hidden=hidden_epg, about=about_energy(0),
    advice="per image: (cams * masks).flatten(1).sum(1) / cams.flatten(1).sum(1), the division guarded for "
           "all-zero maps")


# ---------------------------------------------------------------- the checkers

@feedback
def check_drop_increase(fn: Callable, model: torch.nn.Module | None = None, x: torch.Tensor | None = None,
                        cams: torch.Tensor | None = None, class_idx: torch.Tensor | None = None,
                        mean: tuple | None = None, std: tuple | None = None, *, seed: int | None = None) -> bool:
    """Exercise 06.1: ``fn(model, x, cams, class_idx, mean=, std=) -> (drop (N,), increase (N,))``,
    drop = max(0, y − o) / y and increase = o − y > 1e-6 with probabilities y = f_c(I0), o = f_c(L ⊙ I0)."""
    real = (model, x, cams, class_idx, mean, std)
    lines = io.StringIO()
    with contextlib.redirect_stdout(lines):
        drop = run_exercise(DROP, answer_part(fn, 0), *real, seed=seed)
    print(lines.getvalue(), end="")
    if "not implemented yet" in lines.getvalue():   # a blank answer: said once, not once per part
        return False
    increase = run_exercise(INCREASE, answer_part(fn, 1), *real, seed=seed)
    return drop and increase


@feedback
def check_energy_pointing_game(fn: Callable, cams: torch.Tensor | None = None, masks: torch.Tensor | None = None,
                               *, seed: int | None = None) -> bool:
    """Exercise 06.2: ``fn(cams (N, H, W), masks (N, H, W) bool) -> (N,)`` = Σ L·m / Σ L per image."""
    return run_exercise(EPG, fn, cams, masks, seed=seed)
