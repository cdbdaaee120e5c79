"""Training the shapes models (apps.train_shapes, the train-shapes command) and the two committed
models it produced (pooled and flattened heads)."""
import json

import pytest
import torch

from unioncam_lite import capture, denoise_gradients, denoised_cam, gradcam, load_model, normalize_maps
from unioncam_lite.apps.train_shapes import augment, train
from unioncam_lite.data.images import DATA_DIR
from unioncam_lite.data.shapes import CLASSES, generate, to_tensor


def test_reduced_training_lowers_the_loss():
    torch.manual_seed(0)
    _, record = train(n_train=512, n_test=64, epochs=4, batch_size=32, log=lambda *_: None)
    losses = record["losses"]
    assert all(b < a for a, b in zip(losses, losses[1:])) and losses[-1] < 0.93 * losses[0]


def test_committed_model_is_accurate_on_fresh_images_and_looks_at_the_object():
    record = json.loads((DATA_DIR / "shapes_cnn.json").read_text())
    assert record["test_accuracy"] >= 0.95 and "unioncam_lite train-shapes" in record["command"]
    model, spec = load_model("shapes_cnn", "cpu")
    assert spec.categories == CLASSES and spec.target_layer == "features.block4"
    images, labels, masks = generate(200, seed=4242)
    x = to_tensor(images)
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == torch.from_numpy(labels)).float().mean()
    assert accuracy >= 0.95
    cams = gradcam(model, x[:50], spec.target_layer)
    inside = (cams * torch.from_numpy(masks[:50])).flatten(1).sum(1) / cams.flatten(1).sum(1)
    assert inside.mean() > torch.from_numpy(masks[:50]).float().mean() * 2   # far above a uniform map


# ----------------------------------------------------------------------------- shapes_vgg: where θ acts

def test_training_is_deterministic_and_trains_either_head():
    runs = [train(n_train=96, n_test=16, epochs=1, batch_size=32, model="shapes_vgg", flip=True, darken=0.5,
                  log=lambda *_: None) for _ in range(2)]
    (a, rec_a), (b, rec_b) = runs
    assert type(a).__name__ == "ShapesVGG" and rec_a["losses"] == rec_b["losses"]
    assert all(torch.equal(u, v) for u, v in zip(a.state_dict().values(), b.state_dict().values()))
    assert rec_a["parameters"] == sum(p.numel() for p in a.parameters()) and rec_a["model"] == "shapes_vgg"
    c, rec_c = train(n_train=96, n_test=16, epochs=1, batch_size=32, log=lambda *_: None)
    assert type(c).__name__ == "ShapesCNN" and rec_c["parameters"] < rec_a["parameters"]


def test_shapes_vgg_has_a_flatten_head_and_is_accurate_on_fresh_images():
    record = json.loads((DATA_DIR / "shapes_vgg.json").read_text())
    assert record["test_accuracy"] >= 0.99 and "--model shapes_vgg" in record["command"]
    model, spec = load_model("shapes_vgg", "cpu")
    assert spec.categories == CLASSES and spec.target_layer == "features.block4"
    assert not any(isinstance(m, torch.nn.AdaptiveAvgPool2d) for m in model.modules())
    assert record["parameters"] == sum(p.numel() for p in model.parameters())
    images, labels, _ = generate(300, seed=4243)   # a seed neither training, testing nor RESULTS.md used
    with torch.no_grad():
        accuracy = (model(to_tensor(images)).argmax(1) == torch.from_numpy(labels)).float().mean()
    assert accuracy >= 0.99


def _gradients_and_theta_effect(name: str):
    """Per-(image, channel) spatial std of W at the target layer, and per-image max |L_den(50) − L_den(0)|."""
    model, spec = load_model(name, "cpu")
    x = to_tensor(generate(16, seed=4244)[0])
    cap = capture(model, x, spec.target_layer)
    assert cap.gradients.shape == (16, 64, 8, 8)
    std = cap.gradients.flatten(2).std(dim=2)
    scale = cap.gradients.abs().flatten(1).mean(1)[:, None]        # per image, so the test is unit-free
    maps = {t: normalize_maps(denoised_cam(cap.activations, denoise_gradients(cap.gradients, t))) for t in (0, 50)}
    return std / scale, (maps[50] - maps[0]).abs().flatten(1).amax(1)


def test_flatten_head_gives_spatially_varying_gradients_and_theta_changes_the_denoised_map():
    relative_std, moved = _gradients_and_theta_effect("shapes_vgg")
    assert (relative_std > 0.1).float().mean() > 0.9   # measured: all; 1st percentile 0.49 (std / mean |W|)
    # θ = 50 moves every image's L_den (measured: 0.018 to 0.26, mean 0.065, of the [0, 1] range); about half of
    # each channel's gradients are negative, so lower θs mostly zero what ReLU(W) in Eq. 2 ignores anyway
    assert moved.min() > 0.005 and moved.mean() > 0.03


def test_pooled_head_gives_constant_gradients_and_theta_does_nothing():
    relative_std, moved = _gradients_and_theta_effect("shapes_cnn")
    assert relative_std.max() == 0                                 # global average pool: W_k is one number per channel
    assert moved.max() == 0                                        # so Eq. 1 zeroes nothing, for any θ


def test_augment_mirrors_the_mask_with_the_image_and_keeps_the_object_lit():
    images, _, masks = generate(16, seed=7)
    x, m = to_tensor(images), torch.from_numpy(masks)[:, None]
    assert torch.equal(augment(x, m, torch.Generator().manual_seed(0)), x)          # both off: unchanged
    g = torch.Generator().manual_seed(1)
    out = augment(x, m, g, flip=True, darken=1.0)
    mirror = torch.rand(16, generator=torch.Generator().manual_seed(1)) < 0.5        # the same first draw
    assert 0 < mirror.sum() < 16
    ref, ref_m = torch.where(mirror[:, None, None, None], x.flip(-1), x), torch.where(mirror[:, None, None, None],
                                                                                      m.flip(-1), m)
    on = ref_m.expand_as(x)
    assert torch.allclose(out[on], ref[on], atol=1e-5)                                 # the object is untouched
    pixels = lambda t: t * 0.25 + 0.5
    assert (pixels(out) <= pixels(ref) + 1e-5).all()                                   # the rest only darkens
    assert (pixels(out)[~on] < 0.5 * pixels(ref)[~on]).float().mean() > 0.2            # and visibly so


# ----------------------------------------------------------------------------- the train-shapes command

def test_train_shapes_command_writes_weights_and_record(tmp_path, capsys):
    from unioncam_lite.apps.cli import main
    from unioncam_lite.models.shapes_nets import ARCHITECTURES

    out = tmp_path / "models" / "tiny.pt"                 # its folder is made
    assert main(["train-shapes", "--n-train", "64", "--epochs", "1", "--seed", "3", "--out", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith(f" s -> {out}")
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["command"] == "python -m unioncam_lite train-shapes --model shapes_cnn --n-train 64 --epochs 1 --seed 3"
    assert record["n_train"] == 64 and record["flip"] and record["darken"] == 0.5   # the model's other defaults
    model = ARCHITECTURES["shapes_cnn"]()
    model.load_state_dict(torch.load(out))
    assert not list(out.parent.glob(".*.tmp"))


def test_train_shapes_command_checks_out_before_training(tmp_path, monkeypatch, capsys):
    from unioncam_lite.apps.cli import main

    monkeypatch.setattr("unioncam_lite.apps.train_shapes.train", lambda *a, **k: pytest.fail("trained"))
    (tmp_path / "folder.pt").mkdir()
    for out, message in ((tmp_path / "m.json", "would be overwritten by the record (.json)"),
                         (tmp_path / "folder.pt", "is a folder")):
        assert main(["train-shapes", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: --out {str(out)!r}") and message in err and err.count("\n") == 1, err
