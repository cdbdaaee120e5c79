"""Why does this map look like this? ``diagnose(model, x, layer)`` measures, for one capture,
the properties of A and W that decide what the methods can show, each with one line of what it
means for them; ``diagnose_capture`` does the same from a capture already made (the explorer's).

Many reports against CAM libraries are not bugs but these properties: XGrad-CAM equal to
Grad-CAM and θ without effect behind a global-average-pool head (constant gradients), Eq. 1
removing nothing but zeros behind a max pool, all-zero maps from all-negative sums, Score-CAM
skipping dead and duplicate channels.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .capture import Capture, _layer_name, capture
from .common import ClassIdx, Layer, normalize_maps
from .gradient import constant_in_space, gradcam_map, layercam_map, xgradcam_map
from .reshape import ReshapeTransform
from .targets import Target
from .unioncam import denoise_gradients, denoised_cam


def _is_constant(maps: torch.Tensor) -> torch.Tensor:
    """Per map (N,): True when it normalises to all zeros (constant, or a ReLU'd all-negative sum)."""
    return normalize_maps(maps.float()).flatten(1).amax(1) == 0


@dataclass
class Diagnosis:
    """What one capture says about the methods, per image (N,) where it varies by image."""

    layer: str
    shape: tuple[int, ...]                 # A: (N, K, h, w)
    constant_gradient_channels: torch.Tensor   # (N,) share of channels whose W is constant in space
    zero_gradients: torch.Tensor           # (N,) share of exactly-zero gradients
    negative_gradients: torch.Tensor       # (N,) share of negative gradients
    negative_activations: torch.Tensor     # (N,) share of negative activations
    dead_channels: torch.Tensor            # (N,) channels with a constant activation map (Score-CAM: no pass)
    duplicate_channels: torch.Tensor       # (N,) live channels whose normalised map repeats another's
    theta_changes_map: torch.Tensor        # (N,) does Eq. 1 at θ = 50 change L_den (Eq. 2-3)?
    xgradcam_equals_gradcam: torch.Tensor  # (N,) same normalised map up to 1e-5
    constant_maps: dict[str, torch.Tensor]  # method -> (N,) the map normalises to all zeros

    def findings(self, image: int = 0) -> list[str]:
        """One line per finding for one image: the measurement, then what it means for the methods."""
        i = image
        k = self.shape[1]
        lines = [f"layer {self.layer!r}: A is {k}×{self.shape[2]}×{self.shape[3]} per image"]
        const = float(self.constant_gradient_channels[i])
        if float(self.zero_gradients[i]) == 1.0:
            lines.append("every gradient is exactly zero: the score does not depend on this layer here (or the "
                         "model's head is all zeros, as in a freshly built torchvision ViT), so no gradient method "
                         "can show anything; Score-CAM's masked passes still can")
            const = 0.0   # the lines below about constant and zero gradients would say nothing more
        elif const == 1.0:
            lines.append("gradients are constant over positions in every channel (a global-average-pool head): "
                         "XGrad-CAM equals Grad-CAM, LayerCAM is Grad-CAM's positive part, and θ (Eq. 1) "
                         "has no effect on UnionCAM's denoised map")
        elif const > 0:
            lines.append(f"{const:.0%} of the channels have gradients constant over positions: "
                         "Eq. 1 changes nothing in those channels")
        zero = float(self.zero_gradients[i])
        if 0 < zero < 1:
            lines.append(f"{zero:.0%} of the gradients are exactly zero (e.g. a max pool after the layer passes "
                         f"the gradient to one position per window): up to θ ≈ {100 * zero:.0f} the percentile "
                         "of Eq. 1 is 0 or below, so it removes only values Eq. 2-3 ignore")
        if not bool(self.theta_changes_map[i]):
            lines.append("θ = 50 leaves the denoised map L_den unchanged: the θ slider will not change UnionCAM")
        if bool(self.xgradcam_equals_gradcam[i]) and const < 1.0:
            lines.append("XGrad-CAM's map equals Grad-CAM's here")
        lines.append(f"{float(self.negative_gradients[i]):.0%} of the gradients are negative: only the positive "
                     "ones enter Eq. 2-3 and LayerCAM")
        negative = float(self.negative_activations[i])
        if negative > 0:
            lines.append(f"{negative:.0%} of the activations are negative (a layer before its ReLU): Grad-CAM's "
                         "ReLU'd sum can be all zero, and L_den (Eq. 2, no outer ReLU) can be negative")
        dead, dup = int(self.dead_channels[i]), int(self.duplicate_channels[i])
        if dead or dup:
            lines.append(f"{dead} of {k} channels are dead (constant maps) and {dup} repeat another channel's map: "
                         f"Score-CAM and the region map need {k - dead - dup} masked passes, not {k}")
        else:
            lines.append(f"all {k} channels are live and distinct: Score-CAM and the region map need {k} masked "
                         "passes")
        for method, flat in self.constant_maps.items():
            if bool(flat[i]):
                lines.append(f"{method}'s map is constant here, so it normalises to all zeros (no localisation, "
                             "not a NaN): try another layer or class")
        return lines

    def __str__(self) -> str:
        return "\n".join(f"image {i}:\n  " + "\n  ".join(self.findings(i)) for i in range(self.shape[0]))


def diagnose(model: nn.Module, x: torch.Tensor, target_layer: Layer, class_idx: ClassIdx = None, *,
             target: Target | None = None, reshape_transform: ReshapeTransform | None = None) -> Diagnosis:
    """Measure, for these images, class and layer, the properties of A and W = ∂y_c/∂A that decide what
    Grad-CAM, XGrad-CAM, LayerCAM, Score-CAM and UnionCAM (Eq. 1-3) can show. One forward+backward pass."""
    cap = capture(model, x, target_layer, class_idx, target=target, reshape_transform=reshape_transform)
    name = target_layer if isinstance(target_layer, str) else _layer_name(model, target_layer)
    return diagnose_capture(cap, name)


def diagnose_capture(cap: Capture, layer: str) -> Diagnosis:
    """:func:`diagnose` from a capture already made (with gradients), e.g. one an app also draws
    Grad-CAM from; ``layer`` names the layer in the findings."""
    A, W = cap.activations.float(), cap.require_gradients().float()
    n, k = A.shape[:2]
    low = normalize_maps(A).flatten(2)                       # (N, K, h·w), the masks Score-CAM would use
    live = low.amax(-1) > 0
    duplicates = torch.zeros(n, dtype=torch.long)
    for i in range(n):
        rows = low[i][live[i]]
        duplicates[i] = rows.shape[0] - torch.unique(rows, dim=0).shape[0] if rows.numel() else 0
    L_den = denoised_cam(A, W)
    changed = ~torch.isclose(normalize_maps(denoised_cam(A, denoise_gradients(W, 50.0))), normalize_maps(L_den),
                             atol=1e-5).flatten(1).all(1)
    grad, xgrad = normalize_maps(gradcam_map(A, W)), normalize_maps(xgradcam_map(A, W))
    maps = {"Grad-CAM": gradcam_map(A, W), "LayerCAM": layercam_map(A, W), "UnionCAM's L_den": L_den}
    return Diagnosis(
        layer=layer, shape=tuple(A.shape),
        constant_gradient_channels=constant_in_space(W).float().mean(1).cpu(),
        zero_gradients=(W == 0).flatten(1).float().mean(1).cpu(),
        negative_gradients=(W < 0).flatten(1).float().mean(1).cpu(),
        negative_activations=(A < 0).flatten(1).float().mean(1).cpu(),
        dead_channels=(~live).sum(1).cpu(), duplicate_channels=duplicates,
        theta_changes_map=changed.cpu(),
        xgradcam_equals_gradcam=torch.isclose(grad, xgrad, atol=1e-5).flatten(1).all(1).cpu(),
        constant_maps={m: _is_constant(v).cpu() for m, v in maps.items()},
    )
