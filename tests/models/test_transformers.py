"""Vision transformers (issue 20 §2): ViT and Swin explained through a reshape transform, random weights,
small inputs (nothing is downloaded)."""
import warnings

import pytest
import torch

from unioncam_lite import capture, compute_cam, gradcam, load_model, scorecam, swin_reshape, union_cam, vit_reshape


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_vit_reshape_by_hand():
    tokens = torch.arange(2 * 5 * 3, dtype=torch.float32).reshape(2, 5, 3)   # class token + 2×2 patches, C = 3
    grid = vit_reshape(tokens)
    assert grid.shape == (2, 3, 2, 2)
    assert torch.equal(grid[0, :, 0, 1], tokens[0, 2])       # patch 1 (row 0, column 1) is token 2
    assert torch.equal(grid[1, 2, 1, 0], tokens[1, 3, 2])
    with pytest.raises(ValueError, match="do not form a square grid"):
        vit_reshape(torch.zeros(1, 6, 3))
    channels_last = torch.randn(1, 2, 3, 4)
    assert torch.equal(swin_reshape(channels_last)[0, :, 1, 2], channels_last[0, 1, 2])


@pytest.fixture(scope="module")
def vit():
    from torchvision.models import vit_b_16

    from unioncam_lite.models import transformer_target

    model = vit_b_16(weights=None, image_size=64).eval()          # 4×4 patches of 16 px
    with torch.no_grad():   # torchvision initialises the head to zeros: every gradient would be 0 (diagnose says so)
        model.heads.head.weight.copy_(torch.randn(model.heads.head.weight.shape,
                                                  generator=torch.Generator().manual_seed(0)) * 0.05)
    return model, *transformer_target("vit_b_16", model)


@pytest.fixture(scope="module")
def swin():
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_model("swin_t", "cpu", pretrained=False)


def test_the_default_targets_are_the_token_layers(vit, swin):
    assert vit[1] == "encoder.layers.encoder_layer_11.ln_1" and vit[2] is vit_reshape
    model, spec = swin   # torchvision's `permute` already gives the last stage as (N, C, h, w)
    assert spec.target_layer == "permute" and spec.reshape_transform is None


def test_vit_gradients_are_the_token_gradients_reshaped(vit):
    """W = reshape(∂y_c/∂tokens), checked with a hook of our own on the same layer."""
    model, layer, reshape = vit
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    cap = capture(model, x, layer, 3, reshape_transform=reshape)
    assert cap.activations.shape == (1, 768, 4, 4) and cap.gradients.shape == (1, 768, 4, 4)
    kept = {}
    handle = model.get_submodule(layer).register_forward_hook(lambda m, i, out: kept.setdefault("t", out))
    try:
        y = model(x)[0, 3]
        (g,) = torch.autograd.grad(y, kept["t"])
    finally:
        handle.remove()
    assert torch.allclose(cap.gradients, reshape(g), atol=1e-6)
    assert torch.allclose(cap.activations, reshape(kept["t"].detach()), atol=1e-6)


@pytest.mark.parametrize("which", ["vit", "swin"])
def test_gradcam_scorecam_unioncam_run_on_transformers(which, vit, swin):
    if which == "vit":
        model, layer, reshape = vit
    else:   # a layer inside the last Swin block: channels-last tokens
        model, _ = swin
        layer, reshape = "features.7.1.norm2", swin_reshape
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    kw = dict(reshape_transform=reshape)
    for maps in (gradcam(model, x, layer, 1, **kw), scorecam(model, x, layer, 1, top_k=8, **kw),
                 union_cam(model, x, layer, 1, top_k=8, **kw).cam,
                 compute_cam("gradcampp", model, x, layer, 1, reshape_transform=reshape)):
        assert maps.shape == (2, 64, 64) and bool(torch.isfinite(maps).all())
        assert float(maps.amax()) == 1.0 and float(maps.amin()) == 0.0   # not constant: the grid carries a map


def test_tokens_without_a_transform_get_a_clear_error(vit):
    model, layer, _ = vit
    with pytest.raises(ValueError, match=r"\(1, 17, 768\), not a \(N, K, h, w\) feature map: .*reshape_transform="):
        gradcam(model, torch.randn(1, 3, 64, 64), layer)
