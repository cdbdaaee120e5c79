"""The synthetic shapes data set: deterministic, with exact object masks."""
import numpy as np

from unioncam_lite.data.shapes import CLASSES, generate


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
