"""The explorer's figure: one row of panels over the image (:func:`panel_figure`), with one colour bar."""
from __future__ import annotations

import base64
import io
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from ...viz import add_colorbar, escape_mathtext, show_cam

#: A panel: its title and a map (H, W) in [0, 1], None for the image alone, or a text for a map not ready yet.
Panel = tuple[str, "torch.Tensor | None | str"]


def panel_figure(image: np.ndarray, panels: list[Panel], suptitle: str, pyplot: bool = True) -> Figure:
    """The panels in one row, a colour bar for the maps, and ``suptitle`` (shown as written: no mathtext).

    ``pyplot=False`` makes a bare :class:`~matplotlib.figure.Figure` that pyplot does not know about
    (the widgets draw on a worker thread; a pyplot figure there could be shown and closed by the
    inline backend at the end of whatever cell runs meanwhile). A pending panel shows the image
    faded with its text on it, at the size of a map panel, so nothing moves when the map arrives.
    """
    size = (2.6 * len(panels) + 0.7, 3.0)   # + the colour bar
    fig = plt.figure(figsize=size, layout="constrained") if pyplot else Figure(figsize=size, layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, (title, m) in zip(axes[0], panels):
        if isinstance(m, str):
            ax.imshow(image, alpha=0.25)
            ax.set_axis_off()
            ax.set_title(title, fontsize=9)
            ax.text(0.5, 0.5, m, ha="center", va="center", fontsize=9, transform=ax.transAxes)
        else:
            show_cam(ax, image, m, title)
    add_colorbar(fig, axes[0, 1:])
    fig.suptitle(escape_mathtext(suptitle), fontsize=10)   # a file name as written
    return fig


def display_output(fig: Figure) -> dict[str, Any]:
    """A ``display_data`` output (PNG) for an Output widget, rendered by matplotlib itself: the
    kernel's matplotlib backend may be Agg (``MPLBACKEND=Agg``, Voilà), which registers no
    PNG formatter with IPython."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return {"output_type": "display_data", "metadata": {},
            "data": {"image/png": base64.b64encode(buf.getvalue()).decode("ascii"), "text/plain": repr(fig)}}
