"""The widgets of notebook 07 and of ``make app`` (:class:`ExplorerApp`) around an
:class:`~.explorer.Explorer`: controls, a busy state, and one worker thread.

ipywidgets is imported only here, when an app is made (it is a notebook dependency, not a
library one). Each callback is a method that a test can call with a fake ``change``; the work
runs on one worker thread with a busy state and stale requests dropped, and ``wait()`` returns
once it is on screen. :func:`upload_items` reads a ``FileUpload`` value of ipywidgets 7 or 8
(:func:`upload_sizes`: the sizes the browser reported).
"""
from __future__ import annotations

import base64
import contextlib
import functools
import html
import io
import threading
from collections.abc import Callable, Iterator
from typing import Any

from matplotlib.figure import Figure

from ...cams import METHODS
from .explorer import Explorer, decode_upload

#: A snapshot of the controls (image, class_text, method, layer, theta) that one job computes.
Request = dict[str, Any]
#: The work of one request, on the worker: returns what puts its result on screen.
Job = Callable[[], Callable[[], None]]


def upload_items(value: Any) -> list[tuple[str, bytes]]:
    """``FileUpload.value`` -> [(file name, bytes)]: a tuple of dicts (ipywidgets 8) or a dict (7)."""
    if isinstance(value, dict):  # ipywidgets 7: {name: {"metadata": ..., "content": bytes}}
        return [(name, bytes(item["content"])) for name, item in value.items()]
    return [(item["name"], bytes(item["content"])) for item in value or ()]


def upload_sizes(value: Any) -> dict[str, int]:
    """``FileUpload.value`` -> {file name: its size as the browser reported it}. The app's page sends
    no content of a file over the upload limit (template ``unioncam``), only its name and size."""
    if isinstance(value, dict):
        return {name: int(item.get("metadata", {}).get("size", len(item["content"]))) for name, item in value.items()}
    return {item["name"]: int(item.get("size", len(item["content"]))) for item in value or ()}


class ExplorerApp:
    """The widgets of notebook 07 (and of ``make app``) around an :class:`Explorer`; ``box`` is what to display.

    Controls: ``image`` (dropdown) and ``upload`` (FileUpload), ``klass`` (a Combobox: the
    top-k predictions first, then any of the 1000 class names, or type a name or an index),
    ``method``, ``layer`` and ``theta``; ``status`` says what is being computed or what went
    wrong, ``out`` holds the figure.

    A change of a control never computes in the widget callback itself: the callback
    (``on_image``, ``on_upload``, ``redraw``; each takes a ``change``) records the request,
    shows "computing …" with what is being computed, disables the controls, fades the old
    figure, and hands the work to one worker thread (a new layer takes seconds on a CPU: see
    benchmarks/RESULTS.md); meanwhile the kernel stays free to receive newer requests. Only the
    newest request is ever shown: a request superseded before it starts is skipped, one
    superseded while it computes is dropped when it finishes, so the figure never belongs to
    other controls than the ones on screen. The worker is the explorer's (``Explorer.worker``), shared by all its
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
        self.theta_note = widgets.HTML()   # why θ changes nothing here, when it cannot (Explorer.theta_notice)
        self.out = widgets.Output()
        self.figure: Figure | None = None   # the matplotlib Figure shown in ``out`` (not managed by pyplot)
        self.busy = False
        self.error: BaseException | None = None   # the last unexpected error of the worker (also in status)
        self._lock = threading.Lock()             # guards _generation and every change of what is on screen
        self._generation = 0
        self._klass_image: str | None = None      # the image whose classes the class box offers
        self._local = threading.local()           # per thread: are we changing controls ourselves?
        self._worker = explorer.worker()          # shared by every app of this explorer
        self.image.observe(self.on_image, names="value")
        self.upload.observe(self.on_upload, names="value")
        for w in (self.klass, self.method, self.layer, self.theta):
            w.observe(self.redraw, names="value")
        self.box = widgets.VBox([widgets.HBox([self.image, self.upload]),
                                 widgets.HBox([self.klass, self.method, self.layer]),
                                 self.theta, self.theta_note, self.status, self.out, widgets.HTML(self.STYLE)])
        self.on_image()
        self.wait()

    # ------------------------------------------------------------------ callbacks (kernel thread)
    def on_image(self, change: Any = None) -> Request | None:
        """A new image: its own top-k classes first, its prediction selected, one figure."""
        if self._quiet:
            return None
        request = self._request(class_text=None)
        self._submit(f"computing the top-{self.explorer.top_k} classes and {self._describe(request)}",
                     lambda: self._draw_job(request))
        return request

    def on_upload(self, change: Any) -> Request | None:
        """Add the uploaded file as an image and show it; an unreadable file gives one ``error:`` line."""
        if self._quiet:
            return None
        items = upload_items(change["new"])
        if not items:
            return None
        request = self._request(class_text=None)
        names = ", ".join(name for name, _ in items)
        sizes = upload_sizes(change["new"])
        self._submit(f"reading {names} and computing its top-{self.explorer.top_k} classes and "
                     f"{METHODS[request['method']].label}", lambda: self._upload_job(items, request, sizes),
                     skippable=False)
        return request

    def redraw(self, change: Any = None) -> Request | None:
        """The figure for the current controls (class, method, layer, θ)."""
        if self._quiet:
            return None
        # the class box holds the classes of the image last shown; for an image still being
        # computed (its request pending or dropped), the class is that image's prediction
        text = self.klass.value if self._klass_image == self.image.value else None
        request = self._request(class_text=text)
        self._submit(f"computing {self._describe(request)}", lambda: self._draw_job(request))
        return request

    def wait(self, timeout: float | None = None) -> Figure | None:
        """Block until every request made so far is on screen (or dropped); returns ``figure``."""
        self._worker.submit(lambda: None).result(timeout)
        return self.figure

    # ------------------------------------------------------------------ requests
    def _request(self, class_text: str | None) -> Request:
        """A snapshot of the controls: the worker must not read widgets that may change meanwhile."""
        return dict(image=self.image.value, class_text=class_text, method=self.method.value,
                    layer=self.layer.value, theta=float(self.theta.value))

    def _describe(self, r: Request) -> str:
        what = METHODS[r["method"]].label + f" for '{r['image']}'"
        what += " (its top class)" if r["class_text"] is None else f", class '{r['class_text'] or 'predicted'}'"
        what += f", layer {r['layer']}"
        return what + (f", θ={r['theta']:g}" if r["method"] == "unioncam" else "")

    def _submit(self, doing: str, job: Job, skippable: bool = True) -> None:
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

    def _run(self, generation: int, job: Job, skippable: bool) -> None:
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
    def _draw_job(self, r: Request) -> Callable[[], None]:
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
        note = explorer.theta_notice(name, class_idx, r["layer"]) if r["method"] == "unioncam" else ""

        def apply() -> None:
            if options is not None:
                self.klass.options, self.klass.value = options, class_text
                self._klass_image = name
            self.figure = fig
            self.out.outputs = (output,)
            self.status.value = ""
            self.theta_note.value = f"<small>{html.escape(note)}</small>" if note else ""
        return apply

    def _upload_job(self, items: list[tuple[str, bytes]], r: Request, sizes: dict[str, int] | None = None
                    ) -> Callable[[], None]:
        """Add the uploaded images (bytes and reported ``sizes`` checked by :func:`decode_upload`), then
        draw the last one."""
        def failed(message: str) -> None:
            self.upload.value = ()                      # the same file can be chosen again
            self._show_status(message)

        added = None
        for filename, content in items:
            try:
                image = decode_upload(content, size=(sizes or {}).get(filename))   # over a limit: a ValueError
                added = self.explorer.add_image(filename, image)
            except ValueError as err:
                return functools.partial(failed, f"error: <b>{html.escape(filename)}</b>: {html.escape(str(err))}")
        draw = self._draw_job({**r, "image": added})

        def apply() -> None:
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
    def _quietly(self) -> Iterator[None]:
        """Controls changed by this thread inside the block do not trigger callbacks."""
        self._local.quiet = True
        try:
            yield
        finally:
            self._local.quiet = False


def _display_output(fig: Figure) -> dict[str, Any]:
    """A ``display_data`` output (PNG) for an Output widget, rendered by matplotlib itself: the
    kernel's matplotlib backend may be Agg (``MPLBACKEND=Agg``, Voilà), which registers no
    PNG formatter with IPython."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return {"output_type": "display_data", "metadata": {},
            "data": {"image/png": base64.b64encode(buf.getvalue()).decode("ascii"), "text/plain": repr(fig)}}
