"""Odd but legitimate inputs (issue 19, items 7-9 and 13): a result or one clear error, never a raw torch error.

Each test failed before its fix: bf16 models raised ``Got unsupported ScalarType BFloat16`` (UnionCAM)
or a dtype mismatch (Group-CAM); ``batch_size=-1`` gave Group-CAM maps from uninitialised memory;
``theta=True`` was taken as 1; the rest were raw torch errors.
"""
import pytest
import torch
from conftest import TinyCNN

from unioncam_lite import METHODS, compute_cam, groupcam, scorecam, union_cam

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def _run(name, model, x, **kw):
    pixel = METHODS[name].pixel_space
    return compute_cam(name, model, x, "act", 1, mean=MEAN if pixel else None, std=STD if pixel else None, **kw)


@pytest.mark.parametrize("name", list(METHODS))
def test_every_method_runs_on_a_bfloat16_model(name, images):
    model = TinyCNN().eval()
    low = _run(name, model.to(torch.bfloat16), images.to(torch.bfloat16))
    full = _run(name, TinyCNN().eval(), images)
    assert low.shape == full.shape and low.dtype == torch.float32 and bool(torch.isfinite(low).all())
    # the same maps up to bf16 rounding (3 significant digits): strongly correlated
    assert torch.corrcoef(torch.stack([low.flatten(), full.flatten()]))[0, 1] > 0.9


def test_unioncam_bfloat16_inputs_are_cached_by_their_bytes(images):
    from unioncam_lite import UnionCAM

    explainer = UnionCAM(TinyCNN().eval().to(torch.bfloat16), "act")
    x = images.to(torch.bfloat16)
    a, b = explainer(x, 1, 10), explainer(x, 1, 50)
    assert len(explainer._cache) == 1 and torch.equal(a.region, b.region)
    y = x.clone()
    y[0, 0, 0, 0] += 1
    explainer(y, 1, 10)
    assert len(explainer._cache) == 2


@pytest.mark.parametrize("batch_size", [-1, 0, 2.5, True])
def test_a_batch_size_below_one_is_refused(batch_size, tiny, images):
    for call in (lambda: groupcam(tiny, images, "act", batch_size=batch_size),
                 lambda: scorecam(tiny, images, "act", batch_size=batch_size),
                 lambda: union_cam(tiny, images, "act", batch_size=batch_size)):
        with pytest.raises(ValueError, match=r"batch_size=.*: give a positive integer, or None for the default"):
            call()


@pytest.mark.parametrize("theta", [True, False])
def test_theta_must_be_a_number_not_a_bool(theta, tiny, images):
    with pytest.raises(TypeError, match="theta must be a number in"):
        union_cam(tiny, images, "act", theta=theta)


@pytest.mark.parametrize("theta", ["10", b"10"])
def test_theta_must_be_a_number_not_a_string(theta, tiny, images):
    """Before: float("10") took the string, against the documented "θ that is not a number is refused"."""
    with pytest.raises(TypeError, match="theta must be a number in .*: convert it with float"):
        union_cam(tiny, images, "act", theta=theta)


@pytest.mark.parametrize("name", list(METHODS))
def test_an_input_that_is_not_a_tensor_is_refused(name, tiny, images):
    """Before: UnionCAM read the input's bytes for its cache key first: AttributeError 'numpy.ndarray'
    object has no attribute 'detach'."""
    with pytest.raises(TypeError, match=r"input must be a torch.Tensor of shape \(N, 3, H, W\), not ndarray"):
        compute_cam(name, tiny, images.numpy(), "act", 1)


@pytest.mark.parametrize("channels, fix", [(4, r": drop the alpha channel, x\[:, :3\]"),
                                           (1, r": repeat the grey channel, x.expand\(-1, 3, -1, -1\)"),
                                           (2, "$")])
@pytest.mark.parametrize("name", list(METHODS))
def test_an_input_with_other_channels_than_the_model_takes_is_one_clear_error(name, channels, fix, tiny):
    """Before: torch's "Given groups=1, weight of size [6, 3, 3, 3], expected input[2, 4, 16, 16] to have 3
    channels, but got 4 channels instead"."""
    x = torch.rand(2, channels, 16, 16)
    with pytest.raises(ValueError, match=rf"the model takes 3-channel images but the input has {channels} "
                                         rf"channels \(shape \(2, {channels}, 16, 16\)\){fix}"):
        compute_cam(name, tiny, x, "act", 1)


def test_a_channel_mismatch_inside_the_model_is_not_blamed_on_the_input(images):
    broken = TinyCNN().eval()
    broken.act = torch.nn.Conv2d(4, 4, 1)     # takes 4 channels, gets the first conv's 6
    with pytest.raises(RuntimeError, match="to have 4 channels, but got 6 channels instead"):
        compute_cam("gradcam", broken, images, "act", 1)


def test_a_compiled_model_is_refused_with_the_fix(tiny, images):
    compiled = torch.compile(tiny)   # nothing is compiled until it is called: the check comes first
    with pytest.raises(TypeError, match=r"torch.compile'd model .* pass the original module, model._orig_mod"):
        compute_cam("gradcam", compiled, images, "act")
    assert torch.equal(compute_cam("gradcam", compiled._orig_mod, images, "act"),
                       compute_cam("gradcam", tiny, images, "act"))


@pytest.mark.parametrize("model_dtype, input_dtype", [(torch.float16, torch.float32), (torch.float32, torch.float64)])
def test_input_and_model_dtypes_must_match(model_dtype, input_dtype, images):
    model = TinyCNN().eval().to(model_dtype)
    with pytest.raises(TypeError, match=rf"the input is {input_dtype} but the model's weights are {model_dtype}: "
                                        rf"convert the input with x.to\({model_dtype}\)"):
        union_cam(model, images.to(input_dtype), "act")


def test_a_model_on_the_meta_device_is_refused(images):
    with torch.device("meta"):
        model = TinyCNN().eval()
    with pytest.raises(ValueError, match="on the meta device .* load its weights first"):
        compute_cam("gradcam", model, images, "act")


def test_an_image_too_small_for_the_model_is_one_clear_error():
    import torchvision

    model = torchvision.models.vgg11(weights=None).eval()
    with pytest.raises(ValueError, match=r"cannot run on a \(2, 2\) image .* give a larger image"):
        compute_cam("gradcam", model, torch.randn(1, 3, 2, 2), "features.0")


def test_mean_and_std_must_have_one_value_per_channel(images):
    gray = TinyCNN().eval()
    gray.conv = torch.nn.Conv2d(1, 6, 3, stride=2, padding=1)
    with pytest.raises(ValueError, match=r"mean has 3 values but the input has 1 channel\(s\)"):
        scorecam(gray, images[:, :1], "act", mean=MEAN, std=STD)
