"""A researcher's own object masks as ground truth: how a mask file is read (non-zero is object,
in every mode a label image comes in), carried through each resize as the boxes are, and checked
against its image before any model work."""
import numpy as np
import pytest
import torch
from PIL import Image

from unioncam_lite.data.datasets import Sample, attach_masks, boxes_mask, geometry, image_folder, load_sample
from unioncam_lite.data.masks import mask_on_grid, read_mask


def test_non_zero_is_object_in_every_mode(tmp_path):
    labels = np.array([[0, 1, 2], [255, 0, 7]], dtype=np.uint8)
    expected = labels != 0
    palette = Image.fromarray(labels, "L").convert("P")          # indices = labels
    palette.putpalette([255, 255, 255] + [0, 0, 0] * 255)       # index 0 drawn white, the others black:
    rgb = np.zeros((2, 3, 3), dtype=np.uint8)                    # the index counts, not the colour
    rgb[expected] = (0, 0, 9)                                    # any colour but black
    rgba = np.dstack([rgb, np.zeros((2, 3), np.uint8)])          # alpha ignored (all transparent here)
    cases = {"grey.png": Image.fromarray(labels, "L"), "palette.png": palette,
             "one.png": Image.fromarray(expected),               # mode "1"
             "label16.png": Image.fromarray(labels.astype(np.uint16)),   # 16-bit: label 1 is object (not 1/257)
             "rgb.png": Image.fromarray(rgb), "rgba.png": Image.fromarray(rgba, "RGBA"),
             "la.png": Image.fromarray(np.dstack([labels, np.zeros_like(labels)]), "LA"),
             "labels.tif": Image.fromarray(labels.astype(np.int32), "I")}
    for name, img in cases.items():
        img.save(tmp_path / name)
        got = read_mask(tmp_path / name)
        assert got.dtype == bool and got.tolist() == expected.tolist(), (name, img.mode, got)


@pytest.mark.parametrize("resize", ["stretch", "center-crop", "fit"])
def test_a_rectangle_mask_lands_where_its_box_does(resize):
    """The same pixel-centre rule as the boxes: a mask that is a box gives the box's mask exactly."""
    width, height, size, cut_away = 300, 180, (224, 224), 0
    for x0, y0, x1, y1 in [(40, 30, 200, 150), (0, 0, 300, 180), (250, 10, 300, 20), (0, 0, 60, 180)]:
        stored = np.zeros((height, width), dtype=bool)
        stored[y0:y1, x0:x1] = True
        geo = geometry(width, height, size, resize, 256)
        expected, got = boxes_mask([(x0, y0, x1, y1)], width, height, size, geo), mask_on_grid(stored, size, geo)
        assert (got is None and expected is None) or torch.equal(got, expected), (resize, x0, y0, x1, y1)
        cut_away += expected is None
    # the crops keep x in [59.5, 239.7) (fit) and [71.1, 228.9) (center-crop) of the stored image
    assert cut_away == {"stretch": 0, "fit": 1, "center-crop": 2}[resize]
    assert mask_on_grid(np.zeros((height, width), bool), size, geometry(width, height, size, resize, 256)) is None


def draw(tmp_path, name, size=(300, 180), box=(40, 30, 200, 150)):
    image = np.full((size[1], size[0], 3), 128, np.uint8)
    mask = np.zeros((size[1], size[0]), np.uint8)
    x0, y0, x1, y1 = box
    image[y0:y1, x0:x1] = (220, 20, 20)
    mask[y0:y1, x0:x1] = 1
    (tmp_path / "img").mkdir(exist_ok=True)
    (tmp_path / "masks").mkdir(exist_ok=True)
    Image.fromarray(image).save(tmp_path / "img" / f"{name}.png")
    Image.fromarray(mask).save(tmp_path / "masks" / f"{name}.png")
    return tmp_path / "img", tmp_path / "masks"


@pytest.mark.parametrize("resize", ["stretch", "center-crop", "fit"])
def test_loaded_image_and_mask_stay_aligned(tmp_path, resize):
    images, masks = draw(tmp_path, "a")
    sample, = image_folder(images, masks)
    assert sample.mask == masks / "a.png"
    image, truth = load_sample(sample, (224, 224), resize, resize_size=256, exif=True)
    red = torch.from_numpy((image[..., 0] > 155) & (image[..., 1] < 100))
    assert truth.dtype == torch.bool and truth.any()
    assert (red != truth).float().mean().item() < truth.float().mean().item() * 0.1   # one blurred ring at most


def test_a_photograph_turned_by_its_exif_orientation_turns_its_mask_too(tmp_path):
    images, masks = draw(tmp_path, "a", size=(32, 16), box=(0, 0, 16, 16))   # left half: object (red)
    img = Image.open(images / "a.png")
    exif = img.getexif()
    exif[0x0112] = 6                                                         # "rotate 90° clockwise to display"
    img.save(images / "a.png", exif=exif)
    with_mask, = image_folder(images, masks)                                 # stored 32×16: the sizes match
    image, truth = load_sample(with_mask, (32, 16), "stretch", exif=True)
    plain, _ = load_sample(Sample("a", images / "a.png"), (32, 16), "stretch", exif=True)
    assert np.array_equal(plain, image)           # upright, as every photograph of a folder is read
    red = torch.from_numpy(image[..., 0] > 155)
    assert red[:16].all() and not red[16:].any() and torch.equal(truth, red)   # the object is now on top
    stored, stored_truth = load_sample(with_mask, (16, 32), "stretch", exif=False)
    assert stored_truth[:, :16].all() and not stored_truth[:, 16:].any()      # exif=False: both as stored


def test_masks_are_checked_before_any_work(tmp_path):
    images, masks = draw(tmp_path, "a")
    draw(tmp_path, "b")
    draw(tmp_path, "c")
    (masks / "b.png").unlink()
    (masks / "c.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"no mask in .* for 2 of 3 images \(b.png, c.png\): add one per "
                                                r"image with its name \(b.png\)"):
        image_folder(images, masks)
    assert [s.name for s in attach_masks(image_folder(images)[:1], masks)] == ["a.png"]   # only those evaluated
    draw(tmp_path, "b")
    draw(tmp_path, "c", size=(150, 90), box=(1, 1, 5, 5))
    Image.fromarray(np.zeros((180, 300), np.uint8)).save(masks / "c.png")          # not the image's size
    with pytest.raises(ValueError, match=r"mask .*c.png' is 300×180 pixels but its image .*c.png' is 150×90"):
        image_folder(images, masks)
    (masks / "c.png").unlink()
    Image.fromarray(np.zeros((90, 150), np.uint8)).save(masks / "c.tif")
    Image.fromarray(np.zeros((90, 150), np.uint8)).save(masks / "b.bmp")
    with pytest.raises(ValueError, match=r"2 masks for b.png .*\(b.bmp, b.png\): keep one"):
        image_folder(images, masks)
    (masks / "b.bmp").unlink()
    assert [s.mask.name for s in image_folder(images, masks)] == ["a.png", "b.png", "c.tif"]
    (masks / "b.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(ValueError, match=r"mask file .*b.png' is unreadable .*non-zero pixels are the object"):
        image_folder(images, masks)
    with pytest.raises(FileNotFoundError, match="mask folder .* not found"):
        image_folder(images, tmp_path / "nope")
    with pytest.raises(ValueError, match="the masks are in the image folder"):
        image_folder(images, images)


def test_load_mask_lands_where_load_image_puts_the_photograph(tmp_path):
    """The library form: the same grid as load_image's (and evaluate's `fit`), exactly."""
    from unioncam_lite import load_image, load_mask
    from unioncam_lite.models import ModelSpec

    images, masks = draw(tmp_path, "a")
    spec = ModelSpec("t", "x", (224, 224), (0.0,) * 3, (1.0,) * 3, categories=["a"])
    mask = load_mask(masks / "a.png", spec, image=images / "a.png")
    sample, = image_folder(images, masks)
    assert torch.equal(mask, load_sample(sample, (224, 224), "fit")[1])
    display, _ = load_image(images / "a.png", spec)
    red = torch.from_numpy((display[..., 0] > 155) & (display[..., 1] < 100))
    assert (red != mask).float().mean().item() < mask.float().mean().item() * 0.1
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(masks / "small.png")
    with pytest.raises(ValueError, match=r"small.png' is 10×10 pixels but its image .*a.png' is 300×180"):
        load_mask(masks / "small.png", spec, image=images / "a.png")
    assert not load_mask(masks / "small.png", spec).any()       # no object: all False, not None


def test_load_mask_turns_with_the_photographs_exif_orientation(tmp_path):
    from unioncam_lite import load_image, load_mask
    from unioncam_lite.models import ModelSpec

    stored = np.zeros((16, 32, 3), dtype=np.uint8)
    stored[:, :16] = 255                                     # left half white, as stored
    img = Image.fromarray(stored)
    exif = img.getexif()
    exif[0x0112] = 6                                         # "rotate 90° clockwise to display"
    img.save(tmp_path / "photo.jpg", exif=exif, quality=95)
    Image.fromarray((stored[..., 0] > 0).astype(np.uint8)).save(tmp_path / "mask.png")
    spec = ModelSpec("t", "x", (32, 16), (0.0,) * 3, (1.0,) * 3, categories=["a"])
    display, _ = load_image(tmp_path / "photo.jpg", spec)    # upright: the white half is now on top
    white = torch.from_numpy(display[..., 0] > 127)
    assert white[:16].all() and not white[16:].any()
    assert torch.equal(load_mask(tmp_path / "mask.png", spec, image=tmp_path / "photo.jpg"), white)
    assert not torch.equal(load_mask(tmp_path / "mask.png", spec), white)   # without image=: taken as upright


def test_turn_is_pillows_exif_transpose_for_every_orientation():
    from PIL import ImageOps

    from unioncam_lite.data.masks import turn

    mask = np.random.default_rng(0).random((5, 8)) > 0.5
    for orientation in range(1, 9):
        img = Image.fromarray(mask.astype(np.uint8) * 255)
        exif = img.getexif()
        exif[0x0112] = orientation
        img.info["exif"] = exif.tobytes()
        expected = np.asarray(ImageOps.exif_transpose(img)) != 0
        assert np.array_equal(turn(mask, orientation), expected), orientation
        assert expected.shape == ((8, 5) if orientation >= 5 else (5, 8))   # 5–8 swap width and height
