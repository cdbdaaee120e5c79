"""The logic behind notebook 07's widgets, as plain functions and methods a test can call.

* :func:`decode_upload` turns the bytes of an uploaded file into a PIL image (or a clear
  ``ValueError``); :func:`upload_items` reads a ``FileUpload`` value of ipywidgets 7 or 8.
* :class:`Explorer` holds the model, the images and the caches. A gradient method's map
  costs one backward pass per (image, class, method, layer) and is kept; UnionCAM keeps one
  cached :class:`~unioncam_lite.cams.UnionCAM` per layer, so moving θ costs two forward passes
  and a new image or class recomputes the region map once. Score-CAM *is* UnionCAM's region
  map, so it is taken from the same cache. ``draw`` makes the figure the widgets show.
* :class:`ExplorerApp` builds the ipywidgets controls (imported only here: ipywidgets is a
  notebook dependency, not a library one) and wires them to ``Explorer``; each callback is a
  method that a test can call with a fake ``change``.
"""
from __future__ import annotations

import io

import matplotlib.pyplot as plt
import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .cams import METHODS, UnionCAM, UnionResult, compute_cam
from .images import load_image, sample_images
from .models import ModelSpec, resolve_layer
from .viz import show_cam


def decode_upload(content: bytes | bytearray | memoryview) -> Image.Image:
    """Bytes of an uploaded file -> RGB PIL image; a clear ValueError if they are not an image."""
    if not isinstance(content, (bytes, bytearray, memoryview)):
        raise TypeError(f"an upload is bytes, not {type(content).__name__}")
    if len(content) == 0:
        raise ValueError("the uploaded file is empty: upload a JPEG or PNG photograph")
    try:
        image = Image.open(io.BytesIO(bytes(content)))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise ValueError(f"the uploaded file is not a readable image ({type(err).__name__}): "
                         "upload a JPEG or PNG photograph") from err
    return image.convert("RGB")


def upload_items(value) -> list[tuple[str, bytes]]:
    """``FileUpload.value`` -> [(file name, bytes)]: a tuple of dicts (ipywidgets 8) or a dict (7)."""
    if isinstance(value, dict):  # ipywidgets 7: {name: {"metadata": ..., "content": bytes}}
        return [(name, bytes(item["content"])) for name, item in value.items()]
    return [(item["name"], bytes(item["content"])) for item in value or ()]


class Explorer:
    """Images, classes, methods and θ for one model; ``draw`` makes the figure the widgets show."""

    def __init__(self, model: torch.nn.Module, spec: ModelSpec, layers: tuple[str, ...] | None = None,
                 top_k: int = 5):
        self.model, self.spec, self.top_k = model, spec, top_k
        self.device = next(model.parameters()).device
        self.layers = tuple(layers or (spec.target_layer,))
        for layer in self.layers:
            resolve_layer(model, layer)
        self.images: dict[str, tuple[np.ndarray, torch.Tensor]] = {}
        self._probs: dict[str, torch.Tensor] = {}
        self._maps: dict[tuple, torch.Tensor] = {}
        for name, path in sample_images().items():
            self.add_image(name, path)
        self._union = {layer: UnionCAM(model, layer, mean=spec.mean, std=spec.std) for layer in self.layers}

    # ------------------------------------------------------------------ images
    def add_image(self, name: str, source) -> str:
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
    def probabilities(self, name: str) -> torch.Tensor:
        """Softmax probabilities (C,) of the unmasked image (one forward pass, then cached)."""
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
    def cam(self, name: str, class_idx: int | None, method: str, theta: float = 10.0,
            layer: str | None = None) -> tuple[torch.Tensor, UnionResult | None]:
        """The (H, W) map of one method in [0, 1]; for UnionCAM also its full result, else None."""
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}: choose from {', '.join(METHODS)}")
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
                self._maps[key] = compute_cam(method, self.model, x, layer, c,
                                              mean=self.spec.mean, std=self.spec.std)[0]
        return self._maps[key], None

    def draw(self, name: str, class_idx: int | None = None, theta: float = 10.0, method: str = "unioncam",
             layer: str | None = None):
        """The figure: the image and the method's map; for UnionCAM also its three maps and βs."""
        cam, r = self.cam(name, class_idx, method, theta, layer)
        image = self.images[name][0]
        c = self.predicted(name) if class_idx is None else self.spec.class_index(class_idx)
        p = float(self.probabilities(name)[c])
        panels = [("image", None), (METHODS[method][0], cam)]
        if r is not None:
            panels += [(f"L_den  β={r.beta_denoised[0]:.3f}", r.denoised[0]),
                       (f"L_reg  β={r.beta_region[0]:.3f}", r.region[0]),
                       (f"L_fused  β={r.beta_fused[0]:.3f}", r.fused[0])]
        fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 3.0), squeeze=False)
        for ax, (title, m) in zip(axes[0], panels):
            show_cam(ax, image, m, title)
        extra = f" · θ={theta:g} → UnionCAM chose {r.chosen[0]}" if r is not None else ""
        fig.suptitle(f"{name}: class '{self.spec.categories[c]}' (p={p:.2f}) · layer {layer or self.layers[0]}{extra}",
                     fontsize=10)
        fig.tight_layout()
        return fig


class ExplorerApp:
    """The widgets of notebook 07 around an :class:`Explorer`; ``box`` is what to display.

    Controls: ``image`` (dropdown) and ``upload`` (FileUpload), ``klass`` (a Combobox: the
    top-k predictions first, then any of the 1000 class names, or type a name or an index),
    ``method``, ``layer`` and ``theta``; ``status`` shows errors, ``out`` the figure. Every
    callback is a method (``on_image``, ``on_upload``, ``redraw``) that takes a ``change``.
    """

    def __init__(self, explorer: Explorer, image: str = "chelsea", method: str = "unioncam", theta: float = 10.0):
        import ipywidgets as widgets

        self.explorer = explorer
        self.image = widgets.Dropdown(options=list(explorer.images), value=image, description="image")
        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description="your image")
        self.klass = widgets.Combobox(options=explorer.classes_for(image), value=explorer.top_classes(image)[0][0],
                                      placeholder="class name or index", description="class",
                                      ensure_option=False, continuous_update=False)
        self.method = widgets.Dropdown(options=[(label, key) for key, (label, _) in METHODS.items()], value=method,
                                       description="method")
        self.layer = widgets.Dropdown(options=list(explorer.layers), description="layer")
        self.theta = widgets.FloatSlider(value=theta, min=0, max=100, step=5, description="θ",
                                         continuous_update=False)
        self.status = widgets.HTML()
        self.out = widgets.Output()
        self.figure = None
        self._quiet = False
        self.image.observe(self.on_image, names="value")
        self.upload.observe(self.on_upload, names="value")
        for w in (self.klass, self.method, self.layer, self.theta):
            w.observe(self.redraw, names="value")
        self.box = widgets.VBox([widgets.HBox([self.image, self.upload]),
                                 widgets.HBox([self.klass, self.method, self.layer]),
                                 self.theta, self.status, self.out])
        self.redraw()

    def on_image(self, change=None):
        """A new image: offer its own top-k classes first, select its prediction, redraw once."""
        name = self.image.value
        self._quiet = True
        try:
            self.klass.options = self.explorer.classes_for(name)
            self.klass.value = self.explorer.top_classes(name)[0][0]
        finally:
            self._quiet = False
        return self.redraw()

    def on_upload(self, change):
        """Add each uploaded file as an image and show it; unreadable files go to ``status``."""
        added = None
        for filename, content in upload_items(change["new"]):
            try:
                added = self.explorer.add_image(filename, content)
            except ValueError as err:
                self.status.value = f"<b>{filename}</b>: {err}"
                return None
        if added is None:
            return None
        self._quiet = True
        try:
            self.image.options = list(self.explorer.images)
            self.image.value = added
        finally:
            self._quiet = False
        return self.on_image()

    def redraw(self, change=None):
        """Draw the figure for the current controls into ``out``; returns it (None on an error)."""
        if self._quiet:
            return None
        name = self.image.value
        self.theta.disabled = self.method.value != "unioncam"
        try:
            class_idx = self.explorer.resolve_class(name, self.klass.value)
        except ValueError as err:
            self.status.value = str(err)
            return None
        self.status.value = ""
        fig = self.explorer.draw(name, class_idx, self.theta.value, self.method.value, self.layer.value)
        # Replace the Output widget's content in one state update rather than `with out: display(fig)`:
        # a large image captured through the Output context stalls nbclient/nbconvert execution
        # until its cell timeout (the kernel has finished; the shell reply is not picked up).
        self.out.outputs = (_display_output(fig),)
        plt.close(fig)
        self.figure = fig
        return fig


def _display_output(obj) -> dict:
    """A ``display_data`` output for an Output widget, formatted by the running IPython (PNG inline)."""
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:  # plain Python (tests): no formatter, a text placeholder
        data, metadata = {"text/plain": repr(obj)}, {}
    else:
        data, metadata = shell.display_formatter.format(obj)
    return {"output_type": "display_data", "data": data, "metadata": metadata}
