"""The batch evaluation as one resumable, shardable run: :func:`run` of an :class:`EvaluateConfig`.

Resuming: a rerun with the same ``out`` and settings skips every (image, method) pair already in
the CSV, so an interrupted run (Ctrl-C: exit status 130) loses at most the images in progress
(one per process at 224×224; one batch of 32 for the 64×64 shapes). A cut-off last line is
dropped. Different settings (model, layer, θ, steps, data, masks, resize, seed, input normalisation,
region weights) with the same ``out`` are an error; more methods or a larger ``n`` (the same
seed draws a superset) extend the file.

Under ``torchrun`` each rank takes every world_size-th pending image (gloo on CPU, nccl on
GPU); after each round the ranks hand their rows to rank 0, the only writer, which holds a lock
on the results (``<out>.lock``) for the whole run: a second run on the same ``out`` refuses at
once with one error instead of computing every row again.
"""
from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ...cams import default_methods
from ...cams.common import check_theta, input_normalization
from ...cams.options import CamOptions, RegionWeights
from ...models import ModelSpec
from .items import Item, input_spec
from .results import ResultsCSV, check_out, check_settings, results_lock
from .scoring import Row, evaluate_batch
from .sources import Source, check_methods, select_source
from .summary import write_summary


@dataclass(frozen=True)
class EvaluateConfig:
    """One evaluation: the model and methods, the images (see :func:`.sources.select_source`),
    the metrics' settings and the results file ``out`` (``.md``, ``.png``, ``.run.json`` beside it).

    ``normalize``: ``"model"`` (default: the model's own mean/std, which pretrained weights expect)
    or ``"none"`` (pixels in [0, 1], the paper's §4.1 input). ``region_weights``: the region map's
    channel weights for ``scorecam`` and ``unioncam`` (:class:`~unioncam_lite.cams.options.CamOptions`;
    ``None``: each method's own, the paper's f_c(M_k ⊙ I0) for UnionCAM, Score-CAM's softmax for Score-CAM).
    ``masks``: with ``images``, a folder of one object mask per photograph (same file name stem,
    non-zero pixels are the object), the localisation truth of the energy pointing game and IoU.
    """

    out: Path = Path("outputs/results.csv")
    model: str = "efficientnet_lite0"
    layer: str | None = None
    methods: tuple[str, ...] = field(default_factory=default_methods)
    dataset: str | None = None
    root: str | None = None
    split: str = "test"
    images: str | None = None
    n: int | None = None
    seed: int = 1000
    resize: str | None = None
    steps: int = 50
    theta: float = 10.0
    device: str | None = None
    normalize: str = "model"
    region_weights: RegionWeights | None = None
    masks: str | None = None


@dataclass
class _Prepared:
    """Everything checked before the model loads."""

    out: Path
    source: Source
    results: ResultsCSV
    previous: list[dict[str, str]]


def run(config: EvaluateConfig) -> int:
    """Evaluate, append the rows to ``config.out``, then write the summary; returns 0, or 130 when
    interrupted. Shards over ``torchrun`` ranks when launched so (``WORLD_SIZE``, ``RANK``)."""
    import torch.distributed as dist

    check_theta(config.theta)
    methods = check_methods(config.methods)
    input_normalization(config.normalize, None, None)            # a ValueError names the choices
    CamOptions(region_weights=config.region_weights)             # likewise
    world, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
    with results_lock(check_out(config.out), hold=rank == 0):    # the only writer: a second run refuses
        prepared = _prepare(config, rank)
        device = _start_distributed(config.device) if world > 1 else config.device
        try:
            return _evaluate(config, prepared, methods, device, world, rank)
        finally:
            if world > 1 and dist.is_initialized():
                dist.destroy_process_group()


def _prepare(config: EvaluateConfig, rank: int) -> _Prepared:
    """What can be checked without the model: the outputs, the data index, earlier results."""
    out = check_out(config.out)
    source = select_source(dataset=config.dataset, root=config.root, split=config.split, images=config.images,
                           n=config.n, seed=config.seed, resize=config.resize, masks=config.masks)
    settings = {"model": config.model.lower().replace("-", "_"), "layer": config.layer, "theta": config.theta,
                "steps": config.steps, **source.settings,
                # None for the defaults, so that a run recorded before these settings existed still resumes
                "normalize": None if config.normalize == "model" else config.normalize,
                "region_weights": config.region_weights}
    results = ResultsCSV(out)
    previous = results.read(fix=rank == 0)      # every rank reads; only rank 0 writes (after the rendezvous)
    check_settings(out, settings, write=rank == 0)
    return _Prepared(out, source, results, previous)


def _start_distributed(device: str | None) -> str:
    """Join the torchrun process group (nccl on CUDA, else gloo); returns this rank's device."""
    import torch.distributed as dist

    cuda = torch.cuda.is_available() and (device or "cuda").startswith("cuda")
    dist.init_process_group("nccl" if cuda else "gloo")
    if not cuda:
        return "cpu"
    device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    torch.cuda.set_device(device)
    return device


def _pending(items: list[Item], methods: list[str], rows: list[dict[str, str]]) -> list[tuple[Item, list[str]]]:
    """(item, methods still to compute) for every item not complete in ``rows``."""
    done = {(r["image"], r["method"]) for r in rows}
    pending = []
    for it in items:
        todo = [m for m in methods if (it.name, m) not in done]
        if todo:
            pending.append((it, todo))
    return pending


def _evaluate(config: EvaluateConfig, prepared: _Prepared, methods: list[str], device: str | None, world: int,
              rank: int) -> int:
    """Load the model, compute the pending rows (Ctrl-C: 130), then the summary on rank 0."""
    from tqdm.auto import tqdm

    from ...models import load_model, resolve_layer

    model, spec = load_model(config.model, device)
    spec = input_spec(spec, config.normalize)    # "none": the model sees pixels in [0, 1]
    layer = config.layer or spec.target_layer
    resolve_layer(model, layer)
    items = prepared.source.items(spec)
    pending = _pending(items, methods, prepared.previous)
    out, results = prepared.out, prepared.results
    if rank == 0:
        results.open()
        print(f"{prepared.source.description}; {len(methods)} method(s); {len(items) - len(pending)} image(s) "
              f"already in {out}, {len(pending)} to do" + (f" on {world} processes" if world > 1 else ""),
              file=sys.stderr)
    bar = tqdm(total=len(items), initial=len(items) - len(pending), desc=f"evaluate {spec.name}", unit="img",
               disable=rank != 0, dynamic_ncols=True, file=sys.stderr)
    try:
        _compute(config, model, spec, layer, pending, world, rank, results, bar)
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
        _summarise(config, spec, layer, items, methods, prepared)
    return 0


def _compute(config: EvaluateConfig, model: nn.Module, spec: ModelSpec, layer: str,
             pending: list[tuple[Item, list[str]]], world: int, rank: int, results: ResultsCSV, bar: Any) -> None:
    """This rank's share of ``pending``, in rounds that every rank runs (gathered to rank 0,
    which appends them to the CSV)."""
    import torch.distributed as dist

    small = spec.input_size[0] * spec.input_size[1] <= 96 * 96
    chunk, batch_size = (32, 256) if small else (1, None)
    mine = pending[rank::world]
    for s in range(math.ceil(len(pending[0::world]) / chunk)):
        part = mine[s * chunk:(s + 1) * chunk]
        rows: list[Row] = []
        if part:
            todo = list(dict.fromkeys(m for _, ms in part for m in ms))
            rows = evaluate_batch(model, spec, layer, [it for it, _ in part], todo, theta=config.theta,
                                  steps=config.steps, batch_size=batch_size,
                                  options=CamOptions(region_weights=config.region_weights))
            wanted = {(it.name, m) for it, ms in part for m in ms}
            rows = [r for r in rows if (r["image"], r["method"]) in wanted]
        if world > 1:
            gathered: list[Any] | None = [None] * world if rank == 0 else None
            dist.gather_object(rows, gathered, dst=0)
            rows = [r for g in gathered for r in g] if gathered is not None else []
        if rank == 0:
            results.append(rows)
            bar.update(len({r["image"] for r in rows}))


def _summarise(config: EvaluateConfig, spec: ModelSpec, layer: str, items: list[Item], methods: list[str],
               prepared: _Prepared) -> None:
    """The summary (``.md``, ``.png``) of this run's rows in the CSV, and the table on stdout."""
    out, names = prepared.out, {it.name for it in items}
    final: dict[tuple[str, str], dict[str, str]] = {}
    for r in prepared.results.read():
        if r["image"] in names and r["method"] in methods:
            final.setdefault((r["image"], r["method"]), r)
    inputs = "the model's mean/std" if config.normalize == "model" else "pixels in [0, 1], no mean/std"
    weights = f"; region weights {config.region_weights}" if config.region_weights else ""
    title = (f"{spec.name} (target layer {layer}) on {prepared.source.description}; θ={config.theta:g}, "
             f"{config.steps} insertion/deletion steps; inputs: {inputs}{weights}")
    print(write_summary(list(final.values()), out, title))
    print(f"wrote {out} ({len(final)} rows), {out.with_suffix('.md')}, {out.with_suffix('.png')}")
