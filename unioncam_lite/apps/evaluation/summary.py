"""The summary of a results table: the mean of every metric per method (:func:`summarise`), as a
markdown table and a seaborn bar chart written next to the results (:func:`write_summary`)."""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ... import outputs
from ...cams import METHODS
from ...viz import escape_mathtext
from .scoring import BOX_METRICS, ROAD_METRICS

#: What the ROAD columns of the summary are (written under the counts in the ``.md``).
ROAD_NOTE = ("ROAD (Rong et al., ICML 2022): the class probability with 10, 20, …, 90 % of the pixels removed, "
             "most relevant first (MoRF, lower is better) or least relevant first (LeRF, higher is better), "
             "filled in by noisy linear imputation (noise 0.01), averaged over the percentages; "
             "ROAD = LeRF − MoRF (higher is better).")


def summarise(rows: Sequence[dict[str, Any]]) -> tuple[Any, Any]:
    """``(rows as a DataFrame, table)``: the mean per method of Average Drop %, Average Increase %,
    insertion, deletion, ROAD MoRF, LeRF and LeRF − MoRF (over the rows that have them: a CSV
    begun before ROAD has them empty), the localisation metrics (over the images with a ground truth:
    boxes, a mask file or the shapes' exact masks), with the
    number of images behind each; methods in registry order, labelled by their display names."""
    import pandas as pd

    df = pd.DataFrame(rows)
    for col in ("drop", "insertion", "deletion", *ROAD_METRICS, *BOX_METRICS):
        if col in df:
            df[col] = pd.to_numeric(df[col], errors="coerce")
    df["increase"] = df["increase"].map(lambda v: v if isinstance(v, bool) else str(v) == "True")
    agg: dict[str, Any] = {
        "Average Drop % ↓": ("drop", lambda s: 100 * s.mean()),
        "Average Increase % ↑": ("increase", lambda s: 100 * s.mean()),
        "Insertion ↑": ("insertion", "mean"), "Deletion ↓": ("deletion", "mean")}
    roads = [c for c in ROAD_METRICS if c in df and df[c].notna().any()]
    for col, better in zip(roads, "↓↑↑"):
        agg[f"{col} {better}"] = (col, "mean")
    boxes = [c for c in BOX_METRICS if c in df and df[c].notna().any()]
    for col in boxes:
        agg[f"{col} ↑"] = (col, "mean")
    order = [m for m in METHODS if m in set(df["method"])]
    groups = df.groupby("method")
    table = groups.agg(**agg).reindex(order)
    table["images"] = groups.size().reindex(order).values
    if roads and (df[roads[0]].isna().any()):
        table["images with ROAD"] = groups[roads[0]].count().reindex(order).values
    if boxes:
        table["images with ground truth"] = groups[boxes[0]].count().reindex(order).values
    table.index = [METHODS[m].label for m in table.index]
    return df, table


def markdown_table(table: Any) -> str:
    """A pandas table as a GitHub markdown table (no extra dependency); a mean over no rows is "n/a"."""
    def cells(values: list[str]) -> str:
        return "| " + " | ".join(values) + " |"

    def cell(col: str, v: Any) -> str:
        return str(int(v)) if col.startswith("images") else "n/a" if math.isnan(v) else f"{v:.3f}"

    lines = [cells(["method", *table.columns]), cells(["---"] + ["---:"] * len(table.columns))]
    for name, row in table.iterrows():
        lines.append(cells([str(name), *(cell(col, v) for col, v in row.items())]))
    return "\n".join(lines)


def write_summary(rows: Sequence[dict[str, Any]], out: Path, title: str) -> str:
    """``out.md`` (title, table, image counts) and ``out.png``, each written atomically; returns the
    table and the counts as text."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    _, table = summarise(rows)
    text = markdown_table(table)
    n = int(table["images"].max())
    counts = f"{n} images per method"
    if "images with ground truth" in table:
        truth = int(table["images with ground truth"].max())
        counts += (f"; the localisation metrics (energy pointing game, IoU@0.5) over the {truth} of them "
                   "with a ground truth (boxes or mask)")
    if "images with ROAD" in table:
        with_road = set(table["images with ROAD"].astype(int))
        counts += (f"; ROAD over the {with_road.pop()} of them computed with it" if len(with_road) == 1 else
                   "; ROAD over the images computed with it (per method: images with ROAD)")
    note = f"\n\n{ROAD_NOTE}" if any(c.startswith("ROAD") for c in table.columns) else ""
    outputs.write_text_atomic(out.with_suffix(".md"), f"{title}\n\n{counts}.{note}\n\n{text}\n")
    metrics = [c for c in table.columns if not c.startswith("images")]
    cols = min(len(metrics), 5)
    nrows = -(-len(metrics) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(3.2 * cols, 3.2 * nrows), sharey=True, squeeze=False)
    for ax in axes.flat[len(metrics):]:
        ax.set_visible(False)
    for ax, metric in zip(axes.flat, metrics):
        sns.barplot(x=table[metric], y=table.index, hue=table.index, palette="tab10", legend=False, ax=ax)
        ax.set_title(metric, fontsize=9)
        ax.set_xlabel("")
        ax.set_ylabel("")
    fig.suptitle(escape_mathtext(f"{title} ({counts})"), fontsize=9)   # a folder's '$' stays a '$'
    fig.tight_layout()
    outputs.save_figure_atomic(fig, out.with_suffix(".png"), dpi=90)
    plt.close(fig)
    return f"{text}\n\n{counts}."
