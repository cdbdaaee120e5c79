"""The hidden cases of the exercises: inputs drawn from a seed, for the graded course's hidden tests.

``check_*(fn, seed=N)`` (:mod:`.exercises`) runs these instead of the visible cases: other
shapes (h ≠ w, sizes no visible case has), θ and β values, edge cases (θ = 0 and 100, a channel
without positive gradient, ties of β), and real tensors of the shapes CNN
(:mod:`unioncam_lite.data.shapes`) on synthetic images, for a class it did not predict. So an
answer fitted to the visible cases fails. Each function here returns one exercise's cases.
"""
from __future__ import annotations

import functools

import torch

from ..cams.common import PixelSpace, normalize_maps
from ..cams.unioncam import denoise_gradients
from .checking import Cases


class Draw:
    """Random sizes and values for the hidden cases, all from one seed (and a salt per exercise)."""

    def __init__(self, seed: int, salt: int):
        self.g = torch.Generator().manual_seed(int(seed) * 7919 + salt)

    def integer(self, low: int, high: int) -> int:
        """Uniform in [low, high], both included."""
        return int(torch.randint(low, high + 1, (1,), generator=self.g))

    def uniform(self, low: float, high: float) -> float:
        """Uniform in [low, high)."""
        return float(self.uniforms(low, high, 1))

    def uniforms(self, low: float, high: float, n: int) -> torch.Tensor:
        """(n,) uniform in [low, high)."""
        return torch.rand(n, generator=self.g) * (high - low) + low

    def tensor(self, *shape: int, positive: bool = False) -> torch.Tensor:
        """Standard normal values (their absolute values if ``positive``)."""
        t = torch.randn(*shape, generator=self.g)
        return t.abs() if positive else t

    def fmap(self, positive: bool = False) -> torch.Tensor:
        """(N, K, h, w) with h ≠ w, sizes that no visible case has."""
        h = self.integer(2, 9)
        return self.tensor(self.integer(1, 3), self.integer(2, 12), h, h + self.integer(1, 4), positive=positive)


@functools.lru_cache(maxsize=4)
def shapes_run(seed: int) -> dict:
    """Real tensors of the shapes CNN on two synthetic images drawn from ``seed``, for a class
    each image was not predicted as (so nothing matches a notebook's image or class)."""
    from ..cams.capture import capture
    from ..cams.score import channel_scores
    from ..cams.unioncam import union_cam
    from ..data.shapes import CLASSES, MEAN, STD, generate, to_tensor
    from ..models import load_model

    model, spec = load_model("shapes_cnn", "cpu")
    images, _, _ = generate(2, seed=int(seed))
    x = to_tensor(images)
    with torch.no_grad():
        predicted = model(x).argmax(1)
    cls = (predicted + 1 + int(seed) % (len(CLASSES) - 1)) % len(CLASSES)
    mid = capture(model, x, "features.block3", cls)        # 64×16×16, gradients vary in space
    conv = capture(model, x, "features.block4.0", cls)     # conv output: gradients with many ties
    last = capture(model, x, spec.target_layer, cls, gradients=False)
    scores, black = channel_scores(model, x, last.activations, cls, PixelSpace(MEAN, STD, x))
    r = union_cam(model, x, spec.target_layer, cls, mean=MEAN, std=STD)
    return {"A": mid.activations, "W": mid.gradients, "W_ties": conv.gradients, "scores": scores,
            "black": black, "result": r}


def _size(t: torch.Tensor) -> str:
    return "x".join(map(str, t.shape))


def gradcam_weights(seed: int) -> Cases:
    """W (N, K, h, w): random, and the shapes CNN's real gradients."""
    W = Draw(seed, 1).fmap()
    return [(f"hidden: random {_size(W)}", (W,)),
            ("hidden: real gradients, shapes CNN", (shapes_run(seed)["W"],))]


def gradcam_map(seed: int) -> Cases:
    """(A ≥ 0, W): random, and the shapes CNN's real activations and gradients."""
    d, run = Draw(seed, 7), shapes_run(seed)
    W = d.fmap()
    return [(f"hidden: random {_size(W)}", (d.tensor(*W.shape, positive=True), W)),
            ("hidden: real, shapes CNN", (run["A"], run["W"]))]


def denoise(seed: int) -> Cases:
    """(W, θ): θ = 0, two random θ, θ = 100, and real gradients (one set with many ties)."""
    d, run = Draw(seed, 2), shapes_run(seed)
    cases: Cases = [(f"hidden: random {_size(W)}, θ={t:.3g}", (W, t))
                    for W, t in [(d.fmap(), 0.0), (d.fmap(), d.uniform(1, 40)), (d.fmap(), d.uniform(40, 99)),
                                 (d.fmap(), 100.0)]]
    theta = round(d.uniform(5, 60), 1)
    return cases + [(f"hidden: real gradients, shapes CNN, θ={theta:g}", (run["W"], theta)),
                    (f"hidden: real gradients with ties, shapes CNN, θ={theta:g}", (run["W_ties"], theta))]


def denoised_cam(seed: int) -> Cases:
    """(A, W_den): random with one channel without positive gradient (α = 0), and real tensors."""
    d, run = Draw(seed, 3), shapes_run(seed)
    W = d.fmap()
    W[:, 0] = -W[:, 0].abs()  # a channel without any positive gradient: α = 0 there
    A = d.tensor(*W.shape, positive=True)
    theta = round(d.uniform(5, 60), 1)
    return [(f"hidden: random {_size(W)}, one channel all negative", (A, denoise_gradients(W, d.uniform(0, 50)))),
            (f"hidden: real, shapes CNN, θ={theta:g}", (run["A"], denoise_gradients(run["W"], theta)))]


def score_weights(seed: int) -> Cases:
    """(scores (N, K), black (N,)): random, large enough to overflow exp, and real scores."""
    d, run = Draw(seed, 4), shapes_run(seed)
    n, k = d.integer(2, 4), d.integer(3, 40)
    return [(f"hidden: random {n}x{k}", (d.tensor(n, k) * d.uniform(1, 10), d.tensor(n))),
            ("hidden: large scores", (d.tensor(n, k) * 300, d.tensor(n) * 300)),
            ("hidden: real scores, shapes CNN", (run["scores"], run["black"]))]


def union(seed: int) -> Cases:
    """(L_den, L_reg, β_den, β_reg): random maps (H ≠ W) and βs, some negative, and a real run's."""
    d, r = Draw(seed, 5), shapes_run(seed)["result"]
    n, h = d.integer(2, 4), d.integer(4, 12)
    L1 = normalize_maps(d.tensor(n, h, h + 3, positive=True))
    L2 = normalize_maps(d.tensor(n, h, h + 3, positive=True))
    # the negative βs of Eq. 6: one β < 0 with a positive sum, a negative sum, both β < 0
    low, high = d.uniforms(-0.5, -0.05, 3), d.uniforms(0.05, 0.5, 3)
    beta_den = torch.stack([low[0], low[1], low[2]])
    beta_reg = torch.stack([high[0] - low[0], (low[1] * d.uniform(0.1, 0.9)).abs(), -high[2]])
    return [(f"hidden: random {n}x{h}x{h + 3}", (L1, L2, d.uniforms(-0.5, 1, n), d.uniforms(-0.5, 1, n))),
            (f"hidden: negative β, {h}x{h + 3}", (L1[:1].expand(3, -1, -1).clone(), L2[:1].expand(3, -1, -1).clone(),
                                                beta_den, beta_reg)),
            ("hidden: real maps, shapes CNN", (r.denoised, r.region, r.beta_denoised, r.beta_region))]


def select(seed: int) -> Cases:
    """(L_fused, L_reg, β_fused, β_reg): random, with a tie of the βs, and a real run's."""
    d, r = Draw(seed, 6), shapes_run(seed)["result"]
    n, h = d.integer(4, 6), d.integer(4, 12)
    beta_fused, beta_reg = d.uniforms(-0.5, 1, n), d.uniforms(-0.5, 1, n)
    tie = d.integer(0, n - 1)
    beta_reg[tie] = beta_fused[tie]  # Eq. 8's strict > decides the tie: L_reg
    return [(f"hidden: random {n}x{h}x{h + 1}, with ties",
             (normalize_maps(d.tensor(n, h, h + 1, positive=True)),
              normalize_maps(d.tensor(n, h, h + 1, positive=True)), beta_fused, beta_reg)),
            ("hidden: real maps, shapes CNN", (r.fused, r.region, r.beta_fused, r.beta_region))]
