"""Reading images: bombs, 16-bit and float images, EXIF orientation, alpha, folders.

Each test here failed before its fix (the defect it guards is named in its docstring).
"""
import io

import numpy as np
import pytest
from PIL import Image

from unioncam_lite import (
    load_image,
)
from unioncam_lite.models import ModelSpec

# --------------------------------------------------------------------------- 6, 8. images

def _png_bytes(img, **kw):
    buf = io.BytesIO()
    img.save(buf, format="PNG", **kw)
    return buf.getvalue()


SPEC = ModelSpec("test", "x", (32, 32), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), categories=["a", "b"])


def test_decompression_bomb_is_a_one_line_error(tmp_path):
    """Defect 6: a PNG claiming 20000x20000 pixels gave a DecompressionBombError traceback."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b"")
    path = tmp_path / "bomb.png"
    path.write_bytes(png)
    with pytest.raises(ValueError, match="bomb.png.*too large|decompression"):
        load_image(path, SPEC)


def test_sixteen_bit_images_are_scaled_not_clipped(tmp_path):
    """Defect 8: 99.6 % of a 0..65535 ramp became 255."""
    ramp = np.tile(np.linspace(0, 65535, 32).astype(np.uint16), (32, 1))
    path = tmp_path / "ramp16.png"
    Image.fromarray(ramp).save(path)
    assert Image.open(path).mode.startswith("I")
    display, _ = load_image(path, SPEC)
    expected = np.round(ramp / 257.0).astype(np.uint8)
    assert np.abs(display[..., 0].astype(int) - expected.astype(int)).max() <= 1
    assert (display == 255).mean() < 0.1


def test_float_images_are_scaled(tmp_path):
    ramp = np.tile(np.linspace(0, 1, 32, dtype=np.float32), (32, 1))
    img = Image.fromarray(ramp, mode="F")
    display, _ = load_image(img, SPEC)
    assert np.abs(display[..., 0].astype(int) - np.round(ramp * 255).astype(int)).max() <= 1


def test_exif_orientation_is_applied(tmp_path):
    arr = np.zeros((16, 32, 3), dtype=np.uint8)
    arr[:, :16] = 255                                # left half white (landscape as stored)
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6                                 # "rotate 90° clockwise to display"
    path = tmp_path / "rotated.jpg"
    img.save(path, exif=exif, quality=95)
    spec = ModelSpec("t", "x", (32, 16), (0.0,) * 3, (1.0,) * 3, categories=["a"])
    display, _ = load_image(path, spec)
    assert display.shape[:2] == (32, 16)
    assert display[:14].mean() > 200 and display[18:].mean() < 50   # the white half is now on top


def test_rgba_is_composited_on_white(tmp_path):
    arr = np.zeros((32, 32, 4), dtype=np.uint8)
    arr[..., 0] = 255                                # red ...
    arr[:, 16:, 3] = 255                             # ... opaque on the right half, transparent on the left
    display, _ = load_image(Image.fromarray(arr, "RGBA"), SPEC)
    assert (display[:, :14] == 255).all()            # transparent -> white background
    assert (display[:, 18:] == [255, 0, 0]).all()


def test_a_folder_is_not_an_image(tmp_path):
    with pytest.raises(ValueError, match="is a folder"):
        load_image(tmp_path, SPEC)
