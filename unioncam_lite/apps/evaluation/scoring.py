"""The scores: per image, every metric of every method's map (faithfulness: Average Drop and
Increase, insertion, deletion, ROAD; localisation against the ground-truth mask: energy pointing
game, IoU at 0.5), as rows of the results table.

ROAD (:func:`unioncam_lite.metrics.road`, the paper's defaults: 10, 20, …, 90 % removed, noisy
linear imputation with noise 0.01, seed 0) gives three columns: ``ROAD MoRF`` (the mean class
probability with the most relevant pixels removed, lower is better), ``ROAD LeRF`` (least relevant
removed, higher is better) and ``ROAD`` = LeRF − MoRF (higher is better). They come last in a row,
so that a CSV written before them is the first columns of one written now."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ...cams import compute_cam
from ...cams.common import Layer
from ...cams.options import CamOptions
from ...device import model_device
from ...metrics import drop_increase_per_image, insertion_deletion, localisation_scores, road
from ...models import ModelSpec
from .items import Item

#: ROAD's columns: MoRF and LeRF (mean class probability over the percentages) and LeRF − MoRF.
ROAD_METRICS = ("ROAD MoRF", "ROAD LeRF", "ROAD")
#: The columns of a results CSV written before ROAD (a prefix of :data:`COLUMNS`).
COLUMNS_BEFORE_ROAD = ("image", "label", "class_idx", "class", "method", "drop", "increase", "insertion",
                       "deletion", "energy pointing game", "IoU@0.5")
#: The columns of a results row (and of the CSV), in order.
COLUMNS = (*COLUMNS_BEFORE_ROAD, *ROAD_METRICS)
#: The metrics that need a ground-truth mask (empty in the rows of images without one).
BOX_METRICS = ("energy pointing game", "IoU@0.5")

Row = dict[str, Any]


def map_metrics(model: nn.Module, spec: ModelSpec, x: torch.Tensor, cams: torch.Tensor, class_idx: torch.Tensor, *,
                steps: int = 50, batch_size: int | None = None, with_road: bool = True) -> dict[str, torch.Tensor]:
    """Per image (N,): Average Drop's and Increase's terms, insertion and deletion AUCs of ``cams``,
    and (``with_road``) the :data:`ROAD_METRICS`."""
    drop, increase = drop_increase_per_image(model, x, cams, class_idx, mean=spec.mean, std=spec.std)
    curves = insertion_deletion(model, x, cams, class_idx, steps=steps, batch_size=batch_size, mean=spec.mean,
                                std=spec.std)
    out = {"drop": drop, "increase": increase, "insertion": curves["insertion"], "deletion": curves["deletion"]}
    if with_road:
        r = road(model, x, cams, class_idx, mean=spec.mean, std=spec.std, batch_size=batch_size)
        out |= dict(zip(ROAD_METRICS, (r["morf"], r["lerf"], r["road"])))
    return out


def box_metrics(cams: torch.Tensor, masks: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per image (N,): the :data:`BOX_METRICS` of ``cams`` against the ground-truth ``masks``, taken from
    :func:`unioncam_lite.metrics.localisation_scores` (the per-map scores notebook 08 and the benchmarks use)."""
    scores = localisation_scores(cams, masks, 0.5)
    return {name: scores[name] for name in BOX_METRICS}


def evaluate_batch(model: nn.Module, spec: ModelSpec, layer: Layer, items: list[Item], methods: list[str], *,
                   theta: float = 10.0, steps: int = 50, batch_size: int | None = None,
                   with_road: bool = True, options: CamOptions | None = None) -> list[Row]:
    """Rows of per-image metrics, one per (item, method), for items evaluated together.

    ``options`` (:class:`~unioncam_lite.cams.options.CamOptions`, e.g. ``region_weights``) go to the
    methods with masked passes (Score-CAM, UnionCAM).

    The class explained is the model's prediction. Box metrics (energy pointing game, IoU at
    0.5) are computed for the items that have a mask and left empty for the others; the ROAD
    columns are left empty when not ``with_road``.
    """
    device = model_device(model)
    loaded = [it.load() for it in items]
    x = torch.cat([t for t, _ in loaded]).to(device)
    with_mask = [i for i, (_, m) in enumerate(loaded) if m is not None]
    masks = torch.stack([m for _, m in loaded if m is not None]).to(device) if with_mask else None
    with torch.no_grad():
        c = model(x).argmax(1)
    rows = []
    for method in methods:
        cams = compute_cam(method, model, x, layer, c, theta=theta, batch_size=batch_size, mean=spec.mean,
                           std=spec.std, options=options, reshape_transform=spec.reshape_transform)
        m = map_metrics(model, spec, x, cams, c, steps=steps, batch_size=batch_size, with_road=with_road)
        box: dict[int, tuple[float | str, float | str]] = {}
        if masks is not None:
            b = box_metrics(cams[with_mask], masks)
            box = {i: (e, u) for i, e, u in zip(with_mask, *(b[k].tolist() for k in BOX_METRICS))}
        for i, it in enumerate(items):
            k = int(c[i])
            e, u = box.get(i, ("", ""))
            rows.append({"image": it.name, "label": it.label, "class_idx": k, "class": spec.categories[k],
                         "method": method, "drop": float(m["drop"][i]), "increase": bool(m["increase"][i]),
                         "insertion": float(m["insertion"][i]), "deletion": float(m["deletion"][i]),
                         "energy pointing game": e, "IoU@0.5": u,
                         **{col: float(m[col][i]) if col in m else "" for col in ROAD_METRICS}})
    return rows


def evaluate_items(model: nn.Module, spec: ModelSpec, items: list[Item], methods: list[str], *,
                   layer: Layer | None = None, theta: float = 10.0, steps: int = 50, chunk: int = 1,
                   batch_size: int | None = None, progress: bool = True, with_road: bool = True) -> list[Row]:
    """Rows for every item and method, in memory (the library form of the command)."""
    from tqdm.auto import tqdm

    rows = []
    with tqdm(total=len(items), desc=f"evaluate {spec.name}", unit="img", disable=not progress) as bar:
        for s in range(0, len(items), chunk):
            rows += evaluate_batch(model, spec, layer or spec.target_layer, items[s:s + chunk], methods, theta=theta,
                                   steps=steps, batch_size=batch_size, with_road=with_road)
            bar.update(len(items[s:s + chunk]))
    return rows
