"""The course site's pages, made from the repository's own files by book/build.py.

* the front page (``index``): book/course.md's text for learners, with the table of the notebooks
  put in where it says ``<!-- notebooks -->``: each notebook's title and its own "Estimated time"
  line, and its run time as measured in benchmarks/RESULTS.md §3 (none is written here by hand);
  and ``<!-- reference -->``: a link to each section of README.md, which the site shows as a page;
* the table of contents: every notebook found, in order, then the reference pages;
* the notebooks as published: an exercise's solution (a code cell tagged ``solution``) is folded
  behind "Show a solution", as the "Think" answers are behind "Answer".
"""
from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

SOLUTION_PROMPT = "Show a solution"
NOT_MEASURED = "not measured yet"


# ---------------------------------------------------------------------------- the notebooks
def fold_solutions(nb: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, int]:
    """A copy of ``nb`` whose solution cells' code is folded (MyST-NB's ``hide-input``), the
    button reading "Show a solution"; their outputs, if any, stay visible. Returns the count."""
    nb = copy.deepcopy(nb)
    folded = 0
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if cell.cell_type == "code" and "solution" in tags:
            cell.metadata["tags"] = [*tags, "hide-input"]
            cell.metadata["mystnb"] = {"code_prompt_show": SOLUTION_PROMPT, "code_prompt_hide": "Hide the solution"}
            folded += 1
    return nb, folded


def notebook_title(nb: nbformat.NotebookNode, stem: str) -> str:
    """The first heading of the notebook without its number ("02 · AMD: ..." -> "AMD: ...")."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^#\s+(.+)$", cell.source, re.MULTILINE)
            if match:
                return re.sub(r"^\d+\s*[·:.\-–—]\s*", "", match.group(1)).strip()
    return stem


def study_time(nb: nbformat.NotebookNode) -> str | None:
    """The notebook's own estimate ("*Estimated time: 30 minutes (the code runs ...)*" -> "30 minutes")."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"Estimated time:\s*([^(*\n]+)", cell.source)
            if match:
                return match.group(1).strip().rstrip(".,;")
    return None


def run_times(results: str) -> dict[str, float]:
    """Seconds per notebook from the first table of RESULTS.md's "## 3." section: the mean of the
    numbers in its row (rows like ``| `02_denoising` | 10.0 | 10.0 |``; cells without a number skipped)."""
    section = re.search(r"^## 3\..*?(?=^## |\Z)", results, re.MULTILINE | re.DOTALL)
    times: dict[str, float] = {}
    if not section:
        return times
    for line in section.group(0).splitlines():
        row = re.match(r"\|\s*`(\w+)`\s*\|(.*)\|\s*$", line)
        if row:
            cells = [c.strip() for c in row.group(2).split("|")]
            numbers = [float(c) for c in cells if re.fullmatch(r"\d+(\.\d+)?", c)]
            if numbers and row.group(1) not in times:
                times[row.group(1)] = sum(numbers) / len(numbers)
        elif times and not line.startswith("|"):
            break                                                    # the first table has ended
    return times


def _seconds(s: float) -> str:
    return f"{s:.0f} s" if s < 90 else f"{s / 60:.1f} min"


def notebook_table(notebooks: dict[Path, nbformat.NotebookNode], results: str) -> str:
    """The Markdown table of the notebooks in order: title (linked), time to work through, run time."""
    times = run_times(results)
    rows = ["| | notebook | time to work through it | its code runs in |", "|---|---|---|---|"]
    for path in sorted(notebooks):
        nb = notebooks[path]
        number = path.stem.split("_")[0]
        run = _seconds(times[path.stem]) if path.stem in times else NOT_MEASURED
        rows.append(f"| {number} | [{notebook_title(nb, path.stem)}](notebooks/{path.name}) "
                    f"| {study_time(nb) or '—'} | {run} |")
    return "\n".join(rows)


# ---------------------------------------------------------------------------- README and the front page
def readme_page(readme: str, notebooks: list[Path]) -> str:
    """README.md with each notebook's name in its table turned into a link to the notebook's page."""
    for nb in notebooks:
        readme = readme.replace(f"| `{nb.stem}` |", f"| [`{nb.stem}`](notebooks/{nb.name}) |")
    return readme


def readme_sections(readme: str) -> list[tuple[str, str]]:
    """(title, anchor) of each ``## `` section of README.md, anchors as MyST makes them."""
    from myst_parser.mdit_to_docutils.base import default_slugify

    sections, fenced = [], False
    for line in readme.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("## "):
            title = line[3:].strip()
            sections.append((title, default_slugify(title)))
    return sections


def front_page(course: str, notebooks: dict[Path, nbformat.NotebookNode], results: str, readme: str) -> str:
    """book/course.md with the notebook table and the README's sections filled in."""
    reference = "\n".join(f"- [{title}](README.md#{anchor})" for title, anchor in readme_sections(readme))
    for marker in ("<!-- notebooks -->", "<!-- reference -->"):
        if marker not in course:
            raise SystemExit(f"error: book/course.md has no {marker} line: put it back where the table goes")
    return course.replace("<!-- notebooks -->", notebook_table(notebooks, results)).replace(
        "<!-- reference -->", reference)


def table_of_contents(notebooks: list[Path]) -> str:
    """Jupyter Book's _toc.yml: the front page, every notebook in order, then the reference pages."""
    lines = ["# generated by book/build.py from notebooks/*.ipynb", "format: jb-book", "root: index", "parts:",
             "  - caption: The course", "    chapters:"]
    lines += [f"      - file: notebooks/{nb.stem}" for nb in sorted(notebooks)]
    lines += ["  - caption: Reference", "    chapters:", "      - file: README", "        title: The README",
              "      - file: benchmarks/RESULTS", ""]
    return "\n".join(lines)
