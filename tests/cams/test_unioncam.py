"""UnionCAM end to end: invariants, the cache, and a real photograph."""
import pytest
import torch
from conftest import TinyCNN

from unioncam_lite import UnionCAM, capture, denoise_gradients, score_gain, union_cam


@pytest.fixture
def tiny_model():
    return TinyCNN(k=8, stride=2, seed=7).eval()


def test_result_fields_ranges_and_selection(tiny_model, images):
    r = union_cam(tiny_model, images, "act", theta=10, mean=[0.5] * 3, std=[0.25] * 3)
    for m in (r.cam, r.denoised, r.region, r.fused):
        assert m.shape == (2, 16, 16) and m.min() >= 0 and m.max() <= 1
    for b in (r.beta_denoised, r.beta_region, r.beta_fused):
        assert b.shape == (2,) and torch.isfinite(b).all() and (b.abs() <= 1).all()
    for i in range(2):  # Eq. 8
        fused_wins = bool(r.beta_fused[i] > r.beta_region[i])
        assert r.chosen[i] == ("fused" if fused_wins else "region")
        assert torch.equal(r.cam[i], r.fused[i] if fused_wins else r.region[i])


def test_beta_region_is_the_score_gain_of_the_region_map(tiny_model, images):
    r = union_cam(tiny_model, images, "act")
    assert torch.allclose(r.beta_region, score_gain(tiny_model, images, r.region, r.class_idx), atol=1e-6)
    assert torch.allclose(r.beta_fused, score_gain(tiny_model, images, r.fused, r.class_idx), atol=1e-6)


def test_batch_of_two_equals_two_single_runs(tiny_model, images):
    r = union_cam(tiny_model, images, "act", [1, 3])
    for i, c in enumerate([1, 3]):
        s = union_cam(tiny_model, images[i:i + 1], "act", c)
        assert s.chosen[0] == r.chosen[i]
        assert torch.allclose(s.cam[0], r.cam[i], atol=1e-5)
        assert torch.allclose(s.beta_fused[0], r.beta_fused[i], atol=1e-6)


def test_theta_zero_leaves_gradients_unchanged(tiny_model, images):
    W = capture(tiny_model, images, "act").gradients
    assert torch.equal(denoise_gradients(W, 0), W)


def test_cache_reuses_theta_free_work(tiny_model, images, monkeypatch):
    import unioncam_lite.cams.unioncam as union_mod

    explainer = UnionCAM(tiny_model, "act")
    calls = []
    real = union_mod.region_cam
    monkeypatch.setattr(union_mod, "region_cam", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = explainer(images, None, 10)
    for theta in (0, 50, 90):
        explainer(images, None, theta)
    again = explainer(images, None, 10)
    assert len(calls) == 1
    assert torch.equal(first.cam, again.cam)
    explainer(images, 2, 10)  # another class is another entry
    assert len(calls) == 2


def test_real_model_explains_the_cat(lite0, chelsea):
    model, spec = lite0
    image, x = chelsea
    r = union_cam(model, x, spec.target_layer, mean=spec.mean, std=spec.std)
    assert "cat" in spec.categories[int(r.class_idx[0])]
    cam = r.cam[0]
    assert cam.shape == (224, 224)
    # more of the map's mass inside the central region than a uniform map would put there
    centre = torch.zeros_like(cam, dtype=torch.bool)
    centre[56:168, 56:168] = True
    assert cam[centre].sum() / cam.sum() > centre.float().mean()
    assert r.beta_region[0] > 0  # keeping the highlighted region keeps the class far above black
