"""Sample images and the one preprocessing path from a file to a model tensor."""
from __future__ import annotations

import os
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np
import torch
from PIL import Image, ImageOps

if TYPE_CHECKING:  # data/ sits below models/: the spec is only read (input_size, mean, std)
    from ..models.spec import ModelSpec

#: the bundled files (photographs, the shapes models' weights and records, their README): package data, so
#: that a plain ``pip install`` (not only a checkout) has them; ``UNIONCAM_DATA`` points elsewhere
DATA_DIR = Path(os.environ.get("UNIONCAM_DATA", Path(__file__).resolve().parent / "bundled"))
IMAGE_DIR = DATA_DIR / "images"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def sample_images() -> dict[str, Path]:
    """The bundled photographs, ``{name: path}`` sorted by name (see data/README.md)."""
    return {p.stem: p for p in sorted(IMAGE_DIR.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}


def _resolve(path_or_name: str | os.PathLike) -> Path:
    path = Path(path_or_name)
    if path.is_file():
        return path
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a folder, not an image file: give the image files inside it "
                         f"(e.g. {str(path / '*.jpg')!r})")
    samples = sample_images()
    if str(path_or_name) in samples:
        return samples[str(path_or_name)]
    raise FileNotFoundError(f"image {str(path_or_name)!r} not found: give a file path or a sample name "
                            f"({', '.join(samples)})")


#: background for transparent pixels (RGBA, LA, palette transparency): white, as image viewers show them
BACKGROUND = (255, 255, 255)


def to_rgb8(img: Image.Image) -> Image.Image:
    """Any Pillow image as 8-bit RGB, without clipping.

    * 16-bit images (modes ``I;16*``, or ``I`` with values above 255) are scaled by 255/65535;
    * float images (mode ``F``) are taken as [0, 1] when their values lie there, else scaled
      from their own minimum–maximum to 0..255;
    * transparency is composited on :data:`BACKGROUND` (white);
    * other modes (palette, CMYK, grey, ...) are converted by Pillow.
    """
    if img.mode in ("I", "F") or img.mode.startswith("I;16"):
        a = np.asarray(img, dtype=np.float64)
        if img.mode == "F":
            lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
            a = a * 255 if lo >= 0 and hi <= 1 else (a - lo) / max(hi - lo, 1e-12) * 255
        elif img.mode.startswith("I;16") or a.max() > 255:
            a = a * (255 / 65535)
        img = Image.fromarray(np.clip(np.round(np.nan_to_num(a)), 0, 255).astype(np.uint8), "L")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "RGBa", "La", "PA"):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
        img = Image.alpha_composite(canvas, rgba)
    return img.convert("RGB")


def to_model_tensor(image: np.ndarray, spec: ModelSpec) -> torch.Tensor:
    """H x W x 3 uint8 image -> 1 x 3 x H x W float tensor normalised with the spec's mean/std."""
    x = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).float().div_(255)
    mean = torch.tensor(spec.mean).view(3, 1, 1)
    std = torch.tensor(spec.std).view(3, 1, 1)
    return ((x - mean) / std).unsqueeze(0)


def load_image(path_or_name: str | os.PathLike | Image.Image, spec: ModelSpec) -> tuple[np.ndarray, torch.Tensor]:
    """Read an image and return ``(display, x)``.

    ``display`` is the H x W x 3 uint8 picture the model sees, ``x`` the 1 x 3 x H x W tensor.
    The image is turned upright (EXIF orientation), converted to 8-bit RGB by :func:`to_rgb8`
    (16-bit and float images scaled, transparency on white), resized so its shorter side equals
    the input size and centre-cropped (the torchvision evaluation recipe without the 256/224
    margin, so the whole object stays in view), which keeps the display image and the CAM
    pixel-aligned. Unreadable files, Pillow's decompression-bomb guard included, raise a ValueError.
    """
    if isinstance(path_or_name, Image.Image):
        img = to_rgb8(ImageOps.exif_transpose(path_or_name))
    else:
        img = read_image(_resolve(path_or_name))
    h, w = spec.input_size
    new_w, new_h, left, top = fit_geometry(img.width, img.height, (h, w))
    img = img.resize((new_w, new_h), Image.Resampling.BILINEAR)
    display = np.asarray(img.crop((left, top, left + w, top + h)), dtype=np.uint8)
    return display, to_model_tensor(display, spec)


def check_image(path_or_name: str | os.PathLike) -> Path:
    """The file of an image path or sample name, decoded once to check it: the error
    :func:`load_image` would raise (not found, a folder, unreadable), raised before any work."""
    path = _resolve(path_or_name)
    read_image(path)
    return path


class ImageTooLarge(ValueError):
    """An image with more pixels than the caller's limit (found from its header, before decoding)."""

    def __init__(self, width: int, height: int, max_pixels: int):
        super().__init__(f"the image is {width}×{height} pixels ({width * height / 1e6:.0f} MP), more than the "
                         f"limit of {max_pixels / 1e6:g} MP: give a smaller image (or shrink it first)")


def decode_image(source: str | os.PathLike | IO[bytes], exif: bool = True, max_pixels: int | None = None
                 ) -> Image.Image:
    """An image file (a path or an open binary file) as 8-bit RGB (:func:`to_rgb8`), turned upright
    by its EXIF orientation when ``exif``. Above ``max_pixels`` (when given) an :class:`ImageTooLarge`
    is raised from the header, before any pixel is decoded. Pillow's own errors pass through (see
    :func:`read_image`), its decompression-bomb guard included."""
    with Image.open(source) as opened:
        if max_pixels is not None and opened.width * opened.height > max_pixels:
            raise ImageTooLarge(opened.width, opened.height, max_pixels)
        img = ImageOps.exif_transpose(opened) if exif else opened
        img.load()
        return to_rgb8(img)


def read_image(path: str | os.PathLike, exif: bool = True,
               advice: str = "give a JPEG or PNG photograph") -> Image.Image:
    """:func:`decode_image` of a file, with every Pillow error, the decompression-bomb guard
    included, as a ValueError naming the file and ending with ``advice``."""
    try:
        return decode_image(path, exif)
    except Image.DecompressionBombError as err:
        raise ValueError(f"image file {str(path)!r} is too large to open safely ({err})") from err
    except Exception as err:  # every Pillow error (UnidentifiedImageError, OSError, SyntaxError, ...)
        raise ValueError(f"image file {str(path)!r} is unreadable ({type(err).__name__}: {err}): {advice}") from err


#: ``(new_w, new_h, left, top)``: a resized image's size and the crop's offset in it.
Geometry = tuple[int, int, int, int]


def fit_geometry(width: int, height: int, size: tuple[int, int]) -> Geometry:
    """``(new_w, new_h, left, top)`` of :func:`load_image`'s resize: the shorter side to the input
    size (H, W), then the central crop at offset (left, top)."""
    h, w = size
    scale = max(h / height, w / width)
    new_w, new_h = max(w, round(width * scale)), max(h, round(height * scale))
    return new_w, new_h, (new_w - w) // 2, (new_h - h) // 2


def load_samples(spec: ModelSpec) -> tuple[list[str], np.ndarray, torch.Tensor]:
    """All sample images: names, display images (N x H x W x 3) and the batch tensor (N x 3 x H x W)."""
    names, shows, xs = [], [], []
    for name, path in sample_images().items():
        show, x = load_image(path, spec)
        names.append(name)
        shows.append(show)
        xs.append(x)
    return names, np.stack(shows), torch.cat(xs)
