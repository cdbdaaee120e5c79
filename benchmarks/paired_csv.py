"""Paired comparisons of one method against the others from ``evaluate``'s per-image results.

    python benchmarks/paired_csv.py outputs/road500_cnn/results.csv \\
        --also unioncam_softmax=outputs/road500_cnn_softmax/results.csv --metric ROAD --method unioncam

Reads the ``results.csv`` that ``python -m unioncam_lite evaluate`` writes (one row per image and
method), optionally rows of another run under a new method name (``--also NAME=CSV``: its rows of
``--method``, e.g. the same method with other options), and prints, for ``--method`` against every
other method, the mean per-image difference of ``--metric`` with a percentile bootstrap 95 %
interval (:func:`unioncam_lite.metrics.paired_bootstrap`: images resampled together, 10,000
resamples, seed 0) and the counts of images where it is higher / lower / equal. Only images every
method scored are compared.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from unioncam_lite.metrics import paired_bootstrap

sys.path.insert(0, str(Path(__file__).resolve().parent))
from claims import markdown  # noqa: E402  (the claims tables' markdown, the same format)


def load(csv: Path, also: list[str], method: str) -> pd.DataFrame:
    """The per-image rows of ``csv``, plus ``method``'s rows of each ``NAME=CSV`` of ``also`` renamed NAME."""
    frames = [pd.read_csv(csv)]
    for item in also:
        name, _, path = item.partition("=")
        extra = pd.read_csv(path)
        frames.append(extra[extra["method"] == method].assign(method=name))
    return pd.concat(frames, ignore_index=True)


def compare(rows: pd.DataFrame, metric: str, method: str) -> pd.DataFrame:
    """One row per other method: mean difference (``method`` − other) [95 % interval], higher / lower / equal."""
    wide = rows.pivot(index="image", columns="method", values=metric).dropna()
    out = []
    for other in [m for m in wide.columns if m != method]:
        r = paired_bootstrap(wide[method].to_numpy(float), wide[other].to_numpy(float))
        d = r.difference
        out.append({"against": other, f"{method} − other": f"{d.mean:+.4f} [{d.low:+.4f}, {d.high:+.4f}]",
                    "higher / lower / equal": f"{r.wins} / {r.losses} / {r.ties}", "images": d.n})
    return pd.DataFrame(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path, help="evaluate's results.csv")
    parser.add_argument("--also", action="append", default=[], metavar="NAME=CSV",
                        help="--method's rows of another results.csv, compared as method NAME")
    parser.add_argument("--metric", default="ROAD", help="a column of results.csv (default ROAD)")
    parser.add_argument("--method", default="unioncam", help="the method compared with every other one")
    args = parser.parse_args(argv)
    paths = [args.csv, *(Path(a.partition("=")[2]) for a in args.also)]
    bad = [str(p) for p in paths if not p.is_file()] + [a for a in args.also if "=" not in a]
    if bad:
        print(f"error: {', '.join(bad)}: give existing results.csv files, and --also as NAME=CSV", file=sys.stderr)
        return 2
    rows = load(args.csv, args.also, args.method)
    if args.metric not in rows.columns or args.method not in set(rows["method"]):
        print(f"error: no column {args.metric!r} or no method {args.method!r} in {args.csv}: columns "
              f"{', '.join(rows.columns)}; methods {', '.join(sorted(set(rows['method'])))}", file=sys.stderr)
        return 2
    print(markdown(compare(rows, args.metric, args.method)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
