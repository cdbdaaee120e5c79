"""The tests' autograde (tests/nbgrader_run.py) grades a submission again when a cell of it got no
reply within the cell limit: here a cell that waits on its first run only stands in for the kernel
that stopped answering in 2026-12-03's CI. A course of two cells, made for nbgrader directly."""
import nbformat
import pytest
from nbgrader_run import NO_REPLY, autograde, nbgrader_env, run_nbgrader


def cell(source: str, grade_id: str, **nbgrader) -> nbformat.NotebookNode:
    meta = {"grade": False, "solution": False, "locked": False, "grade_id": grade_id, "schema_version": 3,
            **nbgrader}
    return nbformat.v4.new_code_cell(source, metadata={"nbgrader": meta})


def test_a_submission_with_a_cell_that_got_no_reply_is_graded_again(tmp_path):
    pytest.importorskip("nbgrader")
    from nbgrader.api import Gradebook

    env = nbgrader_env(tmp_path / "jupyter")
    course = tmp_path / "course"
    (course / "source" / "lesson").mkdir(parents=True)
    (course / "nbgrader_config.py").write_text('c = get_config()\nc.CourseDirectory.course_id = "retry"\n')
    nbformat.write(nbformat.v4.new_notebook(cells=[
        cell("### BEGIN SOLUTION\nanswer = 42\n### END SOLUTION", "answer", solution=True),
        cell("assert answer == 42", "test_answer", grade=True, locked=True, points=1)]),
        course / "source" / "lesson" / "lesson.ipynb")
    run_nbgrader(course, "generate_assignment", "lesson", env=env)

    submission = nbformat.read(course / "release" / "lesson" / "lesson.ipynb", 4)
    submission.cells[0].source = "answer = 42"
    flag = tmp_path / "waited-once"
    submission.cells.insert(0, nbformat.v4.new_code_cell(      # a cell of the student's own
        f"import pathlib, time\nif not pathlib.Path({str(flag)!r}).exists():\n"
        f"    pathlib.Path({str(flag)!r}).touch()\n    time.sleep(600)"))
    (course / "submitted" / "dave" / "lesson").mkdir(parents=True)
    nbformat.write(submission, course / "submitted" / "dave" / "lesson" / "lesson.ipynb")

    out = autograde(course, "lesson", env=env, cell_limit=10)
    assert flag.exists() and "note: dave/lesson: a cell got no reply within 10 s; graded again" in out
    graded = (course / "autograded" / "dave" / "lesson" / "lesson.ipynb").read_text()
    assert NO_REPLY not in graded                                   # the second grading ran every cell
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "retry") as gb:
        assert gb.find_grade("test_answer", "lesson", "lesson", "dave").auto_score == 1
