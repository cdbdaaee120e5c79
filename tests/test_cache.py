"""The course's disk cache returns a stored result only for exactly the same call on the same weights and code."""
import torch

from conftest import TinyCNN
from unioncam_lite import union_cam
from unioncam_lite.course.cache import cache_dir, cached, clear_cache


def counting(calls):
    def explain(model, x, layer, theta=10.0):
        calls.append(theta)
        return union_cam(model, x, layer, theta=theta)
    return explain


def test_same_call_is_loaded_and_any_change_recomputes(tmp_path, monkeypatch, images):
    monkeypatch.setenv("UNIONCAM_CACHE", str(tmp_path))
    calls = []
    fn = counting(calls)
    model = TinyCNN().eval()
    first = cached(fn, model, images, "act", theta=10)
    second = cached(fn, model, images, "act", theta=10)
    assert len(calls) == 1 and torch.equal(first.cam, second.cam) and first.chosen == second.chosen
    cached(fn, model, images, "act", theta=50)                 # another argument
    cached(fn, model, images + 1, "act", theta=10)             # other images
    assert len(calls) == 3
    with torch.no_grad():
        model.conv.weight.data[0, 0, 0, 0] += 1.0              # a write no version counter sees
    again = cached(fn, model, images, "act", theta=10)
    assert len(calls) == 4
    assert torch.equal(again.cam, union_cam(model, images, "act", theta=10).cam)
    assert clear_cache() == 4 and not list(tmp_path.glob("*.pt"))


def test_a_broken_entry_is_recomputed_and_off_means_off(tmp_path, monkeypatch, images):
    monkeypatch.setenv("UNIONCAM_CACHE", str(tmp_path))
    calls = []
    fn = counting(calls)
    model = TinyCNN().eval()
    cached(fn, model, images, "act")
    for f in tmp_path.glob("*.pt"):
        f.write_bytes(b"truncated")
    result = cached(fn, model, images, "act")
    assert len(calls) == 2 and result.cam.shape == (2, 16, 16)
    monkeypatch.setenv("UNIONCAM_CACHE", "off")
    assert cache_dir() is None
    cached(fn, model, images, "act")
    cached(fn, model, images, "act")
    assert len(calls) == 4
