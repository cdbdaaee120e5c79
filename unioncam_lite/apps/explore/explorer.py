"""The logic behind notebook 07's widgets (:class:`Explorer`), as plain methods a test can call.

:class:`Explorer` holds the model, the images and the caches. A gradient method's map costs one
backward pass per (image, class, method, layer) and is kept; UnionCAM keeps one cached
:class:`~unioncam_lite.cams.UnionCAM` per layer, so moving θ costs two forward passes and a new
image or class recomputes the region map once. Score-CAM *is* UnionCAM's region map, so it is
taken from the same cache. ``draw`` makes the figure the widgets show. :func:`decode_upload`
turns the bytes of an uploaded file into an image (or a clear ``ValueError``: not an image, over
:data:`MAX_UPLOAD_BYTES` or :data:`MAX_UPLOAD_PIXELS`).
"""
from __future__ import annotations

import functools
import io
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image

from ...cams import METHODS, UnionCAM, UnionResult, compute_cam
from ...cams.diagnose import constant_in_space
from ...cams.fingerprint import model_fingerprint, weights_held
from ...data.images import ImageTooLarge, decode_image, load_image, sample_images
from ...device import model_device
from ...models import ModelSpec, resolve_layer
from ...viz import add_colorbar, escape_mathtext, show_cam

F = TypeVar("F", bound=Callable[..., Any])


#: the largest upload read (bytes): larger files are refused with an ``error:`` line (the app's page
#: refuses them before sending; app/serve.py lets websocket messages of this size through)
MAX_UPLOAD_BYTES = 50_000_000
#: the most pixels an upload may have (a 50 MP photograph, 8160×6120, holds ~150 MB decoded)
MAX_UPLOAD_PIXELS = 50_000_000


def decode_upload(content: bytes | bytearray | memoryview, max_bytes: int = MAX_UPLOAD_BYTES,
                  max_pixels: int = MAX_UPLOAD_PIXELS, size: int | None = None) -> Image.Image:
    """Bytes of an uploaded file -> RGB PIL image, decoded as image files are (``data.images.decode_image``:
    upright, 16-bit scaled, transparency on white); a clear ValueError if they are not an image, or
    are over ``max_bytes`` or ``max_pixels`` (checked from the header, before decoding). ``size``:
    the file's size as the browser reported it (the app's page sends no content over the limit)."""
    if not isinstance(content, (bytes, bytearray, memoryview)):
        raise TypeError(f"an upload is bytes, not {type(content).__name__}")
    size = max(len(content), size or 0)
    if size > max_bytes:
        raise ValueError(f"the file is {size / 1e6:.1f} MB, more than the app's limit of "
                         f"{max_bytes / 1e6:g} MB: upload a smaller photograph")
    if len(content) == 0:
        raise ValueError("the uploaded file is empty: upload a JPEG or PNG photograph")
    try:
        return decode_image(io.BytesIO(bytes(content)), max_pixels=max_pixels)
    except ImageTooLarge as err:
        raise ValueError(str(err).replace("the limit", "the app's limit").replace("give a", "upload a")) from None
    except Image.DecompressionBombError as err:   # (Pillow's guard, above ~179 MP, comes first)
        raise ValueError(f"the image has more pixels than the app's limit of {max_pixels / 1e6:g} MP "
                         f"({err}): upload a smaller photograph") from None
    except Exception as err:  # every Pillow error (UnidentifiedImageError, OSError, SyntaxError, ...)
        raise ValueError(f"the uploaded file is not a readable image ({type(err).__name__}): "
                         "upload a JPEG or PNG photograph") from err


def _locked(method: F) -> F:
    """Run ``method`` holding its object's ``lock``, with the weights read at most once (``weights_held``)."""
    @functools.wraps(method)
    def locked(self: Explorer, *args: Any, **kwargs: Any) -> Any:
        with self.lock, weights_held(self.model):
            return method(self, *args, **kwargs)
    return locked  # type: ignore[return-value]


class Explorer:
    """Images, classes, methods and θ for one model; ``draw`` makes the figure the widgets show."""

    def __init__(self, model: torch.nn.Module, spec: ModelSpec, layers: tuple[str, ...] | None = None,
                 top_k: int = 5):
        self.model, self.spec, self.top_k = model, spec, top_k
        # every method that runs the model or touches the caches holds this lock: the hooks that
        # capture activations belong to one call at a time, whichever thread it comes from
        self.lock = threading.RLock()
        self._worker: ThreadPoolExecutor | None = None
        self.device = model_device(model)
        self.layers = tuple(layers or (spec.target_layer,))
        for layer in self.layers:
            resolve_layer(model, layer)
        self.images: dict[str, tuple[np.ndarray, torch.Tensor]] = {}
        self._probs: dict[str, torch.Tensor] = {}
        self._maps: dict[tuple, torch.Tensor] = {}
        for name, path in sample_images().items():
            self.add_image(name, path)
        self._union = {layer: UnionCAM(model, layer, mean=spec.mean, std=spec.std,
                                       reshape_transform=spec.reshape_transform) for layer in self.layers}
        self._fingerprint = model_fingerprint(model)

    def _check_model(self) -> None:
        """Forget every cached probability and map when the model's weights changed since they were made."""
        fingerprint = model_fingerprint(self.model)
        if fingerprint != self._fingerprint:
            self._probs.clear()
            self._maps.clear()
            for explainer in self._union.values():
                explainer.clear()
            self._fingerprint = fingerprint

    def worker(self) -> ThreadPoolExecutor:
        """The one thread on which every :class:`ExplorerApp` of this explorer computes (made on first use)."""
        with self.lock:
            if self._worker is None:
                self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="Explorer")
            return self._worker

    # ------------------------------------------------------------------ images
    @_locked
    def add_image(self, name: str, source: str | os.PathLike | Image.Image | bytes | bytearray | memoryview) -> str:
        """Add (or replace) an image from a path, a sample name, a PIL image or uploaded bytes."""
        if isinstance(source, (bytes, bytearray, memoryview)):
            source = decode_upload(source)
        display, x = load_image(source, self.spec)
        self.images[name] = (display, x.to(self.device))
        self._probs.pop(name, None)                       # a replaced image must not reuse old maps
        self._maps = {k: v for k, v in self._maps.items() if k[0] != name}
        return name

    def _check_image(self, name: str) -> tuple[np.ndarray, torch.Tensor]:
        if name not in self.images:
            raise ValueError(f"unknown image {name!r}: choose from {', '.join(self.images)}")
        return self.images[name]

    # ------------------------------------------------------------------ classes
    @_locked
    def probabilities(self, name: str) -> torch.Tensor:
        """Softmax probabilities (C,) of the unmasked image (one forward pass, then cached)."""
        self._check_model()
        if name not in self._probs:
            x = self._check_image(name)[1]
            with torch.no_grad():
                self._probs[name] = self.model(x).float().softmax(dim=1)[0].cpu()
        return self._probs[name]

    def predicted(self, name: str) -> int:
        """The top-1 class index."""
        return int(self.probabilities(name).argmax())

    def top_classes(self, name: str, k: int | None = None) -> list[tuple[str, int]]:
        """The k most probable classes as ("label (p=0.52)", index), most probable first."""
        top = self.probabilities(name).topk(k or self.top_k)
        return [(f"{self.spec.categories[i]} (p={v:.2f})", int(i))
                for v, i in zip(top.values.tolist(), top.indices.tolist())]

    def classes_for(self, name: str, k: int | None = None) -> list[str]:
        """Options for the class box: the top-k labels first, then every class name (1000 + k)."""
        return [label for label, _ in self.top_classes(name, k)] + list(self.spec.categories)

    def resolve_class(self, name: str, text: str | int | None) -> int:
        """A class from the class box: a top-k label, any class name (unique prefix) or index.

        Empty or ``None`` means the predicted class; anything else unresolvable raises the
        ValueError of :meth:`ModelSpec.class_index`, which says what would be valid.
        """
        if text is None or (isinstance(text, str) and not text.strip()):
            return self.predicted(name)
        if isinstance(text, str):
            for label, idx in self.top_classes(name):
                if text.strip() == label:
                    return idx
        return self.spec.class_index(text)

    # ------------------------------------------------------------------ maps
    @_locked
    def cam(self, name: str, class_idx: int | None, method: str, theta: float = 10.0,
            layer: str | None = None) -> tuple[torch.Tensor, UnionResult | None]:
        """The (H, W) map of one method in [0, 1]; for UnionCAM also its full result, else None."""
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}: choose from {', '.join(METHODS)}")
        self._check_model()
        layer = layer or self.layers[0]
        if layer not in self._union:
            raise ValueError(f"layer {layer!r} is not one of this explorer's layers: {', '.join(self.layers)}")
        x = self._check_image(name)[1]
        c = self.predicted(name) if class_idx is None else self.spec.class_index(class_idx)
        if method == "unioncam":
            r = self._union[layer](x, c, theta)
            return r.cam[0], r
        key = (name, c, method, layer)
        if key not in self._maps:
            if method == "scorecam":  # Score-CAM is UnionCAM's region map: share its cache
                self._maps[key] = self._union[layer].theta_free(x, c).region[0]
            else:
                self._maps[key] = compute_cam(method, self.model, x, layer, c, mean=self.spec.mean, std=self.spec.std,
                                              reshape_transform=self.spec.reshape_transform)[0]
        return self._maps[key], None

    @_locked
    def theta_notice(self, name: str, class_idx: int | None = None, layer: str | None = None) -> str:
        """One sentence when θ cannot change UnionCAM for this image, class and layer (its gradients are
        the same at every position, so Eq. 1 removes nothing), else ''. Reads the cached capture."""
        layer = layer or self.layers[0]
        x = self._check_image(name)[1]
        c = self.predicted(name) if class_idx is None else self.spec.class_index(class_idx)
        W = self._union[layer].theta_free(x, c).capture.require_gradients()
        if not bool(constant_in_space(W).all()):
            return ""
        return ("θ cannot change the map at this layer: its gradients are the same at every position (a "
                "global-average-pool head), so Eq. 1 removes nothing. A layer before the pooling, or a model "
                "with a flattened head (shapes_vgg, vgg16), lets θ act.")

    @_locked
    def draw(self, name: str, class_idx: int | None = None, theta: float = 10.0, method: str = "unioncam",
             layer: str | None = None, pyplot: bool = True) -> Figure:
        """The figure: the image and the method's map; for UnionCAM also its three maps and βs.

        ``pyplot=False`` makes a bare :class:`~matplotlib.figure.Figure` that pyplot does not
        know about (the widgets draw on a worker thread; a pyplot figure there could be shown
        and closed by the inline backend at the end of whatever cell runs meanwhile).
        """
        cam, r = self.cam(name, class_idx, method, theta, layer)
        image = self.images[name][0]
        c = self.predicted(name) if class_idx is None else self.spec.class_index(class_idx)
        p = float(self.probabilities(name)[c])
        panels = [("image", None), (METHODS[method].label, cam)]
        if r is not None:
            panels += [(f"L_den  β={r.beta_denoised[0]:.3f}", r.denoised[0]),
                       (f"L_reg  β={r.beta_region[0]:.3f}", r.region[0]),
                       (f"L_fused  β={r.beta_fused[0]:.3f}", r.fused[0])]
        size = (2.6 * len(panels) + 0.7, 3.0)   # + the colour bar
        fig = plt.figure(figsize=size, layout="constrained") if pyplot else Figure(figsize=size, layout="constrained")
        axes = fig.subplots(1, len(panels), squeeze=False)
        for ax, (title, m) in zip(axes[0], panels):
            show_cam(ax, image, m, title)
        add_colorbar(fig, axes[0, 1:])
        extra = f" · θ={theta:g} → UnionCAM chose {r.chosen[0]}" if r is not None else ""
        fig.suptitle(escape_mathtext(f"{name}: class '{self.spec.categories[c]}' (p={p:.2f}) · layer "
                                     f"{layer or self.layers[0]}{extra}"), fontsize=10)   # a file name as written
        return fig
