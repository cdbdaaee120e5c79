"""book/build.py without a browser: widgets made static, the error line of a failing notebook, the pages.

(tests/test_browser.py opens the built site itself.)
"""
import importlib.util
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]


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


def test_landing_page_links_notebooks_and_toc_lists_them(build):
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    readme = (ROOT / "README.md").read_text()
    page = build.landing_page(readme, notebooks)
    for nb in notebooks:
        if f"| `{nb.stem}` |" in readme:
            assert f"[`{nb.stem}`](notebooks/{nb.name})" in page
    toc = build.table_of_contents(notebooks)
    assert toc.count("- file: notebooks/") == len(notebooks) and "root: index" in toc
    assert "file: benchmarks/RESULTS" in toc
