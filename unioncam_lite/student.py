"""Exercise copies of the notebooks for self-paced learners: ``python -m unioncam_lite.student SRC_DIR DEST_DIR``.

The same generation as the graded course (:mod:`unioncam_lite.assignments`), without grading:
every code cell tagged ``solution`` gets nbgrader's solution markers around its body, which
nbgrader's own ``ClearSolutions`` then replaces, keeping the ``def`` line and docstring, with
``raise NotImplementedError("Exercise: <docstring's first line>")``. All other cells are copied
unchanged (the ``check`` cells without hidden tests, the "Think" answers still inside their
``<details>``), so the check cell tells the learner at once whether the function is right.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import nbformat
from nbgrader.preprocessors import ClearSolutions

from .assignments import _nbgrader, solution_function, mark_solution


def blank_solution(source: str) -> str:
    """The function's signature and docstring, with a body that raises NotImplementedError."""
    func = solution_function(source)
    message = (ast.get_docstring(func) or func.name).strip().splitlines()[0].replace("\\", "/").replace('"', "'")
    cell = nbformat.v4.new_code_cell(mark_solution(source), metadata={"nbgrader": _nbgrader(func.name, solution=True)})
    kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb = nbformat.v4.new_notebook(cells=[cell], metadata={"kernelspec": kernel})
    stub = f'# your code here\nraise NotImplementedError("Exercise: {message}")'
    nb, _ = ClearSolutions(code_stub={"python": stub}).preprocess(nb, {})
    return nb.cells[0].source


def make_student_copies(src: Path, dest: Path) -> list[Path]:
    """Write a student copy of every ``*.ipynb`` in ``src`` into ``dest``; returns the written paths."""
    notebooks = sorted(Path(src).glob("*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no notebooks (*.ipynb) in {src}: give the folder of the course notebooks")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code" and "solution" in cell.metadata.get("tags", []):
                cell.source = blank_solution(cell.source)
        nbformat.write(nb, dest / path.name)
        written.append(dest / path.name)
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m unioncam_lite.student SRC_DIR DEST_DIR", file=sys.stderr)
        return 2
    try:
        written = make_student_copies(Path(args[0]), Path(args[1]))
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {len(written)} exercise notebooks to {args[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
