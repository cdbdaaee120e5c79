"""Group-CAM against its definition written out step by step."""
import torch
from conftest import TinyCNN
from torchvision.transforms.functional import gaussian_blur

from unioncam_lite import capture, groupcam, normalize_maps
from unioncam_lite.cams.common import upsample


def test_groupcam_matches_the_definition():
    model = TinyCNN(k=8, stride=2, seed=11).eval()
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(12))
    mean, std = [0.4, 0.5, 0.6], [0.2, 0.25, 0.3]
    cams = groupcam(model, x, "act", [1, 3], groups=4, mean=mean, std=std)
    m = torch.tensor(mean).view(1, 3, 1, 1)
    s = torch.tensor(std).view(1, 3, 1, 1)
    for i, c in enumerate([1, 3]):
        cap = capture(model, x[i:i + 1], "act", c)
        w = cap.gradients.mean(dim=(2, 3), keepdim=True)
        wa = (w * cap.activations)[0]
        pix = x[i:i + 1] * s + m
        blur = gaussian_blur(pix, [31, 31], [50.0, 50.0])  # kernel 51 shrunk to fit 16x16
        with torch.no_grad():
            p_base = model((blur - m) / s).softmax(1)[0, c]
            total = torch.zeros(16, 16)
            for g in range(4):
                mask = normalize_maps(upsample(wa[2 * g:2 * g + 2].sum(0).relu()[None], (16, 16)))[0]
                p = model((mask * pix + (1 - mask) * blur - m) / s).softmax(1)[0, c]
                total += (p - p_base).relu() * mask
        # small probability differences, normalised: float32 rounding shows at ~1e-4
        assert torch.allclose(cams[i], normalize_maps(total.relu()[None])[0], atol=5e-4)
    assert cams.shape == (2, 16, 16) and cams.min() >= 0 and cams.max() <= 1
