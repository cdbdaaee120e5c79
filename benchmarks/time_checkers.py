"""Time the exercise checkers: each check cell as a learner runs it and as nbgrader grades it.

    python benchmarks/time_checkers.py [--seed 1] [NOTEBOOK ...]

For each notebook with exercises (default: all of ``notebooks/``):

1. **learner**: the notebook top to bottom in a fresh kernel, as ``make test`` runs it; a check
   cell runs its visible cases, the notebook's own tensors among them;
2. **graded**: its nbgrader source version (:func:`unioncam_lite.course.assignments.make_assignment`,
   what ``make assignments`` writes, hidden tests drawn from ``--seed``) top to bottom under
   ``NBGRADER_EXECUTION=autograde`` (the notebook's images at 64×64); a check cell then runs its
   visible cases, the same calls again with checkers read fresh from the package, and the hidden
   cases — what ``nbgrader autograde`` spends on it per submission.

Prints a markdown table: seconds per check cell in each run and each run's whole notebook (the
wall time of its cells, kernel start excluded). Cell times come from nbclient's timing records.
"""
from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from time_notebooks import NOTEBOOKS, subprocess_env  # noqa: E402


def cell_seconds(cell) -> float:
    """Seconds between nbclient's execute_input and execute_reply records of an executed cell."""
    timing = cell.metadata.get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return 0.0
    parse = lambda t: datetime.fromisoformat(t.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds()


def execute(nb, path: Path, env: dict, timeout: int) -> None:
    """Run ``nb`` in a fresh kernel with environment ``env`` in ``path``'s folder, recording cell timings."""
    from nbclient import NotebookClient
    NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute(env=env)


def check_cells(nb) -> list:
    """The cells tagged ``check`` (the learner's version) or graded by tests (the nbgrader version), in order."""
    def is_check(cell) -> bool:
        grader = cell.metadata.get("nbgrader", {})
        return "check" in cell.metadata.get("tags", []) or (grader.get("grade") and not grader.get("solution"))
    return [c for c in nb.cells if c.cell_type == "code" and is_check(c)]


def time_notebook(path: Path, seed: int, timeout: int) -> list[dict]:
    """Rows ``{notebook, cell, learner, graded}`` for each check cell of ``path``, then a total row."""
    import nbformat

    from unioncam_lite.course.assignments import check_calls, make_assignment
    nb = nbformat.read(path, as_version=4)
    graded = make_assignment(nb, seed)
    if graded is None or not check_cells(nb):
        return []
    env = subprocess_env()
    execute(nb, path, env, timeout)
    execute(graded, path, {**env, "NBGRADER_EXECUTION": "autograde"}, timeout)
    mine, theirs = check_cells(nb), check_cells(graded)
    rows = [{"notebook": path.stem, "cell": ", ".join(f for f, _ in check_calls(a.source)),
             "learner": cell_seconds(a), "graded": cell_seconds(b)} for a, b in zip(mine, theirs)]
    rows.append({"notebook": path.stem, "cell": "**whole notebook**",
                 "learner": sum(cell_seconds(c) for c in nb.cells if c.cell_type == "code"),
                 "graded": sum(cell_seconds(c) for c in graded.cells if c.cell_type == "code")})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook in notebooks/")
    parser.add_argument("--seed", type=int, default=1, help="the hidden tests' seed (make assignments SEED=)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(NOTEBOOKS.glob("*.ipynb"))
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        print(f"error: no notebook {', '.join(missing)}: give paths of .ipynb files (default: notebooks/)",
              file=sys.stderr)
        return 2
    print("| notebook | check cell | learner, s | graded (autograde, 64×64), s |\n|---|---|---:|---:|")
    for path in paths:
        for row in time_notebook(path.resolve(), args.seed, args.timeout):
            print(f"| `{row['notebook']}` | {row['cell']} | {row['learner']:.1f} | {row['graded']:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
