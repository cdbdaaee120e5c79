"""Answers that try to game the exercise checks (issue 19, item 2): calling the library function on
another thread, a copy of its code, the profiler turned off, a tensor subclass that makes every
comparison true, the checker replaced by an earlier cell. Each must get no points: through the
checkers directly, and the main ones through real ``nbgrader autograde``."""
import __future__

import inspect
import os
import shutil
import sys
import threading
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
import torch
from nbgrader_run import autograde, run_nbgrader

import unioncam_lite as ucl
from unioncam_lite.course import exercises as ex
from unioncam_lite.course import fresh
from unioncam_lite.course.assignments import make_course

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "unioncam_lite"


def my_union(L_den, L_reg, beta_den, beta_reg):
    w_den, w_reg = beta_den.clamp_min(0)[:, None, None], beta_reg.clamp_min(0)[:, None, None]
    return torch.where((w_den == 0) & (w_reg == 0), L_reg, ucl.normalize_maps(w_den * L_den + w_reg * L_reg))


def on_a_new_thread(*args):
    out = {}
    worker = threading.Thread(target=lambda: out.setdefault("cam", ucl.union(*args)))
    worker.start()
    worker.join()
    return out["cam"]


POOL = ThreadPoolExecutor(1)
POOL.submit(int).result()          # its thread runs before any check starts


def on_a_running_thread(*args):
    return POOL.submit(ucl.union, *args).result()


RENAMED = types.FunctionType(ucl.union.__code__.replace(co_name="fuse"), ucl.union.__globals__,
                             "fuse")


def renamed_copy(*args):
    return RENAMED(*args)


UNION_SOURCE = inspect.getsource(ucl.cams.unioncam.union)     # read in an earlier cell


def recompiled_copy(*args):
    source = UNION_SOURCE.replace("def union(", "def blend(")
    namespace = {}
    exec(compile(source, "<answer>", "exec", __future__.annotations.compiler_flag, dont_inherit=True),
         dict(vars(ucl.cams.unioncam)), namespace)
    return namespace["blend"](*args)


def renamed_copy_on_a_new_thread(*args):
    out = {}
    worker = threading.Thread(target=lambda: out.setdefault("cam", RENAMED(*args)))
    worker.start()
    worker.join()
    return out["cam"]


def profiler_off(*args):
    sys.setprofile(None)
    return ucl.union(*args)


def every_profiler_off(*args):
    threading.setprofile(None)
    sys.setprofile(None)
    return ucl.union(*args)


class AlwaysClose(torch.Tensor):
    """A tensor whose comparisons are always true."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in (torch.isclose, torch.equal, torch.Tensor.all, torch.Tensor.any):
            return torch.tensor(True)
        return super().__torch_function__(func, types, args, kwargs or {})


def tensor_subclass(L_den, *_):
    return torch.zeros_like(L_den).as_subclass(AlwaysClose)


class Lazy:
    """Turns into the library's result only when converted, after the answer returned."""

    def __init__(self, args):
        self.args = args

    def __array__(self, *_, **__):
        return ucl.union(*self.args).numpy()


HOSTILE = {
    "library on a new thread": (on_a_new_thread, "calls the library's `union`"),
    "library on a thread running before the check": (on_a_running_thread, "calls the library's `union`"),
    "renamed copy of union.__code__": (renamed_copy, "calls the library's `union`"),
    "recompiled copy of union's source": (recompiled_copy, "calls the library's `union`"),
    "renamed copy on a new thread": (renamed_copy_on_a_new_thread, "calls the library's `union`"),
    "sys.setprofile(None)": (profiler_off, "calls sys.setprofile"),
    "threading and sys.setprofile(None)": (every_profiler_off, "calls threading.setprofile, sys.setprofile"),
    "tensor subclass": (tensor_subclass, "(a subclass of torch.Tensor), expected a plain tensor"),
    "object converted later": (lambda *args: Lazy(args), "returned a Lazy, expected a tensor"),
}


@pytest.mark.parametrize("seed", [None, 5])
@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_answers_fail_the_checker(case, seed, capsys):
    answer, message = HOSTILE[case]
    assert ex.check_union(answer, seed=seed) is False
    out = capsys.readouterr()
    assert message in out.out and "✓" not in out.out and out.out.rstrip().endswith("FAIL: union (Eq. 6)")
    assert sys.getprofile() is None and threading.getprofile() is None      # the watch is gone
    assert ucl.union.__code__.co_name == "union" and not ucl.union.__kwdefaults__
    assert ex.check_union(my_union, seed=seed)          # and a right answer still passes afterwards


def test_a_pair_must_be_plain_too(capsys):
    def select(L_fused, L_reg, beta_fused, beta_reg):
        wins = beta_fused > beta_reg
        cam = torch.where(wins[:, None, None], L_fused, L_reg)
        return cam.as_subclass(AlwaysClose), ["fused" if w else "region" for w in wins.tolist()]

    assert ex.check_select(select, seed=2) is False
    assert "cam: returned a AlwaysClose (a subclass of torch.Tensor)" in capsys.readouterr().out


def test_fresh_checkers_ignore_a_replaced_checker_and_library(monkeypatch, capsys):
    digest = fresh.package_digest(PACKAGE)
    wrong = lambda L_den, *_: L_den  # noqa: E731
    monkeypatch.setattr(ex, "check_union", lambda *a, **k: True)       # what an answer cell can do
    monkeypatch.setattr(ucl.cams.unioncam, "union", wrong)              # the reference, too
    checkers = fresh.fresh_exercises(PACKAGE, digest)
    assert checkers.__name__.endswith(".course.exercises") and checkers.__name__ != ex.__name__
    assert checkers.check_union(wrong, seed=4) is False
    assert checkers.check_union(my_union, seed=4) is True
    assert checkers.check_union(lambda *a: ucl.cams.unioncam.union(*a), seed=4) is False
    monkeypatch.undo()
    assert checkers.check_union(lambda *a: ucl.union(*a), seed=4) is False    # the package's own union
    assert "calls the library's `union`" in capsys.readouterr().out


def test_fresh_checkers_refuse_other_package_files(tmp_path):
    copy = tmp_path / "unioncam_lite"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    digest = fresh.package_digest(PACKAGE)
    exercises_py = copy / "course" / "exercises.py"
    exercises_py.write_text(exercises_py.read_text() + "\ncheck_union = lambda *a, **k: True\n")
    with pytest.raises(RuntimeError, match="not the one this course was made with"):
        fresh.fresh_exercises(copy, digest)


# ------------------------------------------------------------------ through real nbgrader

LESSON_SOLUTION = ('def my_union(L_den, L_reg, beta_den, beta_reg):\n    """Eq. 6."""\n'
                   "    w_den, w_reg = beta_den.clamp_min(0)[:, None, None], beta_reg.clamp_min(0)[:, None, None]\n"
                   "    fused = ucl.normalize_maps(w_den * L_den + w_reg * L_reg)\n"
                   "    return torch.where((w_den == 0) & (w_reg == 0), L_reg, fused)")
SUBMISSIONS = {   # student -> (answer cell, points expected)
    "honest": (LESSON_SOLUTION, 2),
    "thread": ("import threading\n\ndef my_union(L_den, L_reg, beta_den, beta_reg):\n    out = {}\n"
               "    t = threading.Thread(target=lambda: out.setdefault('cam', ucl.union(L_den, L_reg, beta_den, "
               "beta_reg)))\n    t.start()\n    t.join()\n    return out['cam']", 0),
    "pool": ("from concurrent.futures import ThreadPoolExecutor\npool = ThreadPoolExecutor(1)\n"
             "pool.submit(int).result()\n\ndef my_union(L_den, L_reg, beta_den, beta_reg):\n"
             "    return pool.submit(ucl.union, L_den, L_reg, beta_den, beta_reg).result()", 0),
    "subclass": ("import torch\n\nclass T(torch.Tensor):\n    @classmethod\n"
                 "    def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
                 "        if func in (torch.isclose, torch.equal, torch.Tensor.all):\n"
                 "            return torch.tensor(True)\n"
                 "        return super().__torch_function__(func, types, args, kwargs or {})\n\n"
                 "def my_union(L_den, L_reg, beta_den, beta_reg):\n    return torch.zeros_like(L_den).as_subclass(T)",
                 0),
    "checker": ("import unioncam_lite.course.exercises\n"
                "unioncam_lite.course.exercises.check_union = lambda *a, **k: True\n\n"
                "def my_union(L_den, L_reg, beta_den, beta_reg):\n    return L_den", 0),
}


def lesson():
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    solution = nbformat.v4.new_code_cell(LESSON_SOLUTION, metadata={"tags": ["solution"]})
    check = nbformat.v4.new_code_cell("from unioncam_lite.course.exercises import check_union\n\n"
                                      "assert check_union(my_union)", metadata={"tags": ["check"]})
    nb.cells = [nbformat.v4.new_code_cell("import torch\nimport unioncam_lite as ucl"), solution, check]
    return nb


def test_hostile_answers_get_no_points_from_nbgrader(tmp_path, monkeypatch):
    from nbgrader.api import Gradebook

    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        (tmp_path / "jupyter" / var).mkdir(parents=True)
        monkeypatch.setenv(var, str(tmp_path / "jupyter" / var))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv("JUPYTER_PATH", raising=False)
    monkeypatch.delenv("JUPYTER_CONFIG_PATH", raising=False)
    (tmp_path / "notebooks").mkdir()
    nbformat.write(lesson(), tmp_path / "notebooks" / "lesson.ipynb")
    course = tmp_path / "course"
    make_course(tmp_path / "notebooks", course, seed=11)

    run_nbgrader(course, "generate_assignment", "lesson", timeout=900)
    for student, (answer, _) in SUBMISSIONS.items():
        nb = nbformat.read(course / "release" / "lesson" / "lesson.ipynb", 4)
        next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")).source = answer
        (course / "submitted" / student / "lesson").mkdir(parents=True)
        nbformat.write(nb, course / "submitted" / student / "lesson" / "lesson.ipynb")
    autograde(course, "lesson", timeout=900)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "unioncam-lite") as gb:
        scores = {s: gb.find_grade("test_my_union", "lesson", "lesson", s).auto_score for s in SUBMISSIONS}
    assert scores == {s: points for s, (_, points) in SUBMISSIONS.items()}
    graded = (course / "autograded" / "thread" / "lesson" / "lesson.ipynb").read_text()
    assert "calls the library's `union`" in graded and "matches the library" not in graded
