"""The annotation files of the evaluation data sets, parsed and checked line by line.

* ImageNet (Kaggle's localisation download): ``LOC_synset_mapping.txt`` (line i = class i)
  and ``LOC_val_solution.csv`` (``ImageId,PredictionString`` with ``wnid xmin ymin xmax ymax``
  groups);
* PASCAL VOC 2007: ``Annotations/<id>.xml``.

Boxes follow the PASCAL VOC convention that ImageNet's annotations share: ``xmin..xmax`` and
``ymin..ymax`` are the first and last pixel, 1-based; they are returned as continuous
``(x0, y0, x1, y1)`` with ``x0 = xmin − 1, x1 = xmax``. Every malformed line raises a
``ValueError`` naming the file and line.
"""
from __future__ import annotations

import csv
import re
import xml.etree.ElementTree as ET
from pathlib import Path

#: A WordNet id as ImageNet names its classes: ``n`` and 8 digits.
WNID = re.compile(r"^n\d{8}$")

Box = tuple[float, float, float, float]


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


def check_box(xmin: float, ymin: float, xmax: float, ymax: float, where: str,
              size: tuple[int, int] | None = None) -> Box:
    """A 1-based inclusive box as continuous ``(x0, y0, x1, y1)``; a ValueError if it is not a box
    (or lies outside the ``size`` = (width, height) image)."""
    if not (xmin <= xmax and ymin <= ymax) or min(xmin, ymin) < 0:
        raise ValueError(f"{where}: box ({xmin:g}, {ymin:g}, {xmax:g}, {ymax:g}) is not xmin ≤ xmax, ymin ≤ ymax ≥ 0")
    if size is not None and (xmax > size[0] + 1 or ymax > size[1] + 1):
        raise ValueError(f"{where}: box ({xmin:g}, {ymin:g}, {xmax:g}, {ymax:g}) lies outside the "
                         f"{size[0]}×{size[1]} image")
    return (max(xmin - 1, 0.0), max(ymin - 1, 0.0), xmax, ymax)


def parse_box_tokens(tokens: list[str], where: str) -> tuple[str, list[Box]]:
    """``wnid x0 y0 x1 y1 [wnid x0 y0 x1 y1 ...]`` (LOC_val_solution.csv) -> (first wnid, boxes)."""
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
        boxes.append(check_box(xmin, ymin, xmax, ymax, where))
        wnids.append(wnid)
    return wnids[0], boxes


def read_loc_solution(path: Path) -> dict[str, tuple[str, list[Box]]]:
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


def read_voc_annotation(path: Path) -> tuple[list[str], list[Box], tuple[int, int]]:
    """A VOC ``Annotations/<id>.xml`` -> (object names, boxes, (width, height))."""
    try:
        tree = ET.parse(path)
    except ET.ParseError as err:
        raise ValueError(f"annotation {path} is not valid XML ({err}): restore it from the VOC 2007 archive") from None
    except OSError as err:
        raise FileNotFoundError(f"annotation {path} cannot be read ({err.strerror})") from None
    ann = tree.getroot()

    def number(node: ET.Element, tag: str, where: str) -> float:
        text = node.findtext(tag)
        try:
            return float(text)  # type: ignore[arg-type]  # None: the TypeError below
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
        xmin, ymin, xmax, ymax = (number(box, t, f"object {k + 1} ") for t in ("xmin", "ymin", "xmax", "ymax"))
        boxes.append(check_box(xmin, ymin, xmax, ymax, f"annotation {path}, object {k + 1}", size=wh))
        names.append(name)
    return names, boxes, wh
