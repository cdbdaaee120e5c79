"""The committed notebooks: stripped, numbered, with exercises that the student copies blank out.

(nbval executes them in `make test`; this file only checks their form, quickly.)
"""
from pathlib import Path

import nbformat
import pytest

from unioncam_lite.apps.cli import main as cli_main
from unioncam_lite.course.student import blank_solution, make_student_copies

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
EXPECTED = ["00_setup_and_model", "01_gradients", "02_denoising", "03_region_maps", "04_union", "05_selection",
            "06_metrics", "07_explore", "08_testing_the_claims"]


def read(name):
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


def test_the_course_notebooks_exist():
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_outputs_stripped_and_kernel_python3(name):
    nb = read(name)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{name}: outputs not stripped"
    assert any("assert " in c.source for c in nb.cells if c.cell_type == "code"), f"{name} has no assert cell"


@pytest.mark.parametrize("name", EXPECTED[1:6])
def test_notebooks_01_to_05_have_exercises(name):
    solutions = [c for c in read(name).cells if "solution" in c.metadata.get("tags", [])]
    assert solutions, f"{name} has no cell tagged 'solution'"


def test_student_copies_raise_at_each_exercise(tmp_path):
    written = make_student_copies(NOTEBOOKS, tmp_path)
    assert len(written) == len(EXPECTED)
    exercises = 0
    for path in written:
        original, student = read(path.stem), nbformat.read(path, as_version=4)
        assert len(original.cells) == len(student.cells)
        for before, after in zip(original.cells, student.cells):
            if "solution" not in before.metadata.get("tags", []):
                assert before.source == after.source
                continue
            exercises += 1
            regions = before.source.count("### BEGIN SOLUTION") or 1     # a scaffold's regions, else the body
            assert after.source.count('raise NotImplementedError("Exercise: ') == regions
            assert "### BEGIN SOLUTION" not in after.source
            namespace = {}
            exec(after.source, namespace)                                   # the student copy still parses and runs
            func = next(v for k, v in namespace.items() if callable(v) and not k.startswith("__"))
            if regions == 1 and "### BEGIN SOLUTION" not in before.source:   # nothing given before the stub
                with pytest.raises(NotImplementedError, match="Exercise: "):
                    func(*[None] * func.__code__.co_argcount)
            assert after.source.splitlines()[0] == before.source.splitlines()[0]   # same signature
    assert exercises >= 5


def test_blank_solution_keeps_signature_and_docstring():
    src = 'def f(a, b):\n    """Add two numbers."""\n    return a + b\n'
    out = blank_solution(src)
    assert out.startswith('def f(a, b):\n    """Add two numbers."""')
    assert 'raise NotImplementedError("Exercise: Add two numbers.")' in out and "return a + b" not in out


def test_cli_errors(tmp_path, capsys):
    assert cli_main(["student", str(tmp_path), str(tmp_path / "out")]) == 2
    assert "no notebooks" in capsys.readouterr().err
    assert cli_main(["student"]) == 2


@pytest.mark.parametrize("name", EXPECTED)
def test_each_notebook_has_the_course_scaffolding(name):
    """Objectives and time at the top, summary and further reading at the end, a Think question with a hidden answer."""
    cells = read(name).cells
    top, end = cells[0].source, "\n".join(c.source for c in cells[-2:])
    assert "Learning objectives" in top and "Estimated time" in top, f"{name}: objectives/time missing"
    assert "## Summary" in end and "Further reading" in end, f"{name}: summary/reading missing"
    thinks = [c for c in cells if "think" in c.metadata.get("tags", [])]
    assert thinks, f"{name} has no Think question"
    for c in thinks:
        assert c.cell_type == "markdown" and c.source.startswith("**Think.**")
        assert "<details><summary>Answer</summary>" in c.source and c.source.rstrip().endswith("</details>")


@pytest.mark.parametrize("name", EXPECTED)
def test_headings_descend_one_level_at_a_time(name):
    """One title (#), then no heading deeper than one level below the one before it: the site's
    table of contents and screen readers follow heading levels, and Sphinx warns about a jump
    ("Non-consecutive header level increase; H1 to H3", 00's two sections under its title before)."""
    from markdown_it import MarkdownIt

    parser, levels = MarkdownIt("commonmark"), []
    for cell in read(name).cells:
        if cell.cell_type == "markdown":
            levels += [int(t.tag[1]) for t in parser.parse(cell.source) if t.type == "heading_open"]
    assert levels[0] == 1 and levels.count(1) == 1, f"{name}: one title (#) first, got levels {levels}"
    jumps = [(a, b) for a, b in zip(levels, levels[1:]) if b > a + 1]
    assert not jumps, f"{name}: heading levels jump {jumps} (levels in order: {levels})"


def test_the_paper_is_cited_with_its_doi():
    assert "doi:10.3389/fnbot.2024.1490198" in read("00_setup_and_model").cells[0].source
    text = "\n".join(c.source for n in EXPECTED for c in read(n).cells if c.cell_type == "markdown")
    assert "attention map" not in text.lower()
    assert "complete by construction" not in text
    for name in ("Activation Map Denoising", "Activation Map Union", "Activation Map Selection"):
        assert name in text


def test_04_teaches_the_course_weights_for_a_negative_beta():
    """Before: 04 said "the weights only matter through their ratio" and titled its figure
    w_den = β_den/(β_den+β_reg), which invited the answer that fails whenever a β is negative."""
    nb = read("04_union")
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "only matter through their *ratio*" not in text and "While both gains are positive only their *ratio*" in text
    assert "w_\\text{den} = \\max(\\beta_\\text{den}, 0)" in text and "**Course choice:**" in text
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "β_den/(β_den+β_reg)" not in code
    solution = next(c.source for c in nb.cells if "solution" in c.metadata.get("tags", [])
                    and c.source.startswith("def my_union("))
    namespace = {}
    exec("import torch\nimport unioncam_lite as ucl\n" + solution, namespace)
    from unioncam_lite.course.exercises import check_union

    assert check_union(namespace["my_union"])     # the notebook's own answer passes the negative-β cases
