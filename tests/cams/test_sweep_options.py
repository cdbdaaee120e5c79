"""The speed options that benchmarks/speed_sweep.py sweeps (issue 21): masks built in the autocast
dtype (an approximation) and torch.compile of the masked-pass model (exact up to float rounding).

(No test here has "cuda" in its name: `make gpu-check` selects the CUDA tests with ``-k cuda``.)
"""
import pytest
import torch
from conftest import TinyCNN

from unioncam_lite import union_cam
from unioncam_lite.cams.common import PixelSpace
from unioncam_lite.cams.masked import masked_scores
from unioncam_lite.cams.options import CamOptions

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _case(m: int = 6):
    model = TinyCNN(k=6).eval()
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    masks = torch.rand(m, 8, 8, generator=torch.Generator().manual_seed(2))
    return model, x, masks, torch.arange(m) % 2, torch.tensor([1, 3])


def _scores(model, x, masks, index, classes, **options):
    return masked_scores(model, x, masks, index, classes, PixelSpace(MEAN, STD, x),
                         options=CamOptions(batch_size=4, fuse=False, **options))


def test_the_new_options_are_checked_and_keep_exact_meaning_exact():
    with pytest.raises(ValueError, match="autocast_masks=True builds the masks in the autocast dtype"):
        CamOptions(autocast_masks=True)
    with pytest.raises(ValueError, match="compile_mode='fast': give one of default, reduce-overhead"):
        CamOptions(compile_mode="fast")
    assert CamOptions(compile_mode="eager").exact
    assert not CamOptions(autocast=torch.bfloat16, autocast_masks=True).exact


def test_autocast_masks_feed_the_model_bf16_images_and_stay_close():
    """The masked images reach the model in bf16 (no fp32 buffer); the scores stay within bf16 rounding."""
    model, x, masks, index, classes = _case()
    seen = []
    hook = model.register_forward_pre_hook(lambda m, inp: seen.append(inp[0].dtype))
    try:
        exact = _scores(model, x, masks, index, classes)
        autocast = _scores(model, x, masks, index, classes, autocast=torch.bfloat16)
        low = _scores(model, x, masks, index, classes, autocast=torch.bfloat16, autocast_masks=True)
    finally:
        hook.remove()
    assert seen == [torch.float32] * 4 + [torch.bfloat16] * 2    # two batches (4 + 2) per call
    assert low.dtype == torch.float32
    # a logit of size ~1 in bf16 (8 bits of mantissa): within a few units of 2^-8 of the fp32 score
    scale = exact.abs().max()
    assert (autocast - exact).abs().max() <= 0.05 * scale and (low - exact).abs().max() <= 0.05 * scale
    assert not torch.equal(low, exact)


def test_compile_capture_only_gives_the_same_scores_and_maps():
    """compile_mode="eager": TorchDynamo captures the model (graph breaks, guards) and runs it as it is."""
    model, x, masks, index, classes = _case()
    assert torch.equal(_scores(model, x, masks, index, classes, compile_mode="eager"),
                       _scores(model, x, masks, index, classes))
    plain = union_cam(model, x, "act", mean=MEAN, std=STD)
    compiled = union_cam(model, x, "act", mean=MEAN, std=STD, compile_mode="eager")
    assert torch.allclose(compiled.cam, plain.cam, atol=1e-6) and compiled.chosen == plain.chosen
