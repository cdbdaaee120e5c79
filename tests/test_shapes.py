"""The synthetic shapes data set and the committed shapes CNN."""
import json

import numpy as np
import torch

from unioncam_lite import gradcam, load_model
from unioncam_lite.images import DATA_DIR
from unioncam_lite.shapes import CLASSES, generate, to_tensor
from unioncam_lite.train_shapes import train


def test_generation_is_deterministic_and_masks_are_the_objects():
    a = generate(20, seed=5)
    b = generate(20, seed=5)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    images, labels, masks = a
    assert images.shape == (20, 64, 64, 3) and images.dtype == np.uint8 and masks.dtype == bool
    assert set(labels) <= set(range(len(CLASSES)))
    for img, mask in zip(images, masks):
        assert 30 < mask.sum() < 26 * 26 + 1                      # one object of 12-26 px
        assert len(np.unique(img[mask], axis=0)) == 1             # the object is one flat colour
    assert not np.array_equal(generate(5, seed=6)[0], images[:5])


def test_reduced_training_lowers_the_loss():
    torch.manual_seed(0)
    _, record = train(n_train=512, n_test=64, epochs=4, batch_size=32, log=lambda *_: None)
    losses = record["losses"]
    assert all(b < a for a, b in zip(losses, losses[1:])) and losses[-1] < 0.93 * losses[0]


def test_committed_model_is_accurate_on_fresh_images_and_looks_at_the_object():
    record = json.loads((DATA_DIR / "shapes_cnn.json").read_text())
    assert record["test_accuracy"] >= 0.95 and "train_shapes" in record["command"]
    model, spec = load_model("shapes_cnn", "cpu")
    assert spec.categories == CLASSES and spec.target_layer == "features.block4"
    images, labels, masks = generate(200, seed=4242)
    x = to_tensor(images)
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == torch.from_numpy(labels)).float().mean()
    assert accuracy >= 0.95
    cams = gradcam(model, x[:50], spec.target_layer)
    inside = (cams * torch.from_numpy(masks[:50])).flatten(1).sum(1) / cams.flatten(1).sum(1)
    assert inside.mean() > torch.from_numpy(masks[:50]).float().mean() * 2   # far above a uniform map
