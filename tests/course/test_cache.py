"""The course's disk cache returns a stored result only for exactly the same call on the same weights and code;
its entries are plain data (a planted file never runs code nor stands in for a result); a failed save costs a
warning, never the result."""
import dataclasses
from pathlib import Path

import pytest
import torch
from conftest import TinyCNN

from unioncam_lite import union_cam
from unioncam_lite.cams.unioncam import UnionResult
from unioncam_lite.course.cache import FORMAT, cache_dir, cache_key, cached, clear_cache


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


# ------------------------------------------------------------------ entries are plain data, never code

def entry_path(fn, *args, **kwargs):
    return cache_dir() / f"{fn.__name__}-{cache_key(fn, *args, **kwargs)[:32]}.pt"


def assert_same_result(a, b):
    assert type(a) is UnionResult and type(b) is UnionResult
    for f in dataclasses.fields(UnionResult):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, torch.Tensor):
            assert isinstance(y, torch.Tensor) and x.dtype == y.dtype and torch.equal(x, y), f.name
        else:
            assert x == y, f.name


class RunsCodeWhenUnpickled:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")     # unpickling calls open(marker, "w"): the file appears


def test_a_planted_entry_that_would_run_code_is_not_unpickled(tmp_path, monkeypatch, images):
    cache, marker = tmp_path / "cache", tmp_path / "code-ran"
    monkeypatch.setenv("UNIONCAM_CACHE", str(cache))
    calls, model = [], TinyCNN().eval()
    fn = counting(calls)
    path = entry_path(fn, model, images, "act")
    cache.mkdir()
    torch.save(RunsCodeWhenUnpickled(marker), path)
    result = cached(fn, model, images, "act")
    assert not marker.exists()
    assert len(calls) == 1
    assert_same_result(result, union_cam(model, images, "act"))
    assert_same_result(cached(fn, model, images, "act"), result)    # the planted file was replaced
    assert len(calls) == 1 and not marker.exists()


@pytest.mark.parametrize("planted", ["tensor", "wrong fields", "other key", "foreign class"])
def test_a_planted_plain_entry_is_not_returned_as_the_result(planted, tmp_path, monkeypatch, images):
    monkeypatch.setenv("UNIONCAM_CACHE", str(tmp_path))
    calls, model = [], TinyCNN().eval()
    fn = counting(calls)
    path = entry_path(fn, model, images, "act")
    key = cache_key(fn, model, images, "act")
    union_result = f"{UnionResult.__module__}.{UnionResult.__qualname__}"
    entry = {
        "tensor": torch.zeros(3),
        "wrong fields": {"format": FORMAT, "key": key,
                         "value": {"__dataclass__": union_result, "fields": {"cam": torch.zeros(3)}}},
        "other key": {"format": FORMAT, "key": "0" * 64, "value": torch.zeros(3)},
        "foreign class": {"format": FORMAT, "key": key,
                          "value": {"__dataclass__": "subprocess.Popen", "fields": {"args": "true"}}},
    }[planted]
    torch.save(entry, path)
    result = cached(fn, model, images, "act")
    assert len(calls) == 1
    assert_same_result(result, union_cam(model, images, "act"))


def test_a_real_union_cam_result_round_trips(tmp_path, monkeypatch, tiny, images):
    monkeypatch.setenv("UNIONCAM_CACHE", str(tmp_path))
    calls = []
    fn = counting(calls)
    first = cached(fn, tiny, images, "act", theta=30)
    loaded = cached(fn, tiny, images, "act", theta=30)
    assert len(calls) == 1 and loaded is not first
    assert_same_result(loaded, first)
    assert_same_result(loaded, union_cam(tiny, images, "act", theta=30))


def test_containers_of_tensors_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("UNIONCAM_CACHE", str(tmp_path))
    calls = []

    def several(x):
        calls.append(x)
        return (x, [x * 2, "label", 1.5, None], {"a": x + 1, 3: True})

    x = torch.arange(6.0).reshape(2, 3)
    first, loaded = cached(several, x), cached(several, x)
    assert len(calls) == 1
    assert type(loaded) is tuple and type(loaded[1]) is list and type(loaded[2]) is dict
    assert torch.equal(loaded[0], x) and torch.equal(loaded[1][0], 2 * x) and loaded[1][1:] == ["label", 1.5, None]
    assert torch.equal(loaded[2]["a"], x + 1) and loaded[2][3] is True
    assert str(first) == str(loaded)


# ------------------------------------------------------------------ a failed save still returns the result

def test_a_failing_save_returns_the_result_warns_once_and_leaves_no_temporary_file(tmp_path, monkeypatch, images):
    monkeypatch.setenv("UNIONCAM_CACHE", str(tmp_path))
    calls, model = [], TinyCNN().eval()

    def full_disk(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"half an entry")
        raise RuntimeError("PytorchStreamWriter failed writing file: No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.warns(UserWarning, match="not cached") as caught:
        result = cached(counting(calls), model, images, "act")
    cache_warnings = [w for w in caught if "not cached" in str(w.message)]   # (a pooled head also warns about θ)
    assert len(cache_warnings) == 1 and "No space left" in str(cache_warnings[0].message)
    assert_same_result(result, union_cam(model, images, "act"))
    assert list(tmp_path.iterdir()) == []          # no entry, no .tmp


@pytest.mark.parametrize("problem", ["unpicklable result", "cache folder is a file"])
def test_other_save_failures_warn_once(problem, tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("UNIONCAM_CACHE", str(folder))
    if problem == "cache folder is a file":
        folder.write_text("not a folder")

    def make(n):
        return (lambda: n) if problem == "unpicklable result" else torch.ones(n)

    with pytest.warns(UserWarning, match="not cached") as caught:
        result = cached(make, 3)
    assert len(caught) == 1
    if problem == "unpicklable result":
        assert result() == 3
    else:
        assert torch.equal(result, torch.ones(3))
    assert [p.name for p in tmp_path.rglob("*")] == (["cache"] if folder.exists() else [])


def test_clear_cache_removes_leftover_temporary_files(tmp_path, monkeypatch):
    monkeypatch.setenv("UNIONCAM_CACHE", str(tmp_path))
    (tmp_path / "explain-0123.pt").write_bytes(b"entry")
    (tmp_path / ".explain-0123.pt.k2j3h4.tmp").write_bytes(b"interrupted")
    (tmp_path / "notes.txt").write_text("not the cache's")
    assert clear_cache() == 2
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
