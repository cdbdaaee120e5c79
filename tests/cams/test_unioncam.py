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


def test_region_map_default_is_the_papers_and_softmax_is_an_option():
    """Default: w_k = f_c(M_k ⊙ I0) (§3.2), the same map as scorecam(region_weights="paper"); the
    "softmax" option is Score-CAM's map (scorecam's default, checked against pytorch-grad-cam and torch-cam)."""
    from unioncam_lite import scorecam

    model = TinyCNN(k=8, stride=2, seed=1).eval()
    x = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    kw = dict(mean=[0.5] * 3, std=[0.25] * 3)
    paper = union_cam(model, x, "act", **kw)
    soft = union_cam(model, x, "act", region_weights="softmax", **kw)
    c = paper.class_idx
    assert torch.allclose(paper.region, scorecam(model, x, "act", c, region_weights="paper", **kw), atol=1e-6)
    assert torch.allclose(soft.region, scorecam(model, x, "act", c, **kw), atol=1e-6)
    assert (paper.region - soft.region).abs().amax() > 0.05          # a visibly different map, not rounding
    assert UnionCAM(model, "act").region_weights == "paper"
    assert UnionCAM(model, "act", region_weights="softmax").options.region_weights == "softmax"
    with pytest.raises(ValueError, match="region_weights"):
        union_cam(model, x, "act", region_weights="scores")  # type: ignore[arg-type]


def test_softmax_option_reproduces_the_previous_union_cam():
    """With region_weights="softmax" everything is what this package computed before the paper's weights
    became the default: the same denoised map and β_den, the region map of Score-CAM, and Eq. 6 as
    written wherever both β are positive (images 1-3 here; image 0 has both β < 0, where the clipped
    union now returns L_reg)."""
    from unioncam_lite import normalize_maps, scorecam

    model = TinyCNN(k=8, stride=2, seed=1).eval()
    x = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    r = union_cam(model, x, "act", region_weights="softmax")
    assert torch.allclose(r.region, scorecam(model, x, "act", r.class_idx), atol=1e-6)
    assert torch.allclose(r.beta_region, score_gain(model, x, r.region, r.class_idx), atol=1e-6)
    positive = (r.beta_denoised > 0) & (r.beta_region > 0)
    assert positive.tolist() == [False, True, True, True]
    literal = normalize_maps(r.beta_denoised[:, None, None] * r.denoised + r.beta_region[:, None, None] * r.region)
    assert torch.allclose(r.fused[positive], literal[positive], atol=1e-6)
    assert torch.equal(r.fused[0], r.region[0]) and r.chosen[0] == "region"
