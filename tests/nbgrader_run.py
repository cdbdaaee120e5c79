"""nbgrader as the tests run it: a subprocess in the course folder, its output returned, and autograde
guarded against a kernel that stops answering.

In 2026-12-03's CI one autograde run waited ten minutes on a kernel that sat idle, all its ports
bound: a cell had been sent, the kernel never ran it, and nbgrader waited for the reply until the
test's limit killed it. A message lost between client and kernel; ipykernel 7 has had such losses
of ``execute_request`` (ipython/ipykernel#1529, fixed in the 7.4.0 used here; #1471 still open).
Not reproduced since in 28 autograde runs of the same submission and 15 of all four (a quieter
machine), so the tests guard against it instead of pinning another ipykernel: each cell is
limited to :data:`CELL_LIMIT` seconds, so that such a wait ends as nbgrader's ``CellTimeoutError``
in that cell, and a submission with such a cell is graded once more.
"""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

#: seconds a cell may take under autograde in the tests: the graded notebooks' longest cell takes a
#: few seconds on these 2 cores, so a cell without a reply after two minutes has lost its kernel
CELL_LIMIT = 120
#: what nbgrader writes in a cell stopped at its time limit (its ``Execute.error_on_timeout``)
NO_REPLY = "No reply from kernel before timeout"


def nbgrader_env(root: Path) -> dict[str, str]:
    """This process's environment for nbgrader and its kernels, with Jupyter's config, data and
    runtime folders and IPython's in ``root`` (nothing outside read or written), this Python's
    commands first on PATH (nbgrader runs alembic), and one BLAS/OpenMP thread per kernel."""
    env = {k: v for k, v in os.environ.items() if k not in ("JUPYTER_PATH", "JUPYTER_CONFIG_PATH")}
    for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        (root / var).mkdir(parents=True)
        env[var] = str(root / var)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["OMP_NUM_THREADS"] = "1"
    return env


def run_nbgrader(course: Path, *args: str, env: Mapping[str, str] | None = None, timeout: float = 600) -> str:
    """``nbgrader ARGS`` in ``course``; fails the test with nbgrader's output unless it exits 0."""
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def autograde(course: Path, assignment: str, env: Mapping[str, str] | None = None, timeout: float = 600,
              cell_limit: float = CELL_LIMIT) -> str:
    """``nbgrader autograde ASSIGNMENT`` with every cell limited to ``cell_limit`` seconds; each
    submission in which a cell got no reply is graded once more (``--force``), and the output says so."""
    limit = f"--Execute.timeout={cell_limit:g}"
    out = run_nbgrader(course, "autograde", assignment, limit, env=env, timeout=timeout)
    for graded in sorted((course / "autograded").glob(f"*/{assignment}/*.ipynb")):
        if NO_REPLY in graded.read_text():
            student, name = graded.parts[-3], graded.parts[-2]
            note = f"note: {student}/{name}: a cell got no reply within {cell_limit:g} s; graded again"
            print(note)
            out += f"\n{note}\n" + run_nbgrader(course, "autograde", name, "--student", student, "--force", limit,
                                                 env=env, timeout=timeout)
    return out
