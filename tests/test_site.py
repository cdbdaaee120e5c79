"""book/build.py and book/pages.py without a browser: widgets made static, the error line of a failing
notebook, the front page and its times, folded solutions, the table of contents.

(tests/test_site_in_browser.py and tests/test_browser.py open the built site in Chromium.)
"""
import importlib.util
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "outputs" / "book"


@pytest.fixture(scope="module")
def build():
    spec = importlib.util.spec_from_file_location("book_build", ROOT / "book" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def notebook(tmp_path: Path, *sources: str) -> Path:
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    return path


def test_widget_outputs_become_the_figures_they_drew(build, tmp_path):
    pytest.importorskip("ipywidgets")
    path = notebook(tmp_path, "%matplotlib inline\nimport matplotlib.pyplot as plt\nimport ipywidgets as w",
                    "def f(k):\n    plt.plot([0, k]); plt.title(f'k={k}'); plt.show()\n"
                    "w.interact(f, k=w.IntSlider(value=3, max=5));",
                    "print('after')")
    executed = build.execute(path, tmp_path / "cache", timeout=120)
    assert build.WIDGET_VIEW in str(executed.cells[1].outputs)            # nbclient kept the widget view...
    static, replaced = build.static_widgets(executed)
    assert replaced == 1 and "widgets" not in static.metadata
    outputs = static.cells[1].outputs
    assert [o.output_type for o in outputs] == ["display_data", "display_data"]
    assert "image/png" in outputs[0].data                                  # ...and the figure drawn inside it
    assert "make app" in outputs[1].data["text/markdown"] and "make lab" in outputs[1].data["text/markdown"]
    assert static.cells[2].outputs == executed.cells[2].outputs             # other outputs untouched
    assert build.WIDGET_VIEW in str(executed.cells[1].outputs)            # the input notebook is not modified
    again = build.execute(path, tmp_path / "cache", timeout=120)          # unchanged: the cached copy
    assert again == executed


def test_a_failing_notebook_is_one_error_line(build, tmp_path, capsys):
    path = notebook(tmp_path, "x = 1", "raise ValueError('broken on purpose')")
    with pytest.raises(SystemExit) as err:
        build.execute(path, tmp_path / "cache", timeout=120)
    assert str(err.value.code).startswith(f"error: {path} failed in cell 1")
    assert "broken on purpose" in capsys.readouterr().err
    assert not list((tmp_path / "cache").glob("*.ipynb"))                # nothing half-done cached
    assert build.main(["--notebooks", str(tmp_path / "none")]) == 2
    assert capsys.readouterr().err.startswith("error: no notebooks in ")


def test_readme_page_links_the_notebooks_of_its_table(build):
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    readme = (ROOT / "README.md").read_text()
    page = build.pages.readme_page(readme, notebooks)
    linked = 0
    for nb in notebooks:
        if f"| `{nb.stem}` |" in readme:
            assert f"[`{nb.stem}`](notebooks/{nb.name})" in page
            linked += 1
    assert linked >= 1


# ---------------------------------------------------------------------------- the pages (book/pages.py)
def nb_with(*cells) -> nbformat.NotebookNode:
    return new_notebook(cells=list(cells))


def test_solutions_are_folded_and_nothing_else(build):
    from nbformat.v4 import new_markdown_cell
    nb = nb_with(new_markdown_cell("## Exercise"), new_code_cell("def f(W):\n    return W.mean()", metadata={"tags": ["solution"]}),
                 new_code_cell("assert check(f)", metadata={"tags": ["check"]}), new_code_cell("x = 1"))
    folded, count = build.pages.fold_solutions(nb)
    assert count == 1
    solution = folded.cells[1]
    assert solution.metadata["tags"] == ["solution", "hide-input"]                # MyST-NB folds the code...
    assert solution.metadata["mystnb"]["code_prompt_show"] == "Show a solution"   # ...behind this button
    assert solution.source == nb.cells[1].source                                   # the solution is all there
    for i in (0, 2, 3):
        assert folded.cells[i] == nb.cells[i]                                      # checks and the rest stay open
    assert nb.cells[1].metadata == {"tags": ["solution"]}                          # the input is not modified


def test_every_course_notebook_with_an_exercise_gets_folded(build):
    """The real notebooks mark their exercises as fold_solutions expects (tag ``solution``)."""
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        exercises = sum("solution" in c.metadata.get("tags", []) for c in nb.cells if c.cell_type == "code")
        assert build.pages.fold_solutions(nb)[1] == exercises
    first = nbformat.read(ROOT / "notebooks" / "01_gradients.ipynb", as_version=4)
    assert build.pages.fold_solutions(first)[1] >= 1


RESULTS_SAMPLE = """# Results
## 2. Speed
| notebook | run 1, s |
|---|---:|
| `00_setup_and_model` | 99.0 |
## 3. The notebook course: run time
Two runs.

| notebook | run 1, s | run 2, s |
|---|---:|---:|
| `00_setup_and_model` | 6.0 | 5.9 |
| `02_denoising` | 16.7 | kernel died |
| **all** | **22.7** | **5.9** |

### GPU
| notebook | run 1, s |
|---|---:|
| `00_setup_and_model` | 15.7 |
| `03_region_maps` | 21.0 |
"""


def test_run_times_come_from_the_first_table_of_results_section_3(build):
    times = build.pages.run_times(RESULTS_SAMPLE)
    assert times == {"00_setup_and_model": pytest.approx(5.95), "02_denoising": 16.7}   # not §2's, not the GPU's
    assert build.pages.run_times("# Results\nnothing measured\n") == {}
    real = build.pages.run_times((ROOT / "benchmarks" / "RESULTS.md").read_text())
    row = next(line for line in (ROOT / "benchmarks" / "RESULTS.md").read_text().split("## 3.")[1].splitlines()
               if line.startswith("| `02_denoising`"))
    numbers = [float(c) for c in row.split("|")[2:-1]]
    assert real["02_denoising"] == pytest.approx(sum(numbers) / len(numbers))


def test_front_page_lists_every_notebook_in_order_with_its_times(build, tmp_path):
    from nbformat.v4 import new_markdown_cell
    notebooks = {}
    for stem, head, estimate in [("02_denoising", "# 02 · AMD: Activation Map Denoising", "*Estimated time: 30 minutes (the code...)*"),
                                 ("00_setup_and_model", "# 00 · Setup", "*Estimated time: 15 minutes.*"),
                                 ("08_testing_the_claims", "# 08 · Testing the claims", "")]:
        notebooks[tmp_path / f"{stem}.ipynb"] = nb_with(new_markdown_cell(f"{head}\n\nText.\n\n{estimate}"))
    course = "# Course\n\n<!-- notebooks -->\n\n## Reference\n\n<!-- reference -->\n"
    readme = "# pkg\n\n## Two commands\n\n```bash\n## not a heading\n```\n\n## For instructors\n"
    page = build.pages.front_page(course, notebooks, RESULTS_SAMPLE, readme)
    rows = [line for line in page.splitlines() if line.startswith("| 0")]
    assert rows == ["| 00 | [Setup](notebooks/00_setup_and_model.ipynb) | 15 minutes | 6 s |",
                    "| 02 | [AMD: Activation Map Denoising](notebooks/02_denoising.ipynb) | 30 minutes | 17 s |",
                    "| 08 | [Testing the claims](notebooks/08_testing_the_claims.ipynb) | — | not measured yet |"]
    assert "- [Two commands](README.md#two-commands)\n- [For instructors](README.md#for-instructors)" in page
    assert "not a heading" not in page
    with pytest.raises(SystemExit, match="error: book/course.md has no <!-- notebooks -->"):
        build.pages.front_page("# Course\n", notebooks, RESULTS_SAMPLE, readme)


def test_the_real_front_page_has_what_a_learner_needs(build):
    paths = sorted((ROOT / "notebooks").glob("*.ipynb"))
    notebooks = {p: nbformat.read(p, as_version=4) for p in paths}
    page = build.pages.front_page((ROOT / "book" / "course.md").read_text(), notebooks,
                                  (ROOT / "benchmarks" / "RESULTS.md").read_text(), (ROOT / "README.md").read_text())
    links = re.findall(r"\]\(notebooks/(\w+)\.ipynb\)", page)
    assert links == [p.stem for p in paths]                                     # every notebook, in order
    for command in ("make lab", "make book", "make app"):
        assert command in page
    assert "](README.md#for-instructors)" in page and "](benchmarks/RESULTS.md)" in page
    assert len(page) < 8000                                                     # a front page, not the README


def test_table_of_contents_picks_up_every_notebook(build, tmp_path):
    for stem in ("07_explore", "08_testing_the_claims", "00_setup_and_model"):
        (tmp_path / f"{stem}.ipynb").write_text("{}")
    toc = build.pages.table_of_contents(list(tmp_path.glob("*.ipynb")))
    files = re.findall(r"- file: (\S+)", toc)
    assert files == ["notebooks/00_setup_and_model", "notebooks/07_explore", "notebooks/08_testing_the_claims",
                     "README", "benchmarks/RESULTS"]
    assert "root: index" in toc


def test_mathjax_3_ships_its_tex_fonts(build):
    """What the site copies: MathJax 3's tex-chtml.js and the TeX fonts it asks for (2.7 from
    jupyter-server-mathjax had only STIX-Web, and pages asked for MathJax_AMS-Regular.otf)."""
    folder = build.mathjax_folder()
    assert (folder / "tex-chtml.js").is_file()
    fonts = {p.name for p in (folder / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff")}
    assert {"MathJax_AMS-Regular.woff", "MathJax_Main-Regular.woff", "MathJax_Math-Italic.woff"} <= fonts
    config = (ROOT / "book" / "_config.yml").read_text()
    assert 'mathjax_path: "mathjax/tex-chtml.js"' in config and "mathjax3_config" in config


def test_notebook_02_says_which_model_it_uses_without_trying_a_download():
    """The executed page: one line naming the model and why; no "Downloading:" (a failed download)."""
    page = BOOK / "notebooks" / "02_denoising.html"
    if not page.exists():
        pytest.skip(f"{page} is missing: run `make book` first (`make test` does)")
    html = page.read_text()
    assert "Downloading" not in html and "weights unavailable" not in html
    line = re.search(r"This notebook uses (\w+) at [\w.]+: ([^<\n]+)", html)
    assert line, "02: no line saying which model the notebook uses"
    assert line.group(1) in ("vgg16", "shapes_vgg") and ("cache" in line.group(2))
