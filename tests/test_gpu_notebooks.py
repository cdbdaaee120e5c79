"""Part 2 of `make gpu-check`: every notebook through nbval (benchmarks/gpu_notebooks.py) by the
per-notebook runner (benchmarks/time_notebooks.run_nbval): failures and timeouts recorded, a kernel
that dies at its start started again, a few notebooks at a time within the budget, the rehearsal's
short copies of the notebooks.

(No test here has "cuda" in its name: gpu-check selects the CUDA tests with ``-k cuda``.)
"""
import sys
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_notebooks  # noqa: E402
import time_notebooks  # noqa: E402


def test_nbval_runner_records_failures_and_timeouts(tmp_path):
    """The real per-notebook runner (pytest --nbval-lax in its own process) on two tiny notebooks."""
    def notebook(name, source):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        path = tmp_path / f"{name}.ipynb"
        nbformat.write(nb, path)
        return path

    failed = time_notebooks.run_nbval(notebook("bad", "assert 1 + 1 == 3, 'arithmetic'"), timeout=120)
    assert failed["status"] == "failed" and "arithmetic" in failed["detail"] and failed["notebook"] == "bad"
    assert "started again" not in failed["detail"]          # a notebook's own failure is not retried
    hung = time_notebooks.run_nbval(notebook("slow", "import time\ntime.sleep(60)"), timeout=1)
    assert hung["status"] == "timeout" and hung["seconds"] < 30


#: an ipykernel launcher that, the first time, loses Jupyter's port race: another process binds the
#: kernel's shell port (from its connection file) before the kernel does; then it runs the real launcher
RACING_LAUNCHER = """
import json, os, runpy, socket, sys
from pathlib import Path
flag = Path(os.environ["RACE_FLAG"])
if not flag.exists():
    flag.write_text("lost the race once")
    conn = json.loads(Path(sys.argv[sys.argv.index("-f") + 1]).read_text())
    taken = socket.socket()
    taken.bind((conn["ip"], conn["shell_port"]))
    taken.listen()
here = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if p not in ("", here)]
runpy.run_module("ipykernel_launcher", run_name="__main__")
"""


def test_nbval_runner_starts_a_notebook_again_when_its_kernel_dies_at_start(tmp_path, monkeypatch):
    """Jupyter's port race, reproduced: the kernel's port is taken before it binds it, so the kernel dies
    (ZMQError: Address already in use) and nbval reports "Kernel died before replying to kernel_info" at
    Cell 0. Seen once in the rehearsal with notebooks run three at a time; the runner used to record the
    notebook as failed. Now it starts it again, once, and says so. (A notebook's own failure is not
    retried: test_nbval_runner_records_failures_and_timeouts.)"""
    launcher = tmp_path / "launcher"
    launcher.mkdir()
    (launcher / "ipykernel_launcher.py").write_text(RACING_LAUNCHER)
    monkeypatch.setenv("PYTHONPATH", str(launcher))
    monkeypatch.setenv("RACE_FLAG", str(tmp_path / "raced"))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("assert 1 + 1 == 2")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "ok.ipynb")
    row = time_notebooks.run_nbval(tmp_path / "ok.ipynb", timeout=240)
    assert (tmp_path / "raced").exists(), "the racing launcher did not run"
    assert row["status"] == "passed", row["detail"]
    assert row["detail"].count("its kernel died at its start") == 1 and "started again" in row["detail"]
    # without a retry left, the same race is a failure that says what nbval saw
    (tmp_path / "raced").unlink()
    row = time_notebooks.run_nbval(tmp_path / "ok.ipynb", timeout=240, retries=0)
    assert row["status"] == "failed" and "Kernel died before replying to kernel_info" in row["detail"]


def test_rehearsal_notebook_keeps_the_setup_cell_and_every_import(tmp_path):
    cells = [nbformat.v4.new_markdown_cell("# title"),
             nbformat.v4.new_code_cell("%matplotlib inline\nimport torch\nmodel = 1"),
             nbformat.v4.new_code_cell("import pandas as pd\nfrom os import (\n    path,\n    sep)\nx = pd.DataFrame()"),
             nbformat.v4.new_code_cell("%time y = 2\nimport pandas as pd\ndef f():\n    import json"),
             nbformat.v4.new_code_cell("this is not python")]
    nb = nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "P"}})
    nbformat.write(nb, tmp_path / "05_x.ipynb")
    copy = nbformat.read(gpu_notebooks.rehearsal_notebook(tmp_path / "05_x.ipynb", tmp_path / "r"), as_version=4)
    assert [c.source for c in copy.cells] == ["%matplotlib inline\nimport torch\nmodel = 1",
                                              "import pandas as pd\nfrom os import path, sep"]
    assert copy.metadata["kernelspec"]["name"] == "python3"
    # a set-up cell already run (the course's notebooks share one) leaves only its imports
    seen = {"%matplotlib inline\nimport torch\nmodel = 1"}
    again = nbformat.read(gpu_notebooks.rehearsal_notebook(tmp_path / "05_x.ipynb", tmp_path / "r", seen), as_version=4)
    assert [c.source for c in again.cells] == ["import torch\nimport pandas as pd\nfrom os import path, sep"]


def test_notebooks_run_a_few_at_a_time(tmp_path, monkeypatch):
    """--notebook-jobs 3: three notebooks in flight together (a barrier of three would time out
    otherwise), never more, every row in notebook order."""
    import threading

    barrier, lock, state = threading.Barrier(3, timeout=20), threading.Lock(), {"now": 0, "most": 0}

    def fake_nbval(path, timeout, *args, **kwargs):
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        barrier.wait()
        with lock:
            state["now"] -= 1
        return {"notebook": path.stem, "seconds": 1.0, "status": "passed", "detail": ""}

    monkeypatch.setattr(time_notebooks, "run_nbval", fake_nbval)
    result, writes = {}, []
    gpu_notebooks.part_notebooks(result, time.monotonic() + 600, tmp_path, lambda: writes.append(1), jobs=3)
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert [r["notebook"] for r in result["notebooks"]] == notebooks and len(writes) == len(notebooks)
    assert all(r["status"] == "passed" for r in result["notebooks"]) and state["most"] == 3
    assert result["notebook_jobs"] == 3 and result["notebooks_wall"] >= 0


def test_a_notebook_starts_only_with_time_left_at_its_start(tmp_path, monkeypatch):
    """The budget is checked when a notebook starts, not when it is queued: with a clock that each
    notebook moves on by 60 s and 125 s to the deadline, two run (limits 120 and 65 s), the rest do not."""
    clock, limits = {"t": 1000.0}, []

    def fake_nbval(path, timeout, *args, **kwargs):
        limits.append(timeout)
        clock["t"] += 60
        return {"notebook": path.stem, "seconds": 60.0, "status": "passed", "detail": ""}

    monkeypatch.setattr(gpu_notebooks.time, "monotonic", lambda: clock["t"])
    monkeypatch.setattr(time_notebooks, "run_nbval", fake_nbval)
    result: dict = {}
    gpu_notebooks.part_notebooks(result, 1125.0, tmp_path, lambda: None, jobs=1)
    assert limits == [gpu_notebooks.NOTEBOOK_LIMIT, 65.0]
    statuses = [r["status"] for r in result["notebooks"]]
    assert statuses[:2] == ["passed", "passed"] and set(statuses[2:]) == {"not run"}
    assert all(r["detail"] == "time budget spent" for r in result["notebooks"][2:])
