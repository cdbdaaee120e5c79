"""Which images an evaluation runs on: a data set on disk (ImageNet validation, VOC 2007, with
the paper's random subset), a folder of photographs, or generated shapes images; and which
methods. Everything here is checked before the model loads; errors name the arguments of
:class:`~.runner.EvaluateConfig` (``dataset=``, ``root=``, ``n=`` ...)."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...cams import METHODS
from ...data import datasets
from ...data.images import IMAGE_DIR
from ...models import ModelSpec
from .items import Item, sample_items, shapes_items

#: The data sets read from disk (with a ``root``).
DATASETS = ("imagenet-val", "voc2007")


@dataclass(frozen=True)
class Source:
    """The images of a run: a description for people, the settings a resumed run must share,
    and the items for a model (which checks that the model fits the data)."""

    description: str
    settings: dict[str, Any]
    items: Callable[[ModelSpec], list[Item]]


def parse_methods(text: str) -> list[str]:
    """Comma-separated method names, each once, in the order given."""
    return check_methods(m.strip() for m in text.split(","))


def check_methods(names: Iterable[str]) -> list[str]:
    """Registered method names, each once, in the order given; a ValueError lists the choices."""
    methods = list(dict.fromkeys(m for m in names if m))
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"unknown method(s) {', '.join(unknown) or '(none)'}: choose from {', '.join(METHODS)}")
    return methods


def select_source(*, dataset: str | None = None, root: str | Path | None = None, split: str = "test",
                  images: str | Path | None = None, n: int | None = None, seed: int = 1000,
                  resize: str | None = None, masks: str | Path | None = None) -> Source:
    """The images named by ``dataset`` (with ``root``), or ``images`` (a folder, default
    the bundled photographs, or ``"shapes"``): ``n`` of them (a random subset drawn with ``seed`` of a data
    set, the first n photographs, n shapes images: default all; 500 shapes), resized by ``resize``
    (default: stretch for a data set, fit for photographs). ``masks``: a folder of one object mask
    per photograph (:func:`~unioncam_lite.data.datasets.image_folder`), the localisation truth."""
    if masks is not None and (dataset or str(images or "") == "shapes" or images is None):
        raise ValueError("masks=DIR goes with images=DIR, a folder of your own photographs (a data set brings "
                         "its boxes, the shapes their exact masks)")
    if dataset:
        if images is not None:
            raise ValueError("give either dataset=NAME (with root=DIR) or images=DIR, not both")
        if not root:
            raise ValueError(f"dataset={dataset} needs root=DIR, the folder that holds the data set")
        return _dataset(dataset, root, split, n, seed, resize or "stretch")
    if root:
        raise ValueError("root= goes with dataset=; for a folder of photographs use images=DIR")
    if str(images or "") == "shapes":
        return _shapes(n or 500, seed)
    return _folder(images or IMAGE_DIR, n, resize or "fit", masks)


def _dataset(dataset: str, root: str | Path, split: str, n: int | None, seed: int, resize: str) -> Source:
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset={dataset!r}: choose from {', '.join(DATASETS)}")
    samples = datasets.imagenet_val(root) if dataset == "imagenet-val" else datasets.voc2007(root, split)
    total = len(samples)
    samples = datasets.random_subset(samples, n, seed)
    name = f"{dataset} ({split} split)" if dataset == "voc2007" else dataset
    drawn = f" drawn with seed {seed}" if n else ""
    settings = {"data": dataset, "root": str(Path(root).resolve()), "resize": resize, "seed": seed,
                "split": split if dataset == "voc2007" else None}

    def items(spec: ModelSpec) -> list[Item]:
        if len(spec.categories) != 1000:
            raise ValueError(f"dataset={dataset} is evaluated with an ImageNet classifier (1000 classes); "
                             f"{spec.name} has {len(spec.categories)}")
        return sample_items(samples, spec, resize)
    return Source(f"{name} at {root}: {len(samples)} of {total} images{drawn}, resize {resize}", settings, items)


def _shapes(n: int, seed: int) -> Source:
    def items(spec: ModelSpec) -> list[Item]:
        from ...data.shapes import CLASSES

        if list(spec.categories) != list(CLASSES):
            raise ValueError(f"images=shapes needs model=shapes_cnn (a model trained on the shapes classes); "
                             f"{spec.name} has {len(spec.categories)} other classes")
        return shapes_items(n, seed, spec)
    return Source(f"{n} generated shapes images (seed {seed})", {"data": "shapes", "seed": seed}, items)


def _folder(images: str | Path, n: int | None, resize: str, masks: str | Path | None) -> Source:
    if not Path(images).is_dir():
        raise FileNotFoundError(f"image folder {str(images)!r} not found: give a folder of photographs or 'shapes'")
    samples = datasets.image_folder(images)
    if n is not None and n > len(samples):
        raise ValueError(f"n={n}, but {images} has only {len(samples)} images")
    samples = samples[:n] if n else samples
    if masks is not None:               # only the images evaluated need a mask
        samples = datasets.attach_masks(samples, masks)
    settings = {"data": "folder", "root": str(Path(images).resolve()), "resize": resize,
                "masks": None if masks is None else str(Path(masks).resolve())}
    with_masks = f" with the masks in {masks}" if masks is not None else ""
    return Source(f"{len(samples)} photographs in {images}{with_masks}, resize {resize}", settings,
                  lambda spec: sample_items(samples, spec, resize, exif=True))
