"""The plain functions behind notebook 07's widgets (fast: Grad-CAM-family maps, one UnionCAM call)."""
import base64
import html
import io
import threading
import time

import matplotlib
import matplotlib.pyplot as plt
import pytest
import torch
from conftest import TinyCNN
from PIL import Image

import unioncam_lite as ucl
from unioncam_lite import ModelSpec, sample_images
from unioncam_lite.apps.explore import Explorer, ExplorerApp, decode_upload, upload_items
from unioncam_lite.models import imagenet_categories


def panels(fig):
    """The figure's image panels (its colour bar left out)."""
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def png_bytes(image: Image.Image) -> bytes:
    image = image.resize((320, 240))             # a small upload: PNG-encoding a full photo is slow
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def explorer(lite0):
    model, spec = lite0
    return Explorer(model, spec)


@pytest.fixture(scope="module")
def tiny_explorer():
    """UnionCAM and the widgets on a 6-channel CNN with 32x32 inputs: every region map is 6 passes."""
    spec = ModelSpec("tiny", "act", (32, 32), mean=(0.5,) * 3, std=(0.25,) * 3, categories=imagenet_categories())
    return Explorer(TinyCNN(classes=1000).eval(), spec, top_k=3)


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


def test_unioncam_theta_reuses_region_and_scorecam_is_the_library_scorecam(tiny_explorer):
    explorer = tiny_explorer
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


def test_app_callbacks(tiny_explorer):
    pytest.importorskip("ipywidgets")
    explorer = tiny_explorer
    app = ExplorerApp(explorer, image="coffee", method="unioncam")
    assert app.figure is not None and len(panels(app.figure)) == 5 and not app.theta.disabled and not app.busy
    assert len(app.out.outputs) == 1 and app.out.outputs[0]["output_type"] == "display_data"
    png = app.out.outputs[0]["data"]["image/png"]
    assert base64.b64decode(png).startswith(b"\x89PNG")
    assert app.klass.value == app.klass.options[0] == explorer.top_classes("coffee")[0][0]
    app.theta.value = 50
    assert "θ=50" in app.wait()._suptitle.get_text() and app.out.outputs[0]["data"]["image/png"] != png
    app.method.value = "gradcam"
    assert len(panels(app.wait())) == 2 and app.theta.disabled                  # θ only moves UnionCAM
    app.image.value = "chelsea"                                           # on_image: new top-k, one redraw
    app.wait()
    assert app.klass.value == app.klass.options[0] == explorer.top_classes("chelsea")[0][0]
    assert explorer.spec.categories[explorer.predicted("chelsea")] in app.figure._suptitle.get_text()
    app.klass.value = "espresso"                                          # any class, typed by name
    assert "'espresso'" in app.wait()._suptitle.get_text() and app.status.value == app.message == ""
    shown = app.figure
    app.klass.value = "no such class"
    assert app.wait() is shown and app.message.startswith("error: ") and "unknown class name" in app.message
    assert app.status.value == f"<span class='ucl-error'>{html.escape(app.message)}</span>"    # styled as an error
    app.on_upload({"new": ({"name": "bad<1>.png", "content": memoryview(b"garbage")},)})
    app.wait()
    # plain text in ``message`` (what a notebook prints), escaped once in the widget: no tags shown
    assert app.message == ("error: bad<1>.png: the uploaded file is not a readable image "
                           "(UnidentifiedImageError): upload a JPEG or PNG photograph")
    assert app.status.value == ("<span class='ucl-error'>error: bad&lt;1&gt;.png: the uploaded file is not a "
                                "readable image (UnidentifiedImageError): upload a JPEG or PNG photograph</span>")
    assert "bad<1>.png" not in explorer.images and app.figure is shown
    good = png_bytes(Image.open(sample_images()["coffee"]))
    app.on_upload({"new": ({"name": "mine.png", "content": memoryview(good)},)})
    app.wait()
    assert app.image.value == "mine.png" and "mine.png" in app.figure._suptitle.get_text()
    assert app.message == "" and app.upload.value == () and app.error is None
    assert not any(w.disabled for w in app.controls if w not in (app.theta, app.preview)) and not app.busy
    assert app.theta.disabled and app.preview.disabled                   # θ and the preview: UnionCAM/Score-CAM only


def test_app_busy_state_and_stale_requests_dropped(tiny_explorer, monkeypatch):
    """Changing the image twice quickly: the first image's figure is never shown under the second's controls."""
    pytest.importorskip("ipywidgets")
    explorer = tiny_explorer
    app = ExplorerApp(explorer, image="coffee", method="gradcam")
    shown = []                                                            # every figure put on screen
    app.out.observe(lambda change: shown.append(app.figure._suptitle.get_text()), names="outputs")
    gate, started = threading.Event(), threading.Event()
    draw = explorer.draw

    def slow_draw(name, *args, **kwargs):                                 # the first request computes for long
        if name == "rocket":
            started.set()
            assert gate.wait(20), "the test never released the slow draw"
        return draw(name, *args, **kwargs)

    monkeypatch.setattr(explorer, "draw", slow_draw)
    figures_before = plt.get_fignums()
    try:
        app.image.value = "rocket"                                        # returns at once: work is queued
        assert started.wait(20)
        assert app.busy and all(w.disabled for w in app.controls) and "ucl-stale" in app.out._dom_classes
        assert app.message.startswith("computing ") and "Grad-CAM for 'rocket'" in app.message
        assert app.status.value.startswith("<span class='ucl-busy'>computing ")
        app.image.value = "chelsea"                                       # while 'rocket' still computes
        app.method.value = "layercam"
        assert "LayerCAM for 'chelsea'" in app.message
    finally:
        gate.set()
    app.wait(60)
    assert len(shown) == 1 and shown[0].startswith("chelsea:"), shown   # rocket's figure dropped, chelsea's once
    assert app.figure.axes[1].get_title() == "LayerCAM"
    assert app.klass.value == explorer.top_classes("chelsea")[0][0]
    assert not app.busy and app.theta.disabled and not app.image.disabled and "ucl-stale" not in app.out._dom_classes
    assert plt.get_fignums() == figures_before                           # the worker never draws through pyplot


def test_app_worker_errors_are_shown_not_lost(tiny_explorer, monkeypatch):
    pytest.importorskip("ipywidgets")
    app = ExplorerApp(tiny_explorer, image="coffee", method="gradcam")

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory\nsecond line")

    monkeypatch.setattr(tiny_explorer, "draw", broken)
    app.method.value = "layercam"
    app.wait(30)
    assert app.message == "error: RuntimeError: out of memory" and isinstance(app.error, RuntimeError)
    assert "ucl-error" in app.status.value
    assert not app.busy and not app.method.disabled                      # the controls work again


def test_apps_of_one_explorer_share_one_worker_and_its_lock(tiny_explorer):
    pytest.importorskip("ipywidgets")
    first, second = ExplorerApp(tiny_explorer, image="coffee", method="gradcam"), ExplorerApp(tiny_explorer)
    assert first._worker is second._worker is tiny_explorer.worker()          # one thread runs the model
    with tiny_explorer.lock:                                                  # e.g. a notebook cell computing
        first.method.value = "layercam"
        time.sleep(0.3)
        assert first.busy and first.figure.axes[1].get_title() == "Grad-CAM"  # the worker waits for the lock
    assert first.wait(30).axes[1].get_title() == "LayerCAM" and not first.busy


def test_no_cached_map_outlives_a_change_to_the_weights():
    """Issue 9: the explorer's caches (probabilities, gradient maps, UnionCAM's θ-free part) follow the weights,
    also when they are written through ``.data`` (no version counter moves)."""
    spec = ModelSpec("tiny", "act", (32, 32), mean=(0.5,) * 3, std=(0.25,) * 3, categories=imagenet_categories())
    model = TinyCNN(classes=1000).eval()
    ex = Explorer(model, spec, top_k=3)
    before = {m: ex.cam("chelsea", 3, m)[0].clone() for m in ("gradcam", "unioncam")}
    p_before = ex.probabilities("chelsea").clone()
    other = TinyCNN(classes=1000, seed=7).eval()
    for p, q in zip(model.parameters(), other.parameters()):
        p.data.copy_(q.data)
    fresh = Explorer(other, spec, top_k=3)
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

    spec = ModelSpec("tiny", "act", (32, 32), mean=(0.5,) * 3, std=(0.25,) * 3, categories=imagenet_categories())
    model = TinyCNN(classes=1000).eval()
    ex = Explorer(model, spec, top_k=3)
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


def test_a_second_app_on_one_explorer_types_classes_and_uploads_without_touching_the_first(explorer):
    """What notebook 07 checked with a hidden ``tester`` app (issue 17 §4: tests belong here), on the real model."""
    pytest.importorskip("ipywidgets")
    app = ExplorerApp(explorer, image="chelsea", method="gradcam")
    shown = app.figure
    tester = ExplorerApp(explorer, image="chelsea", method="layercam")
    tester.klass.value = "espresso"                                   # what typing in the widgets does
    assert "'espresso'" in tester.wait()._suptitle.get_text() and tester.message == ""
    tester.klass.value = "no such class"
    tester.wait()
    assert tester.message.startswith("error: ") and "unknown class name" in tester.message
    tester.on_upload({"new": ({"name": "my_rocket.png", "content": memoryview(png_bytes(
        Image.open(sample_images()["rocket"])))},)})
    tester.wait()
    assert tester.image.value == "my_rocket.png" and "my_rocket.png" in explorer.images and tester.message == ""
    tester.on_upload({"new": ({"name": "broken.jpg", "content": memoryview(b"this is not an image")},)})
    tester.wait()
    assert tester.message == ("error: broken.jpg: the uploaded file is not a readable image (UnidentifiedImageError): "
                              "upload a JPEG or PNG photograph")                 # plain text: no tags to print
    assert "<b>" not in tester.status.value and "broken.jpg" not in explorer.images
    assert app.method.value == "gradcam" and app.image.value == "chelsea" and app.figure is shown   # untouched
    plt.close("all")


def test_the_upload_button_has_a_label_without_a_file_count():
    """ipywidgets 8 writes "description (n files)" on the button, "(0)" again after each upload (the app
    empties the value so the same file can be chosen again): the app's style sheet replaces that text."""
    pytest.importorskip("ipywidgets")
    from unioncam_lite.apps.explore.status import STYLE

    spec = ModelSpec("tiny", "act", (32, 32), mean=(0.5,) * 3, std=(0.25,) * 3, categories=imagenet_categories())
    app = ExplorerApp(Explorer(TinyCNN(classes=1000).eval(), spec, top_k=3), image="coffee", method="gradcam")
    assert "ucl-upload" in app.upload._dom_classes
    assert '.ucl-upload::after {content: "upload a photo"' in STYLE and ".ucl-upload {font-size: 0" in STYLE
    assert any(isinstance(w.value, str) and STYLE in w.value for w in app.box.children if hasattr(w, "value"))
