"""The logic behind notebook 07's widgets, as plain functions a test can call.

:class:`Explorer` holds the model, the images and caches: a gradient method's map costs one
backward pass per (image, class, layer); UnionCAM keeps one cached :class:`UnionCAM` per
layer, so moving θ costs two forward passes and changing class or image recomputes the
region map once.
"""
from __future__ import annotations

import io

import matplotlib.pyplot as plt
import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .cams import METHODS, UnionCAM, compute_cam
from .images import load_image, sample_images
from .models import ModelSpec, resolve_layer
from .viz import show_cam


def decode_upload(content: bytes | memoryview) -> Image.Image:
    """Bytes of an uploaded file -> RGB PIL image; a clear ValueError if they are not an image."""
    try:
        image = Image.open(io.BytesIO(bytes(content)))
        image.load()
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError("the uploaded file is not a readable image: upload a JPEG or PNG photograph") from err
    return image.convert("RGB")


class Explorer:
    """Images, classes, methods and θ for one model; ``draw`` makes the figure the widgets show."""

    def __init__(self, model: torch.nn.Module, spec: ModelSpec, layers: tuple[str, ...] | None = None):
        self.model, self.spec = model, spec
        self.device = next(model.parameters()).device
        self.layers = layers or (spec.target_layer,)
        for layer in self.layers:
            resolve_layer(model, layer)
        self.images: dict[str, tuple[np.ndarray, torch.Tensor]] = {}
        for name, path in sample_images().items():
            self.add_image(name, path)
        self._union = {layer: UnionCAM(model, layer, mean=spec.mean, std=spec.std) for layer in self.layers}
        self._maps: dict[tuple, torch.Tensor] = {}

    def add_image(self, name: str, source) -> str:
        """Add an image from a path, a sample name, a PIL image or uploaded bytes; returns its name."""
        if isinstance(source, (bytes, bytearray, memoryview)):
            source = decode_upload(source)
        display, x = load_image(source, self.spec)
        self.images[name] = (display, x.to(self.device))
        return name

    def probabilities(self, name: str) -> torch.Tensor:
        with torch.no_grad():
            return self.model(self.images[name][1]).softmax(dim=1)[0]

    def top_classes(self, name: str, k: int = 5) -> list[tuple[str, int]]:
        """The k most probable classes as (label with probability, index), for a dropdown."""
        p = self.probabilities(name)
        top = p.topk(k)
        return [(f"{self.spec.categories[i]} ({v:.2f})", int(i)) for v, i in zip(top.values.tolist(), top.indices.tolist())]

    def class_options(self, name: str, k: int = 5) -> list[tuple[str, int]]:
        """Top-k predictions first, then all classes by name."""
        top = self.top_classes(name, k)
        taken = {i for _, i in top}
        return top + [(c, i) for i, c in enumerate(self.spec.categories) if i not in taken]

    def cam(self, name: str, class_idx: int | None, method: str, theta: float = 10.0,
            layer: str | None = None):
        """The (H, W) map of one method; UnionCAM also returns its result object."""
        layer = layer or self.layers[0]
        x = self.images[name][1]
        if method == "unioncam":
            r = self._union[layer](x, class_idx, theta)
            return r.cam[0], r
        key = (name, class_idx, method, layer)
        if key not in self._maps:
            self._maps[key] = compute_cam(method, self.model, x, layer, class_idx,
                                          mean=self.spec.mean, std=self.spec.std)[0]
        return self._maps[key], None

    def draw(self, name: str, class_idx: int | None = None, theta: float = 10.0, method: str = "unioncam",
             layer: str | None = None):
        """The figure: the image, the chosen method's map, and for UnionCAM its three maps and βs."""
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}: choose from {', '.join(METHODS)}")
        image = self.images[name][0]
        cam, r = self.cam(name, class_idx, method, theta, layer)
        c = int(self.probabilities(name).argmax()) if class_idx is None else class_idx
        label = f"{self.spec.categories[c]} (p={self.probabilities(name)[c]:.2f})"
        panels = [("image", None), (METHODS[method][0], cam)]
        if r is not None:
            panels += [(f"denoised β={r.beta_denoised[0]:.3f}", r.denoised[0]),
                       (f"region β={r.beta_region[0]:.3f}", r.region[0]),
                       (f"fused β={r.beta_fused[0]:.3f}", r.fused[0])]
        fig, axes = plt.subplots(1, len(panels), figsize=(2.8 * len(panels), 3.2), squeeze=False)
        for ax, (title, m) in zip(axes[0], panels):
            show_cam(ax, image, m, title)
        extra = f", θ={theta:g}, chosen: {r.chosen[0]}" if r is not None else ""
        fig.suptitle(f"{name}: {label}{extra}", fontsize=10)
        fig.tight_layout()
        return fig
