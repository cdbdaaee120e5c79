"""The plain functions behind notebook 07's widgets."""
import io

import matplotlib
import pytest
import torch
from PIL import Image

from unioncam_lite import sample_images
from unioncam_lite.explore import Explorer, decode_upload


def test_decode_upload_reads_png_bytes_and_rejects_garbage():
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(buf, format="PNG")
    image = decode_upload(memoryview(buf.getvalue()))
    assert image.size == (40, 30) and image.getpixel((0, 0)) == (200, 10, 10)
    with pytest.raises(ValueError, match="not a readable image"):
        decode_upload(b"definitely not a png")


def test_explorer_classes_and_gradcam_figure(lite0):
    model, spec = lite0
    ex = Explorer(model, spec)
    assert {"chelsea", "coffee"} <= set(ex.images)
    top = ex.top_classes("coffee", 3)
    assert top[0][1] == 967 and top[0][0].startswith("espresso")
    options = ex.class_options("coffee")
    assert len(options) == 1000 and len({i for _, i in options}) == 1000
    fig = ex.draw("coffee", 967, 10, "gradcam")
    assert isinstance(fig, matplotlib.figure.Figure) and len(fig.axes) == 2
    first = ex.cam("coffee", 967, "gradcam")[0]
    assert ex.cam("coffee", 967, "gradcam")[0] is first          # cached


def test_uploaded_image_can_be_explained(lite0):
    model, spec = lite0
    ex = Explorer(model, spec)
    buf = io.BytesIO()
    Image.open(sample_images()["chelsea"]).save(buf, format="PNG")
    name = ex.add_image("my upload", buf.getvalue())
    cam, _ = ex.cam(name, None, "layercam")
    assert cam.shape == (224, 224) and 0 <= cam.min() and cam.max() <= 1
    with pytest.raises(ValueError, match="unknown method"):
        ex.draw(name, None, 10, "magic")
