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
