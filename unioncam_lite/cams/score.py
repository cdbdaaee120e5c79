"""Region-based CAM: Score-CAM (Wang et al., CVPR-W 2020), the region map L_reg of UnionCAM.

For each channel k the activation map A_k is upsampled to the input size and min-max
normalised into a mask M_k; the masked image M_k ⊙ I0 goes through the model and

    w_k = softmax_k( y_c(M_k ⊙ I0) − y_c(I_b) ),      L = ReLU(Σ_k w_k A_k)

with y_c the class logit, as torch-cam's ScoreCAM computes it (subtracting the black-image
score does not change a softmax over channels, but it is the paper's "increase of
confidence", so it is kept).

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
from .options import CamOptions, resolve_options
from .reshape import ReshapeTransform
from .targets import Target

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


def region_map(A: torch.Tensor, scores: torch.Tensor, black: torch.Tensor) -> torch.Tensor:
    """Score-CAM map at feature resolution from channel scores: ReLU(Σ_k softmax_k(s_k − s_b) A_k)."""
    weights = torch.softmax(scores - black[:, None], dim=1)
    return weighted_sum(weights, A.float())


def region_cam(model: nn.Module, x: torch.Tensor, A: torch.Tensor, class_idx: torch.Tensor, *,
               mean: Normalization = None, std: Normalization = None, options: CamOptions | None = None,
               target: Target | None = None, **overrides: Unpack[OptionFields]) -> torch.Tensor:
    """UnionCAM's region map L_reg (Score-CAM) from captured activations A: (N, H, W) in [0, 1].

    The channel scores are ``target``'s (:mod:`.targets`), by default the logit of ``class_idx``.
    ``options`` / ``overrides``: :class:`.options.CamOptions` (exact by default; ``top_k`` and
    ``autocast`` are the approximations).
    """
    opts = resolve_options(options, **overrides)
    pixels = PixelSpace(mean, std, x)
    A = top_k_channels(A, opts.top_k)
    scored = class_idx.to(x.device) if target is None else target
    scores, black = channel_scores(model, x, A, scored, pixels, options=opts)
    return upsample_normalize(region_map(A, scores, black), x.shape[-2:])


def scorecam(model: nn.Module, x: torch.Tensor, target_layer: Layer, class_idx: ClassIdx = None, *,
             mean: Normalization = None, std: Normalization = None, options: CamOptions | None = None,
             target: Target | None = None, reshape_transform: ReshapeTransform | None = None,
             **overrides: Unpack[OptionFields]) -> torch.Tensor:
    """Score-CAM maps (N, H, W) in [0, 1]; one plain forward pass, then ≤ K masked passes per image.

    ``target``: what is explained (:mod:`.targets`; default the logit of ``class_idx``);
    ``reshape_transform``: a transformer's tokens as (N, C, h, w) (:mod:`.reshape`);
    ``options`` / ``overrides`` as in :func:`region_cam`.
    """
    opts = resolve_options(options, **overrides)
    with inference_model(model, opts.fuse):   # one BN-folded copy for the black and the masked passes
        cap = capture(model, x, target_layer, class_idx, gradients=False, target=target,
                      reshape_transform=reshape_transform)
        return region_cam(model, x, cap.activations, cap.class_idx, mean=mean, std=std, options=opts,
                          target=target)
