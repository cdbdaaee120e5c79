"""CAM methods. All take ``(model, x, target_layer, class_idx=None)`` and return (N, H, W) maps in [0, 1]."""

from .capture import Capture, capture, eval_mode
from .common import normalize_maps, resolve_class_idx, upsample_normalize
from .gradient import gradcam, gradcam_map, gradcampp, gradcampp_map, layercam, layercam_map, xgradcam, xgradcam_map
from .group import groupcam
from .score import region_cam, region_map, scorecam
from .unioncam import (UnionCAM, UnionResult, denoise_gradients, denoised_cam, pixel_alpha, score_gain, select, union,
                    union_cam)

#: Display name -> function(model, x, target_layer, class_idx, mean=None, std=None) -> (N, H, W)
METHODS = {
    "gradcam": ("Grad-CAM", gradcam),
    "gradcampp": ("Grad-CAM++", gradcampp),
    "xgradcam": ("XGrad-CAM", xgradcam),
    "layercam": ("LayerCAM", layercam),
    "scorecam": ("Score-CAM", scorecam),
    "groupcam": ("Group-CAM", groupcam),
    "unioncam": ("UnionCAM", None),
}


def compute_cam(method: str, model, x, target_layer, class_idx=None, *, mean=None, std=None, theta: float = 10.0,
                batch_size: int | None = None):
    """Run one method by its short name (see ``METHODS``); pixel-space methods get ``mean``/``std``
    and ``batch_size`` (masked images per forward pass; None chooses it automatically)."""
    if method not in METHODS:
        raise ValueError(f"unknown CAM method {method!r}: choose from {', '.join(METHODS)}")
    if method == "unioncam":
        return union_cam(model, x, target_layer, class_idx, theta, mean=mean, std=std, batch_size=batch_size).cam
    if method in ("scorecam", "groupcam"):
        return METHODS[method][1](model, x, target_layer, class_idx, mean=mean, std=std, batch_size=batch_size)
    return METHODS[method][1](model, x, target_layer, class_idx)


__all__ = ["Capture", "capture", "eval_mode", "normalize_maps", "resolve_class_idx", "upsample_normalize",
           "gradcam", "gradcampp", "xgradcam", "layercam", "gradcam_map", "gradcampp_map", "xgradcam_map",
           "layercam_map", "scorecam", "groupcam", "region_cam", "region_map", "UnionCAM", "UnionResult", "denoise_gradients",
           "denoised_cam", "pixel_alpha", "score_gain", "union", "select", "union_cam", "METHODS", "compute_cam"]
