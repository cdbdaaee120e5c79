"""The notebooks a course is made from in the tests: the committed notebooks with exercises
(``ASSIGNMENTS``), the hidden tests' seed, and a synthetic notebook with every kind of cell the
generator handles. Shared by tests/course/test_assignments.py and tests/course/test_nbgrader_course.py."""
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
SEED = 20240607


def _has_exercise(path):
    return any({"solution", "think"} & set(c.metadata.get("tags", [])) for c in nbformat.read(path, 4).cells)


ASSIGNMENTS = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb") if _has_exercise(p))


def synthetic_notebook():
    """Every kind of cell the generator handles, including 'think' cells (with and without answer)."""
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    tagged = lambda cell, tag: (cell.metadata.__setitem__("tags", [tag]), cell)[1]  # noqa: E731
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A synthetic lesson"),
        nbformat.v4.new_code_cell("import torch\nimport unioncam_lite as ucl"),
        tagged(nbformat.v4.new_code_cell(
            'def my_union(L_den, L_reg, beta_den, beta_reg):\n    """Eq. 6."""\n'
            "    return ucl.normalize_maps(beta_den[:, None, None] * L_den + beta_reg[:, None, None] * L_reg)"),
            "solution"),
        tagged(nbformat.v4.new_code_cell("from unioncam_lite.course.exercises import check_union\n\n"
                                         "assert check_union(my_union)"), "check"),
        tagged(nbformat.v4.new_markdown_cell("**Think.** Why can β be negative?\n\n<details><summary>Answer"
                                             "</summary>\n\nThe masked image can score below black.\n</details>"),
               "think"),
        tagged(nbformat.v4.new_markdown_cell("**Think.** What would you measure next?"), "think"),
        nbformat.v4.new_code_cell("print('the end')"),
    ]
    return nb
