"""Notebook 04's β exercise (Eq. 4-5 in pixel space) and notebook 05's UnionCAM assembly (Eq. 1-8):
the reference answers pass the visible and hidden cases, each known mistake gets its hint, a blank
answer is reported, a call of the library's function fails, and β matches a computation by hand."""
import math
import warnings
from pathlib import Path

import nbformat
import pytest
import torch
from torch import nn

import unioncam_lite as ucl
from unioncam_lite.course import assembly_exercises as asm
from unioncam_lite.course import beta_exercises as bex
from unioncam_lite.course.checking import run_case
from unioncam_lite.course.exercises import check_beta, check_union_cam
from unioncam_lite.course.student import blank_solution
from unioncam_lite.data.shapes import MEAN, STD, generate, to_tensor


def my_beta(model, x, L, class_idx, mean, std):
    """Notebook 04's answer, written without score_gain."""
    mean = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    std = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    rows = torch.arange(x.shape[0], device=x.device)

    def f_c(pixels):
        with torch.no_grad():
            probs = model((pixels - mean) / std).softmax(dim=1)
        return probs[rows, class_idx.to(x.device)]

    I0 = x * std + mean
    return f_c(L[:, None] * I0) - f_c(torch.zeros_like(I0))


# notebook 05's step names, here the library's functions (as the notebook's cell before the exercise sets them)
denoise_gradients, denoised_cam, region_map = ucl.denoise_gradients, ucl.denoised_cam, ucl.region_cam
beta, union, select = ucl.score_gain, ucl.union, ucl.select


def my_union_cam(model, x, layer, class_idx, theta, mean, std):
    """Notebook 05's answer: one step per equation."""
    cap = ucl.capture(model, x, layer, class_idx)
    A, W, c = cap.activations, cap.gradients, cap.class_idx
    W_den = denoise_gradients(W, theta)
    L_den = ucl.upsample_normalize(denoised_cam(A, W_den), x.shape[-2:])
    L_reg = region_map(model, x, A, c, mean=mean, std=std)
    beta_den, beta_reg = beta(model, x, L_den, c, mean=mean, std=std), beta(model, x, L_reg, c, mean=mean, std=std)
    L_fused = union(L_den, L_reg, beta_den, beta_reg)
    beta_fused = beta(model, x, L_fused, c, mean=mean, std=std)
    return select(L_fused, L_reg, beta_fused, beta_reg)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # ThetaHasNoEffectWarning of the hidden cases' runs
        yield


@pytest.mark.parametrize("seed", [None, 0, 271828])
def test_the_reference_beta_passes_visible_and_hidden_cases(seed, capsys):
    assert check_beta(my_beta, seed=seed), capsys.readouterr().out


def test_the_notebooks_tensors_are_one_more_case(capsys):
    model, _ = ucl.load_model("shapes_cnn", "cpu")
    x = to_tensor(generate(1, seed=5)[0])
    L = torch.rand(1, 64, 64, generator=torch.Generator().manual_seed(0))
    assert check_beta(my_beta, model, x, L, torch.tensor([3]), MEAN, STD)
    assert "✓ score gain β (Eq. 4-5) [your model, 1 image(s) 64×64]" in capsys.readouterr().out


@pytest.mark.parametrize("mistake", bex.BETA.mistakes, ids=lambda m: m.hint[:30])
def test_each_beta_mistake_gets_its_hint(mistake, capsys):
    assert not check_beta(mistake.variant)
    assert f"hint: {mistake.hint}" in capsys.readouterr().out


def test_a_blank_or_library_calling_beta_fails(capsys):
    def blank(model, x, L, class_idx, mean, std):
        raise NotImplementedError("Exercise: score gain")

    def library(model, x, L, class_idx, mean, std):
        return ucl.score_gain(model, x, L, class_idx, mean=mean, std=std)

    assert not check_beta(blank)
    assert "not implemented yet" in capsys.readouterr().out
    assert not check_beta(library)
    assert "calls the library's `score_gain`" in capsys.readouterr().out


def test_beta_matches_a_hand_computation_on_a_tiny_model():
    """A linear model on the channel means: every number below is computed with Python floats."""
    model = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(3, 2))
    weights, bias = [[1.0, -2.0, 0.5], [-1.0, 3.0, 2.0]], [0.1, -0.2]
    with torch.no_grad():
        model[2].weight.copy_(torch.tensor(weights))
        model[2].bias.copy_(torch.tensor(bias))
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.5)
    pixels = [[[0.0, 1.0], [0.5, 0.25]], [[1.0, 1.0], [0.0, 0.5]], [[0.2, 0.4], [0.6, 0.8]]]   # 3 channels of 2×2
    L = [[1.0, 0.0], [0.5, 0.25]]
    x = (torch.tensor(pixels)[None] - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)

    def probability_of_1(channel_pixels):   # the model on a pixel-space image, by hand
        inputs = [sum((p - mean[k]) / std[k] for row in channel_pixels[k] for p in row) / 4 for k in range(3)]
        logits = [sum(w * v for w, v in zip(weights[j], inputs)) + bias[j] for j in range(2)]
        return math.exp(logits[1]) / (math.exp(logits[0]) + math.exp(logits[1]))

    masked = [[[pixels[k][i][j] * L[i][j] for j in range(2)] for i in range(2)] for k in range(3)]
    black = [[[0.0, 0.0], [0.0, 0.0]] for _ in range(3)]
    by_hand = probability_of_1(masked) - probability_of_1(black)
    got = bex.score_gain_pixels(model, x.float(), torch.tensor([L]), torch.tensor([1]), mean, std)
    assert got.shape == (1,) and abs(float(got[0]) - by_hand) < 1e-6
    assert abs(float(bex.beta_by_hand(model, x.float(), torch.tensor([L]), torch.tensor([1]), mean, std)[0])
               - by_hand) < 1e-6


@pytest.mark.parametrize("seed", [None, 0, 271828])
def test_the_reference_assembly_passes_visible_and_hidden_cases(seed, capsys):
    assert check_union_cam(my_union_cam, seed=seed), capsys.readouterr().out


def test_assemble_is_union_cam_step_by_step():
    for _, args in asm._union_cam_cases():
        r = ucl.union_cam(*args[:5], mean=args[5], std=args[6])
        cam, chosen = asm.assemble(*args)
        assert torch.allclose(cam, r.cam, atol=1e-6) and chosen == r.chosen
        assert asm.union_cam_pair(*args)[1] == r.chosen


# the visible case on which each mistake changes the result (the first where the next one does not)
ASSEMBLY_CASE = {"predicted": 1}


@pytest.mark.parametrize("mistake", asm.UNION_CAM.mistakes, ids=lambda m: m.hint[:30])
def test_each_assembly_mistake_gets_its_hint(mistake, capsys):
    key = "predicted" if "predicted class" in mistake.hint else ""
    label, args = asm._union_cam_cases()[ASSEMBLY_CASE.get(key, 0)]
    assert run_case(asm.UNION_CAM, mistake.variant, label, args) == "fail"
    assert f"hint: {mistake.hint}" in capsys.readouterr().out


def test_a_blank_or_library_calling_assembly_fails(capsys):
    def blank(model, x, layer, class_idx, theta, mean, std):
        raise NotImplementedError("Exercise: UnionCAM")

    def library(model, x, layer, class_idx, theta, mean, std):
        r = ucl.UnionCAM(model, layer, mean=mean, std=std)(x, class_idx, theta)
        return r.cam, r.chosen

    assert not check_union_cam(blank)
    assert "not implemented yet" in capsys.readouterr().out
    assert not check_union_cam(library)
    assert "calls the library's `__call__`" in capsys.readouterr().out

    def private(model, x, layer, class_idx, theta, mean, std):    # before: passed, only __call__ was watched
        r = ucl.UnionCAM(model, layer, mean=mean, std=std)._call(x, class_idx, theta, None)
        return r.cam, r.chosen

    assert not check_union_cam(private)
    assert "calls the library's `_call`" in capsys.readouterr().out


@pytest.mark.parametrize("notebook,cell,kept", [
    ("04_union", "nb04-b2", ["    def f_c(pixels):", "        return probs[rows, class_idx.to(x.device)]", "    return beta"]),
    ("05_selection", "nb05-x3", ["    # Eq. 6: the union of the two maps, weighted by their gains -> L_fused",
                                 "    return cam, choices"]),
])
def test_the_student_copies_keep_the_scaffold(notebook, cell, kept):
    nb = nbformat.read(Path(__file__).parents[2] / "notebooks" / f"{notebook}.ipynb", as_version=4)
    source = next(c.source for c in nb.cells if c.get("id") == cell)
    blank = blank_solution(source)
    compile(blank, notebook, "exec")
    assert all(line in blank.splitlines() for line in kept)
    assert "model((pixels - mean) / std)" not in blank and "union(L_den" not in blank
    assert "NotImplementedError" in blank
