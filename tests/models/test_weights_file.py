"""torchvision_weights_file: where torch's cache keeps a torchvision model's weights, checked without a download."""
import os

from unioncam_lite.models import torchvision_weights_file


def test_the_file_is_torch_hub_checkpoints_and_the_weights_file_name(tmp_path, monkeypatch):
    from torchvision.models import ResNet18_Weights, VGG16_Weights

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    checkpoints = tmp_path / "hub" / "checkpoints"
    assert torchvision_weights_file("vgg16") == checkpoints / "vgg16-397923af.pth"
    assert torchvision_weights_file("VGG16").name == os.path.basename(VGG16_Weights.IMAGENET1K_V1.url)
    assert torchvision_weights_file("resnet18") == checkpoints / os.path.basename(ResNet18_Weights.DEFAULT.url)
    assert not torchvision_weights_file("vgg16").exists()                  # nothing downloaded by asking

