"""Reading ImageNet validation and VOC 2007 in their real layouts; the subset; the resize and its boxes."""
import numpy as np
import pytest
import torch
from tiny_datasets import IMAGENET, VOC, WNIDS, draw_jpeg, make_imagenet_flat, make_imagenet_folders, make_voc

from unioncam_lite.data import datasets
from unioncam_lite.data.datasets import Sample, boxes_mask, geometry, load_sample, random_subset


def by_name(samples):
    return {s.name: s for s in samples}


def test_imagenet_class_folders_take_labels_from_the_synset_mapping(tmp_path):
    make_imagenet_folders(tmp_path)
    samples = by_name(datasets.imagenet_val(tmp_path))
    assert len(samples) == len(IMAGENET)
    for image_id, _, idx, _ in IMAGENET:
        # folder order would give 0, 1, 2 for the folders of classes 1, 2 and 999
        assert samples[image_id].label_idx == idx and samples[image_id].label == WNIDS[idx]
        assert samples[image_id].boxes == ()  # no LOC_val_solution.csv: no boxes


def test_imagenet_class_folders_get_boxes_from_the_solution_csv(tmp_path):
    make_imagenet_folders(tmp_path, boxes=True)
    s = by_name(datasets.imagenet_val(tmp_path))["ILSVRC2012_val_00000003"]
    assert s.boxes == ((10, 20, 60, 80), (119, 9, 190, 90))  # 1-based inclusive -> continuous [x0, x1)


def test_imagenet_folder_order_only_with_all_1000_classes(tmp_path):
    make_imagenet_folders(tmp_path, mapping=False)
    with pytest.raises(ValueError, match="3 class folders.*only when all 1000.*LOC_synset_mapping.txt"):
        datasets.imagenet_val(tmp_path)
    for w in WNIDS:  # every class folder present (most empty): sorted WordNet ids are the class order
        (tmp_path / "val" / w).mkdir(exist_ok=True)
    samples = by_name(datasets.imagenet_val(tmp_path))
    assert [samples[r[0]].label_idx for r in IMAGENET] == [r[2] for r in IMAGENET]


def test_imagenet_flat_layout(tmp_path):
    make_imagenet_flat(tmp_path)
    samples = by_name(datasets.imagenet_val(tmp_path))
    assert sorted(samples) == sorted(r[0] for r in IMAGENET)
    s = samples["ILSVRC2012_val_00000001"]
    assert s.label_idx == 1 and s.boxes == ((20, 10, 100, 90),)
    assert s.path.parent == tmp_path / "ILSVRC" / "Data" / "CLS-LOC" / "val"


@pytest.mark.parametrize("line,message", [
    ("ILSVRC2012_val_00000001,n00000001 1 2 3\n", r"line 2: PredictionString must be groups of"),
    ("ILSVRC2012_val_00000001,n00000001 1 2 x 4\n", r"line 2: box coordinates '1 2 x 4' are not numbers"),
    ("ILSVRC2012_val_00000001,n00000001 50 2 10 4\n", r"line 2: box .* is not xmin ≤ xmax"),
    ("ILSVRC2012_val_00000001,dog 1 2 3 4\n", r"'dog' is not a WordNet id"),
])
def test_malformed_solution_csv(tmp_path, line, message):
    make_imagenet_flat(tmp_path)
    (tmp_path / "LOC_val_solution.csv").write_text("ImageId,PredictionString\n" + line)
    with pytest.raises(ValueError, match=message):
        datasets.imagenet_val(tmp_path)


def test_unknown_wnid(tmp_path):
    make_imagenet_flat(tmp_path)
    csv = (tmp_path / "LOC_val_solution.csv").read_text().replace(WNIDS[999], "n99999999")
    (tmp_path / "LOC_val_solution.csv").write_text(csv)
    with pytest.raises(ValueError, match="WordNet id 'n99999999', which is not in .*LOC_synset_mapping.txt"):
        datasets.imagenet_val(tmp_path)
    folders = make_imagenet_folders(tmp_path / "folders")
    (folders / "val" / "n99999999").mkdir()
    with pytest.raises(ValueError, match="class folder 'n99999999' .* is not one of the 1000"):
        datasets.imagenet_val(folders)


def test_flat_layout_without_labels_and_wrong_mapping(tmp_path):
    make_imagenet_flat(tmp_path)
    (tmp_path / "LOC_val_solution.csv").unlink()
    with pytest.raises(FileNotFoundError, match="without class folders.*LOC_val_solution.csv and LOC_synset_mapping"):
        datasets.imagenet_val(tmp_path)
    (tmp_path / "LOC_synset_mapping.txt").write_text("n00000001 a\nn00000002 b\n")
    with pytest.raises(ValueError, match="lists 2 classes, not ILSVRC2012's 1000"):
        datasets.imagenet_val(tmp_path)
    with pytest.raises(FileNotFoundError, match="root='.*nowhere' is not a folder"):
        datasets.imagenet_val(tmp_path / "nowhere")


def test_voc_reads_every_box_of_the_split(tmp_path):
    make_voc(tmp_path)
    samples = datasets.voc2007(tmp_path)   # root above VOCdevkit
    assert [s.name for s in samples] == ["000001", "000004", "000006"]
    assert samples[0].label == "dog+person" and samples[0].label_idx is None
    assert samples[0].boxes == ((30, 20, 110, 100), (119, 9, 170, 115))
    assert [s.name for s in datasets.voc2007(tmp_path / "VOCdevkit" / "VOC2007")] == [r[0] for r in VOC]


def test_voc_errors(tmp_path):
    voc = make_voc(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"split file .*ImageSets/Main/val.txt not found"):
        datasets.voc2007(tmp_path, "val")
    xml = voc / "Annotations" / "000004.xml"
    good = xml.read_text()
    xml.write_text(good.replace("</annotation>", ""))
    with pytest.raises(ValueError, match=r"000004.xml is not valid XML"):
        datasets.voc2007(tmp_path)
    xml.write_text(good.replace("<xmax>100</xmax>", "<xmax>wide</xmax>"))
    with pytest.raises(ValueError, match=r"000004.xml: object 1 <xmax> is 'wide', not a number"):
        datasets.voc2007(tmp_path)
    xml.write_text(good.replace("<xmax>100</xmax>", "<xmax>300</xmax>"))
    with pytest.raises(ValueError, match=r"lies outside the 100×150 image"):
        datasets.voc2007(tmp_path)
    xml.write_text(good)
    (voc / "JPEGImages" / "000006.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"000006.jpg not found, but test.txt lists '000006'"):
        datasets.voc2007(tmp_path)
    with pytest.raises(FileNotFoundError, match="no PASCAL VOC 2007 under"):
        datasets.voc2007(tmp_path / "VOCdevkit" / "nothing")


def test_random_subset_is_the_same_every_time_and_nested():
    samples = [Sample(f"img{i}", None) for i in range(50)]
    a, b = random_subset(samples, 20, seed=7), random_subset(samples, 20, seed=7)
    assert [s.name for s in a] == [s.name for s in b] and len({s.name for s in a}) == 20
    assert [s.name for s in random_subset(samples, 30, seed=7)][:20] == [s.name for s in a]
    assert [s.name for s in random_subset(samples, 20, seed=8)] != [s.name for s in a]
    expected = np.random.default_rng(7).permutation(50)[:20]
    assert [s.name for s in a] == [f"img{i}" for i in expected]
    assert random_subset(samples, None, seed=7) == samples
    with pytest.raises(ValueError, match="n=51, but the data set has only 50 images: use n=50 or fewer"):
        random_subset(samples, 51, seed=7)


def test_geometry_by_hand():
    # 400×200 image to 224×224
    assert geometry(400, 200, (224, 224), "stretch") == (224, 224, 0, 0)
    # torchvision: shorter side 256 -> 512×256, centre crop offsets round((512-224)/2)=144, 16
    assert geometry(400, 200, (224, 224), "center-crop", 256) == (512, 256, 144, 16)
    assert geometry(200, 400, (224, 224), "center-crop", 232) == (232, 464, 4, 120)
    assert geometry(400, 200, (224, 224), "fit") == (448, 224, 112, 0)


def test_box_masks_by_hand():
    # box over x in [0, 100) of a 400×200 image: stretched, pixel centres (j + 0.5)·400/224 < 100 -> j ≤ 55
    m = boxes_mask([(0, 0, 100, 200)], 400, 200, (224, 224), geometry(400, 200, (224, 224), "stretch"))
    assert m.shape == (224, 224) and m.all(0).tolist() == [True] * 56 + [False] * 168 and m.any(1).all()
    # centre crop starts at x = 144·400/512 = 112.5 in the image: the box is cut away entirely
    assert boxes_mask([(0, 0, 100, 200)], 400, 200, (224, 224),
                      geometry(400, 200, (224, 224), "center-crop", 256)) is None
    # a box x in [200, 400): (j + 144.5)·400/512 ≥ 200 -> j ≥ 111.5
    m = boxes_mask([(200, 0, 400, 200)], 400, 200, (224, 224), geometry(400, 200, (224, 224), "center-crop", 256))
    assert m.all(0).tolist() == [False] * 112 + [True] * 112
    assert boxes_mask([], 400, 200, (224, 224), (224, 224, 0, 0)) is None


@pytest.mark.parametrize("resize", ["stretch", "center-crop", "fit"])
def test_loaded_pixels_and_mask_stay_aligned(tmp_path, resize):
    # red object on grey: after the resize the red pixels must be where the mask says
    path = draw_jpeg(tmp_path / "a.jpg", (300, 180), [(41, 31, 200, 150)])
    sample = Sample("a", path, boxes=((40, 30, 200, 150),))
    image, mask = load_sample(sample, (224, 224), resize, resize_size=256)
    assert image.shape == (224, 224, 3) and image.dtype == np.uint8 and mask.dtype == torch.bool
    red = torch.from_numpy((image[..., 0] > 155) & (image[..., 1] < 100))
    disagree = (red != mask).float().mean().item()
    edge = mask.float().mean().item() * 0.1     # resampling blurs one pixel ring at the edges
    assert mask.any() and disagree < edge, (disagree, edge)


def test_unreadable_image(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(ValueError, match="bad.jpg' is unreadable"):
        load_sample(Sample("bad", bad), (32, 32))


@pytest.mark.parametrize("resize", ["stretch", "center-crop", "fit"])
def test_16_bit_and_transparent_images_load_as_explain_loads_them(tmp_path, resize):
    """A data set's images go through the same 8-bit conversion as `explain` (images.to_rgb8):
    a 16-bit grey at half scale is 128, not clipped to 255; transparent pixels are white."""
    from PIL import Image

    from unioncam_lite.data.images import load_image
    from unioncam_lite.models import ModelSpec

    half = tmp_path / "half16.png"
    Image.fromarray(np.full((64, 64), 32768, dtype=np.uint16)).save(half)
    clear = tmp_path / "clear.png"
    Image.new("RGBA", (64, 64), (0, 0, 0, 0)).save(clear)
    spec = ModelSpec("t", "x", (32, 32), (0.5,) * 3, (0.5,) * 3, categories=["a"])
    for path, value in ((half, 128), (clear, 255)):
        image, _ = load_sample(Sample(path.stem, path), (32, 32), resize, resize_size=36)
        assert (image == value).all(), (path.name, np.unique(image))
        assert (load_image(path, spec)[0] == value).all()
