"""Speed options: top-k channels and autocast are named approximations, off by default."""
import pytest
import torch
from conftest import TinyCNN

from unioncam_lite import capture, region_cam, union_cam
from unioncam_lite.cams.score import top_k_channels


def corr(a, b):
    return torch.corrcoef(torch.stack([a.flatten().float(), b.flatten().float()]))[0, 1].item()


def test_top_k_keeps_the_channels_of_largest_variance():
    A = torch.zeros(1, 4, 2, 2)
    A[0, 0] = torch.tensor([[0.0, 1.0], [0.0, 1.0]])   # variance 1/3
    A[0, 1] = 5.0                                       # constant: variance 0
    A[0, 2] = torch.tensor([[0.0, 4.0], [0.0, 4.0]])   # variance 16/3 (largest)
    A[0, 3] = torch.tensor([[0.0, 2.0], [0.0, 0.0]])   # variance 1
    assert torch.equal(top_k_channels(A, 2), A[:, [2, 3]])
    assert top_k_channels(A, None) is A and top_k_channels(A, 10) is A
    with pytest.raises(ValueError, match="top_k"):
        top_k_channels(A, 0)


def test_top_k_equals_the_exact_map_on_the_kept_channels(images):
    model = TinyCNN(k=8, stride=2, seed=2).eval()
    cap = capture(model, images, "act", gradients=False)
    approx = region_cam(model, images, cap.activations, cap.class_idx, top_k=3)
    exact_on_subset = region_cam(model, images, top_k_channels(cap.activations, 3), cap.class_idx)
    assert torch.allclose(approx, exact_on_subset, atol=1e-6)
    everything = region_cam(model, images, cap.activations, cap.class_idx, top_k=8)
    assert torch.allclose(everything, region_cam(model, images, cap.activations, cap.class_idx), atol=1e-6)


def test_defaults_are_exact(images):
    model = TinyCNN(k=8, stride=2, seed=4).eval()
    a = union_cam(model, images, "act")
    b = union_cam(model, images, "act", top_k=None, autocast=None, skip=False)
    assert torch.allclose(a.cam, b.cam, atol=1e-5) and a.chosen == b.chosen


def test_bf16_autocast_on_cpu_stays_close_on_a_real_photo(lite0, chelsea):
    """The same code path as CUDA autocast, on the CPU (bf16); 256 channels keep the test short."""
    model, spec = lite0
    x = chelsea[1]
    cap = capture(model, x, spec.target_layer, gradients=False)
    kw = dict(mean=spec.mean, std=spec.std, top_k=256)
    fp32 = region_cam(model, x, cap.activations, cap.class_idx, **kw)
    bf16 = region_cam(model, x, cap.activations, cap.class_idx, autocast=torch.bfloat16, **kw)
    assert corr(fp32, bf16) > 0.99


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_cuda_autocast_unioncam_correlates_with_fp32(dtype):
    from unioncam_lite import load_image, load_model

    model, spec = load_model("efficientnet_lite0", "cuda")
    for name in ("chelsea", "coffee", "motorcycle_left"):
        x = load_image(name, spec)[1].cuda()
        exact = union_cam(model, x, spec.target_layer, mean=spec.mean, std=spec.std)
        fast = union_cam(model, x, spec.target_layer, mean=spec.mean, std=spec.std, autocast=dtype)
        assert corr(exact.region, fast.region) > 0.99 and corr(exact.cam, fast.cam) > 0.99


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_batch_size_respects_max_memory():
    from unioncam_lite.cams.masked import auto_batch_size

    model = TinyCNN(k=8).cuda().eval()
    x = torch.randn(1, 3, 64, 64, device="cuda")
    small = auto_batch_size(model, x, max_memory=1 << 20)
    large = auto_batch_size(model, x, max_memory=1 << 30)
    assert 1 <= small <= large <= 1024


def test_region_pass_leaves_the_models_weights_as_they_were(images):
    model = TinyCNN(k=8, stride=2, seed=5).eval()
    before = {n: (p.data_ptr(), p.stride(), p.clone()) for n, p in model.named_parameters()}
    cap = capture(model, images, "act", gradients=False)
    region_cam(model, images, cap.activations, cap.class_idx)
    for n, p in model.named_parameters():
        ptr, stride, value = before[n]
        assert p.data_ptr() == ptr and p.stride() == stride and torch.equal(p, value)


class ConvBN(torch.nn.Module):
    """conv -> BN -> ReLU6 -> conv -> BN -> ReLU (``act``) -> pool -> linear, with non-trivial BN statistics."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.c1, self.b1, self.r1 = torch.nn.Conv2d(3, 6, 3, padding=1, bias=False), torch.nn.BatchNorm2d(6), torch.nn.ReLU6()
        self.c2, self.b2, self.act = torch.nn.Conv2d(6, 8, 3, stride=2, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU()
        self.fc = torch.nn.Linear(8, 5)
        with torch.no_grad():
            for t in (*self.parameters(), *self.buffers()):
                if t.is_floating_point():
                    t.copy_(torch.rand(t.shape, generator=g) + 0.5 if t.ndim == 1 else torch.randn(t.shape, generator=g))

    def forward(self, x):
        x = self.act(self.b2(self.c2(self.r1(self.b1(self.c1(x))))))
        return self.fc(x.mean((2, 3)))


def test_fused_copy_folds_batch_norms_and_leaves_the_model_alone(images):
    from unioncam_lite.cams.masked import inference_model

    model = ConvBN().train()
    before = {n: t.clone() for n, t in model.state_dict().items()}
    with inference_model(model) as fast:
        assert fast is not model and not model.training and not model.b1.training   # eval inside
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
        with torch.no_grad():
            assert torch.allclose(fast(images), model(images), atol=1e-5)
        with inference_model(model) as inner:
            assert inner is fast                                   # a call's sub-steps share one copy
    with inference_model(model) as again:
        assert again is not fast                                   # the next call builds its own
    assert model.training and all(m.training for m in model.modules())              # flags restored
    assert all(torch.equal(before[n], t) for n, t in model.state_dict().items())
    with inference_model(model, fuse=False) as same:
        assert same is model


def test_fused_copy_is_built_from_the_current_weights(images):
    from unioncam_lite.cams.masked import inference_model

    model = ConvBN().eval()
    with torch.no_grad():
        model.b1.running_mean.data.add_(0.3)  # through .data: no version counter moves
        model.b1.eps = 0.5
        with inference_model(model) as fast:
            assert torch.allclose(fast(images), model(images), atol=1e-5)


def test_fusing_gives_the_same_maps_and_betas(images):
    model = ConvBN().train()  # the passes run in eval mode either way
    kw = dict(mean=[0.5] * 3, std=[0.25] * 3)
    fused, plain = union_cam(model, images, "act", **kw), union_cam(model, images, "act", fuse=False, **kw)
    assert model.training
    for a, b in ((fused.region, plain.region), (fused.cam, plain.cam), (fused.beta_fused, plain.beta_fused)):
        assert torch.allclose(a, b, atol=1e-5)
    assert fused.chosen == plain.chosen


def test_untraceable_or_bn_free_models_run_as_they_are():
    from unioncam_lite.cams.masked import inference_model

    class Branchy(ConvBN):
        def forward(self, x):  # data-dependent control flow: fx cannot trace it
            return super().forward(x) if x.sum() > 0 else super().forward(-x)

    branchy = Branchy().eval()
    with inference_model(branchy) as net:
        assert net is branchy
    tiny = TinyCNN().eval()
    with inference_model(tiny) as net:
        assert net is tiny


def test_fusing_is_exact_up_to_rounding_on_the_real_model(lite0, chelsea):
    from unioncam_lite.cams.masked import inference_model

    model, spec = lite0
    x = chelsea[1]
    with inference_model(model) as fast:  # EfficientNet-Lite0 traces: all 49 batch norms are folded
        assert fast is not model and not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
        with torch.no_grad():
            assert torch.allclose(fast(x), model(x), atol=1e-4)
    cap = capture(model, x, spec.target_layer, gradients=False)
    kw = dict(mean=spec.mean, std=spec.std, top_k=64)
    fused = region_cam(model, x, cap.activations, cap.class_idx, **kw)
    plain = region_cam(model, x, cap.activations, cap.class_idx, fuse=False, **kw)
    assert torch.allclose(fused, plain, atol=1e-4)
