"""evaluate's two definitions: the model's input (``--normalize model|none``, the paper's §4.1 input
is ``none``) and the region map's weights (``--region-weights paper|softmax``)."""
import json

import numpy as np
import pytest
import torch

from unioncam_lite import load_model, union_cam
from unioncam_lite.apps.cli import main
from unioncam_lite.apps.evaluation import EvaluateConfig, evaluate_batch, run, shapes_items
from unioncam_lite.apps.evaluation.items import input_spec
from unioncam_lite.cams.options import CamOptions
from unioncam_lite.data.shapes import generate
from unioncam_lite.metrics import drop_increase_per_image


@pytest.fixture(scope="module")
def shapes_cnn():
    return load_model("shapes_cnn", device="cpu")


def test_normalize_none_feeds_the_pixels_in_0_1(shapes_cnn):
    _, spec = shapes_cnn
    images = generate(2, seed=1000)[0]
    pixels = torch.from_numpy(images[1]).permute(2, 0, 1).float() / 255
    x_none = shapes_items(2, 1000, input_spec(spec, "none"))[1].load()[0]
    assert torch.equal(x_none[0], pixels)                                   # the paper's input, as it is
    x_model = shapes_items(2, 1000, input_spec(spec, "model"))[1].load()[0]
    mean, std = torch.tensor(spec.mean).view(3, 1, 1), torch.tensor(spec.std).view(3, 1, 1)
    assert torch.allclose(x_model[0], (pixels - mean) / std)                # the model's own mean/std
    assert input_spec(spec, "model") is spec
    with pytest.raises(ValueError, match=r"normalize='imagenet'.*'model'.*'none'"):
        input_spec(spec, "imagenet")


def test_region_weights_reach_unioncam_in_the_evaluation(shapes_cnn):
    """The Average Drop term of the evaluation's UnionCAM row is the one of union_cam with the same weights."""
    model, spec = shapes_cnn
    items = shapes_items(3, 1000, spec)
    x = torch.cat([it.load()[0] for it in items])
    c = model(x).argmax(1)
    for weights in ("paper", "softmax"):
        rows = evaluate_batch(model, spec, spec.target_layer, items, ["unioncam"], steps=4, with_road=False,
                              options=CamOptions(region_weights=weights))
        cam = union_cam(model, x, spec.target_layer, c, mean=spec.mean, std=spec.std, region_weights=weights).cam
        drop = drop_increase_per_image(model, x, cam, c, mean=spec.mean, std=spec.std)[0]
        np.testing.assert_allclose([r["drop"] for r in rows], drop.tolist(), atol=1e-6)


def test_settings_are_recorded_and_a_resume_must_match(tmp_path, capsys):
    out = tmp_path / "r.csv"
    base = ["evaluate", "--model", "shapes_cnn", "--images", "shapes", "--num-images", "2", "--methods",
            "gradcam", "--steps", "2", "--out", str(out)]
    assert main([*base, "--normalize", "none", "--region-weights", "softmax"]) == 0
    settings = json.loads(out.with_suffix(".run.json").read_text())
    assert settings["normalize"] == "none" and settings["region_weights"] == "softmax"
    assert "pixels in [0, 1], no mean/std; region weights softmax" in out.with_suffix(".md").read_text()
    capsys.readouterr()
    assert main(base) == 2                                          # the default input is another run
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "normalize: 'none' then, None now" in err and err.count("\n") == 1


def test_bad_choices_are_one_line(tmp_path, capsys):
    assert main(["evaluate", "--normalize", "imagenet", "--out", str(tmp_path / "r.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: argument --normalize: invalid choice: 'imagenet'") and err.count("\n") == 1
    with pytest.raises(ValueError, match=r"^normalize='imagenet': give 'model'"):
        run(EvaluateConfig(out=tmp_path / "r.csv", normalize="imagenet"))
    with pytest.raises(ValueError, match=r"^region_weights='scores': give 'paper'"):
        run(EvaluateConfig(out=tmp_path / "r.csv", region_weights="scores"))  # type: ignore[arg-type]
