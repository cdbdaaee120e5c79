"""What is special about an exercise's case, said when the learner's answer fails on it.

A hidden case (:mod:`.hidden_inputs`) that fails shows only its label and how far the values
are off; the learner cannot see its inputs. Each function here takes the case's arguments and
returns one sentence about them, computed from the numbers (the sizes, θ, ties, a channel
without positive gradient, negative or tied β …), which :func:`.checking.run_case` prints as
``this case: …`` under the ✗ line, followed by the exercise's ``check:`` advice when no known
mistake explains the result.
"""
from __future__ import annotations

import torch

from .checking import Args


def _size(t: torch.Tensor) -> str:
    return "×".join(map(str, t.shape))


def _values(t: torch.Tensor) -> str:
    return "[" + ", ".join(f"{float(v):.3g}" for v in t.flatten()[:6]) + (", …]" if t.numel() > 6 else "]")


def _fmap(W: torch.Tensor) -> str:
    h, w = W.shape[-2:]
    return f"shape {_size(W)} (N, K, h, w)" + (f", h = {h} ≠ w = {w}" if h != w else "")


def gradcam_weights(args: Args) -> str:
    """The gradients' shape."""
    return f"gradients of {_fmap(args[0])}: one weight per image and channel, the mean over the h·w positions"


def gradcam_map(args: Args) -> str:
    """The shapes, and how many weighted sums are negative (where the ReLU acts)."""
    A, W = args
    s = (W.mean(dim=(2, 3), keepdim=True) * A).sum(1)
    return (f"A and W of {_fmap(A)}; {int((s < 0).sum())} of {s.numel()} positions have a negative weighted sum "
            "(the ReLU sets them to 0)")


def denoise(args: Args) -> str:
    """θ, the shape, θ's edge values and how many gradients are tied."""
    W, theta = args
    flat = W.flatten(2)
    ties = flat.numel() - sum(int(torch.unique(c).numel()) for c in flat.reshape(-1, flat.shape[-1]))
    note = f"W of {_fmap(W)}, θ = {float(theta):g}"
    if float(theta) == 0:
        note += " (θ = 0 must leave W unchanged)"
    elif float(theta) == 100:
        note += " (θ = 100 keeps only each channel's maximum, and its ties)"
    if ties:
        note += f"; {ties} gradients equal another of their channel (ties: a value equal to the threshold is kept)"
    return note


def denoised_cam(args: Args) -> str:
    """The shape and the channels without any positive gradient (α = 0 there)."""
    A, W = args
    empty = int(((W > 0).flatten(2).sum(-1) == 0).sum())
    return (f"A and W_den of {_fmap(A)}; {empty} of {W.shape[0] * W.shape[1]} (image, channel) pairs have no positive "
            "gradient, so α = 0 there (Eq. 3) and the division must not produce NaN")


def score_weights(args: Args) -> str:
    """The sizes and how large the score gains are (exp overflows above ~88)."""
    scores, black = args
    gains = scores - black[:, None]
    return (f"{scores.shape[0]} images × {scores.shape[1]} channels, score gains from {float(gains.min()):.3g} to "
            f"{float(gains.max()):.3g}" + (" (exp of these overflows: torch.softmax subtracts the maximum first)"
                                           if float(gains.abs().max()) > 80 else ""))


def union(args: Args) -> str:
    """The βs, and which images have a negative β, both β ≤ 0, or a negative sum β_den + β_reg."""
    L_den, _, b_den, b_reg = args
    n, h, w = L_den.shape
    notes = [f"maps of {n}×{h}×{w} (N, H, W{', H ≠ W' if h != w else ''})"]
    for i, (bd, br) in enumerate(zip(b_den.tolist(), b_reg.tolist())):
        if bd <= 0 and br <= 0:
            notes.append(f"image {i}: both β ≤ 0 (β_den = {bd:.3g}, β_reg = {br:.3g}: no map to weight, the course "
                         "falls back to L_reg)")
        elif bd < 0 or br < 0:
            sign = "negative" if bd + br < 0 else "positive"
            notes.append(f"image {i}: one β negative (β_den = {bd:.3g}, β_reg = {br:.3g}, sum {sign}; its weight is "
                         "max(β, 0) = 0)")
    if len(notes) == 1:
        notes.append("every β positive")
    return "; ".join([notes[0], f"β_den = {_values(b_den)}, β_reg = {_values(b_reg)}", *notes[1:]])


def select(args: Args) -> str:
    """The βs and the ties (Eq. 8's strict > gives L_reg there)."""
    L_fused, _, b_fused, b_reg = args
    ties = [i for i, (f, r) in enumerate(zip(b_fused.tolist(), b_reg.tolist())) if f == r]
    return (f"maps of {_size(L_fused)} (N, H, W); β_fused = {_values(b_fused)}, β_reg = {_values(b_reg)}"
            + (f"; a tie at image {', '.join(map(str, ties))} (β_fused == β_reg: L_reg)" if ties else ""))
