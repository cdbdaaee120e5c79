"""Tiny copies of ImageNet validation and PASCAL VOC 2007 in their on-disk layouts, made in a test.

Images are JPEGs drawn with Pillow: a grey background with one red rectangle per object box,
so a test can check that boxes and pixels stay aligned through the resize. The synset mapping
uses made-up WordNet ids ``n00000000`` ... ``n00000999`` (line i = class i); the annotation
files are written by hand in the formats of the real ones.
"""
from pathlib import Path

from PIL import Image, ImageDraw

WNIDS = [f"n{i:08d}" for i in range(1000)]


def draw_jpeg(path: Path, size: tuple[int, int], boxes=(), colour=(220, 30, 30)) -> Path:
    """A W×H JPEG: grey, with each 1-based inclusive box (xmin, ymin, xmax, ymax) filled red."""
    img = Image.new("RGB", size, (90, 90, 90))
    draw = ImageDraw.Draw(img)
    for xmin, ymin, xmax, ymax in boxes:
        draw.rectangle([xmin - 1, ymin - 1, xmax - 1, ymax - 1], fill=colour)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, quality=95)
    return path


def write_synset_mapping(path: Path, wnids=WNIDS) -> Path:
    path.write_text("".join(f"{w} made-up class {i}, synonym\n" for i, w in enumerate(wnids)))
    return path


# (image id, size W×H, class index, boxes) of the tiny validation set
IMAGENET = [
    ("ILSVRC2012_val_00000001", (160, 120), 1, [(21, 11, 100, 90)]),
    ("ILSVRC2012_val_00000002", (120, 160), 2, [(1, 1, 120, 160)]),
    ("ILSVRC2012_val_00000003", (200, 100), 999, [(11, 21, 60, 80), (120, 10, 190, 90)]),
    ("ILSVRC2012_val_00000004", (128, 128), 1, [(40, 40, 90, 90)]),
    ("ILSVRC2012_val_00000005", (150, 110), 2, [(5, 5, 70, 100)]),
]


def solution_csv(rows=IMAGENET) -> str:
    lines = ["ImageId,PredictionString"]
    for image_id, _, idx, boxes in rows:
        lines.append(image_id + "," + " ".join(f"{WNIDS[idx]} {a} {b} {c} {d}" for a, b, c, d in boxes) + " ")
    return "\n".join(lines) + "\n"


def make_imagenet_folders(root: Path, mapping: bool = True, boxes: bool = False, rows=IMAGENET) -> Path:
    """``root/val/<wnid>/<id>.JPEG`` (+ LOC_synset_mapping.txt, + LOC_val_solution.csv if ``boxes``)."""
    for image_id, size, idx, bxs in rows:
        draw_jpeg(root / "val" / WNIDS[idx] / f"{image_id}.JPEG", size, bxs)
    if mapping:
        write_synset_mapping(root / "LOC_synset_mapping.txt")
    if boxes:
        (root / "LOC_val_solution.csv").write_text(solution_csv(rows))
    return root


def make_imagenet_flat(root: Path, rows=IMAGENET) -> Path:
    """Kaggle's layout: ``root/ILSVRC/Data/CLS-LOC/val/<id>.JPEG``, LOC_val_solution.csv, LOC_synset_mapping.txt."""
    for image_id, size, _, bxs in rows:
        draw_jpeg(root / "ILSVRC" / "Data" / "CLS-LOC" / "val" / f"{image_id}.JPEG", size, bxs)
    write_synset_mapping(root / "LOC_synset_mapping.txt")
    (root / "LOC_val_solution.csv").write_text(solution_csv(rows))
    return root


# (image id, size W×H, [(name, xmin, ymin, xmax, ymax), ...]) of the tiny VOC test split
VOC = [
    ("000001", (180, 120), [("dog", 31, 21, 110, 100), ("person", 120, 10, 170, 115)]),
    ("000004", (100, 150), [("cat", 1, 1, 100, 150)]),
    ("000006", (140, 140), [("bird", 50, 60, 90, 100)]),
]

VOC_XML = """<annotation>
  <folder>VOC2007</folder>
  <filename>{id}.jpg</filename>
  <size><width>{w}</width><height>{h}</height><depth>3</depth></size>
  <segmented>0</segmented>
{objects}</annotation>
"""
VOC_OBJECT = """  <object>
    <name>{name}</name><pose>Unspecified</pose><truncated>0</truncated><difficult>0</difficult>
    <bndbox><xmin>{xmin}</xmin><ymin>{ymin}</ymin><xmax>{xmax}</xmax><ymax>{ymax}</ymax></bndbox>
  </object>
"""


def make_voc(root: Path, rows=VOC, split: str = "test") -> Path:
    """``root/VOCdevkit/VOC2007/{JPEGImages,Annotations,ImageSets/Main/<split>.txt}``."""
    voc = root / "VOCdevkit" / "VOC2007"
    (voc / "Annotations").mkdir(parents=True, exist_ok=True)
    (voc / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
    for image_id, (w, h), objects in rows:
        draw_jpeg(voc / "JPEGImages" / f"{image_id}.jpg", (w, h), [o[1:] for o in objects])
        xml = VOC_XML.format(id=image_id, w=w, h=h, objects="".join(
            VOC_OBJECT.format(name=n, xmin=a, ymin=b, xmax=c, ymax=d) for n, a, b, c, d in objects))
        (voc / "Annotations" / f"{image_id}.xml").write_text(xml)
    (voc / "ImageSets" / "Main" / f"{split}.txt").write_text("".join(f"{r[0]}\n" for r in rows))
    return voc
