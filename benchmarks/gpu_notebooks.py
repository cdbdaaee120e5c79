"""Part 2 of ``make gpu-check`` (benchmarks/gpu_check.py): every notebook through nbval, a few at
a time, each in its own process (``time_notebooks.run_nbval``); in a rehearsal, the first notebook
in full and the others' set-up cells and imports (:func:`rehearsal_notebook`)."""
from __future__ import annotations

import importlib.util
import time
from pathlib import Path

#: at most 120 s per notebook (a larger --budget stretches it in proportion)
NOTEBOOK_LIMIT = 120
#: notebooks at a time: 9 one after the other would need ~180 s of the ~200 s left to them on an H200
NOTEBOOK_JOBS = 3


def rehearsal_notebook(path: Path, folder: Path, seen: set[str] | None = None) -> Path:
    """A copy of notebook ``path`` in ``folder`` holding its first code cell (the set-up: imports,
    device, model, photos) and one cell with every other import statement of the notebook. A set-up
    cell in ``seen`` (already run by an earlier notebook: the course's notebooks share one) is left
    out but for its imports; the set-up cell is added to ``seen``."""
    import ast

    import nbformat

    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    seen = set() if seen is None else seen
    setup = code[:1] if code and code[0].source not in seen else []
    seen.update(c.source for c in code[:1])
    imports: list[str] = []
    for cell in code[len(setup):]:
        source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)) and ast.unparse(node) not in imports:
                imports.append(ast.unparse(node))
    cells = setup + [nbformat.v4.new_code_cell("\n".join(imports))] if imports else setup
    copy = nbformat.v4.new_notebook(cells=cells, metadata=nb.metadata)
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(copy, folder / path.name)
    return folder / path.name


def part_notebooks(result: dict, deadline: float, out: Path, write, rehearse: bool = False,
                   scale: float = 1.0, jobs: int = 1) -> None:
    """Every notebook through nbval by ``deadline`` (``time.monotonic()``), ``jobs`` at a time, each in
    its own process with its own limit (``NOTEBOOK_LIMIT`` × ``scale``); ``write()`` after each.
    Most of a notebook's time on a GPU machine is its kernel's start, imports and model load (the
    H200 took 16-21 s for each of 00-03), on 16 CPU cores: a few at a time fit the budget. A notebook
    that fails, hangs or breaks its runner is recorded and the others go on."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from time_notebooks import NOTEBOOKS, run_nbval

    lacking = [m for m in ("nbval", "ipykernel", "nbformat") if importlib.util.find_spec(m) is None]
    paths = sorted(NOTEBOOKS.glob("*.ipynb"))
    rows = result["notebooks"] = [{"notebook": p.stem, "seconds": 0.0, "status": "not run", "detail": "not finished"}
                                  for p in paths]
    result["notebook_jobs"] = jobs
    if lacking:
        for row in rows:
            row["detail"] = f"{', '.join(lacking)} not installed (pip install nbval ipykernel)"
        return
    # a rehearsal runs the first notebook in full, then each other one's set-up cell (if it is not
    # the same as one already run) and all of its imports
    setups: set[str] = set()
    runs: list[tuple[Path, str | None]] = []
    for i, path in enumerate(paths):
        copy = rehearsal_notebook(path, out / "rehearsal-notebooks", setups) if rehearse else path
        if rehearse and i:
            runs.append((copy, "imports" if nbformat_cells(copy) == 1 else "set-up cell and imports"))
        else:
            runs.append((path, "in full" if rehearse else None))

    def one(path: Path, scope: str | None, name: str) -> dict:
        left = deadline - time.monotonic()   # at its start, not when queued
        if left < 10:
            return {"notebook": name, "seconds": 0.0, "status": "not run", "detail": "time budget spent"}
        try:
            row = run_nbval(path, min(NOTEBOOK_LIMIT * scale, left))
        except Exception as err:   # the runner itself broke: this notebook failed, the others go on
            row = {"notebook": name, "seconds": 0.0, "status": "failed", "detail": f"{type(err).__name__}: {err}"}
        return dict(row, scope=scope) if scope else row

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(one, path, scope, paths[i].stem): i for i, (path, scope) in enumerate(runs)}
        for future in as_completed(futures):
            rows[futures[future]] = future.result()
            result["notebooks_wall"] = time.monotonic() - start
            write()


def nbformat_cells(path: Path) -> int:
    import nbformat

    return len(nbformat.read(path, as_version=4).cells)
