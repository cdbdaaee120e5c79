"""Exercise copies of the notebooks: ``python -m unioncam_lite.student SRC_DIR DEST_DIR``.

Every code cell tagged ``solution`` keeps its ``def`` line and docstring; its body becomes
``raise NotImplementedError("Exercise: <docstring's first line>")``. All other cells are
copied unchanged, so the provided ``check_…`` cell right after tells the learner whether
their function matches the library.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import nbformat


def blank_solution(source: str) -> str:
    """The function's signature and docstring, with a body that raises NotImplementedError."""
    tree = ast.parse(source)
    funcs = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    if len(funcs) != 1:
        raise ValueError("a cell tagged 'solution' must define exactly one function")
    func = funcs[0]
    lines = source.splitlines()
    doc = ast.get_docstring(func)
    first_body = func.body[1] if doc is not None and len(func.body) > 1 else func.body[0]
    keep = lines[:first_body.lineno - 1] if doc is not None else lines[:func.body[0].lineno - 1]
    indent = " " * func.body[0].col_offset
    message = (doc or func.name).strip().splitlines()[0].replace('"', "'")
    return "\n".join(keep + [f'{indent}# your code here', f'{indent}raise NotImplementedError("Exercise: {message}")'])


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
