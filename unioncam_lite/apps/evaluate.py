"""Every method × every metric over a data set: ImageNet validation, VOC 2007, a folder of
photographs, or generated shapes images.

``python -m unioncam_lite evaluate --model M --methods a,b (--dataset imagenet-val|voc2007 --root DIR |
--images DIR|shapes) [--num-images N --seed S] [--resize stretch|center-crop|fit] --out results.csv``
writes ``results.csv`` (one row per image and method, appended and flushed as each image is
done), then ``results.md`` (the mean per method, and over how many images) and ``results.png``
(a seaborn bar chart), both atomically, and ``results.run.json`` (the settings of the run).

Resuming: a rerun with the same ``--out`` and settings skips every (image, method) pair already
in the CSV, so an interrupted run loses at most the images in progress (one per process at
224×224; one batch of 32 for the 64×64 shapes). A cut-off last line is dropped. Different
settings (model, layer, θ, steps, data, resize, seed) with the same ``--out`` are an error; more
methods or a larger ``--num-images`` (the same seed draws a superset) extend the file.

Under ``torchrun`` each rank takes every world_size-th pending image (gloo on CPU, nccl on
GPU); after each image the ranks hand their rows to rank 0, the only writer.
"""
from __future__ import annotations

import csv
import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..cams import METHODS, compute_cam
from ..cams.common import check_theta
from ..metrics import drop_increase_per_image, energy_pointing_game, insertion_deletion, iou_at_threshold
from ..models import ModelSpec

COLUMNS = ("image", "label", "class_idx", "class", "method", "drop", "increase", "insertion", "deletion",
           "energy pointing game", "IoU@0.5")
BOX_METRICS = ("energy pointing game", "IoU@0.5")
DATASETS = ("imagenet-val", "voc2007")
SIBLINGS = (".md", ".png", ".run.json")


@dataclass
class Item:
    """One image to evaluate: ``load()`` gives ``(x (1, 3, H, W), mask (H, W) bool or None)``."""

    name: str
    load: Callable[[], tuple[torch.Tensor, torch.Tensor | None]]
    label: str = ""


# --------------------------------------------------------------------------- items

def photo_items(folder: Path, spec: ModelSpec, resize: str = "fit") -> list[Item]:
    """The photographs of a folder (no ground truth), named by file name."""
    from ..data.datasets import image_folder

    return sample_items(image_folder(folder), spec, resize, exif=True)


def sample_items(samples, spec: ModelSpec, resize: str, exif: bool = False) -> list[Item]:
    """Lazy items for :class:`datasets.Sample` s: each image is read when its turn comes."""
    from ..data.datasets import load_sample
    from ..data.images import load_image, to_model_tensor

    def loader(sample):
        def load():
            if resize == "fit" and not sample.boxes:  # the library's own loader, as `explain` uses
                return load_image(sample.path, spec)[1], None
            image, mask = load_sample(sample, spec.input_size, resize, resize_size=spec.resize_size,
                                      interpolation=spec.interpolation, exif=exif)
            return to_model_tensor(image, spec), mask
        return load

    def label(sample):
        if sample.label_idx is not None and len(spec.categories) > sample.label_idx:
            return spec.categories[sample.label_idx]
        return sample.label

    return [Item(s.name, loader(s), label(s)) for s in samples]


def shapes_items(n: int, seed: int, spec: ModelSpec) -> list[Item]:
    """``n`` generated shapes images (seed ``seed``) with their exact object masks."""
    from ..data.images import to_model_tensor
    from ..data.shapes import CLASSES, generate

    images, labels, masks = generate(n, seed=seed)

    def item(i):
        return Item(f"shape{i:04d}", lambda: (to_model_tensor(images[i], spec), torch.from_numpy(masks[i])),
                    CLASSES[int(labels[i])])
    return [item(i) for i in range(n)]


# --------------------------------------------------------------------------- metrics

def map_metrics(model, spec: ModelSpec, x: torch.Tensor, cams: torch.Tensor, class_idx: torch.Tensor, *,
                steps: int = 50, batch_size: int | None = None) -> dict[str, torch.Tensor]:
    """Per image (N,): Average Drop's and Increase's terms, insertion and deletion AUCs of ``cams``."""
    kw = dict(mean=spec.mean, std=spec.std)
    drop, increase = drop_increase_per_image(model, x, cams, class_idx, **kw)
    curves = insertion_deletion(model, x, cams, class_idx, steps=steps, batch_size=batch_size, **kw)
    return {"drop": drop, "increase": increase, "insertion": curves["insertion"], "deletion": curves["deletion"]}


def box_metrics(cams: torch.Tensor, masks: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per image (N,): the :data:`BOX_METRICS` of ``cams`` against the ground-truth ``masks``."""
    return {"energy pointing game": energy_pointing_game(cams, masks), "IoU@0.5": iou_at_threshold(cams, masks, 0.5)}


def evaluate_batch(model, spec: ModelSpec, layer, items: list[Item], methods: list[str], *, theta: float = 10.0,
                   steps: int = 50, batch_size: int | None = None) -> list[dict]:
    """Rows of per-image metrics, one per (item, method), for items evaluated together.

    The class explained is the model's prediction. Box metrics (energy pointing game, IoU at
    0.5) are computed for the items that have a mask and left empty for the others.
    """
    device = next(model.parameters()).device
    kw = dict(mean=spec.mean, std=spec.std)
    loaded = [it.load() for it in items]
    x = torch.cat([t for t, _ in loaded]).to(device)
    with_mask = [i for i, (_, m) in enumerate(loaded) if m is not None]
    masks = torch.stack([loaded[i][1] for i in with_mask]).to(device) if with_mask else None
    with torch.no_grad():
        c = model(x).argmax(1)
    rows = []
    for method in methods:
        cams = compute_cam(method, model, x, layer, c, theta=theta, batch_size=batch_size, **kw)
        m = map_metrics(model, spec, x, cams, c, steps=steps, batch_size=batch_size)
        box = {}
        if with_mask:
            b = box_metrics(cams[with_mask], masks)
            box = {i: (e, u) for i, e, u in zip(with_mask, *(b[k].tolist() for k in BOX_METRICS))}
        for i, it in enumerate(items):
            k = int(c[i])
            e, u = box.get(i, ("", ""))
            rows.append({"image": it.name, "label": it.label, "class_idx": k, "class": spec.categories[k],
                         "method": method, "drop": float(m["drop"][i]), "increase": bool(m["increase"][i]),
                         "insertion": float(m["insertion"][i]), "deletion": float(m["deletion"][i]),
                         "energy pointing game": e, "IoU@0.5": u})
    return rows


def evaluate_items(model, spec: ModelSpec, items: list[Item], methods: list[str], *, layer=None, theta: float = 10.0,
                   steps: int = 50, chunk: int = 1, batch_size: int | None = None, progress: bool = True) -> list[dict]:
    """Rows for every item and method, in memory (the library form of the command)."""
    from tqdm.auto import tqdm

    rows = []
    with tqdm(total=len(items), desc=f"evaluate {spec.name}", unit="img", disable=not progress) as bar:
        for s in range(0, len(items), chunk):
            rows += evaluate_batch(model, spec, layer or spec.target_layer, items[s:s + chunk], methods, theta=theta,
                                   steps=steps, batch_size=batch_size)
            bar.update(len(items[s:s + chunk]))
    return rows


# --------------------------------------------------------------------------- the results file

class ResultsCSV:
    """The CSV at ``--out``, read for resuming and appended to row by row (flushed each time)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.file = None

    def read(self, fix: bool = False) -> list[dict]:
        """Rows already there. A cut-off last line (no newline) is ignored, and removed if ``fix``."""
        if not self.path.exists():
            return []
        try:
            data = self.path.read_bytes()
        except OSError as err:
            raise ValueError(f"--out {str(self.path)!r} cannot be read ({err.strerror}): choose another --out") from None
        header = (",".join(COLUMNS) + "\n").encode()
        if not (data.startswith(header) or header.startswith(data)):   # (a header cut short is ours too)
            raise ValueError(f"--out {str(self.path)!r} exists and is not a results file of this command (its first "
                             f"line is not {','.join(COLUMNS)!r}): choose another --out, or delete it to start over")
        complete = data[:data.rfind(b"\n") + 1]
        if fix and len(complete) < len(data):
            with open(self.path, "r+b") as f:
                f.truncate(len(complete))
            print(f"note: dropped a cut-off last line of {self.path} (the row in progress when it stopped)",
                  file=sys.stderr)
        if not complete:
            return []
        try:
            lines = list(csv.reader(complete.decode("utf-8").splitlines()))
        except (UnicodeDecodeError, csv.Error) as err:
            raise ValueError(f"--out {str(self.path)!r} cannot be read as CSV ({err}): repair or delete it") from None
        rows = []
        for n, fields in enumerate(lines[1:], start=2):
            if len(fields) != len(COLUMNS):
                raise ValueError(f"--out {str(self.path)!r}, line {n}, has {len(fields)} fields instead of "
                                 f"{len(COLUMNS)}: repair or delete the file")
            rows.append(dict(zip(COLUMNS, fields)))
        return rows

    def open(self) -> None:
        """Open for appending, writing the header if the file is new or empty."""
        new = not self.path.exists() or self.path.stat().st_size == 0
        self.file = open(self.path, "a", newline="", encoding="utf-8")
        self.writer = csv.writer(self.file, lineterminator="\n")
        if new:
            self.writer.writerow(COLUMNS)
            self.file.flush()

    def append(self, rows: list[dict]) -> None:
        for row in rows:
            self.writer.writerow([row[c] for c in COLUMNS])
            self.file.flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


def check_settings(out: Path, settings: dict, write: bool) -> None:
    """The settings of the run that wrote ``out`` must equal these (resuming mixes no runs)."""
    from ..outputs import write_text_atomic

    record = out.with_suffix(".run.json")
    if record.is_file():
        try:
            old = json.loads(record.read_text())
        except (OSError, ValueError) as err:
            raise ValueError(f"{record} cannot be read ({err}): delete it and {out} to start over") from None
        diff = [f"{k}: {old.get(k)!r} then, {v!r} now" for k, v in settings.items() if old.get(k) != v]
        if diff:
            raise ValueError(f"--out {str(out)!r} holds results of a run with other settings ({'; '.join(diff)}): "
                             "give another --out, or delete the file to start over")
    elif write:
        write_text_atomic(record, json.dumps(settings, indent=1) + "\n")


# --------------------------------------------------------------------------- summary

def summarise(rows: list[dict]):
    """Mean per method: Average Drop %, Average Increase %, insertion, deletion (+ box metrics
    over the images that have boxes), with the number of images behind each."""
    import pandas as pd

    df = pd.DataFrame(rows)
    for col in ("drop", "insertion", "deletion", *BOX_METRICS):
        if col in df:
            df[col] = pd.to_numeric(df[col], errors="coerce")
    df["increase"] = df["increase"].map(lambda v: v if isinstance(v, bool) else str(v) == "True")
    agg = {"Average Drop % ↓": ("drop", lambda s: 100 * s.mean()), "Average Increase % ↑": ("increase", lambda s: 100 * s.mean()),
           "Insertion ↑": ("insertion", "mean"), "Deletion ↓": ("deletion", "mean")}
    boxes = [c for c in BOX_METRICS if c in df and df[c].notna().any()]
    for col in boxes:
        agg[f"{col} ↑"] = (col, "mean")
    order = [m for m in METHODS if m in set(df["method"])]
    groups = df.groupby("method")
    table = groups.agg(**agg).reindex(order)
    table["images"] = groups.size().reindex(order).values
    if boxes:
        table["images with boxes"] = groups[boxes[0]].count().reindex(order).values
    table.index = [METHODS[m].label for m in table.index]
    return df, table


def markdown_table(table) -> str:
    """A pandas table as a GitHub markdown table (no extra dependency)."""
    cells = lambda values: "| " + " | ".join(values) + " |"
    lines = [cells(["method", *table.columns]), cells(["---"] + ["---:"] * len(table.columns))]
    for name, row in table.iterrows():
        lines.append(cells([str(name), *(str(int(v)) if col.startswith("images") else f"{v:.3f}"
                                          for col, v in row.items())]))
    return "\n".join(lines)


def write_summary(rows: list[dict], out: Path, title: str) -> str:
    """``out.md`` (title, table, image counts) and ``out.png``, each written atomically; returns the table."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    from ..outputs import save_figure_atomic, write_text_atomic

    _, table = summarise(rows)
    text = markdown_table(table)
    n = int(table["images"].max())
    counts = f"{n} images per method"
    if "images with boxes" in table:
        counts += (f"; the box metrics (energy pointing game, IoU@0.5) over the {int(table['images with boxes'].max())} "
                   "of them that have boxes")
    write_text_atomic(out.with_suffix(".md"), f"{title}\n\n{counts}.\n\n{text}\n")
    metrics = [c for c in table.columns if not c.startswith("images")]
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3.2), sharey=True)
    for ax, metric in zip(np.atleast_1d(axes), metrics):
        sns.barplot(x=table[metric], y=table.index, hue=table.index, palette="tab10", legend=False, ax=ax)
        ax.set_title(metric, fontsize=9)
        ax.set_xlabel("")
    fig.suptitle(f"{title} ({counts})", fontsize=9)
    fig.tight_layout()
    save_figure_atomic(fig, out.with_suffix(".png"), dpi=90)
    plt.close(fig)
    return f"{text}\n\n{counts}."


# --------------------------------------------------------------------------- the command

def parse_methods(text: str) -> list[str]:
    """Comma-separated method names, each once, in the order given."""
    methods = list(dict.fromkeys(m.strip() for m in text.split(",") if m.strip()))
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"unknown method(s) {', '.join(unknown) or '(none)'}: choose from {', '.join(METHODS)}")
    return methods


def _source(args) -> tuple[str, dict, Callable]:
    """(description, settings, items(spec)) of the data named by --dataset/--images."""
    from ..data import datasets

    if args.dataset:
        if args.images is not None:
            raise ValueError("give either --dataset (with --root) or --images, not both")
        if not args.root:
            raise ValueError(f"--dataset {args.dataset} needs --root DIR, the folder that holds the data set")
        if args.dataset not in DATASETS:
            raise ValueError(f"unknown --dataset {args.dataset!r}: choose from {', '.join(DATASETS)}")
        resize = args.resize or "stretch"
        if args.dataset == "imagenet-val":
            samples = datasets.imagenet_val(args.root)
        else:
            samples = datasets.voc2007(args.root, args.split)
        total = len(samples)
        samples = datasets.random_subset(samples, args.n, args.seed)
        name = f"{args.dataset} ({args.split} split)" if args.dataset == "voc2007" else args.dataset
        drawn = f" drawn with seed {args.seed}" if args.n else ""
        what = f"{name} at {args.root}: {len(samples)} of {total} images{drawn}"
        settings = {"data": args.dataset, "root": str(Path(args.root).resolve()), "resize": resize, "seed": args.seed,
                    "split": args.split if args.dataset == "voc2007" else None}

        def items(spec):
            if len(spec.categories) != 1000:
                raise ValueError(f"--dataset {args.dataset} is evaluated with an ImageNet classifier (1000 classes); "
                                 f"{spec.name} has {len(spec.categories)}")
            return sample_items(samples, spec, resize)
        return f"{what}, resize {resize}", settings, items
    if args.root:
        raise ValueError("--root goes with --dataset; for a folder of photographs use --images DIR")
    images = args.images or "data/images"
    if images == "shapes":
        n = args.n or 500
        settings = {"data": "shapes", "seed": args.seed}

        def items(spec):
            from ..data.shapes import CLASSES

            if list(spec.categories) != list(CLASSES):
                raise ValueError(f"--images shapes needs --model shapes_cnn (a model trained on the shapes classes); "
                                 f"{spec.name} has {len(spec.categories)} other classes")
            return shapes_items(n, args.seed, spec)
        return f"{n} generated shapes images (seed {args.seed})", settings, items
    resize = args.resize or "fit"
    samples = datasets.image_folder(images)
    if args.n is not None and args.n > len(samples):
        raise ValueError(f"--num-images {args.n}, but {images} has only {len(samples)} images")
    samples = samples[:args.n] if args.n else samples
    settings = {"data": "folder", "root": str(Path(images).resolve()), "resize": resize}
    return f"{len(samples)} photographs in {images}, resize {resize}", settings, \
        lambda spec: sample_items(samples, spec, resize, exif=True)


def _pending(items: list[Item], methods: list[str], rows: list[dict]) -> list[tuple[Item, list[str]]]:
    done = {(r["image"], r["method"]) for r in rows}
    pending = []
    for it in items:
        todo = [m for m in methods if (it.name, m) not in done]
        if todo:
            pending.append((it, todo))
    return pending


def run(args) -> int:
    """The ``evaluate`` subcommand (see cli.py); shards over ``torchrun`` ranks when launched so."""
    import torch.distributed as dist
    from tqdm.auto import tqdm

    from ..models import load_model, resolve_layer
    from ..outputs import check_output_file

    check_theta(args.theta)
    methods = parse_methods(args.methods)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    # 1. everything that can be checked without the model: outputs, data index, earlier results
    out = check_output_file(args.out, siblings=SIBLINGS)
    description, data_settings, make_items = _source(args)
    settings = {"model": args.model.lower().replace("-", "_"), "layer": args.layer, "theta": args.theta,
                "steps": args.steps, **data_settings}
    results = ResultsCSV(out)
    previous = results.read(fix=rank == 0)      # every rank reads; only rank 0 writes (after the rendezvous)
    check_settings(out, settings, write=rank == 0)
    # 2. the model, and the rows still to compute
    device = args.device
    if world > 1:
        cuda = torch.cuda.is_available() and (device or "cuda").startswith("cuda")
        dist.init_process_group("nccl" if cuda else "gloo")
        if cuda:
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
            torch.cuda.set_device(device)
        else:
            device = "cpu"
    try:
        model, spec = load_model(args.model, device)
        layer = args.layer or spec.target_layer
        resolve_layer(model, layer)
        items = make_items(spec)
        pending = _pending(items, methods, previous)
        small = spec.input_size[0] * spec.input_size[1] <= 96 * 96
        chunk, batch_size = (32, 256) if small else (1, None)
        mine = pending[rank::world]
        steps = math.ceil(len(pending[0::world]) / chunk)
        if rank == 0:
            results.open()
            done_images = len(items) - len(pending)
            print(f"{description}; {len(methods)} method(s); {done_images} image(s) already in {out}, "
                  f"{len(pending)} to do" + (f" on {world} processes" if world > 1 else ""), file=sys.stderr)
        bar = tqdm(total=len(items), initial=len(items) - len(pending), desc=f"evaluate {spec.name}", unit="img",
                   disable=rank != 0, dynamic_ncols=True, file=sys.stderr)
        try:
            for s in range(steps):
                part = mine[s * chunk:(s + 1) * chunk]
                rows = []
                if part:
                    todo = list(dict.fromkeys(m for _, ms in part for m in ms))
                    rows = evaluate_batch(model, spec, layer, [it for it, _ in part], todo, theta=args.theta,
                                          steps=args.steps, batch_size=batch_size)
                    wanted = {(it.name, m) for it, ms in part for m in ms}
                    rows = [r for r in rows if (r["image"], r["method"]) in wanted]
                if world > 1:
                    gathered = [None] * world if rank == 0 else None
                    dist.gather_object(rows, gathered, dst=0)
                    rows = [r for g in gathered for r in g] if rank == 0 else []
                if rank == 0:
                    results.append(rows)
                    bar.update(len({r["image"] for r in rows}))
        except KeyboardInterrupt:
            if rank == 0:
                bar.close()   # before the message (the finally closes the bar and the file again: no-ops)
                print(f"\ninterrupted: the rows computed so far are in {out}; run the same command again to resume",
                      file=sys.stderr)
            return 130
        finally:
            bar.close()
            results.close()
        if rank == 0:
            names = {it.name for it in items}
            final = {}
            for r in results.read():
                if r["image"] in names and r["method"] in methods:
                    final.setdefault((r["image"], r["method"]), r)
            title = (f"{spec.name} (target layer {layer}) on {description}; θ={args.theta:g}, "
                     f"{args.steps} insertion/deletion steps")
            table = write_summary(list(final.values()), out, title)
            print(table)
            print(f"wrote {out} ({len(final)} rows), {out.with_suffix('.md')}, {out.with_suffix('.png')}")
    finally:
        if world > 1 and dist.is_initialized():
            dist.destroy_process_group()
    return 0
