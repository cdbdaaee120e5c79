"""unioncam-lite: UnionCAM (denoise, union, select) and its baselines, built step by step."""
from .cams import *  # noqa: F401,F403
from .cams import __all__ as _cams_all
from .cache import cached
from .device import default_device
from .images import load_image, load_samples, sample_images
from .models import ModelSpec, load_model, resolve_layer

__version__ = "0.1.0"
__all__ = [*_cams_all, "cached", "default_device", "load_image", "load_samples", "sample_images", "ModelSpec", "load_model",
           "resolve_layer"]
