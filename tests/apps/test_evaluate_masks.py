"""`evaluate --images DIR --masks MASKS`: a researcher's own photographs with their own object masks
get the localisation metrics, computed as by hand from the map and the mask; the masks are part
of the run's settings; misuse is one error line."""
import csv
import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from unioncam_lite import gradcam, load_model
from unioncam_lite.apps.cli import main
from unioncam_lite.apps.evaluation import sample_items
from unioncam_lite.data.datasets import image_folder
from unioncam_lite.data.images import IMAGE_DIR

FAST = ["--model", "efficientnet_lite0", "--methods", "gradcam,layercam", "--steps", "2", "--device", "cpu"]


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def folder_with_masks(tmp_path):
    """Two bundled photographs; chelsea's mask is its whole image, astronaut's the left 40 % of it."""
    images, masks = tmp_path / "photos", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    for name, share in (("chelsea", 1.0), ("astronaut", 0.4)):
        src = next(IMAGE_DIR.glob(f"{name}.*"))
        shutil.copy(src, images / src.name)
        width, height = Image.open(src).size
        mask = np.zeros((height, width), np.uint8)
        mask[:, :int(width * share)] = 255
        Image.fromarray(mask).save(masks / f"{name}.png")
    return images, masks


def test_own_masks_give_the_localisation_metrics(tmp_path, capsys):
    images, masks = folder_with_masks(tmp_path)
    out = tmp_path / "res" / "own.csv"
    assert main(["evaluate", "--images", str(images), "--masks", str(masks), *FAST, "--out", str(out)]) == 0
    with open(out) as f:
        by = {(r["image"], r["method"]): r for r in csv.DictReader(f)}
    assert len(by) == 4
    for method in ("gradcam", "layercam"):       # all of a map's energy is inside a mask of the whole image
        assert float(by["chelsea.png", method]["energy pointing game"]) == pytest.approx(1.0, abs=1e-6)
    # by hand: the map's energy inside the left 40 %, on the input the evaluation loads
    model, spec = load_model("efficientnet_lite0", device="cpu")
    sample = next(s for s in image_folder(images, masks) if s.name == "astronaut.png")
    x, mask = sample_items([sample], spec, "fit", exif=True)[0].load()
    c = int(model(x).argmax())
    cam = gradcam(model, x, spec.target_layer, class_idx=c)[0]
    assert 0.2 < mask.float().mean() < 0.6 and not mask[:, -1].any()
    assert int(by["astronaut.png", "gradcam"]["class_idx"]) == c
    assert float(by["astronaut.png", "gradcam"]["energy pointing game"]) == pytest.approx(
        float(cam[mask].sum() / cam.sum()), abs=1e-5)
    md = out.with_suffix(".md").read_text()
    assert f"with the masks in {masks}" in md and "over the 2 of them with a ground truth (boxes or mask)" in md
    assert json.loads(out.with_suffix(".run.json").read_text())["masks"] == str(masks.resolve())
    # the masks are a setting: other masks with the same --out are refused before any work
    other = tmp_path / "other"
    shutil.copytree(masks, other)
    assert main(["evaluate", "--images", str(images), "--masks", str(other), *FAST, "--out", str(out)]) == 2
    assert "other settings (masks: " in capsys.readouterr().err


@pytest.mark.parametrize("extra,message", [
    (["--images", "shapes"], "error: --masks DIR goes with --images DIR"),
    ([], "error: --masks DIR goes with --images DIR"),
    (["--images", "{images}", "--masks", "{tmp}/nope"], "error: mask folder"),
])
def test_misused_masks_are_one_error_line(tmp_path, capsys, extra, message):
    images, masks = folder_with_masks(tmp_path)
    argv = [a.format(images=images, tmp=tmp_path) for a in extra]
    if "--masks" not in argv:
        argv += ["--masks", str(masks)]
    assert main(["evaluate", *argv, *FAST, "--out", str(tmp_path / "r.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1, err
    assert not (tmp_path / "r.csv").exists()
