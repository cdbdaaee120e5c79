"""Exercise 1 of notebook 03: the region map L_reg (UnionCAM §3.2) written pass by pass, and the
fallback of notebook 01's Exercise 1.

The learner writes ``my_region_map(model, x, A, class_idx, mean, std) -> (N, H, W)``: for each
channel k, the mask M_k = minmax(bilinear(A_k)), the masked image M_k ⊙ I0 in pixel space (I0 =
x·std + mean), normalised again for the model; its weight w_k = f_c(M_k ⊙ I0), the softmax
probability of class c (the paper's weighting, ``region_weights="paper"``); then
L_reg = minmax(bilinear(ReLU(Σ_k w_k A_k))). The reference is the library's ``region_cam``;
the known mistakes (:func:`region_variant`) are the same computation with one step changed.
The checker's model argument passes through the checks unchanged (only tensors are cloned):
:func:`_guarded` restores its train/eval flags and weights if the answer changed them.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..cams.common import normalize_maps, upsample
from ..cams.masked import black_scores, masked_scores
from ..cams.score import channel_scores, channel_weights, region_cam, region_map, scorecam
from ..cams.unioncam import union_cam
from .checking import Args, Cases, Exercise, Mistake, feedback, run_exercise
from .hidden_inputs import Draw

#: the real case of the notebook's check keeps this many channels (the strongest, and some constant ones)
REAL_CHANNELS, REAL_CONSTANT = 24, 8
#: known mistakes are looked for in cases of at most this many masked-image values (64 channels of 3×64×64)
DIAGNOSED_PIXELS = 64 * 3 * 64 * 64


def gradcam_weights(W: torch.Tensor) -> torch.Tensor:
    """Grad-CAM's channel weights (Selvaraju et al., Eq. 1): w_k = mean_ij W_k,ij, (N, K) — the
    fallback of notebook 01's Exercise 1 (the library computes them inside ``gradcam_map``)."""
    return W.mean(dim=(2, 3))


def region_map_reference(model: nn.Module, x: torch.Tensor, A: torch.Tensor, class_idx: torch.Tensor,
                         mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """The library's region map with the paper's weights, through the model itself (no BN folding)."""
    return region_cam(model, x, A, class_idx, mean=mean, std=std, region_weights="paper", fuse=False)


def _upsample(maps: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    if mode == "bilinear":
        return upsample(maps, size)
    flat = maps.reshape(-1, 1, *maps.shape[-2:])
    out = F.interpolate(flat, size=size, mode="nearest") if mode == "nearest" else \
        F.interpolate(flat, size=size, mode="bilinear", align_corners=True)
    return out.view(*maps.shape[:-2], *size)


_SCORED: dict[tuple, list] = {}


def _scored(model: nn.Module, x: torch.Tensor, A: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...],
            masked: str, minmax: str, mode: str) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Per image: the logits of its K masked images, of the black image, and the masks; the last few
    kept (the mistakes of one failing case share their forward passes)."""
    weights = float(sum(v.double().sum() for v in model.state_dict().values() if v.is_floating_point()))
    key = (id(model), weights, masked, minmax, mode, tuple(mean), tuple(std), x.shape, A.shape, float(x.double().sum()),
           float(A.double().sum()), float((x.double() ** 2).sum()), float((A.double() ** 2).sum()))
    if key in _SCORED:
        return _SCORED[key]
    if x[0].numel() * A.shape[1] > DIAGNOSED_PIXELS:   # a photograph: its small cases already gave the hint
        raise ValueError("too large to look for a known mistake in")
    size = (x.shape[-2], x.shape[-1])
    m = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    images = x * s + m
    rows = []
    with torch.no_grad():
        for n in range(x.shape[0]):
            up = _upsample(A[n].float(), size, mode)                             # (K, H, W)
            if minmax == "each":
                up = normalize_maps(up)
            elif minmax == "all":
                up = normalize_maps(up.flatten(0, 1)[None]).view_as(up)
            batch = {"pixels": (up[:, None] * images[n] - m) / s, "model": up[:, None] * x[n],
                     "unnormalised": up[:, None] * images[n]}[masked]
            black = model((torch.zeros_like(images[n:n + 1]) - m) / s).float()[0]
            rows.append((model(batch).float(), black, up))
    if len(_SCORED) >= 8:
        _SCORED.pop(next(iter(_SCORED)))
    _SCORED[key] = rows
    return rows


def region_variant(model: nn.Module, x: torch.Tensor, A: torch.Tensor, class_idx: torch.Tensor,
                   mean: tuple[float, ...], std: tuple[float, ...], *, masked: str = "pixels",
                   minmax: str = "each", mode: str = "bilinear", weights: str = "paper", relu: str = "low",
                   summed: str = "A", final: bool = True) -> torch.Tensor:
    """L_reg computed directly (all channels of an image in one batch), or one step changed: ``masked``
    ("pixels"; "model": M ⊙ x; "unnormalised": M ⊙ I0 not normalised again), ``minmax`` ("each"; "none";
    "all": over all channels together), ``mode`` of the upsampling ("bilinear"; "nearest"; "corners":
    align_corners=True), ``weights`` ("paper"; "logit"; "softmax": Score-CAM's; "gain": minus the black
    image's probability), ``relu`` ("low": before upsampling; "none"; "high": after), ``summed`` ("A";
    "masks": Σ w_k M_k), ``final`` min-max normalisation."""
    size = (x.shape[-2], x.shape[-1])
    rows = []
    for n, (out, black, up) in enumerate(_scored(model, x, A, mean, std, masked, minmax, mode)):
        c = int(class_idx[n])
        w = {"paper": out.softmax(1)[:, c], "logit": out[:, c], "softmax": torch.softmax(out[:, c] - black[c], 0),
             "gain": out.softmax(1)[:, c] - black.softmax(0)[c]}[weights]
        rows.append((w, up))
    if summed == "masks":
        total = torch.stack([(w[:, None, None] * up).sum(0) for w, up in rows])
        return normalize_maps(torch.relu(total)) if final else torch.relu(total)
    W = torch.stack([w for w, _ in rows])
    low = (W[:, :, None, None] * A.float()).sum(1)
    if relu == "high":
        high = torch.relu((W[:, :, None, None] * _upsample(A.float(), size, mode)).sum(1))
    else:
        high = _upsample(torch.relu(low) if relu == "low" else low, size, mode)
    return normalize_maps(high) if final else high


def _variant(**change: Any) -> Callable:
    return functools.partial(region_variant, **change)


# ---------------------------------------------------------------- the cases

@functools.lru_cache(maxsize=1)
def _shapes_cnn() -> tuple[nn.Module, tuple, tuple]:
    from ..data.shapes import MEAN, STD
    from ..models import load_model
    return load_model("shapes_cnn", "cpu")[0], MEAN, STD


def _small_model(seed: int, classes: int = 3) -> nn.Module:
    """A small random classifier (conv → ReLU → global average pool → linear), fixed by ``seed``."""
    torch.manual_seed(seed)   # (restored by the caller's fork_rng)
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(1),
                         nn.Linear(6, classes)).eval()


def _made(d: Draw, n: int, k: int, h: int, w: int, H: int, W: int, signed: bool) -> Args:
    """A hand-made case: a small random model, images in [0, 1] normalised by a drawn mean/std, A with
    one constant channel (all zeros: its mask is the black image)."""
    with torch.random.fork_rng(devices=[]):
        model = _small_model(d.integer(0, 10_000))
    mean = tuple(round(v, 3) for v in d.uniforms(0.3, 0.6, 3).tolist())
    std = tuple(round(v, 3) for v in d.uniforms(0.15, 0.3, 3).tolist())
    pixels = torch.rand(n, 3, H, W, generator=d.g)
    x = (pixels - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    A = d.tensor(n, k, h, w, positive=not signed)
    A[:, 0] = 0
    return (model, x, A, torch.randint(0, 3, (n,), generator=d.g), mean, std)


def _shapes(seed: int, n: int, layer: str, other_class: bool) -> Args:
    """The shapes CNN on ``n`` synthetic 64×64 images of ``seed``, for its class or (``other_class``) another."""
    from ..cams.capture import capture
    from ..data.shapes import CLASSES, generate, to_tensor
    model, mean, std = _shapes_cnn()
    x = to_tensor(generate(n, seed=seed)[0])
    with torch.no_grad():
        cls = model(x).argmax(1)
    if other_class:
        cls = (cls + 1 + seed % (len(CLASSES) - 1)) % len(CLASSES)
    A = capture(model, x, layer, cls, gradients=False).activations
    return (model, x, A, cls, mean, std)


def real_channels(A: torch.Tensor) -> torch.Tensor:
    """The real case's channels (of image 0's ranking): the REAL_CHANNELS strongest and up to REAL_CONSTANT constant."""
    flat = A[0].flatten(1)
    constant = (flat.amax(1) == flat.amin(1)).nonzero().flatten()[:REAL_CONSTANT]
    return torch.cat([flat.amax(1).argsort(descending=True)[:REAL_CHANNELS], constant]).sort().values


def _visible(model: nn.Module | None = None, x: torch.Tensor | None = None, A: torch.Tensor | None = None,
             class_idx: torch.Tensor | None = None, mean: tuple | None = None, std: tuple | None = None) -> Cases:
    d = Draw(0, 31)
    cases: Cases = [("hand-made model, 2 images 16x12, A 5x4x3 ≥ 0", _made(d, 2, 5, 4, 3, 16, 12, signed=False)),
                    ("hand-made model, A with both signs", _made(d, 1, 4, 3, 3, 12, 12, signed=True)),
                    ("shapes CNN, 2 images 64x64, features.block4", _shapes(0, 2, "features.block4", False))]
    if model is not None and x is not None and A is not None and class_idx is not None:
        keep = real_channels(A)
        label = f"real: {len(keep)} of the {A.shape[1]} channels (the strongest, and constant ones)"
        cases.append((label, (model, x.detach(), A.detach()[:, keep].clone(),
                              class_idx, tuple(mean or ()), tuple(std or ()))))
    return cases


def _hidden(seed: int) -> Cases:
    d = Draw(seed, 32)
    h = d.integer(2, 5)
    H = d.integer(10, 20)
    made = _made(d, d.integer(1, 3), d.integer(4, 10), h, h + d.integer(1, 2), H, H + d.integer(1, 6), signed=True)
    model, x, A, cls, mean, std = _shapes(1000 + int(seed), 1, "features.block3", True)
    keep = A[0].flatten(1).var(1).argsort(descending=True)[:d.integer(16, 32)]
    return [(f"hidden: hand-made model, {_size(made[1])} images, A {_size(made[2])} with both signs", made),
            ("hidden: shapes CNN, another image and class, features.block3 (16x16)",
             (model, x, A[:, keep].clone(), cls, mean, std))]


def _size(t: torch.Tensor) -> str:
    return "x".join(map(str, t.shape))


def _about(args: Args) -> str:
    model, x, A, cls, mean, std = args
    constant = int((A.flatten(2).amax(2) == A.flatten(2).amin(2)).sum())
    signs = "with negative values (the ReLU of the sum matters)" if bool((A < 0).any()) else "≥ 0"
    return (f"{type(model).__name__} model, x of {_size(x)} (N, 3, H, W), A of {_size(A)} (N, K, h, w) {signs}, "
            f"{constant} constant channel(s) (an all-zero mask: the black image), classes {cls.tolist()}, "
            f"mean {tuple(round(float(v), 3) for v in mean)}, std {tuple(round(float(v), 3) for v in std)}")


_PIXELS = ("the model sees images normalised by mean/std, but the mask multiplies the image in pixel space: "
           "I0 = x·std + mean, masked = M_k ⊙ I0, then (masked − mean)/std into the model")
REGION_MAP = Exercise(
    "region map (UnionCAM §3.2)", region_map_reference, rtol=1e-4,
    forbidden=(region_cam, channel_scores, region_map, channel_weights, masked_scores, black_scores, scorecam,
               union_cam),
    nan_hint="a constant channel (all zeros after the ReLU) has max = min, so min-max divides 0 by 0: its mask is "
             "all zeros (normalize_maps does this; or guard the division)",
    mistakes=(
        Mistake(_variant(masked="model"), "you masked the model's input x (already normalised by mean/std): "
                                          + _PIXELS),
        Mistake(_variant(masked="unnormalised"), "you gave the model the masked image in pixel space: normalise "
                                                 "it again, (M_k ⊙ I0 − mean) / std, as the model's inputs are"),
        Mistake(_variant(minmax="none"), "your masks are the upsampled activations without min-max normalisation: "
                                         "M_k = (up(A_k) − min) / (max − min) spans [0, 1] (normalize_maps)"),
        Mistake(_variant(minmax="all"), "min-max normalise each channel's mask on its own (its own min and max "
                                        "over H×W), not all channels together"),
        Mistake(_variant(mode="nearest"), "you upsampled with nearest-neighbour interpolation: the masks (and the "
                                          "map) are upsampled bilinearly (upsample, or F.interpolate(..., "
                                          "mode='bilinear', align_corners=False))"),
        Mistake(_variant(mode="corners"), "use align_corners=False (the library's upsample), not True"),
        Mistake(_variant(weights="logit"), "your weights are the class logits: the paper's f_c is the softmax "
                                           "probability of class c, model(...).softmax(dim=1)[:, c]"),
        Mistake(_variant(weights="softmax"), "these are Score-CAM's weights (a softmax over channels of the logit "
                                             "gains, Exercise 2): the paper weights each channel by the class "
                                             "probability of its masked image itself"),
        Mistake(_variant(weights="gain"), "you subtracted the black image's probability: the paper's weight is "
                                          "f_c(M_k ⊙ I0) itself, with no baseline"),
        Mistake(_variant(relu="none"), "the ReLU is missing: L = ReLU(Σ_k w_k A_k), so positions where the sum is "
                                       "negative become 0 before upsampling"),
        Mistake(_variant(relu="high"), "take the weighted sum and its ReLU at the layer's resolution (h, w), then "
                                       "upsample and normalise (as Grad-CAM in notebook 01)"),
        Mistake(_variant(summed="masks"), "you summed the weighted masks M_k: the map weights the activations, "
                                          "Σ_k w_k A_k"),
        Mistake(_variant(final=False), "now min-max normalise each image's upsampled map to [0, 1]"),
    ),
    visible=_visible, hidden=_hidden, about=_about,
    advice="per channel: M_k = minmax(bilinear(A_k)) to H×W; score (M_k ⊙ I0 − mean)/std with I0 = x·std + mean; "
           "w_k = softmax probability of class_idx[n]; L = minmax(bilinear(ReLU(Σ_k w_k A_k)))")


def _guarded(fn: object) -> object:
    """``fn``, with the model's train/eval flags and weights restored after each call if it changed them."""
    if not callable(fn):
        return fn

    @functools.wraps(fn)
    def run(model: nn.Module, *rest: object) -> object:
        flags = [(m, m.training) for m in model.modules()]
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        try:
            return fn(model, *rest)
        finally:
            if any(m.training != was for m, was in flags):
                print("  note: your function changed the model's train/eval mode (restored): leave it as given")
            for m, was in flags:
                m.training = was
            now = model.state_dict()
            if any(not torch.equal(now[k], v) for k, v in state.items()):
                print("  note: your function changed the model's weights or batch-norm statistics (restored)")
                with torch.no_grad():
                    for k, v in state.items():
                        now[k].copy_(v)
    return run


@feedback
def check_region_map(fn: Callable, model: nn.Module | None = None, x: torch.Tensor | None = None,
                     A: torch.Tensor | None = None, class_idx: torch.Tensor | None = None,
                     mean: tuple | None = None, std: tuple | None = None, *, seed: int | None = None) -> bool:
    """Notebook 03, Exercise 1: ``fn(model, x, A, class_idx, mean, std) -> (N, H, W)``, the region map with the
    paper's weights w_k = f_c(M_k ⊙ I0) (the real case keeps 32 channels of A, for speed)."""
    real: tuple = (model, x, A, class_idx, mean, std)   # (run_exercise passes non-tensors through unchanged)
    return run_exercise(REGION_MAP, _guarded(fn), *real, seed=seed)
