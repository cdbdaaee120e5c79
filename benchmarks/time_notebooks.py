"""Time the notebook course: each notebook executed top to bottom in a fresh kernel.

    python benchmarks/time_notebooks.py [--timeout 900] [NOTEBOOK ...]

Runs what nbval runs in ``make test`` (every cell, asserts included) with nbclient, one
notebook at a time, and prints a markdown table of wall-clock seconds per notebook and in all.
The notebooks pick CUDA when ``torch.cuda.is_available()``, else the CPU, so the same command
measures the GPU suite on a machine that has one. Outputs are not written back.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def run(path: Path, timeout: int) -> float:
    """Execute one notebook in its own kernel (working directory: notebooks/); seconds taken."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="paths (default: every notebooks/*.ipynb)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell, as in `make test`")
    args = parser.parse_args(argv)
    os.environ.setdefault("MPLBACKEND", "Agg")
    import torch

    paths = [Path(p) for p in args.notebooks] or sorted(NOTEBOOKS.glob("*.ipynb"))
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {device}; torch {torch.__version__}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}",
          flush=True)
    rows = []
    for path in paths:
        seconds = run(path, args.timeout)
        rows.append((path.stem, seconds))
        print(f"{path.stem:24s} {seconds:7.1f} s", flush=True)
    print("\n| notebook | seconds |\n|---|---:|")
    for name, seconds in rows:
        print(f"| `{name}` | {seconds:.1f} |")
    print(f"| **all {len(rows)}** | **{sum(s for _, s in rows):.1f}** |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
