"""Odd but legitimate inputs of the applications (issue 19, items 6, 10, 12, 13): a FIFO as
``evaluate --out``, two runs on one results file, a bad last image of ``explain``, file names that
look like mathtext, uploads too large in bytes or in pixels."""
import fcntl
import io
import os
import subprocess
import sys

import matplotlib.pyplot as plt
import pytest
from PIL import Image
from tiny_explorer import tiny_explorer as make_tiny_explorer

from unioncam_lite.apps.cli import main
from unioncam_lite.apps.explore import ExplorerApp, decode_upload, upload_sizes
from unioncam_lite.apps.explore.explorer import MAX_UPLOAD_BYTES, MAX_UPLOAD_PIXELS
from unioncam_lite.viz import escape_mathtext

MATH_NAME = r"$\frac{a$"        # an unbalanced mathtext formula, as a file name
SHAPES = ["--model", "shapes_cnn", "--images", "shapes", "--num-images", "1", "--methods", "gradcam",
          "--steps", "1", "--device", "cpu"]


def no_model(monkeypatch):
    monkeypatch.setattr("unioncam_lite.models.load_model", lambda *a, **k: pytest.fail("the model was loaded"))


@pytest.mark.parametrize("fifo", ["r.csv", "r.md"])
def test_evaluate_refuses_a_fifo_instead_of_hanging(tmp_path, fifo):
    os.mkfifo(tmp_path / fifo)
    done = subprocess.run([sys.executable, "-m", "unioncam_lite", "evaluate", *SHAPES, "--out", str(tmp_path / "r.csv")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: --out ") and "is not a regular file (a FIFO" in done.stderr


def test_a_second_evaluate_on_the_same_out_refuses_at_once(tmp_path, monkeypatch, capsys):
    out = tmp_path / "r.csv"
    assert main(["evaluate", *SHAPES, "--out", str(out)]) == 0     # the lock is released after a run
    capsys.readouterr()
    with open(tmp_path / "r.csv.lock", "a") as other_run:
        fcntl.flock(other_run, fcntl.LOCK_EX | fcntl.LOCK_NB)       # what a run in progress holds
        no_model(monkeypatch)
        assert main(["evaluate", *SHAPES, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: --out {str(out)!r} is being written by another evaluate run (it holds r.csv.lock): wait "
                   "for that run to finish (then run again to add what is missing), or give another --out PATH\n")
    assert len(out.read_text().splitlines()) == 2                  # the header and the one row, not touched


def test_explain_checks_every_image_before_any_work(tmp_path, monkeypatch, capsys):
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    no_model(monkeypatch)
    assert main(["explain", "chelsea", str(tmp_path / "broken.jpg"), "--out", str(tmp_path / "figs")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: image file {str(tmp_path / 'broken.jpg')!r} is unreadable") and err.count("\n") == 1
    assert not (tmp_path / "figs").exists() or not list((tmp_path / "figs").iterdir())


def test_explain_shows_a_file_name_that_looks_like_mathtext(tmp_path, capsys):
    image = tmp_path / f"{MATH_NAME}.png"
    Image.new("RGB", (64, 48), (200, 40, 40)).save(image)
    assert main(["explain", str(image), "--model", "shapes_cnn", "--out", str(tmp_path / "figs"), "--device", "cpu"]) == 0
    assert (tmp_path / "figs" / f"{MATH_NAME}.png").stat().st_size > 1000
    assert capsys.readouterr().out.startswith(MATH_NAME)


def test_escape_mathtext_keeps_the_text_as_written():
    for text in (MATH_NAME, "a\\$b$", "price $5 and $6", "\\", "x$", "plain"):
        fig = plt.figure()
        title = fig.suptitle(escape_mathtext(text))
        fig.canvas.draw()
        assert title._preprocess_math(title.get_text()) == (text, False)
        plt.close(fig)


def png(width, height, mode="L"):
    buf = io.BytesIO()
    Image.new(mode, (width, height)).save(buf, format="PNG")
    return buf.getvalue()


def test_uploads_over_the_limits_are_refused_with_a_clear_message():
    assert MAX_UPLOAD_BYTES == 50_000_000 and MAX_UPLOAD_PIXELS == 50_000_000
    with pytest.raises(ValueError, match=r"^the file is 50\.0 MB, more than the app's limit of 50 MB: upload a "):
        decode_upload(b"\0" * (MAX_UPLOAD_BYTES + 1))
    small_but_huge = png(8000, 7000)                      # 56 MP, a few hundred kB of PNG
    assert len(small_but_huge) < 1_000_000
    with pytest.raises(ValueError, match=r"^the image is 8000×7000 pixels \(56 MP\), more than the app's limit of "
                                         r"50 MP: upload a smaller image"):
        decode_upload(small_but_huge)
    with pytest.raises(ValueError, match=r"more pixels than the app's limit of 50 MP \(Image size"):
        decode_upload(png(20000, 10000, "1"))             # 200 MP: Pillow's own guard speaks first
    assert decode_upload(png(40, 30)).size == (40, 30)


@pytest.fixture(scope="module")
def tiny_explorer():
    return make_tiny_explorer()


def test_the_explorer_draws_an_image_named_like_mathtext(tiny_explorer):
    name = tiny_explorer.add_image(f"{MATH_NAME}.png", png(40, 30, "RGB"))
    fig = tiny_explorer.draw(name, method="gradcam")
    fig.savefig(io.BytesIO(), format="png")          # where mathtext is parsed
    assert fig._suptitle._preprocess_math(fig._suptitle.get_text())[0].startswith(f"{MATH_NAME}.png: class")
    plt.close(fig)


def test_the_app_says_when_an_upload_is_too_large(tiny_explorer):
    pytest.importorskip("ipywidgets")
    app = ExplorerApp(tiny_explorer, image="coffee", method="gradcam")
    shown = app.figure
    app.on_upload({"new": ({"name": "huge.png", "content": memoryview(png(8000, 7000))},)})
    app.wait()
    assert app.message == ("error: huge.png: the image is 8000×7000 pixels (56 MP), more than the "
                           "app's limit of 50 MP: upload a smaller image (or shrink it first)")
    assert app.figure is shown and "huge.png" not in tiny_explorer.images
    # over the byte limit the app's page sends the name and the size only (template unioncam)
    app.on_upload({"new": ({"name": "phone.jpg", "size": 60_000_000, "content": memoryview(b"")},)})
    app.wait()
    assert app.message == ("error: phone.jpg: the file is 60.0 MB, more than the app's limit of "
                           "50 MB: upload a smaller photograph")
    assert upload_sizes({"a.jpg": {"metadata": {"size": 7}, "content": b""}}) == {"a.jpg": 7}   # ipywidgets 7
    app.on_upload({"new": ({"name": f"{MATH_NAME}.png", "content": memoryview(png(40, 30, "RGB"))},)})
    app.wait()
    assert app.message == "" and app.error is None and app.image.value == f"{MATH_NAME}.png"
