"""Notebook 03's Exercise 1, the region map written pass by pass (unioncam_lite.course.region_exercises):
the reference answer passes, each known mistake gets its hint, blank and library-calling answers fail,
the model is left as it was, and the reference matches a hand computation."""
import time

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import unioncam_lite as ucl
from unioncam_lite.course import exercises as ex
from unioncam_lite.course import region_exercises as rx
from unioncam_lite.course.checking import check


def answer(masked_input="pixels", minmax=True, mode="bilinear", weight="paper", relu=True, nan_guard=True):
    """The notebook's scaffold, filled in — right with the defaults, else with one of the learner's mistakes."""
    def my_region_map(model, x, A, class_idx, mean, std, chunk=16):
        N, K = A.shape[:2]
        H, W = x.shape[-2:]
        mean = torch.tensor(mean, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(std, device=x.device).view(1, -1, 1, 1)
        I0 = x * std + mean
        weights = torch.zeros(N, K, device=x.device)
        with torch.no_grad():
            for n in range(N):
                c = int(class_idx[n])
                black = model((torch.zeros_like(I0[n:n + 1]) - mean) / std)[0]
                for ks in torch.arange(K).split(chunk):
                    up = F.interpolate(A[n, ks][:, None], size=(H, W), mode=mode,
                                       **({} if mode == "nearest" else {"align_corners": False}))[:, 0]
                    if minmax:
                        lo = up.flatten(1).amin(1)[:, None, None]
                        span = up.flatten(1).amax(1)[:, None, None] - lo
                        up = (up - lo) / (span.clamp_min(1e-12) if nan_guard else span)
                    image = {"pixels": I0[n], "x": x[n]}.get(masked_input, I0[n])
                    masked = up[:, None] * image
                    out = model(masked if masked_input in ("x", "raw") else (masked - mean) / std)
                    if weight == "paper":
                        weights[n, ks] = out.softmax(1)[:, c]
                    elif weight == "logit":
                        weights[n, ks] = out[:, c]
                    elif weight == "gain":
                        weights[n, ks] = out.softmax(1)[:, c] - black.softmax(0)[c]
                    else:   # Score-CAM's: the logit, softmax over all channels below
                        weights[n, ks] = out[:, c] - black[c]
        if weight == "softmax":
            weights = weights.softmax(1)
        low = (weights[:, :, None, None] * A).sum(dim=1)
        low = torch.relu(low) if relu else low
        return ucl.normalize_maps(F.interpolate(low[:, None], size=(H, W), mode=mode,
                                                **({} if mode == "nearest" else {"align_corners": False}))[:, 0])
    return my_region_map


def run(fn, capsys, *real, **kwargs):
    ok = ex.check_region_map(fn, *real, **kwargs)
    return ok, capsys.readouterr()


@pytest.mark.parametrize("seed", [None, 0, 271828])
def test_reference_answer_passes_visible_and_hidden(seed, capsys):
    start = time.perf_counter()
    ok, out = run(answer(), capsys, seed=seed)
    assert ok, out.out
    assert "✗" not in out.out and out.out.rstrip().splitlines()[-1].startswith("PASS: ") and out.err == ""
    assert ("hidden: shapes CNN" in out.out) == (seed is not None)
    assert time.perf_counter() - start < 60     # ~0.3 s idle on two cores; generous for a loaded machine


def test_hidden_cases_differ_from_visible_and_between_seeds():
    seen = [[tuple(args[1].shape) + tuple(args[2].shape) + tuple(args[3].tolist()) for _, args in cases]
            for cases in (rx._visible(), rx._hidden(0), rx._hidden(271828))]
    assert not set(seen[0]) & set(seen[1]) and seen[1] != seen[2]


def test_real_tensors_of_the_notebook(capsys):
    model, spec = ucl.load_model("shapes_vgg", "cpu")   # the notebook's role: another model, its own A
    from unioncam_lite.data.shapes import generate, to_tensor
    x = to_tensor(generate(1, seed=5)[0])
    cap = ucl.capture(model, x, spec.target_layer, gradients=False)
    ok, out = run(answer(), capsys, model, x, cap.activations, cap.class_idx, spec.mean, spec.std)
    assert ok, out.out
    assert f"real: {len(rx.real_channels(cap.activations))} of the 64 channels" in out.out


MISTAKES = [
    (dict(masked_input="x"), "you masked the model's input x"),
    (dict(masked_input="raw"), "you gave the model the masked image in pixel space"),
    (dict(minmax=False), "without min-max normalisation"),
    (dict(mode="nearest"), "nearest-neighbour"),
    (dict(weight="logit"), "your weights are the class logits"),
    (dict(weight="softmax"), "these are Score-CAM's weights"),
    (dict(weight="gain"), "you subtracted the black image's probability"),
    (dict(relu=False), "the ReLU is missing"),
]


@pytest.mark.parametrize("mistake,hint", MISTAKES, ids=[h[:24] for _, h in MISTAKES])
def test_each_mistake_gets_its_hint(mistake, hint, capsys):
    ok, out = run(answer(**mistake), capsys)
    assert not ok and "FAIL: " in out.out
    assert "hint: " in out.out and hint in out.out, out.out
    assert out.err == ""


def test_variant_mistakes_get_their_hints(capsys):
    """The mistakes without a scaffold of their own above: each variant is recognised by its own hint."""
    for change, hint in [({"minmax": "all"}, "not all channels together"), ({"mode": "corners"}, "align_corners=False"),
                         ({"relu": "high"}, "then upsample and normalise"), ({"summed": "masks"}, "Σ_k w_k A_k"),
                         ({"final": False}, "now min-max normalise")]:
        ok = check(rx.REGION_MAP, lambda *a, change=change: rx.region_variant(*a, **change), rx._visible()[:2])
        out = capsys.readouterr().out                  # (the two hand-made cases: fast)
        assert not ok and "hint: " in out and hint in out, (change, out)


def test_nan_from_a_constant_channel_gets_the_nan_hint(capsys):
    ok, out = run(answer(nan_guard=False), capsys)
    assert not ok and "NaN" in out.out and "constant channel" in out.out


def test_blank_answer_is_reported(capsys):
    def my_region_map(model, x, A, class_idx, mean, std):
        raise NotImplementedError("Exercise: the region map")
    ok, out = run(my_region_map, capsys)
    assert not ok and "not implemented yet" in out.out and out.out.count("✗") == 1


@pytest.mark.parametrize("library", [ucl.region_cam, rx.region_map_reference])
def test_calling_the_library_fails(library, capsys):
    ok, out = run(lambda model, x, A, c, mean, std: library(model, x, A, c, mean=mean, std=std), capsys)
    assert not ok and "calls the library's" in out.out


def test_model_is_left_as_it_was(capsys):
    def careless(m, x, A, c, mean, std):
        m.train()
        with torch.no_grad():
            m[0].weight.add_(1.0)
        return answer()(m, x, A, c, mean, std)

    d = rx.Draw(0, 99)
    case = rx._made(d, 1, 4, 3, 3, 12, 12, signed=False)
    model = case[0]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ok, out = run(careless, capsys, *case)
    assert "train/eval mode (restored)" in out.out and "weights or batch-norm statistics (restored)" in out.out
    assert not any(m.training for m in model.modules())
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())
    shapes_model = rx._shapes_cnn()[0]
    run(answer(), capsys)
    assert not any(m.training for m in shapes_model.modules())


def test_reference_matches_a_hand_computation():
    """A model that only sees each colour's mean: logits = V·((mean over pixels of M⊙I0) − μ)/σ + b. With a
    constant image I0 = p and a 2×2 map upsampled ×2 (whose mean is kept), f_c(M_k ⊙ I0) is a closed form."""
    model = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(3, 2)).eval()
    V, b = torch.tensor([[2.0, -1.0, 0.5], [-1.0, 1.0, 1.0]]), torch.tensor([0.1, -0.2])
    with torch.no_grad():
        model[2].weight.copy_(V)
        model[2].bias.copy_(b)
    mu, sigma, p = torch.tensor([0.4, 0.5, 0.6]), torch.tensor([0.2, 0.25, 0.3]), torch.tensor([0.9, 0.3, 0.6])
    x = ((p - mu) / sigma).view(1, 3, 1, 1).expand(1, 3, 4, 4).contiguous()
    A = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]],       # normalised: mean 1/2
                       [[0.0, 0.0], [0.0, 4.0]],       # one corner lit: upsampled ×2 it covers 1/4 of the image
                       [[0.0, 0.0], [0.0, 0.0]]]])     # constant: an all-zero mask, the black image
    fraction = torch.tensor([0.5, 0.25, 0.0])          # the mean of each mask M_k (hand-computed)
    logits = ((fraction[:, None] * p - mu) / sigma) @ V.T + b
    w = logits.softmax(1)[:, 1]                        # class c = 1: f_c, the probability
    low = torch.relu((w[:, None, None] * A[0]).sum(0))
    # bilinear ×2 (align_corners=False) of a 2×2 map [[a, b], [c, d]]: rows and columns weighted 1, 3/4 1/4, 1/4 3/4, 1
    K = torch.tensor([[1.0, 0.0], [0.75, 0.25], [0.25, 0.75], [0.0, 1.0]])
    up = K @ low @ K.T
    expected = (up - up.min()) / (up.max() - up.min())
    got = rx.region_map_reference(model, x, A, torch.tensor([1]), tuple(mu.tolist()), tuple(sigma.tolist()))
    assert torch.allclose(got[0], expected, atol=1e-5)
    assert torch.allclose(answer()(model, x, A, torch.tensor([1]), tuple(mu.tolist()), tuple(sigma.tolist()))[0],
                          expected, atol=1e-5)


def test_gradcam_weights_fallback():
    W = torch.arange(24.0).view(1, 2, 3, 4)
    assert torch.equal(rx.gradcam_weights(W), torch.tensor([[5.5, 17.5]]))
    assert ex.check_gradcam_weights(rx.gradcam_weights, seed=3)
