"""What the explorer's tests share: a 32×32 spec with ImageNet's class names, an explorer on the conftest's
TinyCNN (every region map is K masked passes), small PNG uploads and a figure's image panels."""
import io

from conftest import TinyCNN
from PIL import Image

from unioncam_lite import ModelSpec
from unioncam_lite.apps.explore import Explorer
from unioncam_lite.models import imagenet_categories

SPEC = ModelSpec("tiny", "act", (32, 32), mean=(0.5,) * 3, std=(0.25,) * 3, categories=imagenet_categories())


def tiny_explorer(k: int = 6, seed: int = 0, **options) -> Explorer:
    """A fresh explorer (nothing cached) on a K-channel TinyCNN with 1000 classes, top 3 by default."""
    return Explorer(TinyCNN(k=k, classes=1000, seed=seed).eval(), SPEC, **{"top_k": 3, **options})


def png_bytes(image: Image.Image, size: tuple[int, int] = (320, 240)) -> bytes:
    """``image`` as an uploaded PNG file, resized: PNG-encoding a full photograph is slow."""
    buf = io.BytesIO()
    image.resize(size).save(buf, format="PNG")
    return buf.getvalue()


def panels(fig) -> list:
    """The figure's image panels (its colour bar left out)."""
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
