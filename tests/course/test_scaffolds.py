"""Scaffolded exercises (the author's solution markers), the fallback after a check, and student copies
that keep the learner's work."""
import nbformat
import pytest

from unioncam_lite.apps.cli import main as cli_main
from unioncam_lite.course.assignments import add_hidden_tests, fresh_visible_calls, make_assignment
from unioncam_lite.course.fallback import STRICT, yours_or_library
from unioncam_lite.course.solution_cells import mark_solution
from unioncam_lite.course.student import blank_solution

SCAFFOLD = '''def my_cam(A, W):
    """Grad-CAM: ReLU(sum_k w_k A_k)."""
    N, K, h, w = A.shape          # given
    ### BEGIN SOLUTION
    weights = W.mean(dim=(2, 3))
    ### END SOLUTION
    total = 0
    for k in range(K):            # the loop is given
        ### BEGIN SOLUTION
        total = total + weights[:, k, None, None] * A[:, k]
        ### END SOLUTION
    return total.clamp_min(0)'''


def test_author_markers_are_kept_as_they_are():
    assert mark_solution(SCAFFOLD) == SCAFFOLD


def test_scaffold_student_copy_keeps_the_skeleton_and_blanks_each_region():
    blank = blank_solution(SCAFFOLD)
    lines = blank.splitlines()
    assert lines[:3] == SCAFFOLD.splitlines()[:3]                        # signature, docstring, shapes
    assert "    for k in range(K):            # the loop is given" in lines
    assert "    return total.clamp_min(0)" in lines
    assert "W.mean" not in blank and "weights[:, k" not in blank and "SOLUTION" not in blank
    stub = 'raise NotImplementedError("Exercise: Grad-CAM: ReLU(sum_k w_k A_k).")'
    assert lines.count(f"    {stub}") == 1 and lines.count(f"        {stub}") == 1   # indented like each region
    compile(blank, "<blank>", "exec")


@pytest.mark.parametrize("src,message", [
    (SCAFFOLD.replace("    ### END SOLUTION\n    total = 0", "    total = 0", 1), "inside the region opened"),
    (SCAFFOLD.replace("        ### BEGIN SOLUTION\n", "", 1), "without a '### BEGIN SOLUTION'"),
    (SCAFFOLD.replace("    return", "    ### BEGIN SOLUTION\n    return"), "has no '### END SOLUTION'"),
    ("### BEGIN SOLUTION\n" + SCAFFOLD, "outside the function's body"),
    (SCAFFOLD.replace("    weights = W.mean(dim=(2, 3))\n", "    # nothing\n"), "has no code"),
])
def test_bad_markers_are_refused_with_the_line(src, message):
    with pytest.raises(ValueError, match=message):
        mark_solution(src)


def test_fallback_returns_yours_or_the_library_and_says_which(monkeypatch, capsys):
    monkeypatch.delenv(STRICT, raising=False)

    def my_f(x):
        return x

    def library_f(x):
        return x

    assert yours_or_library(my_f, True, library_f) is my_f
    assert capsys.readouterr().out == "→ the cells below use your my_f\n"
    assert yours_or_library(my_f, False, library_f) is library_f
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "use the library's library_f until your my_f passes" in out
    assert yours_or_library(None, True, library_f) is library_f      # not a function: never "yours"
    assert yours_or_library(my_f, 1, library_f) is library_f         # only a checker's True counts


def test_fallback_raises_where_the_solutions_are_verified(monkeypatch):
    monkeypatch.setenv(STRICT, "1")
    with pytest.raises(AssertionError, match="my_f did not pass its check"):
        yours_or_library(_named("my_f"), False, print)
    monkeypatch.setenv(STRICT, "0")
    assert yours_or_library(_named("my_f"), False, print) is print


def _named(name):
    def f():
        return None
    f.__name__ = name
    return f


CHECK = ("from unioncam_lite.course.exercises import check_union, yours_or_library\n\n"
         "passed = check_union(my_union)\nunion = yours_or_library(my_union, passed, ucl.union)")


def test_hidden_tests_assert_the_visible_calls_with_fresh_checkers_then_the_seeded_ones():
    assert fresh_visible_calls(CHECK) == ["_checkers.check_union(my_union)"]
    cell = add_hidden_tests(CHECK, seed=5)
    hidden = cell.split("### BEGIN HIDDEN TESTS")[1]
    visible_at, seeded_at = hidden.index("assert _checkers.check_union(my_union), "), \
        hidden.index("assert _checkers.check_union(my_union, seed=5)")
    assert visible_at < seeded_at
    assert fresh_visible_calls("ok = check_denoise(my_denoise, W_real=cap.gradients.cpu())") == [
        "_checkers.check_denoise(my_denoise, W_real=cap.gradients.cpu())"]


def test_scaffold_becomes_an_nbgrader_solution_with_the_authors_regions():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SCAFFOLD, metadata={"tags": ["solution"]})]
    made = make_assignment(nb, seed=1)
    assert made.cells[0].source == SCAFFOLD and made.cells[0].metadata.nbgrader["solution"]


def test_student_copies_keep_the_learners_work(tmp_path, capsys):
    src = tmp_path / "nbs"
    src.mkdir()
    for name in ("a", "b"):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell('def f():\n    """Doc."""\n    return 1', metadata={"tags": ["solution"]})]
        nbformat.write(nb, src / f"{name}.ipynb")
    dest = tmp_path / "student"
    assert cli_main(["student", str(src), str(dest)]) == 0
    mine = nbformat.read(dest / "a.ipynb", 4)
    mine.cells[0].source = 'def f():\n    """Doc."""\n    return 2   # my answer'
    nbformat.write(mine, dest / "a.ipynb")
    (dest / "b.ipynb").unlink()
    capsys.readouterr()
    assert cli_main(["student", str(src), str(dest)]) == 0
    assert "wrote 1 exercise notebooks" in capsys.readouterr().out
    assert "my answer" in (dest / "a.ipynb").read_text()                       # kept
    assert "NotImplementedError" in (dest / "b.ipynb").read_text()              # the missing one written again
    assert cli_main(["student", str(src), str(dest), "--overwrite"]) == 0
    assert "my answer" not in (dest / "a.ipynb").read_text()


def test_a_region_may_end_after_the_functions_last_statement():
    """Before: an END marker after the last statement (``return``) was refused as outside the function."""
    src = 'def f(x):\n    """Doc."""\n    y = x + 1\n    ### BEGIN SOLUTION\n    return y\n    ### END SOLUTION\nprint(1)'
    assert mark_solution(src) == src
    with pytest.raises(ValueError, match="outside the function's body"):
        mark_solution('def f(x):\n    """Doc."""\n    return x\n### BEGIN SOLUTION\nprint(1)\n### END SOLUTION')
