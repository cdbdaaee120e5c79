"""The explorer's status line (:class:`StatusLine`): what is being computed, an error styled as one,
and the region map's progress bar, in one row whose height is reserved so nothing below it moves.
Also the page's style sheet (:data:`STYLE`) and the diagnosis as HTML (:func:`diagnosis_html`)."""
from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable
from typing import Any

from ...cams.diagnose import Diagnosis
from .progress import PassProgress

STYLE = """<style>
.ucl-stale {opacity: 0.35; transition: opacity 0.2s;}
.ucl-status-row {min-height: 3.2em; align-items: center;}
.ucl-error {display: block; color: #a4000f; background: #fdecea; border-left: 4px solid #d32f2f;
            padding: 3px 8px; border-radius: 2px;}
.ucl-busy {display: block; color: #555; font-style: italic;}
.ucl-theta-note {color: #7a4d00; font-size: 12px; line-height: 1.3;}
.ucl-upload {font-size: 0 !important;}
.ucl-upload i {font-size: var(--jp-widgets-font-size, 13px); margin-right: 4px;}
.ucl-upload::after {content: "upload a photo"; font-size: var(--jp-widgets-font-size, 13px);}
.ucl-diagnosis li {margin-bottom: 2px;}
</style>"""
#: Seconds between two moves of the progress bar (each is a message to the page).
PROGRESS_INTERVAL_S = 0.2


class Superseded(Exception):
    """Raised from the progress callback when a newer request exists: the masked passes stop."""


def diagnosis_html(d: Diagnosis) -> str:
    """The findings of :func:`~unioncam_lite.cams.diagnose` for the first image, as a list (HTML)."""
    items = "".join(f"<li>{html.escape(line)}</li>" for line in d.findings(0))
    return (f"<div class='ucl-diagnosis'><ul>{items}</ul><small>From <code>diagnose(model, x, layer, class)</code> "
            "(<code>unioncam_lite.cams</code>; on the command line <code>explain --diagnose</code>).</small></div>")


class StatusLine:
    """``status`` (HTML: ``message`` escaped, styled by its kind), ``progress`` and ``progress_text`` in ``row``."""

    def __init__(self) -> None:
        import ipywidgets as widgets

        self.status = widgets.HTML(layout=widgets.Layout(flex="1 1 auto"))
        self.progress = widgets.FloatProgress(value=0, min=0, max=1, bar_style="info",
                                              layout=widgets.Layout(width="180px", visibility="hidden"))
        self.progress_text = widgets.HTML(layout=widgets.Layout(visibility="hidden"))
        self.row = widgets.HBox([self.status, self.progress, self.progress_text])
        self.row.add_class("ucl-status-row")   # its height reserved: the figure below does not move
        self.message = ""

    def show(self, message: str, kind: str = "") -> None:
        """Show ``message`` (plain text): ``kind`` '' (plain), 'busy' or 'error'."""
        self.message = message
        css = {"busy": "ucl-busy", "error": "ucl-error"}.get(kind)
        text = html.escape(message)
        self.status.value = f"<span class='{css}'>{text}</span>" if css and message else text

    def hide_progress(self) -> None:
        self.progress.value, self.progress_text.value = 0, ""
        self.progress.layout.visibility = self.progress_text.layout.visibility = "hidden"

    def reporter(self, current: Callable[[], bool], lock: threading.Lock | Any) -> Callable[[int, int], None]:
        """A callback for ``cams.masked.reporting_progress``: moves the bar (at most every
        :data:`PROGRESS_INTERVAL_S`, always at the start and the end) while ``current()``; raises
        :class:`Superseded` once it is not, which stops the masked passes."""
        tracker, shown = PassProgress(), [0.0]

        def report(done: int, total: int) -> None:
            if not current():
                raise Superseded
            if not tracker.update(done, total):
                return
            if 0 < done < total and time.monotonic() - shown[0] < PROGRESS_INTERVAL_S:
                return
            shown[0] = time.monotonic()
            with lock:
                if current():
                    self.progress.value = tracker.fraction
                    self.progress_text.value = f"<span class='ucl-progress'>{html.escape(tracker.text())}</span>"
                    self.progress.layout.visibility = self.progress_text.layout.visibility = "visible"
        return report
