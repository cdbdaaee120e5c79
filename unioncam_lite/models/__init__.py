"""The models CAMs are computed on: :class:`ModelSpec`, the zoo and its loaders, target-layer search,
and the two small CNNs trained on the synthetic shapes.

May import: :mod:`unioncam_lite.cams` (layer lookup, eval mode), :mod:`unioncam_lite.data`
(where the shapes weights live, the shapes' classes), :mod:`unioncam_lite.device`. Never the
course or the applications.
"""
from ..cams.layers import eval_mode, resolve_layer
from .shapes_nets import ARCHITECTURES, ShapesCNN, ShapesVGG
from .spec import ModelSpec, class_index, imagenet_categories
from .target_layer import find_target_layer, transformer_target
from .zoo import MODELS, EfficientNetLite0, load_model, torchvision_classifiers, torchvision_weights_file

__all__ = ["ARCHITECTURES", "EfficientNetLite0", "MODELS", "ModelSpec", "ShapesCNN", "ShapesVGG", "class_index",
           "eval_mode", "find_target_layer", "imagenet_categories", "load_model", "resolve_layer", "transformer_target",
           "torchvision_classifiers", "torchvision_weights_file"]
