"""The disk cache's key describes every argument exactly (issue 19, item 11): a tensor held as a
plain attribute of a module, NumPy arrays of any size, and no caching at all for an argument whose
``repr`` does not describe it."""
import warnings

import numpy as np
import pytest
import torch
from conftest import TinyCNN
from torch import nn

from unioncam_lite.course.cache import cached


class Normalised(nn.Module):
    """A wrapper that keeps its mean as a plain tensor attribute (not a parameter, not a buffer)."""

    def __init__(self, model, mean):
        super().__init__()
        self.model, self.mean = model, mean

    def forward(self, x):
        return self.model(x - self.mean)


def counting(calls):
    def run(model, x):
        calls.append(1)
        with torch.no_grad():
            return model(torch.as_tensor(x, dtype=torch.float32))
    return run


def test_a_tensor_held_as_a_plain_attribute_is_part_of_the_key(tmp_path, monkeypatch, images):
    monkeypatch.setenv("UNIONCAM_CACHE", str(tmp_path))
    calls = []
    fn = counting(calls)
    wrapper = Normalised(TinyCNN().eval(), torch.zeros(1, 3, 1, 1))
    first = cached(fn, wrapper, images)
    assert torch.equal(cached(fn, wrapper, images), first) and len(calls) == 1
    wrapper.mean = torch.full((1, 3, 1, 1), 0.5)                  # same repr, another tensor
    changed = cached(fn, wrapper, images)
    assert len(calls) == 2 and torch.equal(changed, fn(wrapper, images))
    assert not torch.equal(changed, first)


def test_numpy_arrays_are_keyed_by_their_bytes(tmp_path, monkeypatch):
    monkeypatch.setenv("UNIONCAM_CACHE", str(tmp_path))
    calls = []

    def total(a):
        calls.append(1)
        return torch.tensor(float(np.asarray(a).sum()))

    a = np.zeros((40, 40))
    b = a.copy()
    b[20, 20] = 1.0                                     # the repr of both is the same abbreviation
    assert repr(a) == repr(b)
    assert float(cached(total, a)) == 0.0 and float(cached(total, b)) == 1.0 and len(calls) == 2
    assert float(cached(total, b.copy())) == 1.0 and len(calls) == 2        # an equal array is a hit
    assert float(cached(total, b.astype(np.float32))) == 1.0 and len(calls) == 3   # another dtype is not
    numbers = list(range(2000))
    assert float(cached(total, numbers)) == sum(numbers) and len(calls) == 4
    numbers[1500] = 0
    assert float(cached(total, numbers)) == sum(numbers) and len(calls) == 5


class Opaque:
    """An object whose repr says nothing of its value."""

    def __init__(self, value):
        self.value = value

    def __repr__(self):
        return "<Opaque>"


def test_an_argument_it_cannot_key_exactly_is_computed_every_time_with_one_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("UNIONCAM_CACHE", str(tmp_path))
    calls = []

    def read(o):
        calls.append(1)
        return torch.tensor(float(o.value))

    with pytest.warns(UserWarning, match=r"read is not cached: a Opaque \(its repr does not describe it exactly\)"):
        assert float(cached(read, Opaque(1))) == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")                  # said once
        assert float(cached(read, Opaque(2))) == 2.0
    assert len(calls) == 2 and not list(tmp_path.iterdir())


def test_a_module_with_a_hook_is_not_cached(tmp_path, monkeypatch, images):
    monkeypatch.setenv("UNIONCAM_CACHE", str(tmp_path))
    calls = []
    fn = counting(calls)
    model = TinyCNN().eval()
    scale = {"by": 1.0}
    model.fc.register_forward_hook(lambda module, inputs, output: output * scale["by"])
    with pytest.warns(UserWarning, match="TinyCNN.fc._forward_hooks"):
        first = cached(fn, model, images)
    scale["by"] = 2.0
    assert torch.allclose(cached(fn, model, images), 2 * first) and len(calls) == 2
