"""Checks for the notebook exercises: the learner's function against the library's.

Each ``check_*`` runs the learner's function on random tensors (several shapes, edge cases)
and, if given, on real tensors captured from the model; it prints one clear pass/fail line
per case group and returns ``True`` only when everything matches, so a notebook can
``assert check_...(my_function)``.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from .cams.common import normalize_maps
from .cams.gradient import gradcam_map
from .cams.unioncam import denoise_gradients, denoised_cam, select, union


def _random(shape, seed: int, positive: bool = False) -> torch.Tensor:
    t = torch.randn(*shape, generator=torch.Generator().manual_seed(seed))
    return t.abs() if positive else t


def _compare(name: str, learner: Callable, reference: Callable, cases: Iterable[tuple[str, tuple]],
             atol: float = 1e-5) -> bool:
    ok = True
    for label, args in cases:
        try:
            got = learner(*args)
        except NotImplementedError:
            print(f"✗ {name}: not implemented yet — replace the `raise NotImplementedError` with your code")
            return False
        except Exception as err:  # the learner's bug, reported rather than raised
            print(f"✗ {name} [{label}]: raised {type(err).__name__}: {err}")
            return False
        expected = reference(*args)
        got_t = torch.as_tensor(got) if not isinstance(got, (tuple, list)) else got
        if isinstance(expected, tuple):  # e.g. (map, choices)
            same = torch.allclose(torch.as_tensor(got_t[0]).float(), expected[0].float(), atol=atol) and \
                list(got_t[1]) == list(expected[1])
        else:
            if tuple(got_t.shape) != tuple(expected.shape):
                print(f"✗ {name} [{label}]: shape {tuple(got_t.shape)}, expected {tuple(expected.shape)}")
                ok = False
                continue
            same = torch.allclose(got_t.float(), expected.float(), atol=atol)
            if not same:
                diff = (got_t.float() - expected.float()).abs().max().item()
                print(f"✗ {name} [{label}]: values differ from the library by up to {diff:.3g}")
        if isinstance(expected, tuple) and not same:
            print(f"✗ {name} [{label}]: result differs from the library")
        ok &= bool(same)
        if same:
            print(f"✓ {name} [{label}]: matches the library")
    print(("PASS: " if ok else "FAIL: ") + name)
    return ok


def check_gradcam_weights(fn: Callable, W_real: torch.Tensor | None = None) -> bool:
    """Exercise 01: ``fn(W) -> (N, K)`` Grad-CAM channel weights, the spatial mean of the gradients."""
    reference = lambda W: W.mean(dim=(2, 3))
    cases = [("random 1x4x3x3", (_random((1, 4, 3, 3), 0),)), ("random 2x8x7x7", (_random((2, 8, 7, 7), 1),))]
    if W_real is not None:
        cases.append((f"real {tuple(W_real.shape)}", (W_real,)))
    return _compare("Grad-CAM weights (Eq. 1 of Grad-CAM)", fn, reference, cases)


def check_gradcam_map(fn: Callable, A_real: torch.Tensor | None = None, W_real: torch.Tensor | None = None) -> bool:
    """Exercise 01 (bonus): ``fn(A, W) -> (N, h, w)`` = ReLU(Σ_k w_k A_k)."""
    cases = [("random 2x8x7x7", (_random((2, 8, 7, 7), 2, True), _random((2, 8, 7, 7), 3)))]
    if A_real is not None and W_real is not None:
        cases.append(("real", (A_real, W_real)))
    return _compare("Grad-CAM map", fn, gradcam_map, cases)


def check_denoise(fn: Callable, W_real: torch.Tensor | None = None) -> bool:
    """Exercise 02: ``fn(W, theta)`` zeroes gradients below each channel's θ-th percentile (Eq. 1)."""
    cases = [("hand-made, θ=50", (torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]]), 50.0)),
             ("random, θ=0", (_random((2, 3, 5, 5), 4), 0.0)),
             ("random, θ=10", (_random((2, 3, 5, 5), 5), 10.0)),
             ("random, θ=95", (_random((1, 6, 7, 7), 6), 95.0))]
    if W_real is not None:
        cases.append(("real, θ=10", (W_real, 10.0)))
    return _compare("denoise_gradients (Eq. 1)", fn, denoise_gradients, cases, atol=1e-7)


def check_denoised_cam(fn: Callable, A_real: torch.Tensor | None = None, W_real: torch.Tensor | None = None) -> bool:
    """Exercise 02 (bonus): ``fn(A, W_den) -> (N, h, w)`` with the pixel-level α (Eq. 2-3)."""
    W = denoise_gradients(_random((2, 5, 7, 7), 7), 30)
    cases = [("random", (_random((2, 5, 7, 7), 8, True), W))]
    if A_real is not None and W_real is not None:
        cases.append(("real", (A_real, denoise_gradients(W_real, 10))))
    return _compare("denoised_cam (Eq. 2-3)", fn, denoised_cam, cases)


def check_score_weights(fn: Callable, scores_real: torch.Tensor | None = None,
                        black_real: torch.Tensor | None = None) -> bool:
    """Exercise 03: ``fn(scores (N, K), black (N,)) -> (N, K)`` = softmax_k(s_k − s_b), Score-CAM's weights."""
    reference = lambda s, b: torch.softmax(s - b[:, None], dim=1)
    cases = [("random", (_random((2, 16), 9) * 5, _random((2,), 10))),
             ("large scores", (_random((1, 8), 11) * 100, torch.tensor([50.0])))]
    if scores_real is not None and black_real is not None:
        cases.append(("real", (scores_real, black_real)))
    return _compare("Score-CAM channel weights", fn, reference, cases)


def check_union(fn: Callable) -> bool:
    """Exercise 04: ``fn(L_den, L_reg, beta_den, beta_reg)`` = normalise(β_den·L_den + β_reg·L_reg) (Eq. 6)."""
    L1 = normalize_maps(_random((3, 8, 8), 12, True))
    L2 = normalize_maps(_random((3, 8, 8), 13, True))
    cases = [("random", (L1, L2, torch.tensor([0.2, 0.5, 0.9]), torch.tensor([0.3, 0.1, 0.8]))),
             ("one β negative", (L1, L2, torch.tensor([-0.1, 0.4, 0.2]), torch.tensor([0.3, 0.3, 0.3])))]
    return _compare("union (Eq. 6)", fn, union, cases)


def check_select(fn: Callable) -> bool:
    """Exercise 05: ``fn(L_fused, L_reg, beta_fused, beta_reg) -> (cam, choices)`` (Eq. 8)."""
    L1 = normalize_maps(_random((3, 8, 8), 14, True))
    L2 = normalize_maps(_random((3, 8, 8), 15, True))
    cases = [("fused wins, region wins, tie", (L1, L2, torch.tensor([0.5, 0.1, 0.3]), torch.tensor([0.4, 0.2, 0.3])))]
    return _compare("select (Eq. 8)", fn, select, cases)
