"""The evaluation data sets as they are on the user's disk: ImageNet validation, PASCAL VOC 2007,
a folder of photographs; the paper's random subset and its 224×224 resize.

Each reader returns a list of :class:`Sample` (file, ground-truth label, object boxes) after
checking the whole index up front, so a malformed annotation, a missing split file or an
unknown WordNet id stops the run with one clear ``ValueError``/``FileNotFoundError`` before
any model work. Images are read lazily by :func:`load_sample`.

* ``imagenet_val(root)``: ILSVRC2012 validation in either layout people have:
  class folders ``val/<wnid>/*.JPEG`` (as torchvision's ``ImageFolder`` expects), or the flat
  folder of Kaggle's download, ``ILSVRC/Data/CLS-LOC/val/*.JPEG`` (or ``val/*.JPEG``) with
  ``LOC_val_solution.csv`` (labels and boxes) and ``LOC_synset_mapping.txt``. Class indices
  come from ``LOC_synset_mapping.txt`` (line i = class i, the order torchvision's weights use);
  folder order is used only when all 1000 class folders are there (sorted WordNet ids are that
  same order). Boxes, where ``LOC_val_solution.csv`` is present, are the localisation truth.
* ``voc2007(root, split)``: ``VOCdevkit/VOC2007/{JPEGImages,Annotations,ImageSets/Main/<split>.txt}``,
  the layout torchvision's ``VOCDetection`` reads; every object's box (difficult ones
  included) goes into the ground truth, which is the union of the boxes.
* ``image_folder(folder)``: every photograph in a folder, no labels, no boxes.

Boxes follow the PASCAL VOC convention that ImageNet's annotations share: ``xmin..xmax`` and
``ymin..ymax`` are the first and last pixel, 1-based. They are kept in the stored image's pixel
grid, so images are *not* turned by their EXIF orientation (the annotations were made on the
stored pixels).
"""
from __future__ import annotations

import csv
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .images import IMAGE_SUFFIXES, fit_geometry, read_image

WNID = re.compile(r"^n\d{8}$")

#: How an image becomes the model's H×W input (``--resize``).
RESIZE_MODES = {
    "stretch": "resize the whole image to H×W, aspect ratio not kept (the UnionCAM paper: "
               "'images resized to 224×224'); every object stays in view",
    "center-crop": "torchvision's evaluation recipe: shorter side to the model's resize size "
                   "(256 for 224 inputs), then the central H×W crop; aspect ratio kept, borders "
                   "(and boxes near them) cut off",
    "fit": "shorter side to H, then the central H×W crop (what `explain` and load_image do)",
}


@dataclass(frozen=True)
class Sample:
    """One evaluation image: ``name`` (unique in the data set, the CSV's ``image`` column),
    its file, the ground-truth label (class index and/or name, if the data set gives one) and
    the object boxes ``(x0, y0, x1, y1)`` in the stored image's pixels, continuous coordinates
    (x0 = xmin − 1, x1 = xmax for 1-based inclusive annotations)."""

    name: str
    path: Path
    label: str = ""
    label_idx: int | None = None
    boxes: tuple[tuple[float, float, float, float], ...] = field(default=(), repr=False)


# --------------------------------------------------------------------------- ImageNet

def read_synset_mapping(path: Path) -> dict[str, int]:
    """``LOC_synset_mapping.txt``: one ``<wnid> <names>`` line per class, in class-index order."""
    mapping: dict[str, int] = {}
    for i, line in enumerate(Path(path).read_text().splitlines()):
        if not line.strip():
            continue
        wnid = line.split(maxsplit=1)[0]
        if not WNID.match(wnid) or wnid in mapping:
            raise ValueError(f"{path}, line {i + 1}: expected '<wnid> <class names>' with a new WordNet id such as "
                             f"'n01440764 tench, Tinca tinca', got {line[:60]!r}")
        mapping[wnid] = len(mapping)
    if len(mapping) != 1000:
        raise ValueError(f"{path} lists {len(mapping)} classes, not ILSVRC2012's 1000: use the file of the "
                         "ImageNet localisation download (Kaggle 'imagenet-object-localization-challenge')")
    return mapping


def parse_box_tokens(tokens: list[str], where: str) -> tuple[str, list[tuple[float, float, float, float]]]:
    """``wnid x0 y0 x1 y1 [wnid x0 y0 x1 y1 ...]`` (LOC_val_solution.csv) -> (wnid, boxes)."""
    if not tokens or len(tokens) % 5:
        raise ValueError(f"{where}: PredictionString must be groups of 'wnid xmin ymin xmax ymax', got "
                         f"{' '.join(tokens)[:80]!r}")
    wnids, boxes = [], []
    for k in range(0, len(tokens), 5):
        wnid, *coords = tokens[k:k + 5]
        if not WNID.match(wnid):
            raise ValueError(f"{where}: {wnid!r} is not a WordNet id (n + 8 digits)")
        try:
            xmin, ymin, xmax, ymax = (float(c) for c in coords)
        except ValueError:
            raise ValueError(f"{where}: box coordinates {' '.join(coords)!r} are not numbers") from None
        boxes.append(_check_box(xmin, ymin, xmax, ymax, where))
        wnids.append(wnid)
    return wnids[0], boxes


def _check_box(xmin, ymin, xmax, ymax, where, size=None):
    if not (xmin <= xmax and ymin <= ymax) or min(xmin, ymin) < 0:
        raise ValueError(f"{where}: box ({xmin:g}, {ymin:g}, {xmax:g}, {ymax:g}) is not xmin ≤ xmax, ymin ≤ ymax ≥ 0")
    if size is not None and (xmax > size[0] + 1 or ymax > size[1] + 1):
        raise ValueError(f"{where}: box ({xmin:g}, {ymin:g}, {xmax:g}, {ymax:g}) lies outside the "
                         f"{size[0]}×{size[1]} image")
    return (max(xmin - 1, 0.0), max(ymin - 1, 0.0), xmax, ymax)


def read_loc_solution(path: Path) -> dict[str, tuple[str, list]]:
    """``LOC_val_solution.csv`` (``ImageId,PredictionString``) -> {image id: (wnid, boxes)}."""
    out = {}
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:2]] != ["ImageId", "PredictionString"]:
            raise ValueError(f"{path}: the first line must be 'ImageId,PredictionString' (Kaggle's ImageNet "
                             f"localisation format), got {','.join(header or [])[:60]!r}")
        for row in reader:
            if not row or not any(c.strip() for c in row):
                continue
            where = f"{path}, line {reader.line_num}"
            if len(row) != 2 or not row[0].strip():
                raise ValueError(f"{where}: expected 'ImageId,PredictionString', got {','.join(row)[:80]!r}")
            out[row[0].strip()] = parse_box_tokens(row[1].split(), where)
    return out


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def imagenet_val(root: str | Path) -> list[Sample]:
    """ILSVRC2012 validation images under ``root`` with labels (and boxes where given); see the module docstring."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"--root {str(root)!r} is not a folder: give the folder that holds the ImageNet "
                                "validation images (val/<wnid>/*.JPEG, or LOC_val_solution.csv and the images)")
    candidates = [root / "ILSVRC" / "Data" / "CLS-LOC" / "val", root / "val", root]
    val = next((c for c in candidates if c.is_dir() and any(
        (p.is_dir() and WNID.match(p.name)) or p.suffix.lower() in IMAGE_SUFFIXES for p in c.iterdir())), None)
    if val is None:
        raise FileNotFoundError(f"no ImageNet validation images under {str(root)!r}: expected val/<wnid>/*.JPEG "
                                "(class folders) or ILSVRC/Data/CLS-LOC/val/*.JPEG with LOC_val_solution.csv")
    mapping_file = next((p for p in (root / "LOC_synset_mapping.txt", val.parent / "LOC_synset_mapping.txt")
                         if p.is_file()), None)
    solution_file = next((p for p in (root / "LOC_val_solution.csv", val.parent / "LOC_val_solution.csv")
                          if p.is_file()), None)
    mapping = read_synset_mapping(mapping_file) if mapping_file else None
    solution = read_loc_solution(solution_file) if solution_file else {}
    folders = sorted(p for p in val.iterdir() if p.is_dir() and WNID.match(p.name))
    samples = []
    if folders:  # class-folder layout
        if mapping is None:
            if len(folders) != 1000:
                raise ValueError(f"{val} has {len(folders)} class folders and there is no LOC_synset_mapping.txt: "
                                 "class indices can be read from folder order only when all 1000 are present; put "
                                 f"LOC_synset_mapping.txt (one '<wnid> <names>' line per class, in index order) in {root}")
            mapping = {p.name: i for i, p in enumerate(folders)}
        for folder in folders:
            if folder.name not in mapping:
                raise ValueError(f"class folder {folder.name!r} in {val} is not one of the 1000 WordNet ids of "
                                 f"{mapping_file}: remove it or fix its name")
            for path in _images_in(folder):
                boxes = solution.get(path.stem, (None, []))[1]
                samples.append(Sample(path.stem, path, folder.name, mapping[folder.name], tuple(boxes)))
    else:  # flat layout: labels and boxes from LOC_val_solution.csv
        if not solution_file or mapping is None:
            raise FileNotFoundError(f"{val} holds images without class folders, so labels must come from "
                                    f"LOC_val_solution.csv and LOC_synset_mapping.txt; put both in {root}")
        for path in _images_in(val):
            if path.stem not in solution:
                raise ValueError(f"image {path.name} has no row in {solution_file}: the file does not belong to "
                                 "ILSVRC2012 validation, or the CSV is incomplete")
            wnid, boxes = solution[path.stem]
            if wnid not in mapping:
                raise ValueError(f"{solution_file}: image {path.stem} has WordNet id {wnid!r}, which is not in "
                                 f"{mapping_file}")
            samples.append(Sample(path.stem, path, wnid, mapping[wnid], tuple(boxes)))
    if not samples:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found in {val}")
    return samples


# --------------------------------------------------------------------------- PASCAL VOC 2007

def voc_root(root: str | Path) -> Path:
    """``root`` itself, ``root/VOC2007`` or ``root/VOCdevkit/VOC2007``: the first that holds Annotations/."""
    root = Path(root)
    for c in (root / "VOCdevkit" / "VOC2007", root / "VOC2007", root):
        if (c / "Annotations").is_dir() or (c / "JPEGImages").is_dir():
            return c
    raise FileNotFoundError(f"no PASCAL VOC 2007 under {str(root)!r}: expected "
                            "ROOT/VOCdevkit/VOC2007/{JPEGImages,Annotations,ImageSets/Main/test.txt}")


def read_voc_annotation(path: Path) -> tuple[list[str], list[tuple[float, float, float, float]], tuple[int, int]]:
    """A VOC ``Annotations/<id>.xml`` -> (object names, boxes, (width, height))."""
    try:
        tree = ET.parse(path)
    except ET.ParseError as err:
        raise ValueError(f"annotation {path} is not valid XML ({err}): restore it from the VOC 2007 archive") from None
    except OSError as err:
        raise FileNotFoundError(f"annotation {path} cannot be read ({err.strerror})") from None
    ann = tree.getroot()

    def number(node, tag, where):
        text = node.findtext(tag)
        try:
            return float(text)
        except (TypeError, ValueError):
            raise ValueError(f"annotation {path}: {where}<{tag}> is {text!r}, not a number") from None

    size = ann.find("size")
    if size is None:
        raise ValueError(f"annotation {path} has no <size>: restore it from the VOC 2007 archive")
    wh = (int(number(size, "width", "<size>")), int(number(size, "height", "<size>")))
    names, boxes = [], []
    for k, obj in enumerate(ann.iter("object")):
        box = obj.find("bndbox")
        name = (obj.findtext("name") or "").strip()
        if box is None or not name:
            raise ValueError(f"annotation {path}: object {k + 1} has no <name> or <bndbox>")
        coords = [number(box, t, f"object {k + 1} ") for t in ("xmin", "ymin", "xmax", "ymax")]
        boxes.append(_check_box(*coords, f"annotation {path}, object {k + 1}", size=wh))
        names.append(name)
    return names, boxes, wh


def voc2007(root: str | Path, split: str = "test") -> list[Sample]:
    """The images of ``ImageSets/Main/<split>.txt`` with the union of their object boxes."""
    voc = voc_root(root)
    split_file = voc / "ImageSets" / "Main" / f"{split}.txt"
    if not split_file.is_file():
        raise FileNotFoundError(f"split file {split_file} not found: the VOC 2007 test set needs "
                                "VOCtest_06-Nov-2007.tar unpacked into the same VOCdevkit (or choose --split)")
    ids = [line.split()[0] for line in split_file.read_text().splitlines() if line.strip()]
    if not ids:
        raise ValueError(f"split file {split_file} lists no image ids")
    samples = []
    for image_id in ids:
        xml, jpg = voc / "Annotations" / f"{image_id}.xml", voc / "JPEGImages" / f"{image_id}.jpg"
        if not xml.is_file() or not jpg.is_file():
            missing = xml if not xml.is_file() else jpg
            raise FileNotFoundError(f"{missing} not found, but {split_file.name} lists {image_id!r}: "
                                    "unpack the whole VOC 2007 archive")
        names, boxes, _ = read_voc_annotation(xml)
        samples.append(Sample(image_id, jpg, "+".join(sorted(set(names))), None, tuple(boxes)))
    return samples


# --------------------------------------------------------------------------- a folder of photographs

def image_folder(folder: str | Path) -> list[Sample]:
    """Every photograph in ``folder`` (sorted by file name), named by file name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {str(folder)!r} not found: give a folder of photographs or 'shapes'")
    paths = _images_in(folder)
    if not paths:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {str(folder)!r}")
    return [Sample(p.name, p) for p in paths]


def random_subset(samples: list[Sample], n: int | None, seed: int) -> list[Sample]:
    """The paper's protocol: ``n`` images drawn at random with ``seed``, the same every time.

    The order is the draw's (``numpy.random.default_rng(seed).permutation``), so the first k
    of a larger draw are the draw of k: an interrupted run has evaluated a random subset, and
    ``--num-images 1000`` then ``2000`` with the same seed extends the first.
    """
    if n is None:
        return list(samples)
    if n > len(samples):
        raise ValueError(f"--num-images {n}, but the data set has only {len(samples)} images: "
                         f"use --num-images {len(samples)} or fewer")
    order = np.random.default_rng(seed).permutation(len(samples))[:n]
    return [samples[i] for i in order]


# --------------------------------------------------------------------------- loading

def geometry(width: int, height: int, size: tuple[int, int], resize: str, resize_size: int | None = None):
    """Where the model's H×W input comes from: ``(new_w, new_h, left, top)``, the resized image's
    size and the crop's offset in it (torchvision's rounding for ``center-crop``)."""
    h, w = size
    if resize == "stretch":
        return w, h, 0, 0
    if resize == "center-crop":
        short = resize_size or round(min(h, w) * 256 / 224)
        if width <= height:
            new_w, new_h = short, int(short * height / width)
        else:
            new_w, new_h = int(short * width / height), short
        return new_w, new_h, int(round((new_w - w) / 2.0)), int(round((new_h - h) / 2.0))
    if resize == "fit":
        return fit_geometry(width, height, size)
    raise ValueError(f"unknown resize mode {resize!r}: choose from {', '.join(RESIZE_MODES)}")


def boxes_mask(boxes, width: int, height: int, size: tuple[int, int], geo) -> torch.Tensor | None:
    """(H, W) bool mask of the union of ``boxes`` on the model's input grid: a pixel is inside
    when its centre, mapped back to the stored image, lies in a box. None without boxes, or
    when the crop cuts every box away."""
    if not boxes:
        return None
    new_w, new_h, left, top = geo
    xs = (torch.arange(size[1], dtype=torch.float64) + 0.5 + left) * width / new_w
    ys = (torch.arange(size[0], dtype=torch.float64) + 0.5 + top) * height / new_h
    mask = torch.zeros(size, dtype=torch.bool)
    for x0, y0, x1, y1 in boxes:
        mask |= ((ys >= y0) & (ys < y1))[:, None] & ((xs >= x0) & (xs < x1))[None, :]
    return mask if mask.any() else None


def load_sample(sample: Sample, size: tuple[int, int], resize: str = "stretch", *, resize_size: int | None = None,
                interpolation: str = "bilinear", exif: bool = False) -> tuple[np.ndarray, torch.Tensor | None]:
    """``(image, mask)``: the H×W×3 uint8 input the model sees and the box mask on the same grid
    (None where the sample has no boxes)."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as TF

    img = read_image(sample.path, exif=exif, advice="replace it or remove it from the data set")
    geo = geometry(img.width, img.height, size, resize, resize_size)
    new_w, new_h, left, top = geo
    resized = TF.resize(img, [new_h, new_w], interpolation=InterpolationMode(interpolation), antialias=True)
    image = np.asarray(resized.crop((left, top, left + size[1], top + size[0])), dtype=np.uint8)
    return image, boxes_mask(sample.boxes, img.width, img.height, size, geo)
