"""Ground-truth object masks from image files: a researcher's own segmentation masks as the
localisation ground truth of an evaluation (``evaluate --images DIR --masks MASKS``).

The convention (this package's choice, the common one of binary and label masks): **a pixel is
object when its value is not 0** — any label of a label image (greyscale, 16-bit, or palette
indices, as VOC's ``SegmentationClass`` PNGs store them, their 255 "void" outline included), any
colour but black in an RGB mask.
Other encodings (a trimap whose background is 2, a mask where object is black) must be converted
first. A mask is on the stored pixels of its image (the same width and height); when the image is
turned upright by its EXIF orientation, the mask is turned with it (:func:`turn`); it is then
carried through the image's resize by nearest neighbour: a pixel of the model's input is object
when the mask pixel under its centre is — the rule the boxes follow (:func:`.samples.boxes_mask`).
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image

from .images import Geometry, fit_geometry

if TYPE_CHECKING:
    from ..models.spec import ModelSpec


def _open_error(path: str | os.PathLike, err: Exception) -> ValueError:
    if isinstance(err, Image.DecompressionBombError):
        return ValueError(f"mask file {str(path)!r} is too large to open safely ({err})")
    return ValueError(f"mask file {str(path)!r} is unreadable ({type(err).__name__}: {err}): "
                      "give a PNG whose non-zero pixels are the object")


def size_error(mask: str | os.PathLike, mask_size: tuple[int, int], image: str | os.PathLike,
               image_size: tuple[int, int]) -> str:
    """The error of a mask file whose ``(width, height)`` is not its image's."""
    return (f"mask {str(mask)!r} is {mask_size[0]}×{mask_size[1]} pixels but its image {str(image)!r} is "
            f"{image_size[0]}×{image_size[1]}: a mask must cover the image's own pixels (resize it with nearest "
            "neighbour to the image's size)")


def mask_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(width, height)`` of a mask file, from its header (no pixel decoded)."""
    try:
        with Image.open(path) as img:
            return img.size
    except Exception as err:  # every Pillow error, the decompression-bomb guard included
        raise _open_error(path, err) from err


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """An (H, W) bool array: True where the mask file's value is not 0 (palette images by their
    index, RGB(A) by their colour, alpha ignored; see the module's docstring)."""
    try:
        with Image.open(path) as opened:
            opened.load()
            img: Image.Image = opened.getchannel(0) if opened.mode in ("LA", "La", "PA") else opened
            values = np.asarray(img)
    except Exception as err:
        raise _open_error(path, err) from err
    if values.ndim == 3:
        return np.asarray(values[..., :3].any(-1))
    return np.asarray(values != 0)


def mask_on_grid(mask: np.ndarray, size: tuple[int, int], geo: Geometry) -> torch.Tensor | None:
    """The (H, W) bool mask on the model's input grid (``size``) of an image resized and cropped by
    ``geo`` (:func:`.samples.geometry`): each input pixel takes the mask pixel under its centre.
    None when no object pixel is left (an empty mask, or one the crop cut away)."""
    height, width = mask.shape
    new_w, new_h, left, top = geo
    cols = np.minimum(((np.arange(size[1]) + 0.5 + left) * width / new_w).astype(np.int64), width - 1)
    rows = np.minimum(((np.arange(size[0]) + 0.5 + top) * height / new_h).astype(np.int64), height - 1)
    out = torch.from_numpy(np.ascontiguousarray(mask[np.ix_(rows, cols)]))
    return out if out.any() else None


#: Pillow's transpose for each EXIF orientation (as ``ImageOps.exif_transpose`` applies it)
_EXIF_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
                   4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270,
                   7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}


def image_header(image: str | os.PathLike) -> tuple[tuple[int, int], int]:
    """``((width, height), EXIF orientation)`` of an image file as stored (orientation 1, upright,
    when it has none), from its header."""
    try:
        with Image.open(image) as photo:
            return photo.size, int(photo.getexif().get(0x0112, 1))
    except Exception as err:
        raise ValueError(f"image file {str(image)!r} is unreadable ({type(err).__name__}: {err})") from err


def turn(mask: np.ndarray, orientation: int) -> np.ndarray:
    """``mask`` turned as ``ImageOps.exif_transpose`` turns an image with that EXIF orientation."""
    if orientation not in _EXIF_TRANSPOSE:
        return mask
    return np.asarray(Image.fromarray(mask.astype(np.uint8)).transpose(_EXIF_TRANSPOSE[orientation])) != 0


def upright_mask(path: str | os.PathLike, image: str | os.PathLike, size: tuple[int, int],
                 orientation: int) -> np.ndarray:
    """:func:`read_mask` of the mask of ``image``, whose stored ``(width, height)`` is ``size``
    (a ValueError otherwise), turned by the image's EXIF ``orientation`` (1: as stored)."""
    mask = read_mask(path)
    if (mask.shape[1], mask.shape[0]) != size:
        raise ValueError(size_error(path, (mask.shape[1], mask.shape[0]), image, size))
    return turn(mask, orientation)


def load_mask(path: str | os.PathLike, spec: ModelSpec, image: str | os.PathLike | None = None) -> torch.Tensor:
    """The (H, W) bool mask of a mask file on the grid of :func:`~unioncam_lite.data.images.load_image`'s
    output for its photograph: the shorter side to the model's input size, the central crop, each
    pixel taking the mask pixel under its centre. With ``image`` (the photograph's file) the sizes
    are checked and the photograph's EXIF orientation, which ``load_image`` applies, is applied to
    the mask too (a mask is on the stored pixels); without it the mask is taken as upright. All
    False when the crop cuts the object away."""
    mask = read_mask(path) if image is None else upright_mask(path, image, *image_header(image))
    size = spec.input_size
    out = mask_on_grid(mask, size, fit_geometry(mask.shape[1], mask.shape[0], size))
    return torch.zeros(size, dtype=torch.bool) if out is None else out
