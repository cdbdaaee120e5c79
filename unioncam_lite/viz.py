"""Pictures: a map over an image, several methods side by side, a channel's gradient histogram.

Importing this module does not choose a matplotlib backend: that is the application's choice
(matplotlib itself falls back to Agg where there is no display; ``MPLBACKEND`` overrides it).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.colorbar import Colorbar
from matplotlib.figure import Figure

#: A map or values to draw: a tensor (any device) or an array
MapLike = torch.Tensor | np.ndarray


def escape_mathtext(text: str) -> str:
    """``text`` shown as written in a matplotlib title or label: every ``$`` escaped, so a file name
    such as ``$\\frac{a$.png`` is not parsed as mathtext (outside ``$...$`` backslashes are literal)."""
    return text.replace("$", r"\$")


def to_numpy(a: torch.Tensor | np.ndarray | Sequence[float]) -> np.ndarray:
    """A tensor (any device) or array as a NumPy array."""
    return a.detach().float().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def overlay(image: np.ndarray, cam: MapLike, alpha: float = 0.5, cmap: str = "jet") -> np.ndarray:
    """Blend a [0, 1] map (H, W) over an H x W x 3 uint8 image; returns float RGB in [0, 1]."""
    heat = matplotlib.colormaps[cmap](np.clip(to_numpy(cam), 0, 1))[..., :3]
    return (1 - alpha) * (np.asarray(image, dtype=np.float32) / 255.0) + alpha * heat


def show_cam(ax: Axes, image: np.ndarray, cam: MapLike | None = None, title: str | None = None, alpha: float = 0.5,
             cmap: str = "jet") -> Axes:
    """Draw the image (and the map over it, if given) on ``ax`` without ticks."""
    ax.imshow(image if cam is None else overlay(image, cam, alpha, cmap))
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def add_colorbar(fig: Figure, axes: Axes | np.ndarray | Sequence[Axes], cmap: str = "jet",
                 label: str = "map value (min-max normalised)") -> Colorbar:
    """One colour bar for CAM panels drawn with :func:`show_cam` (values in [0, 1])."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    panels = np.ravel(np.asarray(axes, dtype=object)).tolist()
    bar = fig.colorbar(ScalarMappable(norm=Normalize(0, 1), cmap=cmap), ax=panels, shrink=0.85, pad=0.02, aspect=20)
    bar.set_label(label, fontsize=8)
    bar.ax.tick_params(labelsize=7)
    return bar


def method_grid(image: np.ndarray, maps: Mapping[str, MapLike], suptitle: str | None = None,
                alpha: float = 0.5, panel: float = 2.6, colorbar: bool = True, cmap: str = "jet") -> Figure:
    """One row: the image, then each named map over it, and a colour bar for the maps. Returns the figure."""
    fig, axes = plt.subplots(1, len(maps) + 1, figsize=(panel * (len(maps) + 1) + 0.7 * colorbar, panel + 0.5),
                             squeeze=False, layout="constrained")
    show_cam(axes[0, 0], image, title="image")
    for ax, (name, cam) in zip(axes[0, 1:], maps.items()):
        show_cam(ax, image, cam, name, alpha, cmap)
    if colorbar and maps:
        add_colorbar(fig, axes[0, 1:], cmap)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    return fig


def gradient_histogram(gradients: MapLike, theta: float | None = None, ax: Axes | None = None, bins: int = 30,
                       title: str | None = None) -> Axes:
    """Histogram (seaborn) of one channel's gradients; with ``theta``, its θ-th percentile as a red line (Eq. 1).

    Values left of the line are the ones Eq. 1 zeroes; the two shades split positive from
    negative gradients, because only positive ones enter Eq. 2-3.
    """
    import seaborn as sns

    values = to_numpy(gradients).ravel()
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 2.8))
    sns.histplot(values, bins=bins, ax=ax, color="tab:blue")
    ax.axvline(0, color="black", lw=0.8, ls=":")
    if theta is not None:
        threshold = float(np.percentile(values, theta))
        ax.axvline(threshold, color="tab:red", lw=2, label=f"θ = {theta:g} → {threshold:.2e}")
        ax.legend(fontsize=8)
    ax.set_xlabel("gradient ∂y_c/∂A_k")
    ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 3))
    ax.xaxis.set_major_locator(plt.MaxNLocator(4))
    if title:
        ax.set_title(title, fontsize=9)
    return ax
