"""The CAM methods: pure functions, tensors in, maps out. Every method takes
``(model, x, target_layer, class_idx=None)`` and returns (N, H, W) maps in [0, 1].

Holds: capture (hooks, A and W), layers (lookup, eval mode), common (normalisation, pixel
space), the gradient CAMs, Score-CAM and Group-CAM, UnionCAM (Eq. 1-8), options (one
:class:`CamOptions` for the masked passes), masked (the batched masked passes), fold (BN
folding), fingerprint ("has this model changed"), registry (the methods by name), diagnose
(why a map looks as it does), targets (what is explained: f_c as any function of the output), reshape
(transformer tokens as feature maps).

May import: torch, torchvision, numpy. Nothing else of the package: it is the bottom layer.
"""
from .capture import Capture, capture
from .common import normalize_maps, resolve_class_idx, upsample_normalize
from .diagnose import Diagnosis, diagnose
from .gradient import (
                       ThetaHasNoEffectWarning,
                       gradcam,
                       gradcam_map,
                       gradcampp,
                       gradcampp_map,
                       layercam,
                       layercam_map,
                       xgradcam,
                       xgradcam_map,
)
from .group import groupcam
from .layers import eval_mode
from .options import CamOptions
from .registry import METHODS, Method, compute_cam, default_methods, get_method, register
from .reshape import ReshapeTransform, swin_reshape, vit_reshape
from .score import region_cam, region_map, scorecam
from .targets import ClassLogit, ClassProbability, ClassSum, Target, select_output
from .unioncam import (
                       UnionCAM,
                       UnionResult,
                       denoise_gradients,
                       denoised_cam,
                       pixel_alpha,
                       score_gain,
                       select,
                       union,
                       union_cam,
)

__all__ = ["Capture", "capture", "eval_mode", "normalize_maps", "resolve_class_idx", "upsample_normalize",
           "gradcam", "gradcampp", "xgradcam", "layercam", "gradcam_map", "gradcampp_map", "xgradcam_map",
           "layercam_map", "scorecam", "groupcam", "region_cam", "region_map", "UnionCAM", "UnionResult",
           "denoise_gradients", "denoised_cam", "pixel_alpha", "score_gain", "union", "select", "union_cam",
           "CamOptions", "Diagnosis", "diagnose", "METHODS", "Method", "compute_cam", "default_methods", "get_method",
           "register", "ClassLogit", "ClassProbability", "ClassSum", "Target", "select_output",
           "ReshapeTransform", "swin_reshape", "vit_reshape", "ThetaHasNoEffectWarning"]
