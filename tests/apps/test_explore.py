"""The plain functions behind notebook 07's widgets (fast: Grad-CAM-family maps, one UnionCAM call); the
widgets themselves are tested in test_explore_app.py."""
import matplotlib
import matplotlib.pyplot as plt
import pytest
import torch
from conftest import TinyCNN
from PIL import Image
from tiny_explorer import SPEC, panels, png_bytes, tiny_explorer

import unioncam_lite as ucl
from unioncam_lite import sample_images
from unioncam_lite.apps.explore import Explorer, decode_upload, upload_items


@pytest.fixture(scope="module")
def explorer(lite0):
    model, spec = lite0
    return Explorer(model, spec)


def test_decode_upload_reads_png_bytes_and_rejects_garbage():
    image = decode_upload(memoryview(png_bytes(Image.new("RGB", (40, 30), (200, 10, 10)))))
    assert image.mode == "RGB" and image.size == (320, 240) and image.getpixel((0, 0)) == (200, 10, 10)
    assert decode_upload(png_bytes(Image.new("L", (5, 5), 7))).getpixel((0, 0)) == (7, 7, 7)   # grey -> RGB
    for bad in (b"definitely not a png", b"\x89PNG\r\n\x1a\n" + b"\0" * 20, b""):
        with pytest.raises(ValueError, match="upload a JPEG or PNG"):
            decode_upload(bad)


def test_decode_upload_decodes_as_image_files_are(tmp_path):
    """An upload goes through the same decoding as a file (data.images): transparency on white, not black."""
    from unioncam_lite.data.images import read_image

    clear = Image.new("RGBA", (8, 6), (0, 0, 0, 0))
    clear.putpixel((0, 0), (10, 20, 30, 255))
    upload = decode_upload(png_bytes(clear))
    (tmp_path / "clear.png").write_bytes(png_bytes(clear))
    assert upload.getpixel((319, 239)) == (255, 255, 255)
    assert upload.tobytes() == read_image(tmp_path / "clear.png").tobytes()
    with pytest.raises(TypeError, match="an upload is bytes, not str"):
        decode_upload("a.png")


def test_upload_items_reads_ipywidgets_7_and_8_values():
    v8 = ({"name": "a.png", "type": "image/png", "size": 3, "content": memoryview(b"abc")},)
    v7 = {"a.png": {"metadata": {"name": "a.png"}, "content": b"abc"}}
    assert upload_items(v8) == upload_items(v7) == [("a.png", b"abc")]
    assert upload_items(()) == []


def test_classes_top_k_and_resolution(explorer):
    spec = explorer.spec
    top = explorer.top_classes("coffee", 3)
    assert top[0][1] == 967 and top[0][0].startswith("espresso (p=")
    options = explorer.classes_for("coffee")
    assert len(options) == 1000 + explorer.top_k and options[0] == top[0][0]
    assert explorer.resolve_class("coffee", top[1][0]) == top[1][1]            # a top-k label
    assert explorer.resolve_class("coffee", "tabby") == spec.class_index("TABBY") == 281
    assert explorer.resolve_class("coffee", "281") == 281
    assert explorer.resolve_class("coffee", "") == explorer.resolve_class("coffee", None) == 967
    with pytest.raises(ValueError, match="unknown class name"):
        explorer.resolve_class("coffee", "no such thing")
    with pytest.raises(ValueError, match="out of range"):
        explorer.resolve_class("coffee", 1000)


def test_gradcam_figure_and_cache(explorer):
    fig = explorer.draw("coffee", 967, 10, "gradcam")
    assert isinstance(fig, matplotlib.figure.Figure) and len(panels(fig)) == 2
    assert "espresso" in fig._suptitle.get_text()
    first = explorer.cam("coffee", 967, "gradcam")[0]
    assert first.shape == (224, 224) and first.min() >= 0 and first.max() <= 1
    assert explorer.cam("coffee", None, "gradcam")[0] is first      # None = the prediction, same cache entry
    with pytest.raises(ValueError, match="unknown method"):
        explorer.draw("coffee", None, 10, "magic")
    with pytest.raises(ValueError, match="unknown image"):
        explorer.cam("nope", None, "gradcam")
    matplotlib.pyplot.close("all")


def test_uploaded_image_is_explained_and_replaces_stale_maps(explorer):
    name = explorer.add_image("my upload", png_bytes(Image.open(sample_images()["chelsea"])))
    cam, _ = explorer.cam(name, None, "layercam")
    assert cam.shape == (224, 224) and cam.min() >= 0 and cam.max() <= 1
    explorer.add_image(name, png_bytes(Image.open(sample_images()["rocket"])))   # same name, new picture
    assert not torch.equal(explorer.cam(name, 281, "layercam")[0], explorer.cam("chelsea", 281, "layercam")[0])


def test_unioncam_theta_reuses_region_and_scorecam_is_the_library_scorecam():
    explorer = tiny_explorer()
    _, r10 = explorer.cam("motorcycle_left", None, "unioncam", 10)
    _, r90 = explorer.cam("motorcycle_left", None, "unioncam", 90)
    assert r10.region is r90.region and r90.theta == 90                     # θ reuses the cached region map
    assert r10.chosen[0] == ("fused" if r10.beta_fused[0] > r10.beta_region[0] else "region")
    assert explorer.region_ready("motorcycle_left", None) and not explorer.region_ready(
        "motorcycle_left", None, method="scorecam")                         # Score-CAM's weights differ (§3.2)
    x = explorer._check_image("motorcycle_left")[1]
    c = explorer._class("motorcycle_left", None)
    spec = explorer.spec
    expected = ucl.scorecam(explorer.model, x, explorer.layers[0], c, mean=spec.mean, std=spec.std)[0]
    got = explorer.cam("motorcycle_left", None, "scorecam")[0]
    assert torch.allclose(got, expected, atol=1e-5)
    fig = explorer.draw("motorcycle_left", None, 90, "unioncam")
    assert len(panels(fig)) == 5 and "chose" in fig._suptitle.get_text()
    matplotlib.pyplot.close("all")


def test_no_cached_map_outlives_a_change_to_the_weights():
    """Issue 9: the explorer's caches (probabilities, gradient maps, UnionCAM's θ-free part) follow the weights,
    also when they are written through ``.data`` (no version counter moves)."""
    model = TinyCNN(classes=1000).eval()
    ex = Explorer(model, SPEC, top_k=3)
    before = {m: ex.cam("chelsea", 3, m)[0].clone() for m in ("gradcam", "unioncam")}
    p_before = ex.probabilities("chelsea").clone()
    other = TinyCNN(classes=1000, seed=7).eval()
    for p, q in zip(model.parameters(), other.parameters()):
        p.data.copy_(q.data)
    fresh = tiny_explorer(seed=7)
    for m in ("gradcam", "unioncam"):
        after = ex.cam("chelsea", 3, m)[0]
        assert not torch.allclose(after, before[m]) and torch.allclose(after, fresh.cam("chelsea", 3, m)[0])
    assert torch.allclose(ex.probabilities("chelsea"), fresh.probabilities("chelsea"))
    assert not torch.allclose(ex.probabilities("chelsea"), p_before)


def test_one_redraw_reads_the_weights_once(monkeypatch):
    """Checking the weights is not free for a large model (VGG16: benchmarks/RESULTS.md, section 2);
    one figure (the map, UnionCAM's own check, the probability in the title) reads them once, not
    once per check, and a change between two figures is still seen (the test above). Reads are
    counted where the weights are read, ``cams.fingerprint.weight_statistics`` (other code on this
    path, e.g. the input checks, may list the weights without reading them)."""
    from unioncam_lite.cams import fingerprint

    model = TinyCNN(classes=1000).eval()
    ex = Explorer(model, SPEC, top_k=3)
    c = ex.resolve_class("chelsea", "3")
    reads = []
    statistics = fingerprint.weight_statistics

    def counted(m):
        reads.append(m is model)
        return statistics(m)

    monkeypatch.setattr(fingerprint, "weight_statistics", counted)
    for method, theta in (("unioncam", 10.0), ("unioncam", 50.0), ("gradcam", 10.0)):
        reads.clear()
        plt.close(ex.draw("chelsea", c, theta, method))
        assert reads == [True], (method, theta, reads)
    reads.clear()
    ex.probabilities("chelsea")
    ex.probabilities("chelsea")
    assert reads == [True, True]   # outside a call the weights are read every time: no value outlives a call
