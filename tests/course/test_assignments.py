"""The nbgrader course made from the notebooks (unioncam_lite.course.assignments), without kernels:
solution cells marked, check calls found, Think questions split, the command line's errors, files'
permissions, the seed of the hidden tests, the offline feedback config.

tests/course/test_nbgrader_course.py runs the made course through real nbgrader.
"""
import os
from pathlib import Path

import nbformat
import pytest
from course_notebooks import ASSIGNMENTS, NOTEBOOKS, synthetic_notebook

from unioncam_lite.apps.cli import main as cli_main
from unioncam_lite.course import assignments
from unioncam_lite.course.assignments import check_calls, make_assignment, mark_solution, split_think

# ------------------------------------------------------------------ generation, no kernels

def test_mark_solution_wraps_the_body_after_the_docstring():
    src = 'def f(a, b):\n    """Add."""\n    # the sum\n    s = a + b\n    return s\nprint(f(1, 2))'
    assert mark_solution(src) == ('def f(a, b):\n    """Add."""\n    ### BEGIN SOLUTION\n    # the sum\n'
                                  '    s = a + b\n    return s\n    ### END SOLUTION\nprint(f(1, 2))')


def test_mark_solution_without_docstring_and_long_signature():
    src = "def g(a,\n      b=2) -> int:\n    return a + b"
    assert mark_solution(src) == ("def g(a,\n      b=2) -> int:\n    ### BEGIN SOLUTION\n    return a + b\n"
                                  "    ### END SOLUTION")


@pytest.mark.parametrize("src,message", [("x = 1", "exactly one function"),
                                         ("def f():\n  pass\ndef g():\n  pass", "exactly one function"),
                                         ("def f(:", "not valid Python"),
                                         ('def f():\n    """Only a docstring."""', "no code after its docstring")])
def test_mark_solution_rejects_cells_it_cannot_mark(src, message):
    with pytest.raises(ValueError, match=message):
        mark_solution(src)


def test_check_calls():
    src = "from unioncam_lite.course.exercises import check_union\n\nassert check_union(my_union)"
    assert check_calls(src) == [("check_union", "my_union")]
    with pytest.raises(ValueError, match="no `check_"):
        check_calls("assert 1 + 1 == 2")
    with pytest.raises(ValueError, match="check_nothing"):
        check_calls("assert check_nothing(f)")


def test_split_think():
    q, a = split_think("**Think.** Why?\n\n<details><summary>Answer</summary>\n\nBecause.\n</details>\n")
    assert (q, a) == ("**Think.** Why?", "Because.")
    assert split_think("Why, with no answer given?") == ("Why, with no answer given?", "")


def test_synthetic_notebook_becomes_an_nbgrader_source():
    from nbgrader.nbgraderformat import MetadataValidator

    out = make_assignment(synthetic_notebook(), seed=7, points=3, think_points=2)
    MetadataValidator().validate_nb(out)       # nbgrader's own schema check
    meta = [c.metadata.get("nbgrader") for c in out.cells]
    assert [m and m["grade_id"] for m in meta] == [
        None, None, "my_union", "test_my_union", "think_1", "think_1_answer", "think_2", "think_2_answer", None]
    solution, test = out.cells[2], out.cells[3]
    assert meta[2]["solution"] and not meta[2]["grade"] and "### BEGIN SOLUTION" in solution.source
    assert meta[3] == {"grade": True, "grade_id": "test_my_union", "locked": True, "points": 3, "schema_version": 3,
                       "solution": False, "task": False}
    assert test.source.endswith("assert check_union(my_union)\n### BEGIN HIDDEN TESTS\n"
                                + assignments.fresh_checkers_code() +   # the checkers read fresh (issue 19)
                                f"\nassert _checkers.check_union(my_union), {assignments.VISIBLE_FAILED!r}"
                                f"\nassert _checkers.check_union(my_union, seed=7), {assignments.HIDDEN_FAILED!r}"
                                "\n### END HIDDEN TESTS")
    question, answer = out.cells[4], out.cells[5]
    assert question.source == "**Think.** Why can β be negative?" and meta[4]["locked"] and not meta[4]["grade"]
    assert answer.cell_type == "markdown" and answer.source == "The masked image can score below black."
    assert meta[5]["solution"] and meta[5]["grade"] and meta[5]["points"] == 2
    assert out.cells[7].source == "(the notebook gives no reference answer)"
    nb_without = synthetic_notebook()
    nb_without.cells = [c for c in nb_without.cells if not c.metadata.get("tags")]
    assert make_assignment(nb_without, seed=7) is None


def test_cli_errors_write_nothing(tmp_path, capsys):
    assert cli_main(["assignments", str(tmp_path / "none"), str(tmp_path / "course")]) == 2
    assert "error: no notebooks" in capsys.readouterr().err
    bad = synthetic_notebook()
    bad.cells[2].source = "x = 1"            # a 'solution' cell without a function
    (tmp_path / "nbs").mkdir()
    nbformat.write(synthetic_notebook(), tmp_path / "nbs" / "a_good.ipynb")
    nbformat.write(bad, tmp_path / "nbs" / "b_bad.ipynb")
    assert cli_main(["assignments", str(tmp_path / "nbs"), str(tmp_path / "course")]) == 2
    assert "error: b_bad.ipynb: a cell tagged 'solution' must define exactly one function" in capsys.readouterr().err
    assert not (tmp_path / "course").exists()  # a_good was converted but nothing was written
    assert cli_main(["assignments", str(NOTEBOOKS), str(tmp_path / "c"), "--points", "0"]) == 2


def test_course_files_get_the_permissions_of_ordinary_new_files(tmp_path):
    """Written like any new file (0666 less the umask), not 0600: a JupyterHub's nbgrader and the
    other instructors of the course must be able to read source/ and nbgrader_config.py."""
    (tmp_path / "nbs").mkdir()
    nbformat.write(synthetic_notebook(), tmp_path / "nbs" / "a.ipynb")
    umask = os.umask(0o022)
    try:
        written = assignments.make_course(tmp_path / "nbs", tmp_path / "course", seed=1)
    finally:
        os.umask(umask)
    for path in [*written, tmp_path / "course" / "nbgrader_config.py"]:
        assert path.stat().st_mode & 0o777 == 0o644, path


def test_course_from_the_committed_notebooks(tmp_path, capsys):
    assert cli_main(["assignments", str(NOTEBOOKS), str(tmp_path / "course"), "--seed", "5"]) == 0
    out = capsys.readouterr().out
    assert f"{len(ASSIGNMENTS)} assignments" in out and "seed 5 (given" in out
    assert len(ASSIGNMENTS) >= 5 and {"01_gradients", "05_selection"} <= set(ASSIGNMENTS)
    for name in ASSIGNMENTS:
        nb = nbformat.read(tmp_path / "course" / "source" / name / f"{name}.ipynb", 4)
        roles = [c.metadata["nbgrader"] for c in nb.cells if "nbgrader" in c.metadata]
        solutions = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"]
        tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"
                 and not c.metadata["nbgrader"]["solution"]]
        thinks = [c for c in nb.cells if "think-answer" in c.metadata.get("tags", [])]
        assert solutions or thinks, name
        for test in tests:
            assert "### BEGIN HIDDEN TESTS" in test.source and ", seed=5), " in test.source
            assert test.metadata.nbgrader["locked"] and test.metadata.nbgrader["points"] == 2
        for solution in solutions:   # every exercise is graded: by a test cell, or by hand where none checks it
            name_ = solution.source.split("(")[0].removeprefix("def ").strip()
            by_test = any(f"({name_}" in t.source for t in tests)
            by_hand = solution.metadata.nbgrader["grade"] and solution.metadata.nbgrader.get("points") == 2
            assert by_test != by_hand, name_
            assert by_test or name == "08_testing_the_claims", name_   # only 08 has exercises without a checker
        assert len({r["grade_id"] for r in roles}) == len(roles)
    # the config is written once and then left alone; source/ is regenerated
    config = tmp_path / "course" / "nbgrader_config.py"
    assert f"c.Exchange.root = '{tmp_path / 'course' / 'exchange'}'" in config.read_text()
    config.write_text(config.read_text() + "# edited by the instructor\n")
    assert cli_main(["assignments", str(NOTEBOOKS), str(tmp_path / "course"), "--seed", "6"]) == 0
    assert "kept the existing one" in capsys.readouterr().out
    assert config.read_text().endswith("# edited by the instructor\n")
    assert ", seed=6), " in (tmp_path / "course" / "source" / "01_gradients" / "01_gradients.ipynb").read_text()


def _seed_in(course):
    return int(nbformat.read(course / "source" / "a" / "a.ipynb", 4).cells[3].source.split("seed=")[1].split(")")[0])


def test_seed_is_drawn_once_per_course_and_kept_until_a_new_term(tmp_path, capsys):
    """Before: every `make assignments` drew a new seed (so a regenerated source/ graded a term's
    submissions with other hidden tests), and nothing said the seed must change per term."""
    (tmp_path / "nbs").mkdir()
    nbformat.write(synthetic_notebook(), tmp_path / "nbs" / "a.ipynb")
    course = tmp_path / "course"
    assert cli_main(["assignments", str(tmp_path / "nbs"), str(course)]) == 0
    first = _seed_in(course)
    assert f"seed {first} (drawn at random" in capsys.readouterr().out
    stored = (course / assignments.SEED_FILE).read_text()
    assert stored.endswith(f"\n{first}\n") and "each term" in stored
    assert cli_main(["assignments", str(tmp_path / "nbs"), str(course)]) == 0   # kept on a re-run
    assert _seed_in(course) == first and f"seed {first} (kept from" in capsys.readouterr().out
    seeds = set()
    for _ in range(3):   # a new term: a fresh draw each time (three draws from 10**6 all equal: ~1e-12)
        assert cli_main(["assignments", str(tmp_path / "nbs"), str(course), "--new-seed"]) == 0
        seeds.add(_seed_in(course))
    assert len(seeds | {first}) > 1 and (course / assignments.SEED_FILE).read_text().endswith(f"\n{_seed_in(course)}\n")
    assert cli_main(["assignments", str(tmp_path / "nbs"), str(course), "--seed", "42"]) == 0   # SEED= wins
    assert _seed_in(course) == 42
    assert cli_main(["assignments", str(tmp_path / "nbs"), str(course)]) == 0
    assert _seed_in(course) == 42
    (course / assignments.SEED_FILE).write_text("# edited\nnot a number\n")
    capsys.readouterr()
    assert cli_main(["assignments", str(tmp_path / "nbs"), str(course)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "does not hold a seed" in err and len(err.strip().splitlines()) == 1


def test_config_makes_feedback_offline_and_old_configs_are_told(tmp_path, capsys):
    from traitlets.config import Config

    from unioncam_lite.course import feedback

    (tmp_path / "nbs").mkdir()
    nbformat.write(synthetic_notebook(), tmp_path / "nbs" / "a.ipynb")
    assert cli_main(["assignments", str(tmp_path / "nbs"), str(tmp_path / "course"), "--seed", "1"]) == 0
    config = tmp_path / "course" / "nbgrader_config.py"
    c = Config()
    exec(compile(config.read_text(), str(config), "exec"), {"get_config": lambda: c})
    assert c.GenerateFeedback.preprocessors[-1] is feedback.mathml_preprocessor()
    assert c.HTMLExporter.template_name == feedback.TEMPLATE
    template = Path(c.HTMLExporter.extra_template_basedirs[0]) / feedback.TEMPLATE
    assert "cdnjs" not in (template / "mathjax.html.j2").read_text()
    assert "configure_feedback" not in capsys.readouterr().out
    config.write_text("c = get_config()\n")     # a config written before offline feedback existed
    assert cli_main(["assignments", str(tmp_path / "nbs"), str(tmp_path / "course")]) == 0
    assert "configure_feedback(c)" in capsys.readouterr().out


def test_a_solution_no_check_calls_becomes_a_manually_graded_answer():
    """Before: such a cell became an nbgrader solution cell with no test, so nothing graded it."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("def my_energy(cam, mask):\n    \"\"\"Doc.\"\"\"\n    return 1.0",
                                          metadata={"tags": ["solution"]})]
    made = make_assignment(nb, seed=3, points=2)
    meta = made.cells[0].metadata.nbgrader
    assert meta["solution"] and meta["grade"] and meta["points"] == 2
    assert "### BEGIN SOLUTION" in made.cells[0].source
