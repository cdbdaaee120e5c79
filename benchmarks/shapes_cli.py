"""What the 500-image shapes benchmarks share (``theta_ablation.py``, ``region_weights.py``): their
command line, the columns of the metrics of ``python -m unioncam_lite evaluate`` and how a report is
written (markdown and per-image CSV, atomically, the folder checked before the work)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from unioncam_lite.outputs import write_text_atomic

#: (column title, per-image column of the rows, scale): evaluate's faithfulness metrics on the final map
FAITHFULNESS = (("Average Drop % ↓", "drop", 100.0), ("Average Increase % ↑", "increase", 100.0),
                ("Insertion ↑", "insertion", 1.0), ("Deletion ↓", "deletion", 1.0))


def shapes_parser(description: str, default_model: str, out_help: str) -> argparse.ArgumentParser:
    """--model, --num-images, --seed, --steps and --out, as every shapes benchmark takes them."""
    other = "shapes_cnn" if default_model == "shapes_vgg" else "shapes_vgg"
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model", default=default_model,
                        help=f"a model trained on the shapes: {default_model} or {other}")
    parser.add_argument("--num-images", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1000, help="seed of the generated shapes images")
    parser.add_argument("--steps", type=int, default=50, help="insertion/deletion steps")
    parser.add_argument("--out", type=Path, help=out_help)
    return parser


def checked_out(args: argparse.Namespace, default_name: str) -> Path | None:
    """The report's path (``--out``, else outputs/<default_name>), its folder made before the work; None
    after one ``error:`` line on stderr when --model or --num-images is unusable."""
    if not args.model.startswith("shapes_"):
        print(f"error: --model {args.model} was not trained on the shapes images: use shapes_vgg or shapes_cnn",
              file=sys.stderr)
        return None
    if args.num_images < 1:
        print("error: --num-images must be a positive integer", file=sys.stderr)
        return None
    out = args.out or Path("outputs") / default_name
    out.parent.mkdir(parents=True, exist_ok=True)  # fail before the work, not after
    return out


def faithfulness_means(g: pd.core.groupby.DataFrameGroupBy) -> dict[str, pd.Series]:
    """Per group, the mean of each faithfulness metric (:data:`FAITHFULNESS`), under its column title."""
    return {title: scale * g[column].mean() for title, column, scale in FAITHFULNESS}


def write_report(out: Path, text: str, rows: pd.DataFrame) -> None:
    """The markdown ``text`` to ``out`` and the per-image ``rows`` beside it (.csv), both atomically;
    then print the text and where it went."""
    write_text_atomic(out.with_suffix(".csv"), rows.to_csv(index=False))
    write_text_atomic(out, text)
    print(text)
    print(f"wrote {out} and {out.with_suffix('.csv')}")
