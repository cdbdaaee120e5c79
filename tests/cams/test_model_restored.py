"""A CAM call gives the user's model back exactly as it was: flags, weights, buffers, hooks, requires_grad.

Each test here failed before its fix (the defect it guards is named in its docstring).
"""

import pytest
import torch
import torchvision

from unioncam_lite import gradcam, groupcam, scorecam, union_cam


def model_state(model):
    """Everything a CAM call must leave as it was: flags, tensors (values and identity), hooks, requires_grad."""
    return {
        "training": [(n, m.training) for n, m in model.named_modules()],
        "tensors": {n: (t.data_ptr(), t.detach().clone()) for n, t in
                    [*model.named_parameters(), *model.named_buffers()]},
        "requires_grad": [(n, p.requires_grad) for n, p in model.named_parameters()],
        "grads": [(n, p.grad is None) for n, p in model.named_parameters()],
        "hooks": [(n, len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks))
                  for n, m in model.named_modules()],
    }


def assert_same_state(before, after):
    assert before["training"] == after["training"], "a sub-module's train/eval flag changed"
    assert before["requires_grad"] == after["requires_grad"] and before["grads"] == after["grads"]
    assert before["hooks"] == after["hooks"], "a hook was left behind or removed"
    assert before["tensors"].keys() == after["tensors"].keys()
    for name, (ptr, value) in before["tensors"].items():
        ptr2, value2 = after["tensors"][name]
        assert ptr == ptr2 and torch.equal(value, value2), f"{name} changed"



# --------------------------------------------------------------------------- 1. train mode

def _train_mode_models():
    tv = torchvision.models
    return {
        "resnet18": (lambda: tv.resnet18(weights=None, num_classes=10), "layer4", 64),
        "mobilenet_v3_small": (lambda: tv.mobilenet_v3_small(weights=None, num_classes=10), "features.12", 64),
        "densenet121": (lambda: tv.densenet121(weights=None, num_classes=10), "features.norm5", 64),
        "inception_v3": (lambda: tv.inception_v3(weights=None, num_classes=10, aux_logits=True, init_weights=False),
                         "Mixed_6e", 96),
    }


@pytest.mark.parametrize("name", list(_train_mode_models()))
def test_train_mode_and_bn_statistics_survive_every_cam_call(name):
    """Defect 1: the BN-folded copy shared sub-modules with the user's model and left them in eval mode."""
    make, layer, size = _train_mode_models()[name]
    torch.manual_seed(0)
    model = make().train()
    x = torch.randn(1, 3, size, size)
    before = model_state(model)
    calls = {
        "gradcam": lambda: gradcam(model, x, layer),
        "scorecam": lambda: scorecam(model, x, layer, top_k=4),
        "groupcam": lambda: groupcam(model, x, layer, groups=4),
        "unioncam": lambda: union_cam(model, x, layer, top_k=4),
    }
    for call in calls.values():
        call()
        assert_same_state(before, model_state(model))
    with pytest.raises(ValueError, match="out of range"):
        union_cam(model, x, layer, class_idx=99, top_k=4)
    assert_same_state(before, model_state(model))
