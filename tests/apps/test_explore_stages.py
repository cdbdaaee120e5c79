"""The explorer shows what is ready when it is ready (issue 18): Grad-CAM and L_den first, then the full
UnionCAM figure, with the region pass's progress; the fast preview (top-k, labelled an approximation);
the diagnosis of the current image and layer; a superseded request stops its masked passes."""
import html
import threading

import matplotlib.pyplot as plt
import pytest
import torch
from tiny_explorer import SPEC, tiny_explorer

from unioncam_lite.apps.explore import Explorer, ExplorerApp, PassProgress
from unioncam_lite.cams import diagnose, gradcam, union_cam


def tiny(k: int = 6) -> Explorer:
    """A fresh explorer (no region map cached) on a K-channel CNN: the region map is ≤ K masked passes."""
    return tiny_explorer(k, preview_top_k=4)


def test_pass_progress_follows_the_region_pass_and_estimates_the_time_left():
    now = [100.0]
    p = PassProgress(clock=lambda: now[0])
    assert p.fraction == 0 and p.text() == "region map: starting the masked passes"
    assert p.update(0, 40)
    now[0] += 2.0
    assert p.update(10, 40) and p.fraction == 0.25
    assert p.seconds_left() == pytest.approx(6.0)                       # 10 passes in 2 s: 30 more in 6 s
    assert p.text() == "region map: 10 / 40 masked passes · about 6 s left"
    now[0] += 6.0
    assert p.update(40, 40) and p.text() == "region map: 40 / 40 masked passes · done"
    assert not p.update(0, 2) and not p.update(2, 2) and p.fraction == 1.0   # a β pass afterwards: the bar stays


def test_unioncam_shows_gradcam_and_the_denoised_map_first_then_the_full_figure_with_progress():
    pytest.importorskip("ipywidgets")
    explorer = tiny()
    app = ExplorerApp(explorer, image="coffee", method="gradcam")
    figures, progress, visible = [], [], []
    app.out.observe(lambda c: figures.append(app.figure), names="outputs")
    app.progress.observe(lambda c: progress.append(c["new"]), names="value")
    app.progress.layout.observe(lambda c: visible.append(c["new"]), names="visibility")
    app.method.value = "unioncam"
    final = app.wait(60)
    assert len(figures) == 2 and figures[1] is final
    first = figures[0]
    assert "UnionCAM: computing" in first._suptitle.get_text()
    titles = [ax.get_title() for ax in first.axes if ax.get_label() != "<colorbar>"]
    assert titles[:3] == ["image", "Grad-CAM (UnionCAM follows)", "L_den  (β follows)"] and len(titles) == 5
    assert len([ax for ax in final.axes if ax.get_label() != "<colorbar>"]) == 5          # same panels: no jump
    # the first figure's maps are the library's Grad-CAM and L_den, computed independently here
    x, c = explorer.images["coffee"][1], explorer.predicted("coffee")
    maps = explorer.first_maps("coffee", c, 10.0)
    assert torch.allclose(maps["Grad-CAM"], gradcam(explorer.model, x, "act", c)[0], atol=1e-6)
    r = union_cam(explorer.model, x, "act", c, 10.0, mean=SPEC.mean, std=SPEC.std)
    assert torch.allclose(maps["L_den"], r.denoised[0], atol=1e-6)
    # the progress bar went up to 1 while the region map's masked passes ran, and is hidden again
    assert progress and progress == sorted(progress[:-1]) + progress[-1:] and max(progress) == 1.0
    assert visible[0] == "visible" and visible[-1] == "hidden" and app.progress.value == 0
    assert app.message == "" and not app.busy
    # once the region map is cached, θ costs no masked passes: one figure, no progress bar
    figures.clear(), progress.clear()
    app.theta.value = 60
    app.wait(60)
    assert len(figures) == 1 and progress == [] and "θ=60" in app.figure._suptitle.get_text()


def test_the_fast_preview_is_the_top_k_approximation_and_says_so():
    pytest.importorskip("ipywidgets")
    explorer = tiny(k=6)
    app = ExplorerApp(explorer, image="chelsea", method="gradcam")
    assert app.preview.disabled and app.theta.disabled                    # only region methods use it
    app.method.value = "unioncam"
    app.wait(60)
    assert not app.preview.disabled
    app.preview.value = True
    fig = app.wait(60)
    assert "fast preview: top-4 of 6 channels (an approximation)" in fig._suptitle.get_text()
    x, c = explorer.images["chelsea"][1], explorer.predicted("chelsea")
    expected = union_cam(explorer.model, x, "act", c, 10.0, mean=SPEC.mean, std=SPEC.std, top_k=4)
    cam, r = explorer.cam("chelsea", c, "unioncam", 10.0, preview=True)
    assert torch.allclose(r.region, expected.region, atol=1e-6) and torch.allclose(cam, expected.cam[0], atol=1e-6)
    exact, _ = explorer.cam("chelsea", c, "unioncam", 10.0)
    assert not torch.allclose(r.region, explorer.cam("chelsea", c, "scorecam")[0][None], atol=1e-4)
    assert exact.shape == cam.shape
    plt.close("all")


def test_the_diagnosis_and_the_theta_notice_are_the_library_diagnose_for_this_image_and_layer():
    pytest.importorskip("ipywidgets")
    explorer = tiny()
    app = ExplorerApp(explorer, image="rocket", method="unioncam")
    c = explorer.predicted("rocket")
    expected = diagnose(explorer.model, explorer.images["rocket"][1], "act", c).findings(0)
    for line in expected:
        assert f"<li>{html.escape(line)}</li>" in app.diagnosis_text.value
    assert "rocket, layer act" in app.diagnosis.titles[0] and app.diagnosis.selected_index is None   # folded
    assert app.theta_note.value.startswith("<div class='ucl-theta-note'>θ cannot change the map")


def test_a_superseded_request_stops_its_masked_passes():
    """Score-CAM for 'chelsea' (6 channels, batches of 4: two batches) is overtaken during its first batch:
    its second batch never runs, no region map is kept, and only the newer request's figure is shown."""
    pytest.importorskip("ipywidgets")
    explorer = tiny()
    app = ExplorerApp(explorer, image="chelsea", method="gradcam")
    gate, started, batches = threading.Event(), threading.Event(), []

    def hook(module, inputs, output):
        if inputs[0].shape[0] > 1:                                    # a batch of masked images
            batches.append(1)
            started.set()
            assert gate.wait(30)

    handle = explorer.model.fc.register_forward_hook(hook)
    try:
        app.method.value = "scorecam"
        assert started.wait(30)
        app.method.value = "layercam"                                 # overtakes it during its first batch
    finally:
        gate.set()
    app.wait(60)
    assert batches == [1] and not explorer.region_ready("chelsea", None, method="scorecam")
    assert app.figure.axes[1].get_title() == "LayerCAM" and app.message == ""
    batches.clear()
    explorer.cam("chelsea", None, "scorecam")                          # not overtaken: every batch runs
    handle.remove()
    assert len(batches) == 2 and explorer.region_ready("chelsea", None, method="scorecam")


def test_the_app_can_show_itself_before_its_first_figure():
    """``wait=False`` (make app): the constructor returns while the first figure is computed, so the page shows at
    once and the figure arrives in stages; before, the constructor always waited for the whole first figure."""
    pytest.importorskip("ipywidgets")
    explorer = tiny()
    gate = threading.Event()
    explorer.worker().submit(gate.wait)          # the worker is busy: nothing of the new app is computed yet
    app = ExplorerApp(explorer, image="coffee", method="unioncam", wait=False)
    assert app.figure is None and app.busy and app.message.startswith("computing the top-3 classes")
    gate.set()
    final = app.wait(60)
    assert final is app.figure and not app.busy and "UnionCAM" in final._suptitle.get_text()
