"""What the explorer accepts as an upload: :func:`decode_upload` turns the bytes of an uploaded file
into an image (or a clear ``ValueError``: not an image, over :data:`MAX_UPLOAD_BYTES` or
:data:`MAX_UPLOAD_PIXELS`); :func:`upload_items` and :func:`upload_sizes` read a ``FileUpload``
value of ipywidgets 7 or 8 (the files, and the sizes the browser reported).
"""
from __future__ import annotations

import io
from typing import Any

from PIL import Image

from ...data.images import ImageTooLarge, decode_image

#: the largest upload read (bytes): larger files are refused with an ``error:`` line (the app's page
#: refuses them before sending; app/serve.py lets websocket messages of this size through)
MAX_UPLOAD_BYTES = 50_000_000
#: the most pixels an upload may have (a 50 MP photograph, 8160×6120, holds ~150 MB decoded)
MAX_UPLOAD_PIXELS = 50_000_000


def decode_upload(content: bytes | bytearray | memoryview, max_bytes: int = MAX_UPLOAD_BYTES,
                  max_pixels: int = MAX_UPLOAD_PIXELS, size: int | None = None) -> Image.Image:
    """Bytes of an uploaded file -> RGB PIL image, decoded as image files are (``data.images.decode_image``:
    upright, 16-bit scaled, transparency on white); a clear ValueError if they are not an image, or
    are over ``max_bytes`` or ``max_pixels`` (checked from the header, before decoding). ``size``:
    the file's size as the browser reported it (the app's page sends no content over the limit)."""
    if not isinstance(content, (bytes, bytearray, memoryview)):
        raise TypeError(f"an upload is bytes, not {type(content).__name__}")
    size = max(len(content), size or 0)
    if size > max_bytes:
        raise ValueError(f"the file is {size / 1e6:.1f} MB, more than the app's limit of "
                         f"{max_bytes / 1e6:g} MB: upload a smaller photograph")
    if len(content) == 0:
        raise ValueError("the uploaded file is empty: upload a JPEG or PNG photograph")
    try:
        return decode_image(io.BytesIO(bytes(content)), max_pixels=max_pixels)
    except ImageTooLarge as err:
        raise ValueError(str(err).replace("the limit", "the app's limit").replace("give a", "upload a")) from None
    except Image.DecompressionBombError as err:   # (Pillow's guard, above ~179 MP, comes first)
        raise ValueError(f"the image has more pixels than the app's limit of {max_pixels / 1e6:g} MP "
                         f"({err}): upload a smaller photograph") from None
    except Exception as err:  # every Pillow error (UnidentifiedImageError, OSError, SyntaxError, ...)
        raise ValueError(f"the uploaded file is not a readable image ({type(err).__name__}): "
                         "upload a JPEG or PNG photograph") from err


def upload_items(value: Any) -> list[tuple[str, bytes]]:
    """``FileUpload.value`` -> [(file name, bytes)]: a tuple of dicts (ipywidgets 8) or a dict (7)."""
    if isinstance(value, dict):  # ipywidgets 7: {name: {"metadata": ..., "content": bytes}}
        return [(name, bytes(item["content"])) for name, item in value.items()]
    return [(item["name"], bytes(item["content"])) for item in value or ()]


def upload_sizes(value: Any) -> dict[str, int]:
    """``FileUpload.value`` -> {file name: its size as the browser reported it}. The app's page sends
    no content of a file over the upload limit (template ``unioncam``), only its name and size."""
    if isinstance(value, dict):
        return {name: int(item.get("metadata", {}).get("size", len(item["content"]))) for name, item in value.items()}
    return {item["name"]: int(item.get("size", len(item["content"]))) for item in value or ()}
