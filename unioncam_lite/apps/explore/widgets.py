"""The widgets of notebook 07 and of ``make app`` (:class:`ExplorerApp`) around an
:class:`~.explorer.Explorer`: controls, a busy state with a progress bar, and one worker thread.

ipywidgets is imported only here (and in :mod:`.status`), when an app is made. What is ready is shown
at once: Grad-CAM and the denoised map first, the masked passes' progress (:mod:`.progress`), the rest.
"""
from __future__ import annotations

import contextlib
import functools
import html
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from matplotlib.figure import Figure

from ...cams import METHODS, ThetaHasNoEffectWarning
from ...cams.masked import reporting_progress
from .explorer import REGION_METHODS, Explorer
from .figures import display_output
from .status import STYLE, StatusLine, Superseded, diagnosis_html
from .uploads import decode_upload, upload_items, upload_sizes

Request = dict[str, Any]   # a snapshot of the controls (image, class_text, method, layer, theta, preview)
Job = Callable[[], Callable[[], None]]   # one request's work, on the worker: returns what puts it on screen


class ExplorerApp:
    """The widgets of notebook 07 (and of ``make app``) around an :class:`Explorer`; ``box`` is what to display.

    Controls: ``image``, ``upload``, ``klass`` (top-k predictions first, then any class by name or
    index), ``method``, ``layer``, ``theta`` (``theta_note`` beside it when θ cannot act here) and
    ``preview`` (the top-k approximation of the region map). ``status`` shows ``message`` (plain
    text; an ``error:`` line styled as an error), ``progress`` the region map's masked passes,
    ``out`` the figure, ``diagnosis`` (folded) why the maps look as they do.

    A callback (``on_image``, ``on_upload``, ``redraw``; each takes a ``change``) never computes:
    it records the request, shows "computing …", disables the controls, fades the old figure and
    hands the work to one worker thread (the explorer's, shared by its apps; ``Explorer`` holds its
    ``lock`` while it runs the model). Only the newest request is ever shown: one superseded before
    it starts is skipped, one superseded while it computes stops at its next masked pass or is
    dropped when it finishes.

    ``wait()`` blocks until every request made so far is done and returns the figure; code
    that changes a control calls it before reading ``figure``, ``message`` or ``out``. The
    constructor waits for the first figure; ``wait=False`` (``make app``) returns at once, and the
    first figure arrives in stages like any other. The app says itself when θ has no effect, so the
    library's :class:`~unioncam_lite.cams.ThetaHasNoEffectWarning` is not printed as well.
    """

    def __init__(self, explorer: Explorer, image: str = "chelsea", method: str = "unioncam", theta: float = 10.0,
                 preview: bool = False, wait: bool = True):
        import ipywidgets as widgets

        explorer._check_image(image)
        warnings.filterwarnings("ignore", category=ThetaHasNoEffectWarning)   # theta_note says it on the page
        self.explorer = explorer
        self.image = widgets.Dropdown(options=list(explorer.images), value=image, description="image")
        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description="your image",
                                         tooltip="upload a JPEG or PNG photograph (up to 50 MB)",
                                         layout=widgets.Layout(width="auto"))
        self.upload.add_class("ucl-upload")           # its label without ipywidgets' file count "(0)"
        self.klass = widgets.Combobox(options=[], value="", placeholder="class name or index", description="class",
                                      ensure_option=False, continuous_update=False)
        self.method = widgets.Dropdown(options=[(m.label, key) for key, m in METHODS.items()], value=method,
                                       description="method")
        self.layer = widgets.Dropdown(options=list(explorer.layers), description="layer")
        self.theta = widgets.FloatSlider(value=theta, min=0, max=100, step=5, description="θ",
                                         continuous_update=False)
        self.preview = widgets.Checkbox(value=preview, indent=False, description=(
            f"fast preview — an approximation: the region map from the top-{explorer.preview_top_k} channels only"),
            layout=widgets.Layout(width="auto"), style={"description_width": "initial"})
        self.controls = (self.image, self.upload, self.klass, self.method, self.layer, self.theta, self.preview)
        self.theta_note = widgets.HTML(layout=widgets.Layout(width="60%", min_height="2.8em"))
        self.status_line = StatusLine()               # its row's height is reserved: the figure never moves
        self.status, self.progress = self.status_line.status, self.status_line.progress
        self.out = widgets.Output()
        self.diagnosis_text = widgets.HTML()
        self.diagnosis = widgets.Accordion(children=[self.diagnosis_text], titles=("Diagnosis",), selected_index=None)
        self.figure: Figure | None = None         # the matplotlib Figure shown in ``out`` (not managed by pyplot)
        self.busy = False
        self.error: BaseException | None = None   # the last unexpected error of the worker (also in status)
        self._lock = threading.Lock()             # guards _generation and every change of what is on screen
        self._generation = 0
        self._klass_image: str | None = None      # the image whose classes the class box offers
        self._local = threading.local()           # per thread: are we changing controls ourselves? which job?
        self._worker = explorer.worker()          # shared by every app of this explorer
        self.image.observe(self.on_image, names="value")
        self.upload.observe(self.on_upload, names="value")
        for w in (self.klass, self.method, self.layer, self.theta, self.preview):
            w.observe(self.redraw, names="value")
        self.box = widgets.VBox([widgets.HBox([self.image, self.upload]),
                                 widgets.HBox([self.klass, self.method, self.layer]),
                                 widgets.HBox([self.theta, self.theta_note]), self.preview, self.status_line.row,
                                 self.out, self.diagnosis, widgets.HTML(STYLE)])
        self.on_image()
        if wait:
            self.wait()

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
        """The figure for the current controls (class, method, layer, θ, preview)."""
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

    def _request(self, class_text: str | None) -> Request:
        """A snapshot of the controls: the worker must not read widgets that may change meanwhile."""
        return dict(image=self.image.value, class_text=class_text, method=self.method.value,
                    layer=self.layer.value, theta=float(self.theta.value),
                    preview=bool(self.preview.value) and self.method.value in REGION_METHODS)

    def _describe(self, r: Request) -> str:
        what = METHODS[r["method"]].label + f" for '{r['image']}'"
        what += " (its top class)" if r["class_text"] is None else f", class '{r['class_text'] or 'predicted'}'"
        what += f", layer {r['layer']}"
        what += f", θ={r['theta']:g}" if r["method"] == "unioncam" else ""
        return what + (" (fast preview)" if r["preview"] else "")

    @property
    def message(self) -> str:
        """The status line as plain text: "computing …", "error: …" or ""."""
        return self.status_line.message

    def _submit(self, doing: str, job: Job, skippable: bool = True) -> None:
        """Show the busy state ("``doing`` …") and queue ``job`` on the worker (see the class docstring)."""
        with self._lock:
            self._generation += 1
            generation = self._generation
            self.busy = True
            self.status_line.show(f"{doing} …", "busy")
            for w in self.controls:
                w.disabled = True
            self.out.add_class("ucl-stale")
        self._worker.submit(self._run, generation, job, skippable)

    def _run(self, generation: int, job: Job, skippable: bool) -> None:
        """On the worker: compute, then put the result on screen unless a newer request exists."""
        if skippable and generation != self._generation:
            return                                      # superseded before it started
        self._local.generation = generation
        try:
            apply = job()
        except Superseded:
            return                                      # stopped in its masked passes: a newer request runs next
        except Exception as err:                        # noqa: BLE001 - shown, not lost in a thread
            apply = functools.partial(self.status_line.show, self._failed(err), "error")
        with self._lock:
            if generation != self._generation:
                return                                  # superseded while computing: drop
            try:
                with self._quietly():
                    apply()
                    if list(self.image.options) != list(self.explorer.images):   # an upload was superseded
                        self.image.options, self.image.value = list(self.explorer.images), self.image.value
            except Exception as err:                    # noqa: BLE001
                self.status_line.show(self._failed(err), "error")
            finally:
                self.busy = False
                for w in self.controls:
                    w.disabled = False
                self.theta.disabled = self.method.value != "unioncam"
                self.preview.disabled = self.method.value not in REGION_METHODS
                self.out.remove_class("ucl-stale")
                self.status_line.hide_progress()

    def _show_now(self, apply: Callable[[], None]) -> None:
        """On the worker, in a job: put a partial result on screen now (the job goes on), unless superseded."""
        with self._lock:
            if self._local.generation != self._generation:
                raise Superseded
            with self._quietly():
                apply()

    def _draw_job(self, r: Request) -> Callable[[], None]:
        """Compute the figure for request ``r`` (showing what is ready meanwhile); returns what puts it on screen."""
        explorer, name, layer, method = self.explorer, r["image"], r["layer"], r["method"]
        try:
            if r["class_text"] is None:                 # a new image: its own top-k first, its prediction chosen
                options, class_text = explorer.classes_for(name), explorer.top_classes(name)[0][0]
            else:
                options, class_text = None, r["class_text"]
            class_idx = explorer.resolve_class(name, class_text)
        except ValueError as err:
            return functools.partial(self.status_line.show, f"error: {err}", "error")
        diagnosis = diagnosis_html(explorer.diagnosis(name, class_idx, layer))
        note = explorer.theta_notice(name, class_idx, layer) if method == "unioncam" else ""

        def context() -> None:                          # what belongs to this image, class and layer
            if options is not None:
                self.klass.options, self.klass.value = options, class_text
                self._klass_image = name
            self.theta_note.value = f"<div class='ucl-theta-note'>{html.escape(note)}</div>" if note else ""
            self.diagnosis_text.value = diagnosis
            self.diagnosis.set_title(0, f"Diagnosis: why the maps look as they do ({name}, layer {layer})")

        args = (name, class_idx, r["theta"], method, layer)
        if method in REGION_METHODS and not explorer.region_ready(name, class_idx, layer, r["preview"], method):
            first = explorer.draw_first(name, class_idx, r["theta"], layer, pyplot=False) \
                if method == "unioncam" else None
            self._show_now(functools.partial(self._show_first, context, first, METHODS[method].label, r["preview"]))
            generation = self._local.generation
            with reporting_progress(self.status_line.reporter(lambda: generation == self._generation, self._lock)):
                fig = explorer.draw(*args, pyplot=False, preview=r["preview"])
        else:
            fig = explorer.draw(*args, pyplot=False, preview=r["preview"])
        output = display_output(fig)

        def apply() -> None:
            context()
            self.figure = fig
            self.out.outputs = (output,)
            self.status_line.show("")
        return apply

    def _show_first(self, context: Callable[[], None], first: Figure | None, label: str, preview: bool) -> None:
        """While the region map's masked passes run: the context, and UnionCAM's first figure (Grad-CAM, L_den)."""
        context()
        if first is not None:
            self.figure = first
            self.out.outputs = (display_output(first),)
            self.out.remove_class("ucl-stale")
        which = f" of the top {self.explorer.preview_top_k} (fast preview)" if preview else ""
        self.status_line.show(f"computing {label}'s region map: one masked forward pass per channel{which} …", "busy")

    def _upload_job(self, items: list[tuple[str, bytes]], r: Request, sizes: dict[str, int] | None = None
                    ) -> Callable[[], None]:
        """Add the uploaded images (checked by :func:`decode_upload`), then draw the last one."""
        def failed(message: str) -> None:
            self.upload.value = ()                      # the same file can be chosen again
            self.status_line.show(message, "error")

        added = None
        for filename, content in items:
            try:
                image = decode_upload(content, size=(sizes or {}).get(filename))   # over a limit: a ValueError
                added = self.explorer.add_image(filename, image)
            except ValueError as err:
                return functools.partial(failed, f"error: {filename}: {err}")
        draw = self._draw_job({**r, "image": added})

        def apply() -> None:
            self.upload.value = ()
            self.image.options, self.image.value = list(self.explorer.images), added
            draw()
        return apply

    def _failed(self, err: Exception) -> str:
        """Keep an unexpected error in ``error``; its one-line message."""
        self.error = err
        return f"error: {type(err).__name__}: {err}".splitlines()[0]

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
