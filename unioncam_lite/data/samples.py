"""One evaluation image (:class:`Sample`) as the model sees it: the paper's random subset, the
resize to the model's H×W input and the object boxes carried through it as a mask.

Boxes are kept in the stored image's pixel grid, so images are *not* turned by their EXIF
orientation when they have boxes (the annotations were made on the stored pixels).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .images import Geometry, fit_geometry, read_image
from .masks import image_header, mask_on_grid, upright_mask

#: How an image becomes the model's H×W input (``load_sample``'s ``resize``).
RESIZE_MODES = {
    "stretch": "resize the whole image to H×W, aspect ratio not kept (the UnionCAM paper: "
               "'images resized to 224×224'); every object stays in view",
    "center-crop": "torchvision's evaluation recipe: shorter side to the model's resize size "
                   "(256 for 224 inputs), then the central H×W crop; aspect ratio kept, borders "
                   "(and boxes near them) cut off",
    "fit": "shorter side to H, then the central H×W crop (what `explain` and load_image do)",
}


@dataclass(frozen=True)
class Sample:
    """One evaluation image: ``name`` (unique in the data set, the CSV's ``image`` column),
    its file, the ground-truth label (class index and/or name, if the data set gives one),
    the object boxes ``(x0, y0, x1, y1)`` in the stored image's pixels, continuous coordinates
    (x0 = xmin − 1, x1 = xmax for 1-based inclusive annotations), and/or a mask file on the
    stored image's pixels (:mod:`.masks`: non-zero is object); the ground truth is their union."""

    name: str
    path: Path
    label: str = ""
    label_idx: int | None = None
    boxes: tuple[tuple[float, float, float, float], ...] = field(default=(), repr=False)
    mask: Path | None = None


def random_subset(samples: list[Sample], n: int | None, seed: int) -> list[Sample]:
    """The paper's protocol: ``n`` images drawn at random with ``seed``, the same every time.

    The order is the draw's (``numpy.random.default_rng(seed).permutation``), so the first k
    of a larger draw are the draw of k: an interrupted run has evaluated a random subset, and
    ``n=1000`` then ``n=2000`` with the same seed extends the first.
    """
    if n is None:
        return list(samples)
    if n > len(samples):
        raise ValueError(f"n={n}, but the data set has only {len(samples)} images: use n={len(samples)} or fewer")
    order = np.random.default_rng(seed).permutation(len(samples))[:n]
    return [samples[i] for i in order]


def geometry(width: int, height: int, size: tuple[int, int], resize: str, resize_size: int | None = None) -> Geometry:
    """Where the model's H×W input comes from: ``(new_w, new_h, left, top)``, the resized image's
    size and the crop's offset in it (torchvision's rounding for ``center-crop``)."""
    h, w = size
    if resize == "stretch":
        return w, h, 0, 0
    if resize == "center-crop":
        short = resize_size or round(min(h, w) * 256 / 224)
        if width <= height:
            new_w, new_h = short, int(short * height / width)
        else:
            new_w, new_h = int(short * width / height), short
        return new_w, new_h, int(round((new_w - w) / 2.0)), int(round((new_h - h) / 2.0))
    if resize == "fit":
        return fit_geometry(width, height, size)
    raise ValueError(f"unknown resize={resize!r}: choose from {', '.join(RESIZE_MODES)}")


def boxes_mask(boxes: Sequence[tuple[float, float, float, float]], width: int, height: int, size: tuple[int, int],
               geo: Geometry) -> torch.Tensor | None:
    """(H, W) bool mask of the union of ``boxes`` on the model's input grid: a pixel is inside
    when its centre, mapped back to the stored image, lies in a box. None without boxes, or
    when the crop cuts every box away."""
    if not boxes:
        return None
    new_w, new_h, left, top = geo
    xs = (torch.arange(size[1], dtype=torch.float64) + 0.5 + left) * width / new_w
    ys = (torch.arange(size[0], dtype=torch.float64) + 0.5 + top) * height / new_h
    mask = torch.zeros(size, dtype=torch.bool)
    for x0, y0, x1, y1 in boxes:
        mask |= ((ys >= y0) & (ys < y1))[:, None] & ((xs >= x0) & (xs < x1))[None, :]
    return mask if mask.any() else None


def load_sample(sample: Sample, size: tuple[int, int], resize: str = "stretch", *, resize_size: int | None = None,
                interpolation: str = "bilinear", exif: bool = False) -> tuple[np.ndarray, torch.Tensor | None]:
    """``(image, mask)``: the H×W×3 uint8 input the model sees and the ground-truth mask (boxes
    and/or mask file) on the same grid (None where the sample has neither, or none is left in
    the crop). ``exif`` turns the image upright by its EXIF orientation, and its mask file (on the
    stored pixels) with it; boxes keep the stored pixels, so data sets with boxes use ``exif=False``."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as TF

    img = read_image(sample.path, exif=exif, advice="replace it or remove it from the data set")
    geo = geometry(img.width, img.height, size, resize, resize_size)
    new_w, new_h, left, top = geo
    resized = TF.resize(img, [new_h, new_w], interpolation=InterpolationMode(interpolation), antialias=True)
    image = np.asarray(resized.crop((left, top, left + size[1], top + size[0])), dtype=np.uint8)
    truth = boxes_mask(sample.boxes, img.width, img.height, size, geo)
    if sample.mask is not None:
        stored, orientation = image_header(sample.path)
        from_file = mask_on_grid(upright_mask(sample.mask, sample.path, stored, orientation if exif else 1), size, geo)
        if from_file is not None:
            truth = from_file if truth is None else truth | from_file
    return image, truth
