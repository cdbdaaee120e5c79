"""Exercise copies of the notebooks for self-paced learners: ``python -m unioncam_lite student SRC_DIR DEST_DIR``.

The same generation as the graded course (:mod:`.assignments`), without grading: every code
cell tagged ``solution`` gets nbgrader's solution markers around its body, which nbgrader's own
``ClearSolutions`` (run once on the whole notebook) then replaces, keeping the ``def`` line and docstring, with
``raise NotImplementedError("Exercise: <docstring's first line>")``. All other cells are copied
unchanged (the ``check`` cells without hidden tests, the "Think" answers still inside their
``<details>``), so the check cell tells the learner at once whether the function is right.
"""
from __future__ import annotations

import ast
import copy
from pathlib import Path
from typing import TYPE_CHECKING

from ..outputs import write_text_atomic
from .assignments import nbgrader_metadata
from .extras import LazyModule, require
from .solution_cells import mark_solution, solution_function

if TYPE_CHECKING:
    import nbformat
else:   # the course extra, imported when first used (extras.py): this module imports without it
    nbformat = LazyModule("nbformat")

_MESSAGE = "@@unioncam-lite exercise@@"   # ClearSolutions' stub is one text; each cell's message replaces this
_STUB = f'# your code here\nraise NotImplementedError("Exercise: {_MESSAGE}")'


def _is_solution(cell: nbformat.NotebookNode) -> bool:
    return cell.cell_type == "code" and "solution" in cell.metadata.get("tags", [])


def _message(source: str) -> str:
    """The first line of the solution function's docstring (else its name), safe inside a "..." literal."""
    func = solution_function(source)
    return (ast.get_docstring(func) or func.name).strip().splitlines()[0].replace("\\", "/").replace('"', "'")


def blank_solutions(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student copy of a notebook: every code cell tagged ``solution`` keeps its signature and
    docstring, its body replaced by ``raise NotImplementedError("Exercise: ...")``; the other cells
    and the notebook's metadata are copied unchanged. Marks every solution cell, then runs
    nbgrader's ``ClearSolutions`` once on the whole notebook."""
    nb = copy.deepcopy(nb)
    marked = copy.deepcopy(nb)
    messages = {}
    for i, cell in enumerate(marked.cells):
        if _is_solution(cell):
            messages[i] = _message(cell.source)
            cell.source = mark_solution(cell.source)
            cell.metadata["nbgrader"] = nbgrader_metadata(f"solution_{i}", solution=True)
    if not messages:
        return nb
    preprocessors = require("nbgrader.preprocessors")
    try:
        cleared, _ = preprocessors.ClearSolutions(code_stub={"python": _STUB}).preprocess(marked, {})
    except RuntimeError as err:   # solution markers in a cell not tagged 'solution'
        raise ValueError(f"nbgrader could not clear the solutions: {err}") from err
    for i, message in messages.items():
        nb.cells[i].source = cleared.cells[i].source.replace(_MESSAGE, message)
    return nb


def blank_solution(source: str) -> str:
    """One solution cell's student version: the function's signature and docstring, with a body
    that raises NotImplementedError (:func:`blank_solutions` on a one-cell notebook)."""
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["solution"]})
    return blank_solutions(nbformat.v4.new_notebook(cells=[cell])).cells[0].source


def make_student_copies(src: Path, dest: Path, *, overwrite: bool = False) -> list[Path]:
    """Write a student copy of every ``*.ipynb`` in ``src`` into ``dest``; returns the written paths.

    A copy that already exists in ``dest`` is the learner's work: it is kept unless ``overwrite``
    (every notebook is converted before any is written, each written atomically)."""
    notebooks = sorted(Path(src).glob("*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no notebooks (*.ipynb) in {src}: give the folder of the course notebooks")
    dest = Path(dest)
    copies = {}
    for path in notebooks:
        if (dest / path.name).exists() and not overwrite:
            continue
        try:
            copies[dest / path.name] = nbformat.writes(blank_solutions(nbformat.read(path, as_version=4)))
        except ValueError as err:
            raise ValueError(f"{path.name}: {err}") from err
    dest.mkdir(parents=True, exist_ok=True)
    for target, text in copies.items():
        write_text_atomic(target, text)
    return list(copies)
