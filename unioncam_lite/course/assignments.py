"""An nbgrader course made from the committed notebooks.

``python -m unioncam_lite assignments [NOTEBOOKS] [COURSE] [--seed N] [--points P] [--think-points T]
[--exchange DIR] [--course-id ID]`` (``make assignments``: ``notebooks/`` → ``course/``) writes
``COURSE/source/<notebook>/<notebook>.ipynb`` for every notebook with exercises, and
``COURSE/nbgrader_config.py`` if there is none yet. ``nbgrader generate_assignment`` then makes
the versions to release (README, "For instructors"). The committed notebooks stay the only
source: the cells are found by their tags, never by position or text:

* a code cell tagged ``solution`` (it defines one function): its solution regions — the author's
  ``### BEGIN SOLUTION`` / ``### END SOLUTION`` markers around the essential lines of a scaffold,
  else the function's whole body after its docstring (:mod:`.solution_cells`); nbgrader ``solution`` cell;
* a code cell tagged ``check`` (``passed = check_x(my_fn, ...)`` then ``x = yours_or_library(my_fn,
  passed, library_fn)``: it prints and falls back, never raises, :mod:`.fallback`): a locked,
  autograded test cell worth ``--points`` (default 2) points, all or nothing, with a ``### BEGIN HIDDEN
  TESTS`` block that asserts the same calls with checkers read fresh from the package's files and
  then the same checkers with ``seed=N``: other shapes, θ and β values, and real tensors of
  another model, image and class (see :mod:`.exercises`, which also refuses answers
  that call the library function they should write). The fresh checkers are checked against their
  digests at the course's making (:mod:`.fresh`), so an answer cell that replaced ``check_union`` is
  still graded;
* a ``solution`` whose function no ``check`` cell calls (none in the committed notebooks) becomes a
  *manually graded* code answer worth ``--points``: nbgrader cannot autograde it, so the instructor
  grades it by hand;
* a markdown cell tagged ``think`` (the question, then ``<details><summary>Answer</summary> ...
  </details>``): a read-only question cell, then a manually graded answer cell worth
  ``--think-points`` (default 1) whose reference answer (the details' text) students don't get.

Only ``source/`` is rewritten (atomically, after every notebook was converted); an existing
``nbgrader_config.py`` and nbgrader's own folders (release, submitted, autograded, feedback) and
database are never touched. The hidden tests' seed is drawn at random at the course's first making
and stored in ``COURSE/hidden_tests_seed.txt`` (:func:`course_seed`); later runs keep it, so a
regenerated ``source/`` grades a term's submissions with the same hidden tests. ``--seed N`` sets
it and ``--new-seed`` draws a fresh one (both stored): nbgrader's feedback shows the hidden tests'
source, seed included, so every term (or release) needs a new seed.
"""
from __future__ import annotations

import ast
import copy
import hashlib
import inspect
import re
from pathlib import Path
from typing import TYPE_CHECKING

from ..outputs import write_text_atomic
from . import exercises, fresh
from .extras import LazyModule
from .seeds import SEED_FILE, SEED_NOTE, course_seed  # noqa: F401 (course_seed is part of this module's API)
from .solution_cells import mark_solution, solution_function  # noqa: F401 (part of this module's API)

if TYPE_CHECKING:
    import nbformat
else:   # the course extra, imported when first used (extras.py): this module imports without it
    nbformat = LazyModule("nbformat")

THINK_ANSWER = re.compile(r"(?s)^(?P<question>.*?)<details>\s*<summary>.*?</summary>(?P<answer>.*?)</details>"
                          r"(?P<rest>.*)$")
CONFIG = '''\
# nbgrader configuration of the {course_id} course, written by `python -m unioncam_lite assignments`
# (`make assignments`); it is never overwritten, edit it freely. Run nbgrader from this folder.
c = get_config()  # noqa: F821 (nbgrader provides it)

c.CourseDirectory.course_id = "{course_id}"
# where students fetch assignments and submit them; on a JupyterHub shared with the students, use
# the shared exchange (nbgrader's default is /srv/nbgrader/exchange) and configure the same for them
c.Exchange.root = {exchange!r}
# notebook cells may run for minutes on a slow CPU (nbgrader's default limit is 30 s per cell)
c.Execute.timeout = 600

# feedback pages readable offline: equations as MathML, no MathJax from a CDN (unioncam_lite.course.feedback)
from unioncam_lite.course.feedback import configure_feedback  # noqa: E402

configure_feedback(c)
'''


def _tags(cell: nbformat.NotebookNode) -> list[str]:
    return list(cell.metadata.get("tags", []))


def nbgrader_metadata(grade_id: str, *, solution: bool = False, grade: bool = False, locked: bool = False,
                      points: float | None = None) -> dict:
    """A cell's ``metadata["nbgrader"]`` (schema 3): a solution, an autograded test (``grade``,
    ``locked``, ``points``), a read-only cell (``locked``) or a manually graded answer."""
    meta: dict = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution,
            "task": False}
    if points is not None:
        meta["points"] = points
    return meta


def _check_nodes(source: str) -> list[tuple[ast.Call, str]]:
    """Each ``check_*(fn, ...)`` call in a cell tagged ``check``, with the checker's name (which
    :mod:`.exercises` must define with a ``seed=`` argument)."""
    calls = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if name.startswith("check_") and node.args:
                calls.append((node, name))
    for _, name in calls:
        checker = getattr(exercises, name, None)
        if checker is None or "seed" not in inspect.signature(checker).parameters:
            raise ValueError(f"a cell tagged 'check' calls {name}, which unioncam_lite.course.exercises does not "
                             "define with a seed= argument for hidden tests")
    if not calls:
        raise ValueError("a cell tagged 'check' has no `check_...(your_function)` call")
    return calls


def check_calls(source: str) -> list[tuple[str, str]]:
    """``(checker, learner function)`` of each ``check_*(fn, ...)`` call in a cell tagged ``check``."""
    return [(ast.unparse(node.func), ast.unparse(node.args[0])) for node, _ in _check_nodes(source)]


def fresh_visible_calls(source: str) -> list[str]:
    """The check cell's own calls with the fresh checkers (``_checkers.check_x(...)``, same arguments):
    the check cell only prints and falls back (:mod:`.fallback`), so the hidden tests assert them."""
    calls = []
    for node, name in _check_nodes(source):
        fresh_call = copy.deepcopy(node)
        fresh_call.func = ast.Attribute(ast.Name("_checkers", ast.Load()), name, ast.Load())
        calls.append(ast.unparse(fresh_call))
    return calls


FRESH_CHECKERS = """\
# the checkers read fresh from the package's files, those this course was made with: no answer cell can
# have replaced them (unioncam_lite.course.fresh; README, "For instructors")
import hashlib as _hashlib, importlib.util as _util
_package = _util.find_spec("unioncam_lite").submodule_search_locations[0]
with open(_package + "/course/fresh.py", "rb") as _file:
    _source = _file.read()
assert _hashlib.sha256(_source).hexdigest() == "{fresh}", "unioncam_lite is not the version this course was made with"
_fresh = {{"__name__": "unioncam_lite_fresh"}}
exec(compile(_source, _package + "/course/fresh.py", "exec"), _fresh)
_checkers = _fresh["fresh_exercises"](_package, "{package}")"""


VISIBLE_FAILED = "a visible case failed: the ✗ line above names it and says what to check"
HIDDEN_FAILED = ("a hidden case failed: the ✗ line above names it, says what is special about it (this case:) "
                 "and what to check")
def fresh_checkers_code() -> str:
    """The hidden tests' first lines: ``_checkers``, the exercises module read fresh from this
    package's files (:func:`.fresh.fresh_exercises`), with the digests of the files as they are now."""
    fresh_py = Path(fresh.__file__)
    return FRESH_CHECKERS.format(fresh=hashlib.sha256(fresh_py.read_bytes()).hexdigest(),
                                 package=fresh.package_digest(fresh_py.parents[1]))


def add_hidden_tests(source: str, seed: int) -> str:
    """The check cell followed by the same checks on inputs drawn from ``seed`` by checkers read
    fresh from the package (:func:`fresh_checkers_code`), as nbgrader hidden tests."""
    visible = [f"assert {call}, {VISIBLE_FAILED!r}" for call in fresh_visible_calls(source)]
    hidden = [f"assert _checkers.{func.split('.')[-1]}({arg}, seed={seed}), {HIDDEN_FAILED!r}"
              for func, arg in check_calls(source)]
    return "\n".join([source.rstrip(), "### BEGIN HIDDEN TESTS", fresh_checkers_code(), *visible, *hidden,
                      "### END HIDDEN TESTS"])


def split_think(source: str) -> tuple[str, str]:
    """A 'think' cell's (question, reference answer): the text around / inside ``<details>``."""
    match = THINK_ANSWER.match(source)
    if match is None:
        return source.strip(), ""
    question = (match["question"].rstrip() + "\n\n" + match["rest"].strip()).strip()
    return question, match["answer"].strip()


def _unique(grade_id: str, used: set[str]) -> str:
    candidate, n = grade_id, 1
    while candidate in used:
        n += 1
        candidate = f"{grade_id}_{n}"
    used.add(candidate)
    return candidate


def make_assignment(nb: nbformat.NotebookNode, seed: int, points: float = 2, think_points: float = 1
                    ) -> nbformat.NotebookNode | None:
    """The nbgrader source version of a notebook, or None if it has no exercise."""
    nb = copy.deepcopy(nb)
    cells: list[nbformat.NotebookNode] = []
    used: set[str] = set()
    exercises_found = thinks = 0
    checked = {learner for cell in nb.cells if cell.cell_type == "code" and "check" in _tags(cell)
               for _, learner in check_calls(cell.source)}
    for cell in nb.cells:
        tags = _tags(cell)
        if cell.cell_type == "code" and "solution" in tags:
            name = solution_function(cell.source).name
            cell.source = mark_solution(cell.source)
            if name in checked:   # autograded by its check cell's tests
                cell.metadata["nbgrader"] = nbgrader_metadata(_unique(name, used), solution=True)
            else:                 # no checker: a manually graded code answer
                cell.metadata["nbgrader"] = nbgrader_metadata(_unique(name, used), solution=True, grade=True,
                                                              points=points)
            exercises_found += 1
        elif cell.cell_type == "code" and "check" in tags:
            learner = re.sub(r"\W+", "_", check_calls(cell.source)[0][1]).strip("_")
            cell.source = add_hidden_tests(cell.source, seed)
            grade_id = _unique(f"test_{learner}", used)
            cell.metadata["nbgrader"] = nbgrader_metadata(grade_id, grade=True, locked=True, points=points)
        elif cell.cell_type == "markdown" and "think" in tags:
            exercises_found += 1
            thinks += 1
            question, answer = split_think(cell.source)
            grade_id = _unique(f"think_{thinks}", used)
            cell.source = question
            cell.metadata["nbgrader"] = nbgrader_metadata(grade_id, locked=True)
            reference = answer or "(the notebook gives no reference answer)"
            answer_cell = nbformat.v4.new_markdown_cell(reference, metadata={
                "tags": ["think-answer"],
                "nbgrader": nbgrader_metadata(grade_id + "_answer", solution=True, grade=True, points=think_points)})
            if nb.nbformat_minor < 5:  # cell ids came with nbformat 4.5
                del answer_cell["id"]
            cells += [cell, answer_cell]
            continue
        cells.append(cell)
    if not exercises_found:
        return None
    nb.cells = cells
    for cell in nb.cells:  # a source notebook carries no outputs
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.validate(nb)
    return nb


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, text)


def make_course(notebooks: Path, course: Path, *, seed: int | None = None, points: float = 2,
                think_points: float = 1, exchange: Path | None = None, course_id: str = "unioncam-lite"
                ) -> list[Path]:
    """Write ``course/source/<name>/<name>.ipynb`` per notebook with exercises, the seed to
    ``course/hidden_tests_seed.txt`` (``seed``, else the stored one, else a random draw: :func:`course_seed`)
    and ``course/nbgrader_config.py`` if missing; returns the written notebooks."""
    notebooks, course = Path(notebooks), Path(course)
    paths = sorted(notebooks.glob("*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"no notebooks (*.ipynb) in {notebooks}: give the folder of the course notebooks")
    if course.exists() and not course.is_dir():
        raise FileExistsError(f"{course} is a file: give a folder for the course")
    if points <= 0 or think_points <= 0:
        raise ValueError("points must be positive")
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", course_id):
        raise ValueError(f"course id {course_id!r}: use letters, digits, '-' and '_' only")
    seed = course_seed(course, seed)[0]
    made = {}
    for path in paths:  # convert everything before writing anything
        try:
            nb = make_assignment(nbformat.read(path, as_version=4), seed, points, think_points)
        except ValueError as err:
            raise ValueError(f"{path.name}: {err}") from err
        if nb is not None:
            made[path.stem] = nb
    if not made:
        raise ValueError(f"no notebook in {notebooks} has an exercise (a cell tagged 'solution' or 'think')")
    written = []
    for name, nb in made.items():
        target = course / "source" / name / f"{name}.ipynb"
        _write_atomic(target, nbformat.writes(nb))
        written.append(target)
    _write_atomic(course / SEED_FILE, f"{SEED_NOTE}{seed}\n")
    config = course / "nbgrader_config.py"
    if not config.exists():
        exchange = Path(exchange) if exchange is not None else course / "exchange"
        _write_atomic(config, CONFIG.format(course_id=course_id, exchange=str(exchange.resolve())))
    return written
