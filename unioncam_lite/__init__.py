"""unioncam-lite: UnionCAM (denoise, union, select) and its baselines, built step by step.

The public API, gathered from the layers below (applications → course → core, never the other
way; README "Layout"):

* core: :mod:`.cams` (the methods), :mod:`.models` (the zoo, target layers), :mod:`.data`
  (images, data sets, shapes), :mod:`.metrics`, :mod:`.viz`;
* course: :mod:`.course` (exercise checks, nbgrader, the notebooks' disk cache ``cached``);
* applications: :mod:`.apps` (the command line, the evaluation runner, the explorer) — not
  imported here, so ``import unioncam_lite`` stays light.
"""
from .cams import *  # noqa: F401,F403
from .cams import __all__ as _cams_all
from .course.cache import cached
from .data.images import load_image, load_samples, sample_images
from .data.masks import load_mask
from .device import default_device
from .models import ModelSpec, load_model, resolve_layer

__version__ = "0.1.0"
__all__ = [*_cams_all, "cached", "default_device", "load_image", "load_mask", "load_samples", "sample_images",
           "ModelSpec", "load_model", "resolve_layer"]
