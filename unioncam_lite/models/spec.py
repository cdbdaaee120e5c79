"""What a CAM method needs to know about a model besides its weights, and class names."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..cams.reshape import ReshapeTransform


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
    #: for transformers, the target layer's tokens as (N, C, h, w) (:mod:`unioncam_lite.cams.reshape`); None for CNNs
    reshape_transform: ReshapeTransform | None = field(default=None, compare=False, repr=False)

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
        raise ValueError(f"unknown class name {name_or_index!r}: give an index 0..{n - 1} "
                         f"or a name such as {example!r}")
    names = ", ".join(repr(categories[i]) for i in partial[:8])
    raise ValueError(f"class name {name_or_index!r} is ambiguous ({names}...): give the full name or an index")
