"""Build the course site: execute every notebook, then render it with Jupyter Book 1 into outputs/book/.

    python book/build.py                 # what `make book` runs
    python book/build.py --force         # execute every notebook again, even if nothing changed

Why a script around ``jupyter-book build`` rather than Jupyter Book's own execution:

* Executed notebooks are cached under ``outputs/book_build/executed/`` by a hash of the notebook
  and of everything its outputs depend on (``unioncam_lite/``'s code and bundled data), so a rebuild after a
  README or RESULTS.md edit executes nothing. Notebooks run from ``notebooks/`` exactly as in
  JupyterLab and nbval, so they share the course's own caches under ``outputs/``.
* A widget cannot be live in a static page. Each widget output is replaced by the figures its
  ``Output`` widgets held when the notebook ran (nbclient records them) and a note that the live
  widgets need ``make lab`` or ``make app``. Jupyter Book would instead embed the widget state and
  load the ipywidgets JavaScript from a CDN, which fails offline.
* The pages (book/pages.py): a front page for learners (book/course.md with the notebooks in
  order, their time estimates and run times from benchmarks/RESULTS.md §3), README.md and
  RESULTS.md as reference pages, and a table of contents listing every notebook in
  ``notebooks/`` (nothing to keep in sync by hand). Exercise solutions are folded.
* Equations: MathJax 3 from the ``django-static-mathjax`` package (the ``es5`` folder: scripts and
  its TeX fonts) is copied into the site's ``_static/mathjax/``; no page loads anything from the
  network.

The site is built in ``outputs/book_build/`` and then swapped into ``outputs/book/``, so a failed
build leaves the previous site in place. Bad input (a notebook that raises) prints one
``error:`` line naming the notebook and cell and exits with status 2.
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
sys.path.insert(0, str(BOOK))                         # book/pages.py, also when this file is loaded by path
import pages  # noqa: E402

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_NOTE = ("*The figure above is what this widget drew when the notebook was executed for this site. "
               "The controls are live in JupyterLab (`make lab`) or in the explorer app (`make app`).*")


# ---------------------------------------------------------------------------- execution
def _client(nb: nbformat.NotebookNode, notebook: Path, timeout: int):
    """An nbclient ``NotebookClient`` whose stand-in for the Output widget's front end does not
    send the captured outputs back to the kernel: nbclient sends that message on the shell
    channel while it waits there for the cell's reply, which intermittently hangs the execution
    of a cell that draws into an Output widget (``interact``), see jupyter/nbclient#312. The
    outputs are still recorded in the notebook's widget state, which is all the site needs."""
    from nbclient import NotebookClient
    from nbclient.output_widget import OutputWidget

    class RecordingOutputWidget(OutputWidget):
        def sync_state(self) -> None:
            pass

    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(notebook.parent)}})
    client.widget_registry = {"@jupyter-widgets/output": {"OutputModel": RecordingOutputWidget}}
    return client


def fingerprint(notebook: Path) -> str:
    """A hash of the notebook and of every file its outputs can depend on."""
    h = hashlib.sha256()
    files = [notebook] + sorted((ROOT / "unioncam_lite").rglob("*.py")) + sorted(
        p for p in (ROOT / "unioncam_lite" / "data" / "bundled").rglob("*") if p.is_file())
    for path in files:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def execute(notebook: Path, cache: Path, force: bool = False, timeout: int = 900) -> nbformat.NotebookNode:
    """The executed notebook, from the cache when its fingerprint is unchanged."""
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    cached = cache / f"{notebook.stem}.{fingerprint(notebook)}.ipynb"
    if cached.exists() and not force:
        print(f"  {notebook.name}: unchanged, executed copy reused")
        return nbformat.read(cached, as_version=4)
    nb = nbformat.read(notebook, as_version=4)
    start = time.perf_counter()
    client = _client(nb, notebook, timeout)
    try:
        client.execute()
    except CellExecutionError as err:
        cell = next((i for i, c in enumerate(nb.cells) if any(o.get("output_type") == "error"
                                                                for o in c.get("outputs", []))), "?")
        print(str(err), file=sys.stderr)
        raise SystemExit(f"error: {notebook} failed in cell {cell} (traceback above): "
                         "fix the notebook, or run it in JupyterLab (`make lab`) to see why") from None
    except CellTimeoutError:
        raise SystemExit(f"error: a cell of {notebook} ran longer than {timeout} s: "
                         "on a slow or busy machine give more time with --timeout SECONDS") from None
    except DeadKernelError as err:
        raise SystemExit(f"error: the kernel running {notebook} died ({err}): out of memory? "
                         "close other programs and run `make book` again") from None
    print(f"  {notebook.name}: executed in {time.perf_counter() - start:.0f} s")
    cache.mkdir(parents=True, exist_ok=True)
    for old in cache.glob(f"{notebook.stem}.*.ipynb"):
        old.unlink()
    tmp = cached.with_suffix(".tmp")
    nbformat.write(nb, tmp)
    tmp.replace(cached)                               # atomic: a killed build leaves no half file
    return nb


# ---------------------------------------------------------------------------- widgets -> static
def _output_widget_outputs(model_id: str, state: dict, seen: set | None = None) -> list[dict]:
    """Every output held by the Output widgets under ``model_id`` (children first to last)."""
    seen = set() if seen is None else seen
    if model_id in seen or model_id not in state:
        return []
    seen.add(model_id)
    model = state[model_id]
    if model.get("model_name") == "OutputModel":
        return list(model["state"].get("outputs", []))
    outputs = []
    for child in model["state"].get("children", []):
        if isinstance(child, str) and child.startswith("IPY_MODEL_"):
            outputs += _output_widget_outputs(child[len("IPY_MODEL_"):], state, seen)
    return outputs


def static_widgets(nb: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, int]:
    """A copy of ``nb`` where each widget output is replaced by what it drew, plus a note."""
    nb = copy.deepcopy(nb)
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    replaced = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get(WIDGET_VIEW) if out.get("output_type") in (
                "display_data", "execute_result") else None
            if view is None:
                outputs.append(out)
                continue
            replaced += 1
            drawn = [nbformat.from_dict(o) for o in _output_widget_outputs(view["model_id"], state)]
            for o in drawn:                            # an execute_result inside a widget is just a display
                if o.get("output_type") == "execute_result":
                    o.output_type = "display_data"
                    o.pop("execution_count", None)
            outputs += drawn
            outputs.append(nbformat.v4.new_output("display_data", data={"text/markdown": WIDGET_NOTE,
                                                                        "text/plain": WIDGET_NOTE}))
        cell.outputs = outputs
    nb.metadata.pop("widgets", None)                    # nothing left to embed, no widget JavaScript
    return nb, replaced


# ---------------------------------------------------------------------------- the book's source
def write_if_changed(path: Path, data: bytes | str) -> None:
    """Write only what changed, so that Sphinx rebuilds only the pages that changed."""
    data = data.encode() if isinstance(data, str) else data
    if path.exists() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def mathjax_folder() -> Path:
    """MathJax 3's ``es5`` folder, from the ``django-static-mathjax`` package (a dev dependency)."""
    try:
        import mathjax
    except ImportError:
        raise SystemExit("error: MathJax 3 for the site is missing: pip install django-static-mathjax "
                         "(`make setup` installs it with the dev dependencies)") from None
    folder = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    if not (folder / "tex-chtml.js").exists():
        raise SystemExit(f"error: no tex-chtml.js in {folder}: reinstall django-static-mathjax (version 3.2 or later)")
    return folder


def stage(src: Path, executed: dict[Path, nbformat.NotebookNode]) -> None:
    """The book's source folder: the front page, README and RESULTS.md, the executed notebooks
    (widgets made static, solutions folded), images, MathJax."""
    notebooks = sorted(executed)
    readme, results = (ROOT / "README.md").read_text(), (ROOT / "benchmarks" / "RESULTS.md").read_text()
    write_if_changed(src / "_config.yml", (BOOK / "_config.yml").read_bytes())
    write_if_changed(src / "_vendor" / "site.css", (BOOK / "site.css").read_bytes())
    write_if_changed(src / "_toc.yml", pages.table_of_contents(notebooks))
    write_if_changed(src / "index.md", pages.front_page((BOOK / "course.md").read_text(), executed, results, readme))
    write_if_changed(src / "README.md", pages.readme_page(readme, notebooks))
    write_if_changed(src / "benchmarks" / "RESULTS.md", results)
    for image in sorted((ROOT / "docs").glob("*.png")):
        write_if_changed(src / "docs" / image.name, image.read_bytes())
    for path, nb in executed.items():
        static, _ = static_widgets(nb)
        folded, _ = pages.fold_solutions(static)
        write_if_changed(src / "notebooks" / path.name, nbformat.writes(folded))
    # not in the source's _static/: Jupyter Book would add every .js file there to every page.
    # Sphinx copies html_static_path's _vendor/ into the site's _static/ (see _config.yml):
    # MathJax 3's es5 folder less the combined files the site does not load (it loads tex-chtml.js)
    vendor = src / "_vendor" / "mathjax"
    if not (vendor / "tex-chtml.js").exists():
        shutil.rmtree(vendor, ignore_errors=True)
        unused = shutil.ignore_patterns("mml-*.js", "tex-mml-*.js", "tex-svg*.js", "tex-chtml-full*.js", "node-main.js")
        shutil.copytree(mathjax_folder(), vendor, ignore=unused)


def render(src: Path, build: Path, out: Path) -> None:
    """``jupyter-book build`` (Sphinx) into ``build``, then swap the HTML into ``out``."""
    jb = Path(sys.executable).with_name("jupyter-book")
    command = [str(jb) if jb.exists() else "jupyter-book", "build", str(src), "--path-output", str(build)]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT)
    if result.returncode != 0:
        raise SystemExit(f"error: `{' '.join(command)}` failed (status {result.returncode}, output above)")
    html = build / "_build" / "html"
    if not (html / "index.html").exists():
        raise SystemExit(f"error: Jupyter Book wrote no {html / 'index.html'}")
    tmp = out.with_name(out.name + ".new")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(html, tmp, ignore=shutil.ignore_patterns(".buildinfo", ".doctrees"))
    old = out.with_name(out.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        out.rename(old)
    tmp.rename(out)
    shutil.rmtree(old, ignore_errors=True)
    print(f"  rendered in {time.perf_counter() - start:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "book", help="the site (default outputs/book)")
    parser.add_argument("--build", type=Path, default=ROOT / "outputs" / "book_build",
                        help="working folder: executed notebooks, book source, Sphinx files")
    parser.add_argument("--force", action="store_true", help="execute every notebook even if unchanged")
    parser.add_argument("--timeout", type=int, default=900, help="seconds a cell may run (default 900, as nbval)")
    parser.add_argument("--notebooks", type=Path, default=ROOT / "notebooks",
                        help="the notebooks to publish (default notebooks/; each runs from its own folder)")
    args = parser.parse_args(argv)
    notebooks = sorted(args.notebooks.glob("*.ipynb"))
    if not notebooks:
        print(f"error: no notebooks in {args.notebooks}: give the folder of the course notebooks", file=sys.stderr)
        return 2
    os.environ.setdefault("MPLBACKEND", "Agg")
    start = time.perf_counter()
    print(f"executing {len(notebooks)} notebooks (cached under {args.build / 'executed'})")
    try:
        executed = {nb: execute(nb, args.build / "executed", args.force, args.timeout) for nb in notebooks}
        stage(args.build / "src", executed)
        render(args.build / "src", args.build, args.out)
    except SystemExit as err:
        if isinstance(err.code, str):
            print(err.code, file=sys.stderr)
            return 2
        raise
    index = args.out / "index.html"
    print(f"site: {index} ({time.perf_counter() - start:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
