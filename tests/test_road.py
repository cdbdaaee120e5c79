"""ROAD (Rong et al., ICML 2022): the noisy linear imputation against a dense solve written from the
definition and against pytorch-grad-cam's copy of the authors' ``NoisyLinearImputer``; the metric on
cases whose answer is known by construction, and end to end against pytorch-grad-cam's ROAD."""
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import TinyCNN
from torch import nn

from unioncam_lite.metrics import (
    ROAD_PERCENTAGES,
    linear_imputation,
    noisy_linear_imputation,
    removal_orders,
    road,
)


def dense_imputation(image: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """From the definition, one unknown per pixel (H·W of them): a kept pixel equals its value, a
    removed one equals the weighted mean of its neighbours inside the image (1/6 direct, 1/12
    diagonal), written as Σ_j w_j (x_i − x_j) = 0; one dense solve per channel."""
    c, h, w = image.shape
    a = np.zeros((h * w, h * w))
    out = np.empty_like(image, dtype=np.float64)
    for y in range(h):
        for x in range(w):
            i = y * w + x
            if not removed[y, x]:
                a[i, i] = 1.0
                continue
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    if (dy, dx) == (0, 0) or not (0 <= y + dy < h and 0 <= x + dx < w):
                        continue
                    weight = 1 / 12 if dy and dx else 1 / 6
                    a[i, i] += weight
                    a[i, (y + dy) * w + x + dx] -= weight
    for ch in range(c):
        b = np.where(removed, 0.0, image[ch]).reshape(-1)
        out[ch] = np.linalg.solve(a, b).reshape(h, w)
    return out


def masks_6x6():
    g = torch.Generator().manual_seed(3)
    block = torch.zeros(6, 6, dtype=torch.bool)
    block[1:5, 0:4] = True                                # a block touching the left border
    corner = torch.zeros(6, 6, dtype=torch.bool)
    corner[0, 0] = corner[5, 5] = corner[0, 5] = True     # isolated corner pixels
    most = torch.ones(6, 6, dtype=torch.bool)
    most[2, 3] = False                                    # all but one pixel
    return {"random half": torch.rand(6, 6, generator=g) < 0.5, "random 90%": torch.rand(6, 6, generator=g) < 0.9,
            "block": block, "corners": corner, "all but one": most}


@pytest.mark.parametrize("name", list(masks_6x6()))
def test_imputation_equals_a_dense_solve_of_the_definition(name):
    removed = masks_6x6()[name]
    image = torch.rand(3, 6, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ours = linear_imputation(image, removed)
    expected = dense_imputation(image.numpy(), removed.numpy())
    assert np.abs(ours.numpy() - expected).max() < 1e-6
    assert torch.equal(ours[:, ~removed], image[:, ~removed])           # kept pixels bit for bit


@pytest.mark.filterwarnings("ignore::DeprecationWarning")   # numpy on torch tensors, inside pytorch-grad-cam
@pytest.mark.parametrize("name", list(masks_6x6()))
def test_imputation_equals_pytorch_grad_cams_noisy_linear_imputer_without_noise(name):
    road_module = pytest.importorskip("pytorch_grad_cam.metrics.road")
    removed = masks_6x6()[name]
    image = torch.rand(3, 6, 6, generator=torch.Generator().manual_seed(2))
    theirs = road_module.NoisyLinearImputer(noise=0.0)(image.clone(), (~removed).float())   # their mask: 1 = kept
    assert (linear_imputation(image, removed) - theirs).abs().max() < 1e-6


def test_nothing_removed_leaves_the_image_unchanged():
    image = torch.rand(3, 6, 6)
    assert torch.equal(linear_imputation(image, torch.zeros(6, 6, dtype=torch.bool)), image)
    assert torch.equal(noisy_linear_imputation(image, torch.zeros(6, 6, dtype=torch.bool)), image)


def test_one_removed_pixel_is_the_weighted_mean_of_its_neighbours():
    image = torch.full((3, 5, 5), 0.37)
    removed = torch.zeros(5, 5, dtype=torch.bool)
    removed[2, 2] = True
    assert linear_imputation(image, removed)[:, 2, 2].tolist() == pytest.approx([0.37] * 3, abs=1e-7)
    image = torch.arange(75, dtype=torch.float64).view(3, 5, 5) ** 2 / 100
    direct = image[:, 1, 2] + image[:, 3, 2] + image[:, 2, 1] + image[:, 2, 3]
    diagonal = image[:, 1, 1] + image[:, 1, 3] + image[:, 3, 1] + image[:, 3, 3]
    assert torch.allclose(linear_imputation(image, removed)[:, 2, 2], direct / 6 + diagonal / 12)
    removed = torch.zeros(5, 5, dtype=torch.bool)
    removed[0, 0] = True          # a corner: 2 direct and 1 diagonal neighbour, weights renormalised (sum 5/12)
    corner = (image[:, 0, 1] / 6 + image[:, 1, 0] / 6 + image[:, 1, 1] / 12) / (5 / 12)
    assert torch.allclose(linear_imputation(image, removed)[:, 0, 0], corner)


def test_a_linear_ramp_is_recovered_exactly_away_from_the_border():
    """For a ramp a + b·y + c·x the symmetric weighted mean of the 8 neighbours is the centre value,
    so the ramp solves the system: interior holes come back exactly."""
    y, x = torch.meshgrid(torch.arange(8.0), torch.arange(8.0), indexing="ij")
    image = torch.stack([0.1 + 0.05 * y + 0.02 * x, 0.9 - 0.03 * x, 0.5 + 0.01 * y]).double()
    removed = torch.zeros(8, 8, dtype=torch.bool)
    removed[1:7, 2:6] = True
    removed[3, 1] = True
    assert torch.allclose(linear_imputation(image, removed), image, atol=1e-12)


def test_imputed_values_stay_within_the_known_ones_without_noise():
    image = torch.rand(3, 12, 12, generator=torch.Generator().manual_seed(4))
    removed = torch.rand(12, 12, generator=torch.Generator().manual_seed(5)) < 0.8
    out = linear_imputation(image, removed)
    for ch in range(3):
        known = image[ch][~removed]
        assert known.min() - 1e-6 <= out[ch].min() and out[ch].max() <= known.max() + 1e-6


def test_noise_only_on_removed_pixels_seeded_and_of_the_given_std():
    image = torch.rand(3, 64, 64)
    removed = torch.zeros(64, 64, dtype=torch.bool)
    removed[:, :32] = True
    clean = linear_imputation(image, removed)
    a = noisy_linear_imputation(image, removed, 0.05, torch.Generator().manual_seed(0))
    b = noisy_linear_imputation(image, removed, 0.05, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and torch.equal(a[:, ~removed], image[:, ~removed])
    assert (a - clean)[:, removed].std().item() == pytest.approx(0.05, rel=0.05)


def test_bad_imputation_inputs_are_refused():
    with pytest.raises(ValueError, match="at least one known pixel"):
        linear_imputation(torch.rand(3, 4, 4), torch.ones(4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="removed must be an"):
        linear_imputation(torch.rand(3, 4, 4), torch.ones(4, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="noise"):
        noisy_linear_imputation(torch.rand(3, 4, 4), torch.zeros(4, 4, dtype=torch.bool), noise=-1)


class Quadrant(nn.Module):
    """logits = (4 · mean of channel 0 over the top-left quadrant, 0): p_0 = σ(4 · that mean)."""

    def forward(self, x):
        h, w = x.shape[-2:]
        s = 4 * x[:, 0, : h // 2, : w // 2].flatten(1).mean(1)
        return torch.stack([s, torch.zeros_like(s)], dim=1)


def quadrant_case():
    x = torch.zeros(1, 3, 8, 8)
    x[:, 0, :4, :4] = 1.0                     # p_0 = σ(4); removing the quadrant imputes zeros: σ(0) = 1/2
    right = torch.zeros(1, 8, 8)
    right[:, :4, :4] = 1.0                    # the map that marks exactly what the model reads
    return x, right


def test_a_map_of_what_the_model_reads_gets_the_best_road_and_its_inverse_the_opposite():
    x, right = quadrant_case()
    sig = 1 / (1 + math.exp(-4))
    good = road(Quadrant(), x, right, 0, percentages=(25,), noise=0.0)
    bad = road(Quadrant(), x, 1 - right, 0, percentages=(25,), noise=0.0)
    assert good["morf"].item() == pytest.approx(0.5, abs=1e-6) and good["lerf"].item() == pytest.approx(sig, abs=1e-6)
    assert bad["morf"].item() == pytest.approx(sig, abs=1e-6) and bad["lerf"].item() == pytest.approx(0.5, abs=1e-6)
    assert good["road"].item() == pytest.approx(sig - 0.5, abs=1e-6) == -bad["road"].item()
    noisy = road(Quadrant(), x, right, 0)                  # the defaults: 10 … 90 %, noise 0.01
    assert noisy["road"].item() > 0 and noisy["morf_curve"].shape == (1, len(ROAD_PERCENTAGES))


def test_zero_percent_is_the_original_probability():
    model = TinyCNN(k=4, stride=1).eval()
    x = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    cams = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(1))
    c = torch.tensor([0, 1, 2])
    out = road(model, x, cams, c, mean=[0.5] * 3, std=[0.2] * 3, percentages=(0, 50))
    with torch.no_grad():
        y = model(x).softmax(1).gather(1, c[:, None]).squeeze(1)
    assert torch.allclose(out["morf_curve"][:, 0], y, atol=1e-6)
    assert torch.allclose(out["lerf_curve"][:, 0], y, atol=1e-6)
    assert out["percentages"].tolist() == [0.0, 50.0]


def test_a_constant_map_scores_zero_and_runs_are_deterministic():
    model = TinyCNN(k=4, stride=1).eval()
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    seen = []

    class Recorder(nn.Module):
        def forward(self, x):
            seen.append(x.clone())
            return model(x)

    flat = road(Recorder(), x, torch.full((2, 16, 16), 0.3), 1, batch_size=100)
    morf, lerf = torch.cat(seen).view(2, 2, len(ROAD_PERCENTAGES), 3, 16, 16).unbind(1)
    assert torch.equal(morf, lerf)                        # the same pixels removed, the same noise
    assert torch.allclose(flat["road"], torch.zeros(2), atol=1e-6)
    cams = torch.rand(2, 16, 16, generator=torch.Generator().manual_seed(1))
    a, b = road(model, x, cams, 1, batch_size=3), road(model, x, cams, 1, batch_size=7)
    assert torch.allclose(a["road"], b["road"], atol=1e-6)
    alone = road(model, x[1:], cams[1:], 1)                # an image's scores do not depend on the others
    assert torch.allclose(alone["morf_curve"], a["morf_curve"][1:], atol=1e-6)
    assert not torch.allclose(road(model, x, cams, 1, seed=5)["morf_curve"], a["morf_curve"])


def test_removal_orders_and_counts():
    morf, lerf = removal_orders(torch.full((1, 4, 4), 2.0))
    assert torch.equal(morf, lerf) and sorted(morf[0].tolist()) == list(range(16))
    cams = torch.arange(16.0).view(1, 4, 4)
    morf, lerf = removal_orders(cams)
    assert morf[0].tolist() == list(range(15, -1, -1)) and lerf[0].tolist() == list(range(16))
    seen = []

    class Recorder(nn.Module):
        def forward(self, x):
            seen.append(x.clone())
            return torch.zeros(x.shape[0], 2)

    x = torch.rand(1, 3, 4, 4)
    road(Recorder(), x, cams, 0, percentages=(30, 50), batch_size=100)
    changed = (seen[0] != x).any(1).flatten(1)            # (MoRF 30, MoRF 50, LeRF 30, LeRF 50) × 16 pixels
    assert changed.sum(1).tolist() == [4, 8, 4, 8]        # ⌊0.3 · 16⌋ = 4, ⌊0.5 · 16⌋ = 8
    assert changed[1].nonzero().flatten().tolist() == list(range(8, 16))   # the most relevant half
    assert changed[3].nonzero().flatten().tolist() == list(range(8))       # the least relevant half


def test_the_imputation_happens_in_pixel_space():
    """A model normalising inside, fed pixels, scores as the model fed normalised inputs with mean/std."""
    mean, std = [0.4, 0.5, 0.6], [0.2, 0.25, 0.3]
    m, s = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
    inner = TinyCNN(k=4, stride=1).eval()

    class Normalising(nn.Module):
        def forward(self, x):
            return inner((x - m) / s)

    pixels = torch.rand(2, 3, 12, 12, generator=torch.Generator().manual_seed(0))
    cams = torch.rand(2, 12, 12, generator=torch.Generator().manual_seed(1))
    a = road(inner, (pixels - m) / s, cams, 2, mean=mean, std=std)
    b = road(Normalising(), pixels, cams, 2)
    assert torch.allclose(a["morf_curve"], b["morf_curve"], atol=1e-5)
    assert torch.allclose(a["lerf_curve"], b["lerf_curve"], atol=1e-5)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("p", [10, 30, 70, 90])
def test_curves_equal_pytorch_grad_cams_road_without_noise(p):
    """pytorch-grad-cam's ROAD*RelevantFirst(percentile=q) keeps the q % below the q-th percentile of
    the map (resp. of 1 − map), i.e. removes 100 − q %; on 10×10 maps with distinct values that is
    exactly our ⌊p·100/100⌋ = p pixels for q = 100 − p. It imputes the model input: mean/std None."""
    road_module = pytest.importorskip("pytorch_grad_cam.metrics.road")
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget

    model = TinyCNN(k=4, stride=1).eval()
    x = torch.rand(2, 3, 10, 10, generator=torch.Generator().manual_seed(0))
    cams = torch.rand(2, 10, 10, generator=torch.Generator().manual_seed(1))
    c = [1, 3]
    ours = road(model, x, cams, torch.tensor(c), percentages=(p,), noise=0.0)
    targets = [ClassifierOutputSoftmaxTarget(k) for k in c]
    for name, key in (("ROADMostRelevantFirst", "morf_curve"), ("ROADLeastRelevantFirst", "lerf_curve")):
        metric = getattr(road_module, name)(percentile=100 - p)
        metric.perturbation.imputer.noise = 0.0
        theirs = metric(x, cams.numpy(), targets, model, return_diff=False)
        assert np.abs(ours[key][:, 0].numpy() - theirs).max() < 1e-5, name


@pytest.mark.parametrize("kwargs,message", [
    ({"percentages": (10, 100)}, "in \\[0, 100\\)"), ({"percentages": ()}, "non-empty"),
    ({"noise": -0.1}, "noise"), ({"batch_size": 0}, "batch_size")])
def test_bad_road_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        road(TinyCNN().eval(), torch.rand(1, 3, 8, 8), torch.rand(1, 8, 8), 0, **kwargs)
    with pytest.raises(ValueError, match="cams must have shape"):
        road(TinyCNN().eval(), torch.rand(1, 3, 8, 8), torch.rand(1, 8, 9), 0)


def test_without_scipy_the_metrics_import_and_roads_error_names_the_fix(monkeypatch):
    code = "import sys; sys.modules['scipy'] = None; import unioncam_lite.metrics, unioncam_lite.apps.evaluation"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    for name in ("scipy", "scipy.sparse", "scipy.sparse.linalg"):
        monkeypatch.setitem(sys.modules, name, None)
    removed = torch.zeros(4, 4, dtype=torch.bool)
    removed[1, 1] = True
    with pytest.raises(ImportError, match="pip install scipy"):
        linear_imputation(torch.rand(3, 4, 4), removed)
