"""UnionCAM (Hu et al., 2024): denoise, union, select — each step a function of its own.

Equation numbers follow the paper; ⊙ is the element-wise product (a map times an image scales
every pixel by the map's value there), min-max normalisation maps a map's minimum to 0 and its
maximum to 1:

* Eq. 1   ``denoise_gradients``: per channel, gradients below the θ-th percentile are zeroed.
* Eq. 2-3 ``denoised_cam``: L_den = Σ_k α_k ⊙ ReLU(W_k) ⊙ A_k, α_k,ij = 1/Σ_mn ReLU(W_k,mn)
  where W_k,ij > 0 and 0 elsewhere. As in the paper, there is no ReLU around the sum (Grad-CAM
  has one); at a post-ReLU layer the summands are non-negative anyway, at a layer with negative
  activations L_den can be negative and the min-max normalisation maps its minimum to 0.
* §3.2    ``region_cam`` (from :mod:`.score`): the region map L_reg = ReLU(Σ_k w_k A_k) with
  w_k = f_c(M_k ⊙ I0), "the prediction score is used as the weight of the feature map" (the
  original Score-CAM code's weighting; ``region_weights="softmax"`` gives Score-CAM's softmax of
  logit gains instead, which this package used before).
* Eq. 4, 5, 7 ``score_gain``: β_X = f_c(L_X ⊙ I0) − f_c(I_b).
* Eq. 6   ``union``: L_fused = β_den·L_den + β_reg·L_reg (then min-max normalised), with each β
  clipped at 0 (a course choice, below).
* Eq. 8   ``select``: L_fused where β_fused > β_reg, else L_reg, per image.

Choices where the paper is silent (the course's own, each overridable or labelled):

* f_c is the **softmax probability** of class c by default, so every β is in [−1, 1] and
  comparable across images (the paper writes a score y_c = f_c(I0) ∈ ℝ; ``target=`` gives any
  other f_c, e.g. the logit, and then it is also the region map's score);
* **Eq. 6 with a negative β.** β weights the *normalised* maps. Taken literally, a negative β
  (the map lowers the class score below the black image's) subtracts its map, and when both are
  negative the min-max normalisation turns the sum upside down: the background lights up. The
  course clips the weights at 0: w_den = max(β_den, 0), w_reg = max(β_reg, 0), L_fused =
  normalise(w_den·L_den + w_reg·L_reg), and L_fused = L_reg when both are 0. So one negative β
  leaves the other map alone, and Eq. 8 then compares like with like.

Not a choice: the mask multiplies the image **in pixel space** (before the model's mean/std
normalisation) and I_b is the black image in pixel space, because the paper's model sees images
in [0, 1] (§4.1: "normalized to the range [0,1]. No additional preprocessing was applied"); so
"remove everything" really means black, not the dataset-mean grey a zero tensor would be. With
``mean``/``std`` of ``None`` the input is taken to be those [0, 1] pixels, the paper's input.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import nn

from .capture import Capture, capture
from .common import (
    ClassIdx,
    Layer,
    Normalization,
    PixelSpace,
    check_input,
    check_theta,
    class_idx_tensor,
    normalize_maps,
    upsample_normalize,
    weighted_sum,
)
from .fingerprint import model_fingerprint
from .fold import inference_model
from .gradient import warn_theta_has_no_effect
from .layers import resolve_layer
from .masked import black_scores, masked_scores
from .options import CamOptions, RegionWeights, resolve_options
from .reshape import ReshapeTransform
from .score import region_cam
from .targets import ClassLogit, ClassProbability, ClassSum, Target, check_target

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .options import OptionFields


def denoise_gradients(W: torch.Tensor, theta: float = 10.0) -> torch.Tensor:
    """Eq. 1 (AMD): zero every gradient below its channel's θ-th percentile, per image and channel.

    The percentile is ``torch.quantile`` with linear interpolation (NumPy's default) over
    the h·w values of each channel; values equal to the threshold are kept, so θ = 0 leaves
    W unchanged and θ = 100 keeps only each channel's maximum.
    """
    theta = check_theta(theta)
    flat = W.flatten(2)
    threshold = torch.quantile(flat.float(), theta / 100.0, dim=-1, keepdim=True).to(W.dtype)
    return torch.where(flat < threshold, torch.zeros_like(flat), flat).view_as(W)


def pixel_alpha(W: torch.Tensor) -> torch.Tensor:
    """Eq. 3: α_k,ij = 1 / Σ_mn ReLU(W_k,mn) where W_k,ij > 0, else 0."""
    positive = torch.relu(W)
    total = positive.sum(dim=(2, 3), keepdim=True)
    return torch.where(W > 0, 1.0 / total.clamp_min(torch.finfo(W.dtype).tiny), torch.zeros_like(W))


def denoised_cam(A: torch.Tensor, W_denoised: torch.Tensor) -> torch.Tensor:
    """Eq. 2: L_den = Σ_k α_k ⊙ ReLU(W_k) ⊙ A_k at feature resolution, (N, h, w); no outer ReLU (the paper's)."""
    return weighted_sum(pixel_alpha(W_denoised) * torch.relu(W_denoised), A, relu=False)


def score_gain(model: nn.Module, x: torch.Tensor, cam: torch.Tensor, class_idx: torch.Tensor, *,
               mean: Normalization = None, std: Normalization = None, black: torch.Tensor | None = None,
               fuse: bool = True, target: Target | None = None) -> torch.Tensor:
    """Eq. 4, 5, 7: β = f_c(L ⊙ I0) − f_c(I_b), f_c the softmax probability of class c, or ``target``.

    ``cam`` is (N, H, W) or (S, N, H, W) (S maps per image scored in one batch); returns
    (N,) or (S, N). ``black`` may pass a precomputed f_c(I_b) of shape (N,). ``fuse``: batch
    norms folded for these passes (exact up to float rounding, see :mod:`.masked`).
    """
    pixels = PixelSpace(mean, std, x)
    f_c: Target = ClassProbability(class_idx.to(x.device)) if target is None else target
    if black is None:
        black = black_scores(model, x, f_c, pixels, fuse=fuse)
    maps = cam if cam.ndim == 4 else cam[None]
    s, n = maps.shape[:2]
    image_index = torch.arange(n, device=x.device).repeat(s)
    scores = masked_scores(model, x, maps.flatten(0, 1), image_index, f_c, pixels, normalize=False,
                           options=CamOptions(batch_size=2 * n * s, fuse=fuse))
    gain = scores.view(s, n) - black
    return gain if cam.ndim == 4 else gain[0]


def union(L_den: torch.Tensor, L_reg: torch.Tensor, beta_den: torch.Tensor, beta_reg: torch.Tensor) -> torch.Tensor:
    """Eq. 6 (AMU): L_fused = normalise(w_den·L_den + w_reg·L_reg), w = max(β, 0); maps (N, H, W), β (N,).

    Clipping the weights at 0 is the course's choice (the paper writes β_den·L_den + β_reg·L_reg and
    says nothing about a negative β): a map that lowers the class score below the black image's gets
    no weight, rather than a negative one that the normalisation would turn upside down when both
    are negative. When both weights are 0, L_fused = L_reg (already in [0, 1]).
    """
    w_den = beta_den.clamp_min(0)[:, None, None]
    w_reg = beta_reg.clamp_min(0)[:, None, None]
    fused = normalize_maps(w_den * L_den + w_reg * L_reg)
    return torch.where((w_den == 0) & (w_reg == 0), L_reg, fused)


def select(L_fused: torch.Tensor, L_reg: torch.Tensor, beta_fused: torch.Tensor,
           beta_reg: torch.Tensor) -> tuple[torch.Tensor, list[str]]:
    """Eq. 8 (AMS): per image, L_fused if β_fused > β_reg, otherwise L_reg; also the choice names."""
    fused_wins = beta_fused > beta_reg
    cam = torch.where(fused_wins[:, None, None], L_fused, L_reg)
    return cam, ["fused" if w else "region" for w in fused_wins.tolist()]


@dataclass
class UnionResult:
    """Everything UnionCAM computed for N images; maps are (N, H, W) in [0, 1], betas (N,)."""

    cam: torch.Tensor
    denoised: torch.Tensor
    region: torch.Tensor
    fused: torch.Tensor
    beta_denoised: torch.Tensor
    beta_region: torch.Tensor
    beta_fused: torch.Tensor
    chosen: list[str]
    class_idx: torch.Tensor
    theta: float
    probs: torch.Tensor = field(repr=False)  # softmax probabilities of the unmasked images (N, C)

    def __len__(self) -> int:
        return len(self.chosen)


@dataclass
class _ThetaFree:
    """The θ-independent part of a UnionCAM run, cached per (images, layer, classes)."""

    capture: Capture
    region: torch.Tensor
    beta_region: torch.Tensor
    black: torch.Tensor
    f_c: Target


class UnionCAM:
    """UnionCAM for one model and target layer, with a cache for interactive use.

    Everything that does not depend on θ (the forward/backward capture, the K masked passes
    of the region map and its β) is computed once per (images, classes) and kept, so a θ
    slider re-runs only Eq. 1-3 and two batched forward passes (β_den, β_fused).
    The cache is emptied whenever the model changes (see :func:`model_fingerprint`, checked at
    every call), and :meth:`clear` empties it by hand.

    ``mean``/``std``: the model's input normalisation, so masks act in pixel space (see the
    module docstring); ``None`` treats the input as pixel space already (the paper's [0, 1] input).
    ``options`` / ``overrides`` (:class:`.options.CamOptions`) go to the region pass, among them
    ``region_weights`` (``"paper"`` by default, or ``"softmax"``: :mod:`.score`); ``reshape_transform`` maps a
    transformer layer's tokens to (N, C, h, w) (:mod:`.reshape`); ``fuse`` also to the β
    passes, which are never approximated.
    """

    def __init__(self, model: nn.Module, target_layer: Layer, *, mean: Normalization = None,
                 std: Normalization = None, cache_size: int = 16, options: CamOptions | None = None,
                 reshape_transform: ReshapeTransform | None = None, **overrides: Unpack[OptionFields]):
        self.model = model
        self.layer = resolve_layer(model, target_layer)
        self.reshape_transform = reshape_transform
        self.mean, self.std = mean, std
        opts = resolve_options(options, **overrides)
        #: the region map's channel weights, "paper" (default) or "softmax" (:mod:`.score`)
        self.region_weights: RegionWeights = opts.region_weights or "paper"
        self.options = opts.replace(region_weights=self.region_weights)
        self.fuse = self.options.fuse
        self.cache_size = cache_size
        self._cache: dict[tuple, _ThetaFree] = {}
        self._fingerprint: tuple | None = None

    def clear(self) -> None:
        """Forget every cached θ-free result."""
        self._cache.clear()
        self._fingerprint = None

    @staticmethod
    def _key(x: torch.Tensor, class_idx: ClassIdx, target: Target | None = None) -> tuple:
        classes = None if class_idx is None else tuple(class_idx_tensor(class_idx).tolist())
        digest = hash(x.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())  # any dtype
        # a ready target is described by its classes; any other callable only by identity
        explained = repr(target) if isinstance(target, (ClassLogit, ClassSum)) else id(target)
        return (tuple(x.shape), str(x.dtype), str(x.device), digest, classes, explained)

    def theta_free(self, x: torch.Tensor, class_idx: ClassIdx = None, target: Target | None = None) -> _ThetaFree:
        """Capture, region map and β_reg for these images and classes (cached while the model is unchanged)."""
        check_input(x)            # before the cache key reads x's bytes
        check_target(target)
        fingerprint = model_fingerprint(self.model)
        if fingerprint != self._fingerprint:
            self._cache.clear()
            self._fingerprint = fingerprint
        key = self._key(x, class_idx, target)
        if key not in self._cache:
            with inference_model(self.model, self.fuse):   # one BN-folded copy for all passes below
                self._cache[key] = self._compute_theta_free(x, class_idx, target)
            while len(self._cache) > self.cache_size:
                self._cache.pop(next(iter(self._cache)))
        return self._cache[key]

    def _compute_theta_free(self, x: torch.Tensor, class_idx: ClassIdx, target: Target | None) -> _ThetaFree:
        cap = capture(self.model, x, self.layer, class_idx, target=target, reshape_transform=self.reshape_transform)
        region = region_cam(self.model, x, cap.activations, cap.class_idx, mean=self.mean, std=self.std,
                            options=self.options, target=target)
        f_c: Target = ClassProbability(cap.class_idx) if target is None else target   # Eq. 4-7's f_c
        black = black_scores(self.model, x, f_c, PixelSpace(self.mean, self.std, x), fuse=self.fuse)
        beta_reg = score_gain(self.model, x, region, cap.class_idx, mean=self.mean, std=self.std, black=black,
                              fuse=self.fuse, target=f_c)
        return _ThetaFree(cap, region, beta_reg, black, f_c)

    def __call__(self, x: torch.Tensor, class_idx: ClassIdx = None, theta: float = 10.0, *,
                 target: Target | None = None) -> UnionResult:
        """UnionCAM for these images: f_c is ``target`` (:mod:`.targets`) if given — for the gradients,
        the region map's weights and every β — else the logit (gradients) and the probability (region
        weights, β; the logit for ``region_weights="softmax"``) of ``class_idx`` (default: each image's
        predicted class)."""
        theta = check_theta(theta)
        with inference_model(self.model, self.fuse):   # one BN-folded copy for the whole call
            return self._call(x, class_idx, theta, target)

    def _call(self, x: torch.Tensor, class_idx: ClassIdx, theta: float, target: Target | None) -> UnionResult:
        base = self.theta_free(x, class_idx, target)
        cap = base.capture

        def gain(cam: torch.Tensor) -> torch.Tensor:   # Eq. 4 / 7 with this call's black score
            return score_gain(self.model, x, cam, cap.class_idx, mean=self.mean, std=self.std, black=base.black,
                              fuse=self.fuse, target=base.f_c)

        warn_theta_has_no_effect(cap.require_gradients(), self.model, self.layer, theta)  # once per model/layer
        W = denoise_gradients(cap.require_gradients(), theta)
        denoised = upsample_normalize(denoised_cam(cap.activations, W), x.shape[-2:])
        beta_den = gain(denoised)
        fused = union(denoised, base.region, beta_den, base.beta_region)
        beta_fused = gain(fused)
        cam, chosen = select(fused, base.region, beta_fused, base.beta_region)
        return UnionResult(cam, denoised, base.region, fused, beta_den, base.beta_region, beta_fused, chosen,
                           cap.class_idx, theta, cap.logits.float().softmax(dim=1))


def union_cam(model: nn.Module, x: torch.Tensor, target_layer: Layer, class_idx: ClassIdx = None,
              theta: float = 10.0, *, mean: Normalization = None, std: Normalization = None,
              options: CamOptions | None = None, target: Target | None = None,
              reshape_transform: ReshapeTransform | None = None, **overrides: Unpack[OptionFields]) -> UnionResult:
    """UnionCAM in one call (Eq. 1-8): a :class:`UnionResult` with ``cam``, the three maps, the βs and ``chosen``.

    ``target``: f_c (:meth:`UnionCAM.__call__`); ``reshape_transform``: a transformer's tokens as
    (N, C, h, w) (:mod:`.reshape`). Exact by default (:class:`.options.CamOptions`);
    ``top_k`` and ``autocast`` are the named approximations; ``region_weights="softmax"`` gives
    the region map Score-CAM's weights instead of the paper's (:mod:`.score`). Cost: one forward+backward, ≤ K
    masked passes, 4 more forwards.
    """
    check_theta(theta)
    explainer = UnionCAM(model, target_layer, mean=mean, std=std, options=resolve_options(options, **overrides),
                         reshape_transform=reshape_transform)
    return explainer(x, class_idx, theta, target=target)
