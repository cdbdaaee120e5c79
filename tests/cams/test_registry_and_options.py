"""The method registry and the one options object: a method is added in one place, options travel intact."""
import pytest
import torch

from unioncam_lite import (
    METHODS,
    CamOptions,
    Method,
    compute_cam,
    default_methods,
    get_method,
    gradcam,
    register,
    scorecam,
    union_cam,
)
from unioncam_lite.cams import registry
from unioncam_lite.cams.options import resolve_options


def test_every_method_is_registered_with_what_it_needs():
    assert list(METHODS) == ["gradcam", "gradcampp", "xgradcam", "layercam", "scorecam", "groupcam", "unioncam"]
    assert default_methods() == ("gradcam", "gradcampp", "xgradcam", "layercam", "scorecam", "unioncam")
    assert [n for n, m in METHODS.items() if m.pixel_space] == ["scorecam", "groupcam", "unioncam"]
    assert [n for n, m in METHODS.items() if not m.gradients] == ["scorecam"]
    assert [n for n, m in METHODS.items() if m.theta] == ["unioncam"]
    assert get_method("unioncam").label == "UnionCAM"
    with pytest.raises(ValueError, match="unknown CAM method 'nope': choose from gradcam, "):
        get_method("nope")


def test_compute_cam_by_name_equals_the_function(tiny, images):
    assert torch.equal(compute_cam("gradcam", tiny, images, "act", 1), gradcam(tiny, images, "act", 1))
    a = compute_cam("scorecam", tiny, images, "act", 1, batch_size=3)
    assert torch.allclose(a, scorecam(tiny, images, "act", 1), atol=1e-6)
    b = compute_cam("unioncam", tiny, images, "act", 1, theta=50, options=CamOptions(fuse=False))
    assert torch.equal(b, union_cam(tiny, images, "act", 1, 50, fuse=False).cam)


def test_a_registered_method_is_usable_by_name_at_once(tiny, images, monkeypatch):
    monkeypatch.setattr(registry, "METHODS", dict(registry.METHODS))   # leave the real registry as it was

    def ones(model, x, target_layer, class_idx=None):
        return torch.ones(x.shape[0], *x.shape[-2:])

    register(Method("ones", "All ones", ones, gradients=False))
    assert "ones" in registry.default_methods()
    assert torch.equal(registry.compute_cam("ones", tiny, images, "act"), torch.ones(2, 16, 16))
    with pytest.raises(ValueError, match="already registered"):
        register(Method("ones", "Again", ones))


def test_options_object_and_keywords_are_the_same(tiny, images):
    opts = CamOptions(top_k=3, skip=False, batch_size=2)
    assert resolve_options(opts) is opts
    assert resolve_options(None, top_k=3, skip=False, batch_size=2) == opts
    assert resolve_options(opts, top_k=None) == CamOptions(skip=False, batch_size=2)   # a keyword overrides
    assert CamOptions().exact and not opts.exact and not CamOptions(autocast=torch.bfloat16).exact
    by_object = union_cam(tiny, images, "act", options=opts)
    by_keywords = union_cam(tiny, images, "act", top_k=3, skip=False, batch_size=2)
    assert torch.equal(by_object.cam, by_keywords.cam)


@pytest.mark.parametrize("bad, message", [
    (dict(top_k=0), "top_k=0: give a positive integer"),
    (dict(batch_size=2.5), "batch_size=2.5: give a positive integer"),
    (dict(batch_size=True), "batch_size=True"),
    (dict(autocast=torch.float64), "autocast=torch.float64: give torch.bfloat16"),
])
def test_bad_options_are_refused_with_the_fix(bad, message):
    with pytest.raises(ValueError, match=message):
        CamOptions(**bad)


def test_unknown_option_names_the_valid_ones(tiny, images):
    with pytest.raises(TypeError, match="unknown option 'topk': the options are batch_size, max_memory"):
        union_cam(tiny, images, "act", topk=3)
    with pytest.raises(TypeError, match="options must be a CamOptions"):
        scorecam(tiny, images, "act", options={"top_k": 3})
