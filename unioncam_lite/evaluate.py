"""Every method × every metric over a folder of photographs or generated shapes images.

``python -m unioncam_lite evaluate --model M --methods a,b --images DIR|shapes [--n N] --out results.csv``
writes ``results.csv`` (one row per image and method), ``results.md`` (the mean per method)
and ``results.png`` (a seaborn bar chart). Under ``torchrun`` each rank takes every
world_size-th image (gloo on CPU, nccl on GPU) and rank 0 gathers the rows and writes them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .cams import METHODS, compute_cam
from .cams.common import check_theta
from .images import IMAGE_SUFFIXES, load_image
from .metrics import drop_increase_per_image, energy_pointing_game, insertion_deletion, iou_at_threshold
from .models import ModelSpec


@dataclass
class Item:
    name: str
    x: torch.Tensor               # (1, 3, H, W)
    mask: torch.Tensor | None     # (H, W) bool ground truth, shapes only


def photo_items(folder: Path, spec: ModelSpec) -> list[Item]:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {str(folder)!r} not found: give a folder of photographs or 'shapes'")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {str(folder)!r}")
    return [Item(p.stem, load_image(p, spec)[1], None) for p in paths]


def shapes_items(n: int, seed: int) -> list[Item]:
    from .shapes import generate, to_tensor

    images, _, masks = generate(n, seed=seed)
    x = to_tensor(images)
    return [Item(f"shape{i:04d}", x[i:i + 1], torch.from_numpy(masks[i])) for i in range(n)]


def evaluate_items(model, spec: ModelSpec, items: list[Item], methods: list[str], *, theta: float = 10.0,
                   steps: int = 50, chunk: int = 1, batch_size: int | None = None, progress: bool = True) -> list[dict]:
    """Rows of per-image metrics for each method; ``chunk`` images share each call."""
    from tqdm.auto import tqdm

    device = next(model.parameters()).device
    layer, kw = spec.target_layer, dict(mean=spec.mean, std=spec.std)
    rows = []
    batches = [items[i:i + chunk] for i in range(0, len(items), chunk)]
    for batch in tqdm(batches, desc=f"evaluate {spec.name}", unit=f"×{chunk} images", disable=not progress):
        x = torch.cat([it.x for it in batch]).to(device)
        with torch.no_grad():
            c = model(x).argmax(1)
        for method in methods:
            cams = compute_cam(method, model, x, layer, c, theta=theta, batch_size=batch_size, **kw)
            drop, increase = drop_increase_per_image(model, x, cams, c, **kw)
            curves = insertion_deletion(model, x, cams, c, steps=steps, batch_size=batch_size, **kw)
            extra = {}
            if batch[0].mask is not None:
                masks = torch.stack([it.mask for it in batch]).to(device)
                extra = {"energy pointing game": energy_pointing_game(cams, masks).tolist(),
                         "IoU@0.5": iou_at_threshold(cams, masks, 0.5).tolist()}
            for i, it in enumerate(batch):
                row = {"image": it.name, "class": spec.categories[int(c[i])], "method": method,
                       "drop": float(drop[i]), "increase": bool(increase[i]),
                       "insertion": float(curves["insertion"][i]), "deletion": float(curves["deletion"][i])}
                row.update({k: v[i] for k, v in extra.items()})
                rows.append(row)
    return rows


def summarise(rows: list[dict]):
    """Mean per method: Average Drop %, Average Increase %, insertion, deletion (+ localisation)."""
    import pandas as pd

    df = pd.DataFrame(rows)
    agg = {"Average Drop % ↓": ("drop", lambda s: 100 * s.mean()), "Average Increase % ↑": ("increase", lambda s: 100 * s.mean()),
           "Insertion ↑": ("insertion", "mean"), "Deletion ↓": ("deletion", "mean")}
    for col in ("energy pointing game", "IoU@0.5"):
        if col in df:
            agg[f"{col} ↑"] = (col, "mean")
    order = [m for m in METHODS if m in set(df["method"])]
    table = df.groupby("method").agg(**agg).reindex(order)
    table.index = [METHODS[m][0] for m in table.index]
    table["images"] = df.groupby("method").size().reindex(order).values
    return df, table


def markdown_table(table) -> str:
    """A pandas table as a GitHub markdown table (no extra dependency)."""
    cells = lambda values: "| " + " | ".join(values) + " |"
    lines = [cells(["method", *table.columns]), cells(["---"] + ["---:"] * len(table.columns))]
    for name, row in table.iterrows():
        lines.append(cells([str(name), *(str(int(v)) if col == "images" else f"{v:.3f}" for col, v in row.items())]))
    return "\n".join(lines)


def write_outputs(rows: list[dict], out: Path, title: str) -> None:
    import matplotlib.pyplot as plt
    import seaborn as sns

    df, table = summarise(rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out, index=False)
    out.with_suffix(".md").write_text(f"{title}\n\n" + markdown_table(table) + "\n")
    metrics = [c for c in table.columns if c != "images"]
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3.2), sharey=True)
    for ax, metric in zip(np.atleast_1d(axes), metrics):
        sns.barplot(x=table[metric], y=table.index, hue=table.index, palette="tab10", legend=False, ax=ax)
        ax.set_title(metric, fontsize=9)
        ax.set_xlabel("")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=90)
    plt.close(fig)


def run(args) -> int:
    """The ``evaluate`` subcommand (see cli.py); shards over ``torchrun`` ranks when launched so."""
    import torch.distributed as dist

    from .models import load_model

    check_theta(args.theta)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"unknown method(s) {', '.join(unknown) or '(none)'}: choose from {', '.join(METHODS)}")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
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
        if args.images == "shapes":
            if not spec.name.startswith("shapes_"):
                raise ValueError("--images shapes needs --model shapes_cnn or shapes_vgg (the models trained on them)")
            items = shapes_items(args.n, args.seed)
        else:
            items = photo_items(Path(args.images), spec)
            if args.n:
                items = items[:args.n]
        small = spec.input_size[0] * spec.input_size[1] <= 96 * 96
        rows = evaluate_items(model, spec, items[rank::world], methods, theta=args.theta, steps=args.steps,
                              chunk=32 if small else 1, batch_size=256 if small else None, progress=rank == 0)
        if world > 1:
            gathered = [None] * world if rank == 0 else None
            dist.gather_object(rows, gathered, dst=0)
            if rank == 0:
                rows = [r for part in gathered for r in part]
        if rank == 0:
            source = f"{args.n} generated shapes images (seed {args.seed})" if args.images == "shapes" else args.images
            write_outputs(rows, Path(args.out), f"{spec.name} on {source}, θ={args.theta:g}, {args.steps} steps")
            _, table = summarise(rows)
            print(markdown_table(table))
            print(f"wrote {args.out} ({len(rows)} rows), {Path(args.out).with_suffix('.md')}, "
                  f"{Path(args.out).with_suffix('.png')}")
    finally:
        if world > 1 and dist.is_initialized():
            dist.destroy_process_group()
    return 0
