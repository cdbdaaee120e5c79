"""Normalisation: constant and 1×1 maps.

Each test here failed before its fix (the defect it guards is named in its docstring).
"""

import pytest
import torch
import torchvision

from unioncam_lite import gradcam
from unioncam_lite.cams.common import normalize_maps, upsample_normalize

# --------------------------------------------------------------------------- 7. constant maps

def test_constant_and_one_by_one_maps_normalise_to_zero():
    """Defect 7: a 1x1 map upsampled and min-max normalised gave {0, 0.5, 1} from float rounding."""
    one = torch.full((2, 1, 1), 3.7e4)
    out = upsample_normalize(one, (224, 224))
    assert torch.equal(out, torch.zeros(2, 224, 224))
    noisy_constant = torch.full((1, 4, 4), 1234.5) + torch.randn(1, 4, 4) * 1e-4
    assert torch.equal(normalize_maps(noisy_constant), torch.zeros(1, 4, 4))
    real = torch.tensor([[[0.0, 1e-3], [2e-3, 3e-3]]])   # small but real variation stays
    assert torch.allclose(normalize_maps(real), torch.tensor([[[0.0, 1 / 3], [2 / 3, 1.0]]]))


def test_resnet18_at_32_pixels_warns_about_a_1x1_layer():
    model = torchvision.models.resnet18(weights=None, num_classes=10).eval()
    x = torch.randn(1, 3, 32, 32)
    with pytest.warns(UserWarning, match="1×1"):
        cam = gradcam(model, x, "layer4")
    assert torch.equal(cam, torch.zeros_like(cam))
