"""The ``student`` and ``assignments`` subcommands: the course's notebooks as exercise copies and
as an nbgrader course, with the lines and defaults of the course modules' own entry points."""
from pathlib import Path

import nbformat
import pytest

from unioncam_lite.apps.cli import build_parser, main

SOLUTION = 'def add_one(x):\n    """Add one to x."""\n    return x + 1\n'


def tagged(cell, tag):
    cell.metadata["tags"] = [tag]
    return cell


def write_notebook(path: Path) -> Path:
    """A notebook with one exercise function (tagged 'solution') and one 'Think' question."""
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# A lesson"),
        tagged(nbformat.v4.new_code_cell(SOLUTION), "solution"),
        tagged(nbformat.v4.new_markdown_cell("**Think.** What would you measure next?"), "think"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def test_student_writes_exercise_copies(tmp_path, capsys):
    write_notebook(tmp_path / "nbs" / "01_lesson.ipynb")
    dest = tmp_path / "student"
    assert main(["student", str(tmp_path / "nbs"), str(dest)]) == 0
    assert capsys.readouterr().out == f"wrote 1 exercise notebooks to {dest}\n"
    cell = nbformat.read(dest / "01_lesson.ipynb", 4).cells[1]
    assert cell.source.startswith('def add_one(x):\n    """Add one to x."""')
    assert 'raise NotImplementedError("Exercise: Add one to x.")' in cell.source and "return x + 1" not in cell.source


def test_student_without_notebooks_is_one_line(tmp_path, capsys):
    assert main(["student", str(tmp_path), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no notebooks (*.ipynb) in") and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_assignments_writes_a_course_and_says_so(tmp_path, capsys):
    write_notebook(tmp_path / "nbs" / "01_lesson.ipynb")
    course = tmp_path / "course"
    assert main(["assignments", str(tmp_path / "nbs"), str(course), "--seed", "5", "--think-points", "3"]) == 0
    source = course / "source" / "01_lesson" / "01_lesson.ipynb"
    assert capsys.readouterr().out.splitlines() == [
        f"wrote {source}",
        f"1 assignments in {course}/source, hidden tests with seed 5 (given; a new term: --new-seed); nbgrader config: {course / 'nbgrader_config.py'}"]
    points = [c.metadata.nbgrader.get("points") for c in nbformat.read(source, 4).cells if "nbgrader" in c.metadata]
    assert 3 in points and "unioncam-lite" in (course / "nbgrader_config.py").read_text()
    # again, into the same course: the config is kept, and an --exchange for it is reported as not applied
    assert main(["assignments", str(tmp_path / "nbs"), str(course), "--seed", "6", "--exchange", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].endswith("nbgrader_config.py (kept the existing one)") and "seed 6" in lines[1]
    assert lines[2] == "note: --exchange was not applied: edit c.Exchange.root in the existing nbgrader_config.py"


def test_assignments_defaults_and_bad_values(tmp_path, capsys):
    args = build_parser().parse_args(["assignments"])
    assert Path(args.notebooks) == Path(__file__).resolve().parents[2] / "notebooks" and Path(args.notebooks).is_dir()
    assert (args.course, args.seed, args.points, args.think_points, args.exchange, args.course_id) == (
        "course", None, 2, 1, None, "unioncam-lite")
    write_notebook(tmp_path / "nbs" / "01_lesson.ipynb")
    for extra, message in ((["--points", "0"], "points must be positive"),
                           (["--course-id", "a b"], "course id 'a b': use letters, digits")):
        assert main(["assignments", str(tmp_path / "nbs"), str(tmp_path / "course"), *extra]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "course").exists()


@pytest.mark.parametrize("command", ["student", "assignments"])
def test_a_file_where_a_folder_goes_is_one_line(tmp_path, command, capsys):
    write_notebook(tmp_path / "nbs" / "01_lesson.ipynb")
    (tmp_path / "file").write_text("x")
    assert main([command, str(tmp_path / "nbs"), str(tmp_path / "file")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
