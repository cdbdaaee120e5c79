"""The evaluation data sets as they are on the user's disk: ImageNet validation, PASCAL VOC 2007,
a folder of photographs.

Each reader returns a list of :class:`~.samples.Sample` (file, ground-truth label, object boxes)
after checking the whole index up front, so a malformed annotation, a missing split file or an
unknown WordNet id stops the run with one clear ``ValueError``/``FileNotFoundError`` before
any model work. Images are read lazily by :func:`~.samples.load_sample`; the annotation files
are parsed by :mod:`.annotations`.

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
* ``image_folder(folder, masks=None)``: every photograph in a folder, no labels; with ``masks``,
  a folder of one object mask per image (same file name stem) as the localisation truth.

The subset, the resize and the box masks (:mod:`.samples`) are re-exported here.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from .annotations import WNID, read_loc_solution, read_synset_mapping, read_voc_annotation
from .images import IMAGE_SUFFIXES
from .masks import image_header, mask_size, size_error
from .samples import RESIZE_MODES, Sample, boxes_mask, geometry, load_sample, random_subset

#: The files a mask folder may hold: the image formats and TIFF, GIF (label images are often PNG or TIFF).
MASK_SUFFIXES = (*IMAGE_SUFFIXES, ".tif", ".tiff", ".gif")

__all__ = ["MASK_SUFFIXES", "RESIZE_MODES", "Sample", "attach_masks", "boxes_mask", "geometry", "image_folder",
           "imagenet_val", "load_sample", "random_subset", "voc2007", "voc_root"]


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


# --------------------------------------------------------------------------- ImageNet

def imagenet_val(root: str | Path) -> list[Sample]:
    """ILSVRC2012 validation images under ``root`` with labels (and boxes where given); see the module docstring."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"root={str(root)!r} is not a folder: give the folder that holds the ImageNet "
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
                                 "class indices can be read from folder order only when all 1000 are present; "
                                 "put LOC_synset_mapping.txt (one '<wnid> <names>' line per class, in index order) "
                                 f"in {root}")
            mapping = {p.name: i for i, p in enumerate(folders)}
        for folder in folders:
            if folder.name not in mapping:
                raise ValueError(f"class folder {folder.name!r} in {val} is not one of the 1000 WordNet ids of "
                                 f"{mapping_file}: remove it or fix its name")
            for path in _images_in(folder):
                boxes = solution.get(path.stem, ("", []))[1]
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


def voc2007(root: str | Path, split: str = "test") -> list[Sample]:
    """The images of ``ImageSets/Main/<split>.txt`` with the union of their object boxes."""
    voc = voc_root(root)
    split_file = voc / "ImageSets" / "Main" / f"{split}.txt"
    if not split_file.is_file():
        raise FileNotFoundError(f"split file {split_file} not found: the VOC 2007 test set needs "
                                "VOCtest_06-Nov-2007.tar unpacked into the same VOCdevkit (or choose another split=)")
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

def image_folder(folder: str | Path, masks: str | Path | None = None) -> list[Sample]:
    """Every photograph in ``folder`` (sorted by file name), named by file name; with ``masks``, a
    folder that holds one mask file per image with the image's file name stem (``cat.jpg`` →
    ``cat.png``; non-zero pixels are the object, :mod:`.masks`), each checked up front: it exists,
    there is one, and it has its image's width and height."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {str(folder)!r} not found: give a folder of photographs")
    paths = _images_in(folder)
    if not paths:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {str(folder)!r}")
    samples = [Sample(p.name, p) for p in paths]
    return samples if masks is None else attach_masks(samples, masks)


def attach_masks(samples: list[Sample], masks: str | Path) -> list[Sample]:
    """``samples`` with their mask files from the folder ``masks`` (see :func:`image_folder`)."""
    masks = Path(masks)
    if not masks.is_dir():
        raise FileNotFoundError(f"mask folder {str(masks)!r} not found: give the folder that holds one mask per image")
    if any(masks.resolve() == s.path.parent.resolve() for s in samples[:1]):
        raise ValueError(f"the masks are in the image folder {str(masks)!r}: put them in a folder of their own, "
                         "one file per image with the image's name (cat.jpg -> masks/cat.png)")
    by_stem: dict[str, list[Path]] = {}
    for p in sorted(masks.iterdir()):
        if p.is_file() and p.suffix.lower() in MASK_SUFFIXES:
            by_stem.setdefault(p.stem, []).append(p)
    missing = [s.path.name for s in samples if s.path.stem not in by_stem]
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise FileNotFoundError(f"no mask in {str(masks)!r} for {len(missing)} of {len(samples)} images ({shown}): "
                                f"add one per image with its name ({Path(missing[0]).stem}.png), or move those "
                                "images out of the folder")
    out = []
    for s in samples:
        found = by_stem[s.path.stem]
        if len(found) > 1:
            raise ValueError(f"{len(found)} masks for {s.path.name} in {str(masks)!r} "
                             f"({', '.join(p.name for p in found)}): keep one")
        size, image_size = mask_size(found[0]), _image_size(s.path)
        if image_size is not None and image_size != size:
            raise ValueError(size_error(found[0], size, s.path, image_size))
        out.append(dataclasses.replace(s, mask=found[0]))
    return out


def _image_size(path: Path) -> tuple[int, int] | None:
    """The stored width and height from the header; None when unreadable (reported when loaded)."""
    try:
        return image_header(path)[0]
    except ValueError:
        return None
