"""The notebooks' reference answers to the exercises of notebooks 01-05, written without the library
functions they exercise, each with its checker (``RIGHT``), and ``run``: a checker's verdict and what it
printed. Shared by tests/course/test_exercises.py and tests/course/test_hidden_cases.py."""
import torch

import unioncam_lite as ucl
from unioncam_lite.course import exercises as ex


def gradcam_weights(W):
    return W.mean(dim=(2, 3))


def my_denoise(W, theta):
    flat = W.flatten(2)
    threshold = torch.quantile(flat, theta / 100, dim=-1, keepdim=True)
    return torch.where(flat < threshold, torch.zeros_like(flat), flat).view_as(W)


# Eq. 2 of the paper has no outer ReLU; follow the library whether or not it applies one
OUTER_RELU = bool((ucl.denoised_cam(-torch.ones(1, 1, 1, 1), torch.ones(1, 1, 1, 1)) == 0).all())


def my_denoised_cam(A, W_den):
    positive = torch.relu(W_den)
    total = positive.sum(dim=(2, 3), keepdim=True)
    alpha = torch.where(W_den > 0, 1 / total.clamp_min(1e-30), torch.zeros_like(W_den))
    L = (alpha * positive * A).sum(dim=1)
    return torch.relu(L) if OUTER_RELU else L


def score_weights(scores, black):
    return torch.softmax(scores - black[:, None], dim=1)


def my_union(L_den, L_reg, beta_den, beta_reg):
    """Eq. 6 with the course's weights: w = max(β, 0); L_reg where both are 0 (notebook 04)."""
    w_den, w_reg = torch.relu(beta_den)[:, None, None], torch.relu(beta_reg)[:, None, None]
    return torch.where((w_den == 0) & (w_reg == 0), L_reg, ucl.normalize_maps(w_den * L_den + w_reg * L_reg))


def my_select(L_fused, L_reg, beta_fused, beta_reg):
    wins = beta_fused > beta_reg
    return torch.where(wins[:, None, None], L_fused, L_reg), ["fused" if w else "region" for w in wins.tolist()]


RIGHT = [(ex.check_gradcam_weights, gradcam_weights), (ex.check_denoise, my_denoise),
         (ex.check_denoised_cam, my_denoised_cam), (ex.check_score_weights, score_weights),
         (ex.check_union, my_union), (ex.check_select, my_select)]


def run(check, fn, capsys, **kwargs):
    ok = check(fn, **kwargs)
    return ok, capsys.readouterr()
