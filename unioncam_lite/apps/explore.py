"""The logic behind notebook 07's widgets, as plain functions and methods a test can call.

* :func:`decode_upload` turns the bytes of an uploaded file into a PIL image (or a clear
  ``ValueError``); :func:`upload_items` reads a ``FileUpload`` value of ipywidgets 7 or 8.
* :class:`Explorer` holds the model, the images and the caches. A gradient method's map
  costs one backward pass per (image, class, method, layer) and is kept; UnionCAM keeps one
  cached :class:`~unioncam_lite.cams.UnionCAM` per layer, so moving θ costs two forward passes
  and a new image or class recomputes the region map once. Score-CAM *is* UnionCAM's region
  map, so it is taken from the same cache. ``draw`` makes the figure the widgets show.
* :class:`ExplorerApp` builds the ipywidgets controls (imported only here: ipywidgets is a
  notebook dependency, not a library one) and wires them to ``Explorer``. Each callback is a
  method that a test can call with a fake ``change``; the work runs on one worker thread with
  a busy state and stale requests dropped, and ``wait()`` returns once it is on screen.
"""
from __future__ import annotations

import base64
import contextlib
import functools
import html
import io
import threading
from concurrent.futures import ThreadPoolExecutor

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..cams import METHODS, UnionCAM, UnionResult, compute_cam
from ..cams.fingerprint import model_fingerprint, weights_held
from ..data.images import load_image, sample_images
from ..models import ModelSpec, resolve_layer
from ..viz import add_colorbar, show_cam


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


def _locked(method):
    """Run ``method`` holding its object's ``lock``, with the weights read at most once (``weights_held``)."""
    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with self.lock, weights_held(self.model):
            return method(self, *args, **kwargs)
    return locked


class Explorer:
    """Images, classes, methods and θ for one model; ``draw`` makes the figure the widgets show."""

    def __init__(self, model: torch.nn.Module, spec: ModelSpec, layers: tuple[str, ...] | None = None,
                 top_k: int = 5):
        self.model, self.spec, self.top_k = model, spec, top_k
        # every method that runs the model or touches the caches holds this lock: the hooks that
        # capture activations belong to one call at a time, whichever thread it comes from
        self.lock = threading.RLock()
        self._worker: ThreadPoolExecutor | None = None
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
                self._maps[key] = compute_cam(method, self.model, x, layer, c,
                                              mean=self.spec.mean, std=self.spec.std)[0]
        return self._maps[key], None

    @_locked
    def draw(self, name: str, class_idx: int | None = None, theta: float = 10.0, method: str = "unioncam",
             layer: str | None = None, pyplot: bool = True):
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
        fig.suptitle(f"{name}: class '{self.spec.categories[c]}' (p={p:.2f}) · layer {layer or self.layers[0]}{extra}",
                     fontsize=10)
        return fig


class ExplorerApp:
    """The widgets of notebook 07 (and of ``make app``) around an :class:`Explorer`; ``box`` is what to display.

    Controls: ``image`` (dropdown) and ``upload`` (FileUpload), ``klass`` (a Combobox: the
    top-k predictions first, then any of the 1000 class names, or type a name or an index),
    ``method``, ``layer`` and ``theta``; ``status`` says what is being computed or what went
    wrong, ``out`` holds the figure.

    A change of a control never computes in the widget callback itself: the callback
    (``on_image``, ``on_upload``, ``redraw``; each takes a ``change``) records the request,
    shows "computing …" with what is being computed, disables the controls, fades the old
    figure, and hands the work to one worker thread. A new layer takes ~12 s on 2 CPU
    cores; meanwhile the kernel stays free to receive newer requests. Only the newest request
    is ever shown: a request superseded before it starts is skipped, one superseded while it
    computes is dropped when it finishes, so the figure never belongs to other controls than
    the ones on screen. The worker is the explorer's (``Explorer.worker``), shared by all its
    apps, and ``Explorer`` holds its ``lock`` while it runs the model, so cells that call the
    explorer meanwhile wait instead of mixing their hooks with the app's.

    ``wait()`` blocks until every request made so far is done and returns the figure; code
    that changes a control (tests, notebook cells) calls it before reading ``figure``,
    ``status`` or ``out``. The constructor waits for the first figure.
    """

    STYLE = "<style>.ucl-stale {opacity: 0.35; transition: opacity 0.2s;}</style>"

    def __init__(self, explorer: Explorer, image: str = "chelsea", method: str = "unioncam", theta: float = 10.0):
        import ipywidgets as widgets

        explorer._check_image(image)
        self.explorer = explorer
        self.image = widgets.Dropdown(options=list(explorer.images), value=image, description="image")
        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description="your image")
        self.klass = widgets.Combobox(options=[], value="", placeholder="class name or index", description="class",
                                      ensure_option=False, continuous_update=False)
        self.method = widgets.Dropdown(options=[(m.label, key) for key, m in METHODS.items()], value=method,
                                       description="method")
        self.layer = widgets.Dropdown(options=list(explorer.layers), description="layer")
        self.theta = widgets.FloatSlider(value=theta, min=0, max=100, step=5, description="θ",
                                         continuous_update=False)
        self.controls = (self.image, self.upload, self.klass, self.method, self.layer, self.theta)
        self.status = widgets.HTML()
        self.out = widgets.Output()
        self.figure = None          # the matplotlib Figure shown in ``out`` (not managed by pyplot)
        self.busy = False
        self.error: BaseException | None = None   # the last unexpected error of the worker (also in status)
        self._lock = threading.Lock()             # guards _generation and every change of what is on screen
        self._generation = 0
        self._klass_image = None                  # the image whose classes the class box offers
        self._local = threading.local()           # per thread: are we changing controls ourselves?
        self._worker = explorer.worker()          # shared by every app of this explorer
        self.image.observe(self.on_image, names="value")
        self.upload.observe(self.on_upload, names="value")
        for w in (self.klass, self.method, self.layer, self.theta):
            w.observe(self.redraw, names="value")
        self.box = widgets.VBox([widgets.HBox([self.image, self.upload]),
                                 widgets.HBox([self.klass, self.method, self.layer]),
                                 self.theta, self.status, self.out, widgets.HTML(self.STYLE)])
        self.on_image()
        self.wait()

    # ------------------------------------------------------------------ callbacks (kernel thread)
    def on_image(self, change=None):
        """A new image: its own top-k classes first, its prediction selected, one figure."""
        if self._quiet:
            return None
        request = self._request(class_text=None)
        self._submit(f"computing the top-{self.explorer.top_k} classes and {self._describe(request)}",
                     lambda: self._draw_job(request))
        return request

    def on_upload(self, change):
        """Add the uploaded file as an image and show it; an unreadable file gives one ``error:`` line."""
        if self._quiet:
            return None
        items = upload_items(change["new"])
        if not items:
            return None
        request = self._request(class_text=None)
        names = ", ".join(name for name, _ in items)
        self._submit(f"reading {names} and computing its top-{self.explorer.top_k} classes and "
                     f"{METHODS[request['method']].label}", lambda: self._upload_job(items, request), skippable=False)
        return request

    def redraw(self, change=None):
        """The figure for the current controls (class, method, layer, θ)."""
        if self._quiet:
            return None
        # the class box holds the classes of the image last shown; for an image still being
        # computed (its request pending or dropped), the class is that image's prediction
        text = self.klass.value if self._klass_image == self.image.value else None
        request = self._request(class_text=text)
        self._submit(f"computing {self._describe(request)}", lambda: self._draw_job(request))
        return request

    def wait(self, timeout: float | None = None):
        """Block until every request made so far is on screen (or dropped); returns ``figure``."""
        self._worker.submit(lambda: None).result(timeout)
        return self.figure

    # ------------------------------------------------------------------ requests
    def _request(self, class_text: str | None) -> dict:
        """A snapshot of the controls: the worker must not read widgets that may change meanwhile."""
        return dict(image=self.image.value, class_text=class_text, method=self.method.value,
                    layer=self.layer.value, theta=float(self.theta.value))

    def _describe(self, r: dict) -> str:
        what = METHODS[r["method"]].label + f" for '{r['image']}'"
        what += " (its top class)" if r["class_text"] is None else f", class '{r['class_text'] or 'predicted'}'"
        what += f", layer {r['layer']}"
        return what + (f", θ={r['theta']:g}" if r["method"] == "unioncam" else "")

    def _submit(self, doing: str, job, skippable: bool = True) -> None:
        """Show the busy state ("``doing`` …") and queue ``job`` on the worker (see the class docstring)."""
        with self._lock:
            self._generation += 1
            generation = self._generation
            self.busy = True
            self.status.value = f"<i>{html.escape(doing)} …</i>"
            for w in self.controls:
                w.disabled = True
            self.out.add_class("ucl-stale")
        self._worker.submit(self._run, generation, job, skippable)

    def _run(self, generation: int, job, skippable: bool) -> None:
        """On the worker: compute, then put the result on screen unless a newer request exists."""
        if skippable and generation != self._generation:
            return                                      # superseded before it started
        try:
            apply = job()
        except Exception as err:                        # noqa: BLE001 - shown, not lost in a thread
            apply = functools.partial(self._show_status, self._failed(err))
        with self._lock:
            if generation != self._generation:
                return                                  # superseded while computing: drop
            try:
                with self._quietly():
                    apply()
                    if list(self.image.options) != list(self.explorer.images):   # an upload was superseded
                        self.image.options, self.image.value = list(self.explorer.images), self.image.value
            except Exception as err:                    # noqa: BLE001
                self.status.value = self._failed(err)
            finally:
                self.busy = False
                for w in self.controls:
                    w.disabled = False
                self.theta.disabled = self.method.value != "unioncam"
                self.out.remove_class("ucl-stale")

    # ------------------------------------------------------------------ jobs (worker thread)
    def _draw_job(self, r: dict):
        """Compute the figure for request ``r``; returns what puts it on screen."""
        explorer, name = self.explorer, r["image"]
        try:
            if r["class_text"] is None:                 # a new image: its own top-k first, its prediction chosen
                options, class_text = explorer.classes_for(name), explorer.top_classes(name)[0][0]
            else:
                options, class_text = None, r["class_text"]
            class_idx = explorer.resolve_class(name, class_text)
        except ValueError as err:
            return functools.partial(self._show_status, html.escape(f"error: {err}"))
        fig = explorer.draw(name, class_idx, r["theta"], r["method"], r["layer"], pyplot=False)
        output = _display_output(fig)

        def apply():
            if options is not None:
                self.klass.options, self.klass.value = options, class_text
                self._klass_image = name
            self.figure = fig
            self.out.outputs = (output,)
            self.status.value = ""
        return apply

    def _upload_job(self, items: list[tuple[str, bytes]], r: dict):
        """Add the uploaded images (bytes checked by :func:`decode_upload`), then draw the last one."""
        def failed(message):
            self.upload.value = ()                      # the same file can be chosen again
            self._show_status(message)

        added = None
        for filename, content in items:
            try:
                added = self.explorer.add_image(filename, content)
            except ValueError as err:
                return functools.partial(failed, f"error: <b>{html.escape(filename)}</b>: {html.escape(str(err))}")
        draw = self._draw_job({**r, "image": added})

        def apply():
            self.upload.value = ()
            self.image.options, self.image.value = list(self.explorer.images), added
            draw()
        return apply

    def _failed(self, err: Exception) -> str:
        """Keep an unexpected error in ``error``; its one-line status (HTML)."""
        self.error = err
        return html.escape(f"error: {type(err).__name__}: {err}".splitlines()[0])

    def _show_status(self, message: str) -> None:
        self.status.value = message

    @property
    def _quiet(self) -> bool:
        return getattr(self._local, "quiet", False)

    @contextlib.contextmanager
    def _quietly(self):
        """Controls changed by this thread inside the block do not trigger callbacks."""
        self._local.quiet = True
        try:
            yield
        finally:
            self._local.quiet = False


def _display_output(fig) -> dict:
    """A ``display_data`` output (PNG) for an Output widget, rendered by matplotlib itself: the
    kernel's matplotlib backend may be Agg (``MPLBACKEND=Agg``, Voilà), which registers no
    PNG formatter with IPython."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return {"output_type": "display_data", "metadata": {},
            "data": {"image/png": base64.b64encode(buf.getvalue()).decode("ascii"), "text/plain": repr(fig)}}
