"""Group-CAM (Zhang et al., 2021, "Group-CAM: Group Score-Weighted Visual Explanations").

1. Grad-CAM weights w_k = mean_ij ∂y_c/∂A_k,ij scale the activations.
2. The K channels are split into G consecutive groups; each group's sum, ReLU'd, upsampled
   and min-max normalised, is a mask M_g (Eq. 3-4).
3. Each mask keeps the image where M_g is high and shows a blurred copy elsewhere,
   I_g = M_g ⊙ I0 + (1 − M_g) ⊙ blur(I0); its score is
   s_g = ReLU(p_c(I_g) − p_c(blur(I0))) with p_c the softmax probability (Eq. 5-6).
4. L = ReLU(Σ_g s_g M_g), normalised (Eq. 7).

As in the authors' code: G = 32, Gaussian blur with kernel 51 and σ = 50 (the kernel shrinks to
2·min(H, W) − 1 for inputs under 26 pixels). The blur is taken
in pixel space (reflect padding); since it is linear and the normalisation is per channel
affine, this equals blurring the normalised tensor, as the authors do.
"""
from __future__ import annotations

import torch
from torch import nn

from .capture import capture
from .common import ClassIdx, Layer, Normalization, PixelSpace, blur, normalize_maps, upsample
from .layers import eval_mode
from .masked import auto_batch_size
from .options import CamOptions
from .reshape import ReshapeTransform
from .targets import ClassProbability, Target, target_rows


def groupcam(model: nn.Module, x: torch.Tensor, target_layer: Layer, class_idx: ClassIdx = None, *, groups: int = 32,
             mean: Normalization = None, std: Normalization = None, batch_size: int | None = None,
             target: Target | None = None, reshape_transform: ReshapeTransform | None = None) -> torch.Tensor:
    """Group-CAM maps (N, H, W) in [0, 1]: one backward pass and G + 1 forward passes per image.

    ``target``: what is explained, for the gradients and the scores (:mod:`.targets`); default the
    logit (gradients) and the probability (scores) of ``class_idx``, as in the paper."""
    cap = capture(model, x, target_layer, class_idx, target=target, reshape_transform=reshape_transform)
    A = cap.activations.float()
    weighted = cap.require_gradients().float().mean(dim=(2, 3), keepdim=True) * A
    groups = min(groups, A.shape[1])
    masks = torch.stack([g.sum(1) for g in weighted.chunk(groups, dim=1)], dim=1).relu()  # (N, G, h, w)
    masks = normalize_maps(upsample(masks, x.shape[-2:]))  # (N, G, H, W)
    pixels = PixelSpace(mean, std, x)
    f_c: Target = ClassProbability(cap.class_idx) if target is None else target
    n, g = masks.shape[:2]
    CamOptions(batch_size=batch_size)   # the same check of batch_size as every other method's
    bs = batch_size or auto_batch_size(model, x)
    with torch.inference_mode(), eval_mode(model):
        image = pixels.to_pixels(x).float()    # blur and blend in fp32, forward in the input's dtype
        blurred = blur(image, 51, 50.0)
        base = target_rows(f_c, torch.arange(n, device=x.device))(
            model(pixels.to_model_(blurred.to(x.dtype, copy=True)))).float()  # (N,)
        flat = masks.flatten(0, 1)[:, None]  # (N*G, 1, H, W)
        owner = torch.arange(n, device=x.device).repeat_interleave(g)
        scores = torch.empty(n * g, device=x.device)
        for start in range(0, n * g, bs):
            sl = slice(start, start + bs)
            m, o = flat[sl], owner[sl]
            composite = (m * image[o] + (1 - m) * blurred[o]).to(x.dtype)
            scores[sl] = target_rows(f_c, o)(model(pixels.to_model_(composite))).float()
    weights = (scores.view(n, g) - base[:, None]).relu()
    cam = (weights[:, :, None, None] * masks).sum(1).relu()
    return normalize_maps(cam)
