"""The explorer app (``make app``) in Chromium, as a visitor meets it (issue 18, issue 20 §3): the first
figure arrives in two stages with a progress bar on the region map's masked passes, and the figure
does not move while the status line changes; θ's notice sits beside the slider at a pooled layer; the
diagnosis unfolds with the library's findings; an unreadable upload gives one line styled as an error,
with no HTML tags in it; the upload button carries no file count; the fast preview runs ≤ 128 passes.

Served exactly as ``make app`` serves it (tests/voila_process.py, app/serve.py), on a free 127.0.0.1
port. Chromium and Playwright as in tests/chromium.py (its ``Watch``; the ``browser`` fixture is
tests/conftest.py's); screenshots go to ``outputs/screenshots/explorer_*.png``, and the memory of
the visitor's kernel after its first UnionCAM (RSS) to ``outputs/screenshots/explorer_memory.json``.
"""
from __future__ import annotations

import io
import json
import time

from chromium import SHOTS, Watch
from voila_process import shut_down, start_voila, wait_for_port

FIGURE = ".widget-output img"
# Records the page's state at every change (a MutationObserver) until ``window.__states`` is read.
RECORD = """() => {
    window.__states = [];
    const q = s => document.querySelector(s);
    const snap = () => {
        const bar = q('.widget-hprogress'), out = q('.widget-output'), img = q('.widget-output img');
        const progress = q('.ucl-progress');
        window.__states.push({busy: !!q('.ucl-busy'), error: !!q('.ucl-error'),
            bar: !!bar && getComputedStyle(bar).visibility === 'visible',
            progress: progress ? progress.innerText : '', top: out ? Math.round(out.getBoundingClientRect().top) : null,
            src: img ? img.src.length + ':' + img.src.slice(-40) : ''});
    };
    window.__observer && window.__observer.disconnect();
    window.__observer = new MutationObserver(snap);
    window.__observer.observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true});
    snap();
}"""
IDLE = "() => !document.querySelector('.ucl-busy')"


def settle(page, action, timeout: float = 400_000) -> list[dict]:
    """Do ``action`` (a user's change), wait until the app was busy and is idle again; the states seen."""
    page.evaluate(RECORD)
    action()
    page.wait_for_function("() => window.__states.some(s => s.busy)", timeout=60_000)
    page.wait_for_function(IDLE, timeout=timeout)
    return page.evaluate("() => window.__states")


def _png(size=(320, 240)) -> bytes:
    from PIL import Image

    from unioncam_lite import sample_images

    buf = io.BytesIO()
    Image.open(sample_images()["rocket"]).convert("RGB").resize(size).save(buf, format="PNG")
    return buf.getvalue()


def test_the_explorer_shows_progress_theta_notice_diagnosis_and_styled_errors(browser, tmp_path):
    import psutil  # a dependency of ipykernel

    port, proc, log = start_voila(tmp_path / "voila.log")   # stopped in the finally below (shut_down)
    kernels: set[int] = set()
    context = None
    memory: dict[str, float] = {}
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        wait_for_port(port, proc, timeout=60)
        url = f"http://127.0.0.1:{port}/"
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        watch = Watch(context, lambda u: u.startswith((url, f"ws://127.0.0.1:{port}/", "data:", "blob:", "about:")))
        page = watch.attach(context.new_page())
        page.goto(url, timeout=120_000)

        # 1. the first page is staged (ExplorerApp(..., wait=False)): Grad-CAM and L_den on screen while the
        # region map's masked passes run, with their progress; before, the page stayed blank until UnionCAM was done
        page.wait_for_function("() => !!document.querySelector('.ucl-busy') && !!document.querySelector('"
                               + FIGURE + "') && (document.querySelector('.ucl-progress') || {innerText: ''})"
                               ".innerText.includes('masked passes')", timeout=400_000)
        page.screenshot(path=str(SHOTS / "explorer_first_page_staged.png"), full_page=True)
        # then it completes on the cat's UnionCAM figure: the kernel's memory then
        page.locator(FIGURE).wait_for(timeout=400_000)       # kernel, model and the first UnionCAM
        page.wait_for_function(IDLE, timeout=400_000)
        kernels = {c.pid for c in psutil.Process(proc.pid).children(recursive=True)}
        memory["kernel RSS after the first UnionCAM (MB)"] = round(
            sum(psutil.Process(pid).memory_info().rss for pid in kernels) / 2**20)
        memory["of which its own, USS (MB)"] = round(           # the rest: library pages shared by all kernels
            sum(psutil.Process(pid).memory_full_info().uss for pid in kernels) / 2**20)

        # 2. θ's notice beside the slider (EfficientNet-Lite0's head_act: a pooled head)
        note = page.locator(".ucl-theta-note")
        assert note.inner_text().startswith("θ cannot change the map at this layer")
        slider = page.locator(".widget-slider").first.bounding_box()
        box = note.bounding_box()
        assert box["x"] > slider["x"] + slider["width"] - 1 and box["y"] < slider["y"] + slider["height"], (slider, box)

        # 3. the diagnosis, folded, opens on the library's findings for this image and layer
        title = page.locator(".jupyter-widget-Collapse-header", has_text="Diagnosis").first
        assert not page.locator(".ucl-diagnosis").first.is_visible()
        title.click()
        findings = page.locator(".ucl-diagnosis")
        findings.wait_for(state="visible", timeout=10_000)
        text = findings.inner_text()
        assert "gradients are constant over positions in every channel" in text and "1280" in text, text
        page.screenshot(path=str(SHOTS / "explorer_diagnosis.png"), full_page=True)
        title.click()                                                            # folded again

        # 4. a class the network did not predict: Grad-CAM and L_den at once, then the region map's masked
        #    passes with a progress bar, then the full figure; the figure never moves meanwhile
        klass = page.locator(".widget-text", has=page.locator("label", has_text="class")).locator("input")

        def tabby():
            klass.fill("tabby")
            klass.press("Enter")
            page.wait_for_function("() => window.__states.some(s => s.bar && s.progress.includes(' left'))",
                                   timeout=240_000)                # some passes done: the time left is shown
            page.screenshot(path=str(SHOTS / "explorer_progress.png"), full_page=True)

        states = settle(page, tabby)
        figures = [s["src"] for s in states if s["src"]]
        distinct = [f for i, f in enumerate(figures) if i == 0 or f != figures[i - 1]]
        assert len(distinct) == 3, distinct                  # the cat's figure, the first stage, the full figure
        first_stage = [s for s in states if s["src"] == distinct[1]]
        assert all(s["busy"] for s in first_stage) and any(s["bar"] for s in first_stage)
        progress = [s["progress"] for s in states if s["bar"] and s["progress"]]
        assert progress and all(p.startswith("region map: ") and " masked passes" in p for p in progress), progress
        assert any(p.endswith(" left") for p in progress), progress
        assert not states[-1]["bar"] and not states[-1]["busy"]
        assert len({s["top"] for s in states}) == 1, sorted({s["top"] for s in states})   # no layout jump

        # 5. an unreadable upload: one line, styled as an error, without tags; the figure stays
        upload = page.locator(".widget-upload")
        after = page.evaluate("() => { const b = document.querySelector('.widget-upload'); return "
                              "[getComputedStyle(b, '::after').content, getComputedStyle(b).fontSize]; }")
        assert after == ['"upload a photo"', "0px"], after              # no "(0)" file count shown
        before = page.locator(FIGURE).get_attribute("src")
        with page.expect_file_chooser() as chooser:
            upload.click()
        chooser.value.set_files(files=[{"name": "broken.jpg", "mimeType": "image/jpeg",
                                        "buffer": b"this is not an image"}])
        error = page.locator(".ucl-error")
        error.wait_for(timeout=60_000)
        assert error.inner_text() == ("error: broken.jpg: the uploaded file is not a readable image "
                                      "(UnidentifiedImageError): upload a JPEG or PNG photograph")
        style = error.evaluate("e => [getComputedStyle(e).color, getComputedStyle(e).borderLeftColor]")
        assert style == ["rgb(164, 0, 15)", "rgb(211, 47, 47)"], style         # red text, red bar
        assert "<b>" not in page.inner_text("body") and page.locator(FIGURE).get_attribute("src") == before
        page.screenshot(path=str(SHOTS / "explorer_upload_error.png"), full_page=True)

        # 6. a good upload under Grad-CAM: the error goes, the button still reads the same
        method = page.locator(".widget-dropdown", has=page.locator("label", has_text="method")).locator("select")
        settle(page, lambda: method.select_option(label="Grad-CAM"))
        def upload_mine():
            with page.expect_file_chooser() as chooser:
                upload.click()
            chooser.value.set_files(files=[{"name": "mine.png", "mimeType": "image/png", "buffer": _png()}])

        settle(page, upload_mine)
        assert page.locator(".widget-dropdown", has=page.locator("label", has_text="image")).locator("select") \
            .input_value() == "mine.png"
        assert page.locator(".ucl-error").count() == 0
        assert upload.evaluate("b => getComputedStyle(b, '::after').content") == '"upload a photo"'

        # 7. the fast preview: UnionCAM on the upload from the top-128 channels, at most 128 masked passes
        exact = settle(page, lambda: method.select_option(label="UnionCAM"))
        preview = page.locator(".widget-checkbox", has_text="fast preview")
        assert "approximation" in preview.inner_text()
        fast = settle(page, lambda: preview.locator("input").check())

        def totals(states):
            return {int(s["progress"].split(" / ")[1].split()[0]) for s in states if " / " in s["progress"]}

        assert totals(fast) and max(totals(fast)) <= 128 < min(totals(exact)), (totals(fast), totals(exact))
        page.screenshot(path=str(SHOTS / "explorer_preview.png"), full_page=True)
        memory["kernel RSS at the end (MB)"] = round(
            sum(psutil.Process(pid).memory_info().rss for pid in kernels if psutil.pid_exists(pid)) / 2**20)
        assert watch.refused == [], f"the app requested the network: {watch.refused}"
        assert watch.errors == [], "\n".join(watch.errors)
    finally:
        shut_down(proc, kernels, log, context)
        (SHOTS / "explorer_memory.json").write_text(json.dumps({"measured": time.strftime("%Y-%m-%d %H:%M"),
                                                                **memory}, indent=1))
        print("explorer kernel memory:", memory)
