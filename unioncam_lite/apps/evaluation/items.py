"""What the evaluation runs on: :class:`Item` s, each an image loaded when its turn comes (with
its ground-truth mask where the data set has boxes or mask files), as the model's input: normalised with the
model's mean/std, or (:func:`input_spec` with ``"none"``) the pixels in [0, 1], the paper's input."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from ...cams.common import input_normalization
from ...data.datasets import Sample, image_folder, load_sample
from ...data.images import load_image, to_model_tensor
from ...models import ModelSpec

Loaded = tuple[torch.Tensor, "torch.Tensor | None"]


def input_spec(spec: ModelSpec, normalize: str = "model") -> ModelSpec:
    """The spec the evaluation uses: ``spec`` itself (``"model"``: its own mean/std), or for ``"none"``
    a copy with mean 0 and std 1, so images reach the model as pixels in [0, 1] (the paper's §4.1),
    and masking and the black image act on those pixels."""
    input_normalization(normalize, spec.mean, spec.std)   # a ValueError names the choices
    if normalize == "model":
        return spec
    return dataclasses.replace(spec, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))


@dataclass
class Item:
    """One image to evaluate: ``load()`` gives ``(x (1, 3, H, W), mask (H, W) bool or None)``."""

    name: str
    load: Callable[[], Loaded]
    label: str = ""


def photo_items(folder: str | Path, spec: ModelSpec, resize: str = "fit",
                masks: str | Path | None = None) -> list[Item]:
    """The photographs of a folder, named by file name; with ``masks``, a folder of one object mask
    per photograph (:func:`~unioncam_lite.data.datasets.image_folder`), their ground truth."""
    return sample_items(image_folder(folder, masks), spec, resize, exif=True)


def sample_items(samples: Sequence[Sample], spec: ModelSpec, resize: str, exif: bool = False) -> list[Item]:
    """Lazy items for :class:`~unioncam_lite.data.datasets.Sample` s: each image is read when its turn comes."""
    def loader(sample: Sample) -> Callable[[], Loaded]:
        def load() -> Loaded:
            if resize == "fit" and not sample.boxes and sample.mask is None:   # as `explain` loads it
                return load_image(sample.path, spec)[1], None
            image, mask = load_sample(sample, spec.input_size, resize, resize_size=spec.resize_size,
                                      interpolation=spec.interpolation, exif=exif)
            return to_model_tensor(image, spec), mask
        return load

    def label(sample: Sample) -> str:
        if sample.label_idx is not None and len(spec.categories) > sample.label_idx:
            return spec.categories[sample.label_idx]
        return sample.label

    return [Item(s.name, loader(s), label(s)) for s in samples]


def shapes_items(n: int, seed: int, spec: ModelSpec) -> list[Item]:
    """``n`` generated shapes images (seed ``seed``) with their exact object masks."""
    from ...data.shapes import CLASSES, generate

    images, labels, masks = generate(n, seed=seed)

    def item(i: int) -> Item:
        return Item(f"shape{i:04d}", lambda: (to_model_tensor(images[i], spec), torch.from_numpy(masks[i])),
                    CLASSES[int(labels[i])])
    return [item(i) for i in range(n)]
