"""Region-based CAM: Score-CAM (Wang et al., CVPR-W 2020), and the region map L_reg of UnionCAM.

For each channel k the activation map A_k is upsampled to the input size and min-max
normalised into a mask M_k (min-max: (v − min) / (max − min), so the mask spans [0, 1]); the
masked image M_k ⊙ I0 (⊙: element-wise product, here every pixel scaled by the mask) goes
through the model, the scores weight the channels, and L = ReLU(Σ_k w_k A_k). Two weightings
(``region_weights``, :func:`channel_weights`):

* ``"softmax"``, Score-CAM's paper and ``scorecam``'s default: w_k = softmax_k( y_c(M_k ⊙ I0) −
  y_c(I_b) ) with y_c the class logit, as torch-cam's and pytorch-grad-cam's ScoreCAM compute it
  (subtracting the black-image score does not change a softmax over channels, but it is Score-CAM's
  "increase of confidence", so it is kept);
* ``"paper"``, UnionCAM's default: w_k = f_c(M_k ⊙ I0), the class score itself — UnionCAM §3.2,
  "the prediction score is used as the weight of the feature map" — with the same f_c as UnionCAM's
  β (the softmax probability of class c by default, or ``target=``). No black score is subtracted and
  no softmax over channels is taken. This is what the original Score-CAM code computes
  (haofanwang/Score-CAM ``cam/scorecam.py``: the softmax probability of the masked input times the
  upsampled activation map, summed, then ReLU and min-max) and what Xplain-CAM's UnionCAM uses
  (its ScoreCAM). The weights multiply the **activation maps A_k**, as the original code and
  Score-CAM's Eq. do; Xplain-CAM multiplies the normalised masks M_k instead (which gives each
  channel the same range). Then ReLU of the sum, as both do (with probabilities ≥ 0 and post-ReLU
  activations it changes nothing).

The sum is taken at feature resolution, then upsampled and min-max normalised: the same map as
upsampling each A_k first (bilinear upsampling is linear), up to the ReLU's order, which only
matters where the sum is negative.

Exact savings (``skip``, default on; options in :mod:`.options`): a constant channel (e.g. all zero after ReLU) gives
an all-zero mask, so its masked image *is* the black image and its score is the black score,
with no forward pass; channels whose normalised maps are identical are forwarded once.
The map is the same as without skipping (tests/cams/test_score.py checks it). ``fuse=True``
(default) runs the masked passes through a copy of the model with batch norms folded into
the convolutions: the same function up to float rounding (see :mod:`.fold`).

Approximations, off by default: ``top_k`` keeps only the k channels of largest activation
variance (Faster Score-CAM); ``autocast`` (``torch.bfloat16``/``torch.float16``) runs the masked
passes in reduced precision (tests/cams/test_options_and_speed.py: correlation > 0.99 with fp32).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from .capture import capture
from .common import ClassIdx, Layer, Normalization, PixelSpace, normalize_maps, upsample_normalize, weighted_sum
from .fold import inference_model
from .masked import black_scores, masked_scores
from .options import CamOptions, RegionWeights, resolve_options
from .reshape import ReshapeTransform
from .targets import ClassProbability, Target

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .options import OptionFields


def channel_scores(model: nn.Module, x: torch.Tensor, A: torch.Tensor, class_idx: torch.Tensor | Target,
                   pixels: PixelSpace, *, probs: bool = False, options: CamOptions | None = None,
                   **overrides: Unpack[OptionFields]) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores y_c(M_k ⊙ I0) for all channels of all images, and the black scores y_c(I_b).

    Returns ``(scores (N, K), black (N,))``; masks of all images share the same batches.
    ``class_idx``: a class per image (its logit, or ``probs``: its probability) or a target
    (:mod:`.targets`). ``options`` / ``overrides``: :class:`.options.CamOptions` (``top_k`` is
    applied by the caller).
    """
    opts = resolve_options(options, **overrides)
    n, k = A.shape[:2]
    low = normalize_maps(A.float()).flatten(0, 1)  # (N*K, h, w), same masks once upsampled
    image_index = torch.arange(n, device=A.device).repeat_interleave(k)
    black = black_scores(model, x, class_idx, pixels, probs=probs, fuse=opts.fuse)
    if not opts.skip:
        scores = masked_scores(model, x, low, image_index, class_idx, pixels, probs=probs, options=opts)
        return scores.view(n, k), black
    scores = black[image_index].clone()
    live = low.flatten(1).amax(1) > 0  # a constant channel normalises to all zeros -> black image
    rows = torch.cat([image_index[live, None].to(low.dtype), low[live].flatten(1)], dim=1)
    unique, inverse = torch.unique(rows, dim=0, return_inverse=True)
    unique_scores = masked_scores(model, x, unique[:, 1:].view(-1, *low.shape[1:]), unique[:, 0].long(),
                                  class_idx, pixels, probs=probs, options=opts)
    scores[live] = unique_scores[inverse]
    return scores.view(n, k), black


def top_k_channels(A: torch.Tensor, k: int | None) -> torch.Tensor:
    """The k channels of largest spatial variance per image, (N, k, h, w) — an approximation.

    Faster Score-CAM's selection: low-variance channels give near-constant masks that add
    little. ``None`` (or k ≥ K) keeps every channel.
    """
    if k is None or k >= A.shape[1]:
        return A
    if k < 1:
        raise ValueError(f"top_k must be a positive number of channels, got {k}")
    idx = A.flatten(2).float().var(dim=2).topk(k, dim=1).indices
    return A.gather(1, idx[:, :, None, None].expand(-1, -1, *A.shape[2:]))


def channel_weights(scores: torch.Tensor, black: torch.Tensor, how: RegionWeights = "softmax") -> torch.Tensor:
    """The region map's channel weights (N, K) from the scores s_k = f_c(M_k ⊙ I0) (N, K) and f_c(I_b) (N,).

    ``"softmax"`` (Score-CAM): softmax_k(s_k − s_b), with s the logit; ``"paper"`` (UnionCAM §3.2):
    s_k itself, with s UnionCAM's f_c (the probability by default).
    """
    if how == "paper":
        return scores.float()
    if how == "softmax":
        return torch.softmax(scores.float() - black[:, None].float(), dim=1)
    raise ValueError(f"region weights {how!r}: give 'paper' or 'softmax'")


def region_map(A: torch.Tensor, scores: torch.Tensor, black: torch.Tensor,
               how: RegionWeights = "softmax") -> torch.Tensor:
    """Region map at feature resolution from channel scores: ReLU(Σ_k w_k A_k), w from :func:`channel_weights`
    (default Score-CAM's softmax, so ``region_map(A, s, b)`` is Score-CAM's map)."""
    return weighted_sum(channel_weights(scores, black, how), A.float())


def region_cam(model: nn.Module, x: torch.Tensor, A: torch.Tensor, class_idx: torch.Tensor, *,
               mean: Normalization = None, std: Normalization = None, options: CamOptions | None = None,
               target: Target | None = None, **overrides: Unpack[OptionFields]) -> torch.Tensor:
    """UnionCAM's region map L_reg from captured activations A: (N, H, W) in [0, 1].

    ``region_weights`` (in ``options`` or as a keyword): ``"paper"`` (default, w_k = f_c(M_k ⊙ I0)
    with f_c the probability of ``class_idx`` or ``target``) or ``"softmax"`` (Score-CAM: softmax
    of the gains of the logit of ``class_idx``, or of ``target``); see the module docstring.
    ``options`` / ``overrides``: :class:`.options.CamOptions` (exact by default; ``top_k`` and
    ``autocast`` are the approximations).
    """
    opts = resolve_options(options, **overrides)
    how: RegionWeights = opts.region_weights or "paper"
    pixels = PixelSpace(mean, std, x)
    A = top_k_channels(A, opts.top_k)
    scored: torch.Tensor | Target
    if target is not None:
        scored = target
    elif how == "paper":
        scored = ClassProbability(class_idx.to(x.device))   # UnionCAM's f_c, the same as the β's
    else:
        scored = class_idx.to(x.device)                     # Score-CAM: the class logit
    scores, black = channel_scores(model, x, A, scored, pixels, options=opts)
    return upsample_normalize(region_map(A, scores, black, how), x.shape[-2:])


def scorecam(model: nn.Module, x: torch.Tensor, target_layer: Layer, class_idx: ClassIdx = None, *,
             mean: Normalization = None, std: Normalization = None, options: CamOptions | None = None,
             target: Target | None = None, reshape_transform: ReshapeTransform | None = None,
             **overrides: Unpack[OptionFields]) -> torch.Tensor:
    """Score-CAM maps (N, H, W) in [0, 1]; one plain forward pass, then ≤ K masked passes per image.

    ``target``: what is explained (:mod:`.targets`; default the logit of ``class_idx``);
    ``reshape_transform``: a transformer's tokens as (N, C, h, w) (:mod:`.reshape`);
    ``options`` / ``overrides`` as in :func:`region_cam`, except that ``region_weights`` defaults
    to ``"softmax"`` (Score-CAM's; ``"paper"`` gives the original Score-CAM code's probability weights).
    """
    opts = resolve_options(options, **overrides)
    opts = opts.replace(region_weights=opts.region_weights or "softmax")
    with inference_model(model, opts.fuse):   # one BN-folded copy for the black and the masked passes
        cap = capture(model, x, target_layer, class_idx, gradients=False, target=target,
                      reshape_transform=reshape_transform)
        return region_cam(model, x, cap.activations, cap.class_idx, mean=mean, std=std, options=opts,
                          target=target)
