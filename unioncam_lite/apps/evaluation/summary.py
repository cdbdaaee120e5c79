"""The summary of a results table: the mean of every metric per method (:func:`summarise`), as a
markdown table and a seaborn bar chart written next to the results (:func:`write_summary`)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ... import outputs
from ...cams import METHODS
from .scoring import BOX_METRICS


def summarise(rows: Sequence[dict[str, Any]]) -> tuple[Any, Any]:
    """``(rows as a DataFrame, table)``: the mean per method of Average Drop %, Average Increase %,
    insertion, deletion (+ box metrics over the images that have boxes), with the number of
    images behind each; methods in registry order, labelled by their display names."""
    import pandas as pd

    df = pd.DataFrame(rows)
    for col in ("drop", "insertion", "deletion", *BOX_METRICS):
        if col in df:
            df[col] = pd.to_numeric(df[col], errors="coerce")
    df["increase"] = df["increase"].map(lambda v: v if isinstance(v, bool) else str(v) == "True")
    agg: dict[str, Any] = {
        "Average Drop % ↓": ("drop", lambda s: 100 * s.mean()),
        "Average Increase % ↑": ("increase", lambda s: 100 * s.mean()),
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


def markdown_table(table: Any) -> str:
    """A pandas table as a GitHub markdown table (no extra dependency)."""
    def cells(values: list[str]) -> str:
        return "| " + " | ".join(values) + " |"

    lines = [cells(["method", *table.columns]), cells(["---"] + ["---:"] * len(table.columns))]
    for name, row in table.iterrows():
        lines.append(cells([str(name), *(str(int(v)) if col.startswith("images") else f"{v:.3f}"
                                          for col, v in row.items())]))
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
    if "images with boxes" in table:
        boxed = int(table["images with boxes"].max())
        counts += f"; the box metrics (energy pointing game, IoU@0.5) over the {boxed} of them that have boxes"
    outputs.write_text_atomic(out.with_suffix(".md"), f"{title}\n\n{counts}.\n\n{text}\n")
    metrics = [c for c in table.columns if not c.startswith("images")]
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3.2), sharey=True)
    for ax, metric in zip(np.atleast_1d(axes), metrics):
        sns.barplot(x=table[metric], y=table.index, hue=table.index, palette="tab10", legend=False, ax=ax)
        ax.set_title(metric, fontsize=9)
        ax.set_xlabel("")
    fig.suptitle(f"{title} ({counts})", fontsize=9)
    fig.tight_layout()
    outputs.save_figure_atomic(fig, out.with_suffix(".png"), dpi=90)
    plt.close(fig)
    return f"{text}\n\n{counts}."
