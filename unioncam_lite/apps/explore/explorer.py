"""The logic behind notebook 07's widgets (:class:`Explorer`), as plain methods a test can call.

:class:`Explorer` holds the model, the images and the caches. A gradient method's map costs one
backward pass per (image, class, method, layer) and is kept; UnionCAM keeps one cached
:class:`~unioncam_lite.cams.UnionCAM` per layer (and one more for the fast preview), so moving θ
costs two forward passes and a new image or class recomputes the region map once. Score-CAM is
the region map with Score-CAM's softmax weights (UnionCAM's own uses the paper's, §3.2), so it has
its own cached explainer (``region_weights="softmax"``). ``draw`` makes the figure the
widgets show; ``draw_first`` the one they show while the region map's masked passes run (Grad-CAM
and the denoised map, ready after one backward pass); ``diagnosis`` says why the maps look as they
do (:func:`~unioncam_lite.cams.diagnose`). Uploads are read by :mod:`.uploads`.
"""
from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image

from ...cams import METHODS, compute_cam
from ...cams.capture import Capture, capture
from ...cams.common import upsample_normalize
from ...cams.diagnose import Diagnosis, diagnose_capture
from ...cams.fingerprint import model_fingerprint, weights_held
from ...cams.gradient import gradcam_map
from ...cams.unioncam import UnionCAM, UnionResult, denoise_gradients, denoised_cam
from ...data.images import load_image, sample_images
from ...device import model_device
from ...models import ModelSpec, resolve_layer
from .figures import Panel, panel_figure
from .uploads import MAX_UPLOAD_BYTES, MAX_UPLOAD_PIXELS, decode_upload

__all__ = ["Explorer", "MAX_UPLOAD_BYTES", "MAX_UPLOAD_PIXELS", "PREVIEW_TOP_K", "decode_upload"]

F = TypeVar("F", bound=Callable[..., Any])

#: The fast preview's region map: Score-CAM from only the k channels of largest activation variance
#: (``CamOptions(top_k=...)``, Faster Score-CAM) — an approximation, labelled as one in the app. The
#: course's choice: at most 128 masked passes where EfficientNet-Lite0's head_act (1280 channels) needs
#: 400-550 on the sample photos (after the exact skipping of dead and duplicate channels).
PREVIEW_TOP_K = 128
#: The methods whose map comes from masked passes (the preview and the progress bar concern them).
REGION_METHODS = ("scorecam", "unioncam")
_CACHED = 16   # captures and diagnoses kept (oldest dropped first), as UnionCAM keeps θ-free parts


def _locked(method: F) -> F:
    """Run ``method`` holding its object's ``lock``, with the weights read at most once (``weights_held``)."""
    @functools.wraps(method)
    def locked(self: Explorer, *args: Any, **kwargs: Any) -> Any:
        with self.lock, weights_held(self.model):
            return method(self, *args, **kwargs)
    return locked  # type: ignore[return-value]


def _bounded(cache: dict, key: Any, value: Any) -> Any:
    cache[key] = value
    while len(cache) > _CACHED:
        cache.pop(next(iter(cache)))
    return value


class Explorer:
    """Images, classes, methods and θ for one model; ``draw`` makes the figure the widgets show."""

    def __init__(self, model: torch.nn.Module, spec: ModelSpec, layers: tuple[str, ...] | None = None,
                 top_k: int = 5, preview_top_k: int = PREVIEW_TOP_K):
        self.model, self.spec, self.top_k, self.preview_top_k = model, spec, top_k, preview_top_k
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
        self._captures: dict[tuple, Capture] = {}
        self._diagnoses: dict[tuple, Diagnosis] = {}
        self._regions: set[tuple] = set()      # (image, class, layer, preview) whose region map was computed
        for name, path in sample_images().items():
            self.add_image(name, path)
        # one cached explainer per layer and preview; Score-CAM's is the region map under Score-CAM's softmax weights
        self._union, self._scorecam = ({(layer, preview): UnionCAM(
            model, layer, mean=spec.mean, std=spec.std, reshape_transform=spec.reshape_transform,
            top_k=preview_top_k if preview else None, region_weights=weights)
            for layer in self.layers for preview in (False, True)} for weights in ("paper", "softmax"))
        self._fingerprint = model_fingerprint(model)

    def _check_model(self) -> None:
        """Forget every cached probability and map when the model's weights changed since they were made."""
        fingerprint = model_fingerprint(self.model)
        if fingerprint != self._fingerprint:
            for cache in (self._probs, self._maps, self._captures, self._diagnoses, self._regions):
                cache.clear()
            for explainer in (*self._union.values(), *self._scorecam.values()):
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
        for cache in (self._maps, self._captures, self._diagnoses):
            for key in [k for k in cache if k[0] == name]:
                del cache[key]
        self._regions = {k for k in self._regions if k[0] != name}
        return name

    def _check_image(self, name: str) -> tuple[np.ndarray, torch.Tensor]:
        if name not in self.images:
            raise ValueError(f"unknown image {name!r}: choose from {', '.join(self.images)}")
        return self.images[name]

    def _check_layer(self, layer: str | None) -> str:
        layer = layer or self.layers[0]
        if layer not in self.layers:
            raise ValueError(f"layer {layer!r} is not one of this explorer's layers: {', '.join(self.layers)}")
        return layer

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

    def _class(self, name: str, class_idx: int | None) -> int:
        return self.predicted(name) if class_idx is None else self.spec.class_index(class_idx)

    # ------------------------------------------------------------------ maps
    @_locked
    def cam(self, name: str, class_idx: int | None, method: str, theta: float = 10.0,
            layer: str | None = None, preview: bool = False) -> tuple[torch.Tensor, UnionResult | None]:
        """The (H, W) map of one method in [0, 1]; for UnionCAM also its full result, else None.
        ``preview``: Score-CAM's and UnionCAM's region map from the top-k channels (an approximation)."""
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}: choose from {', '.join(METHODS)}")
        self._check_model()
        layer = self._check_layer(layer)
        x = self._check_image(name)[1]
        c = self._class(name, class_idx)
        preview = preview and method in REGION_METHODS
        if method == "unioncam":
            r = self._union[layer, preview](x, c, theta)
            self._regions.add((name, c, layer, preview, method))
            return r.cam[0], r
        key = (name, c, method, layer, preview)
        if key not in self._maps:
            if method == "scorecam":
                self._maps[key] = self._scorecam[layer, preview].theta_free(x, c).region[0]
                self._regions.add((name, c, layer, preview, method))
            else:
                self._maps[key] = compute_cam(method, self.model, x, layer, c, mean=self.spec.mean, std=self.spec.std,
                                              reshape_transform=self.spec.reshape_transform)[0]
        return self._maps[key], None

    def region_ready(self, name: str, class_idx: int | None, layer: str | None = None, preview: bool = False,
                     method: str = "unioncam") -> bool:
        """Whether ``method``'s region map for this image, class and layer is computed (no masked passes now)."""
        return (name, self._class(name, class_idx), self._check_layer(layer), preview, method) in self._regions

    @_locked
    def capture(self, name: str, class_idx: int | None = None, layer: str | None = None) -> Capture:
        """The forward+backward capture (A, W) of this image, class and layer (cached)."""
        self._check_model()
        layer = self._check_layer(layer)
        c = self._class(name, class_idx)
        key = (name, c, layer)
        if key not in self._captures:
            x = self._check_image(name)[1]
            _bounded(self._captures, key, capture(self.model, x, layer, c,
                                                  reshape_transform=self.spec.reshape_transform))
        return self._captures[key]

    @_locked
    def first_maps(self, name: str, class_idx: int | None = None, theta: float = 10.0,
                   layer: str | None = None) -> dict[str, torch.Tensor]:
        """Grad-CAM and UnionCAM's denoised map L_den (Eq. 1-3), (H, W) in [0, 1], from one capture: what is
        ready before the region map's masked passes (L_den's β needs a masked pass, so it comes later)."""
        cap = self.capture(name, class_idx, layer)
        A, W = cap.activations, cap.require_gradients()
        size = self._check_image(name)[1].shape[-2:]
        return {"Grad-CAM": upsample_normalize(gradcam_map(A, W), size)[0],
                "L_den": upsample_normalize(denoised_cam(A, denoise_gradients(W, theta)), size)[0]}

    @_locked
    def diagnosis(self, name: str, class_idx: int | None = None, layer: str | None = None) -> Diagnosis:
        """:func:`~unioncam_lite.cams.diagnose` for this image, class and layer (from the cached capture)."""
        layer = self._check_layer(layer)
        key = (name, self._class(name, class_idx), layer)
        cap = self.capture(name, class_idx, layer)     # checks the model first: a stale diagnosis is dropped
        if key not in self._diagnoses:
            _bounded(self._diagnoses, key, diagnose_capture(cap, layer))
        return self._diagnoses[key]

    def theta_notice(self, name: str, class_idx: int | None = None, layer: str | None = None) -> str:
        """One sentence when θ cannot change UnionCAM for this image, class and layer (its gradients are
        the same at every position, so Eq. 1 removes nothing), else ''. From :meth:`diagnosis`."""
        d = self.diagnosis(name, class_idx, layer)
        if float(d.constant_gradient_channels[0]) < 1.0 or float(d.zero_gradients[0]) == 1.0:
            return ""
        return ("θ cannot change the map at this layer: its gradients are the same at every position (a "
                "global-average-pool head), so Eq. 1 removes nothing. A layer before the pooling, or a model "
                "with a flattened head (shapes_vgg, vgg16), lets θ act.")

    # ------------------------------------------------------------------ figures
    def _figure(self, name: str, c: int, layer: str, panels: list[Panel], extra: str, pyplot: bool) -> Figure:
        p = float(self.probabilities(name)[c])
        return panel_figure(self.images[name][0], panels, f"{name}: class '{self.spec.categories[c]}' (p={p:.2f}) · "
                            f"layer {layer}{extra}", pyplot)

    @_locked
    def draw(self, name: str, class_idx: int | None = None, theta: float = 10.0, method: str = "unioncam",
             layer: str | None = None, pyplot: bool = True, preview: bool = False) -> Figure:
        """The figure: the image and the method's map; for UnionCAM also its three maps and βs.

        ``pyplot=False``: a figure pyplot does not know (:func:`.figures.panel_figure`, for the
        worker thread). ``preview``: the region map from the top-k channels, said in the title.
        """
        cam, r = self.cam(name, class_idx, method, theta, layer, preview)
        layer, c = self._check_layer(layer), self._class(name, class_idx)
        approximate = preview and method in REGION_METHODS
        panels: list[Panel] = [("image", None), (METHODS[method].label, cam)]
        if r is not None:
            panels += [(f"L_den  β={r.beta_denoised[0]:.3f}", r.denoised[0]),
                       (f"L_reg  β={r.beta_region[0]:.3f}", r.region[0]),
                       (f"L_fused  β={r.beta_fused[0]:.3f}", r.fused[0])]
        extra = f" · θ={theta:g} → UnionCAM chose {r.chosen[0]}" if r is not None else ""
        if approximate:
            k = self.capture(name, c, layer).activations.shape[1]
            extra += (f" · fast preview: top-{self.preview_top_k} of {k} channels (an approximation)"
                      if self.preview_top_k < k else f" · fast preview: all {k} channels (exact here)")
        return self._figure(name, c, layer, panels, extra, pyplot)

    @_locked
    def draw_first(self, name: str, class_idx: int | None = None, theta: float = 10.0, layer: str | None = None,
                   pyplot: bool = True) -> Figure:
        """UnionCAM's figure before its region map: Grad-CAM where UnionCAM will be, L_den, and the two
        maps still to come marked as computing (the same five panels as :meth:`draw`, so nothing moves)."""
        maps = self.first_maps(name, class_idx, theta, layer)
        pending = "computing the region\nmap's masked passes …"
        panels: list[Panel] = [
            ("image", None), ("Grad-CAM (UnionCAM follows)", maps["Grad-CAM"]), ("L_den  (β follows)", maps["L_den"]),
            ("L_reg", pending), ("L_fused", pending)]
        return self._figure(name, self._class(name, class_idx), self._check_layer(layer), panels,
                            f" · θ={theta:g} · UnionCAM: computing", pyplot)
