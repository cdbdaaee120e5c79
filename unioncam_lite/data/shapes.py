"""A synthetic localisation data set with exact object masks (the CNNs trained on it: models.shapes_nets).

No localisation data set can be downloaded here, so the ground truth is made: each 64×64 image
shows one coloured shape (circle, square, triangle, cross or ring, 12–26 px) on a cluttered
background (smooth colour noise, random line segments and dots as distractors), with the
shape's pixel mask. Everything is a deterministic function of the seed.
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw

CLASSES = ["circle", "square", "triangle", "cross", "ring"]
SIZE = 64
MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def _background(rng: np.random.Generator) -> Image.Image:
    coarse = rng.uniform(40, 215, size=(4, 4, 3)).astype(np.uint8)
    img = Image.fromarray(coarse).resize((SIZE, SIZE), Image.Resampling.BICUBIC)
    noise = rng.normal(0, 12, size=(SIZE, SIZE, 3))
    img = Image.fromarray(np.clip(np.asarray(img, dtype=np.float32) + noise, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(rng.integers(4, 9)):                       # distractors: strokes and dots
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        if rng.random() < 0.6:
            pts = [tuple(int(v) for v in rng.integers(0, SIZE, 2)) for _ in range(2)]
            draw.line(pts, fill=colour, width=int(rng.integers(1, 3)))
        else:
            cx, cy = rng.integers(0, SIZE, 2)
            r = int(rng.integers(1, 3))
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    return img


def _draw_shape(draw: ImageDraw.ImageDraw, kind: str, box: tuple[int, int, int, int],
                fill: int | tuple[int, ...]) -> None:
    x0, y0, x1, y1 = box
    w = x1 - x0
    if kind == "circle":
        draw.ellipse(box, fill=fill)
    elif kind == "square":
        draw.rectangle(box, fill=fill)
    elif kind == "triangle":
        draw.polygon([(x0 + w / 2, y0), (x1, y1), (x0, y1)], fill=fill)
    elif kind == "cross":
        t = max(2, w // 4)
        c = x0 + w // 2
        draw.rectangle([c - t // 2 - 1, y0, c + t // 2, y1], fill=fill)
        draw.rectangle([x0, y0 + w // 2 - t // 2 - 1, x1, y0 + w // 2 + t // 2], fill=fill)
    elif kind == "ring":
        t = max(3, w // 4)
        draw.ellipse(box, fill=fill)
        draw.ellipse([x0 + t, y0 + t, x1 - t, y1 - t], fill=0)  # on the mask layer: the hole
    else:
        raise ValueError(kind)


def make_sample(rng: np.random.Generator) -> tuple[np.ndarray, int, np.ndarray]:
    """One (image H×W×3 uint8, label, mask H×W bool)."""
    label = int(rng.integers(len(CLASSES)))
    kind = CLASSES[label]
    img = _background(rng)
    size = int(rng.integers(12, 27))
    x0, y0 = (int(v) for v in rng.integers(1, SIZE - size - 1, 2))
    box = (x0, y0, x0 + size, y0 + size)
    mask_img = Image.new("L", (SIZE, SIZE), 0)
    _draw_shape(ImageDraw.Draw(mask_img), kind, box, 255)
    mask = np.asarray(mask_img) > 127
    colour = rng.integers(0, 256, 3)
    while np.abs(colour - np.asarray(img)[mask].mean(0)).sum() < 120:   # keep the object visible
        colour = rng.integers(0, 256, 3)
    pixels = np.asarray(img).copy()
    pixels[mask] = colour
    return pixels, label, mask


def generate(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` samples: images (n, 64, 64, 3) uint8, labels (n,) int64, masks (n, 64, 64) bool."""
    rng = np.random.default_rng(seed)
    samples = [make_sample(rng) for _ in range(n)]
    return (np.stack([s[0] for s in samples]), np.array([s[1] for s in samples], dtype=np.int64),
            np.stack([s[2] for s in samples]))


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> normalised float (N, 3, H, W)."""
    x = torch.from_numpy(np.array(images)).permute(0, 3, 1, 2).float().div_(255)
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
