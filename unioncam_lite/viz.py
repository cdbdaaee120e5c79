"""Pictures: a map over an image, several methods side by side, a channel's gradient histogram."""
from __future__ import annotations

from collections.abc import Mapping

import matplotlib

if matplotlib.get_backend().lower() not in {"module://matplotlib_inline.backend_inline", "agg"}:
    import os

    if not os.environ.get("DISPLAY") and not os.environ.get("MPLBACKEND"):
        matplotlib.use("Agg")  # headless: CLI, CI
import matplotlib.pyplot as plt
import numpy as np
import torch


def to_numpy(a) -> np.ndarray:
    """A tensor (any device) or array as a NumPy array."""
    return a.detach().float().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def overlay(image: np.ndarray, cam, alpha: float = 0.5, cmap: str = "jet") -> np.ndarray:
    """Blend a [0, 1] map (H, W) over an H x W x 3 uint8 image; returns float RGB in [0, 1]."""
    heat = matplotlib.colormaps[cmap](np.clip(to_numpy(cam), 0, 1))[..., :3]
    return (1 - alpha) * (np.asarray(image, dtype=np.float32) / 255.0) + alpha * heat


def show_cam(ax, image: np.ndarray, cam=None, title: str | None = None, alpha: float = 0.5, cmap: str = "jet"):
    """Draw the image (and the map over it, if given) on ``ax`` without ticks."""
    ax.imshow(image if cam is None else overlay(image, cam, alpha, cmap))
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def method_grid(image: np.ndarray, maps: Mapping[str, object], suptitle: str | None = None,
                alpha: float = 0.5, panel: float = 2.6):
    """One row: the image, then each named map over it. Returns the figure."""
    fig, axes = plt.subplots(1, len(maps) + 1, figsize=(panel * (len(maps) + 1), panel + 0.4), squeeze=False)
    show_cam(axes[0, 0], image, title="image")
    for ax, (name, cam) in zip(axes[0, 1:], maps.items()):
        show_cam(ax, image, cam, name, alpha)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def gradient_histogram(gradients, theta: float, ax=None, bins: int = 30, title: str | None = None):
    """Histogram (seaborn) of one channel's gradients with its θ-th percentile as a red line (Eq. 1)."""
    import seaborn as sns

    values = to_numpy(gradients).ravel()
    threshold = float(np.percentile(values, theta))
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 2.8))
    sns.histplot(values, bins=bins, ax=ax, color="tab:blue")
    ax.axvline(threshold, color="tab:red", lw=2, label=f"θ = {theta:g} → {threshold:.2e}")
    ax.set_xlabel("gradient ∂y_c/∂A_k")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    return ax
