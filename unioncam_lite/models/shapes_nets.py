"""The two CNNs trained on the synthetic shapes (:mod:`unioncam_lite.data.shapes`): the same conv
blocks, a pooled head (ShapesCNN) or a flattened VGG-style head (ShapesVGG)."""
from __future__ import annotations

import torch
from torch import nn

from ..data.shapes import CLASSES


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


def conv_features() -> nn.Sequential:
    """Four conv blocks (conv 3×3 → batch norm → ReLU; 16-32-64-64 channels), 2×2 max pools between: 64→8 px."""
    features = nn.Sequential()
    for i, (cin, cout) in enumerate([(3, 16), (16, 32), (32, 64), (64, 64)], start=1):
        features.add_module(f"block{i}", _block(cin, cout))
        if i < 4:
            features.add_module(f"pool{i}", nn.MaxPool2d(2))
    return features


class ShapesCNN(nn.Module):
    """Four conv blocks (16-32-64-64 channels, 64→8 px) → global average pool → linear.

    The CAM target is ``features.block4`` (the last block's ReLU output, 64×8×8).
    """

    def __init__(self, num_classes: int = len(CLASSES)):
        super().__init__()
        self.features = conv_features()
        self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(64, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class ShapesVGG(nn.Module):
    """The same four conv blocks as :class:`ShapesCNN`, then a VGG-style head: flatten → FC → FC.

    No global pooling: ``classifier`` flattens the 64×8×8 map of ``features.block4`` (the CAM
    target) into 4,096 inputs of a fully-connected layer, as VGG16 flattens ``features``. Each
    position of the map has its own weights, so ∂y_c/∂A differs from position to position and
    UnionCAM's gradient denoising (Eq. 1, the θ-th percentile per channel) changes the map;
    through ShapesCNN's global average pool every position gets the same gradient and θ does
    nothing.
    """

    def __init__(self, num_classes: int = len(CLASSES), hidden: int = 128, dropout: float = 0.2):
        super().__init__()
        self.features = conv_features()
        self.classifier = nn.Sequential(nn.Flatten(1), nn.Linear(64 * 8 * 8, hidden), nn.ReLU(), nn.Dropout(dropout),
                                        nn.Linear(hidden, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


ARCHITECTURES = {"shapes_cnn": ShapesCNN, "shapes_vgg": ShapesVGG}
