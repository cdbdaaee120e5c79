"""The install fits into the user's environment (issue 20 §5).

* Fast, in this venv: every module of the package imports with the extras' packages made
  unimportable, and what needs the course extra says which ``pip install`` brings it.
* In a second venv (tests/other_torch_venv.py, built once per session): a researcher's own torch
  (2.13.0+cpu, not `make`'s 2.14.1) survives ``pip install <package>``, which brings no extra; the
  installed package imports from outside the checkout, finds its bundled weights and runs
  ``union_cam`` on ``shapes_cnn`` (the same map as here, to float precision); and after the
  ``test`` extra, the library tests pass with that torch.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from other_torch_venv import EXTRAS, IMPORT_EVERY_MODULE, REPO, SEED, TORCH, TORCHVISION

#: the library's tests: those that need no course stack (notebooks, nbgrader, the app); tests/metrics'
#: claims tests run the course's notebook and benchmark, so they stay out
LIBRARY_TESTS = ("tests/cams", "tests/test_metrics.py", "tests/test_road.py", "tests/data", "tests/models",
                 *sorted(f"tests/metrics/{p.name}" for p in (REPO / "tests" / "metrics").glob("test_*.py")
                         if "claims" not in p.name))

BLOCKED_IMPORTS = '''
import importlib, importlib.abc, json, pkgutil, sys

BLOCK = set(sys.argv[1].split(","))


class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCK:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


sys.meta_path.insert(0, Block())
import unioncam_lite
from unioncam_lite.course import student
''' + IMPORT_EVERY_MODULE + '''try:
    student.blank_solution("def f():\\n    return 1\\n")
    error = None
except ImportError as err:
    error = str(err)
print(json.dumps({"failed": failed, "error": error}))
'''


def test_every_module_imports_without_the_extras():
    # the course's and the tests' packages, and what they bring (traitlets, jupyter_*), made unimportable
    blocked = EXTRAS + ("traitlets", "jupyter_core", "jupyter_client", "jupyter_server", "nbconvert", "psutil")
    out = subprocess.run([sys.executable, "-c", BLOCKED_IMPORTS, ",".join(blocked)], cwd=REPO,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["failed"] == {}, "modules that need an extra at import time: " + str(result["failed"])
    assert result["error"] == "nbformat is not installed; it comes with the 'course' extra: " \
                              "pip install 'unioncam-lite[course]'"


def test_require_names_the_extra_and_keeps_other_errors():
    from unioncam_lite.course.extras import LazyModule, MissingExtra, require

    assert require("json").dumps([1]) == "[1]"
    with pytest.raises(MissingExtra, match=r"pip install 'unioncam-lite\[course\]'"):
        require("nbgrader_not_a_module_xyz")
    with pytest.raises(MissingExtra):
        LazyModule("ipywidgets_not_a_module_xyz").Dropdown  # noqa: B018 (the attribute access imports)
    lazy = LazyModule("json")
    assert lazy.loads("[2]") == [2]


# --------------------------------------------------------------------------- the second venv

def test_plain_install_keeps_the_users_torch_and_brings_no_extra(other_torch_venv):
    installed = other_torch_venv.info["after_package"]
    assert installed["torch"] == f"{TORCH}+cpu" and installed["torchvision"].startswith(TORCHVISION)
    assert installed["unioncam-lite"] == "0.1.0"
    bare = other_torch_venv.info["bare"]
    assert bare["torch"] == f"{TORCH}+cpu"
    assert bare["extras_present"] == [], f"a plain install brought extras' packages: {bare['extras_present']}"
    package = Path(bare["package_file"])
    assert REPO not in package.parents and other_torch_venv.root in package.parents  # the installed copy


def test_installed_package_imports_every_module_and_names_the_course_extra(other_torch_venv):
    bare = other_torch_venv.info["bare"]
    assert bare["failed_imports"] == {}
    assert "pip install 'unioncam-lite[course]'" in bare["course_error"]
    code, usage = bare["cli_help"]
    assert code == 0 and "usage" in usage


def test_union_cam_on_shapes_cnn_as_here(other_torch_venv):
    """The installed package found its bundled weights and computed the map this venv computes."""
    import torch

    from unioncam_lite import load_model, union_cam
    from unioncam_lite.data import shapes

    bare = other_torch_venv.info["bare"]
    model, spec = load_model("shapes_cnn", device="cpu")
    images, labels, _ = shapes.generate(1, seed=SEED)
    here = union_cam(model, shapes.to_tensor(images), spec.target_layer)
    there = np.load(other_torch_venv.root / "bare_cam.npy")
    assert bare["class_idx"] == here.class_idx.tolist() == labels.tolist()   # the model is right, in both
    assert bare["chosen"] == here.chosen
    assert there.shape == tuple(here.cam.shape) == (1, 64, 64)
    # two torch releases, one CPU: the same map up to float rounding
    np.testing.assert_allclose(there, here.cam.numpy(), atol=1e-4)
    assert float(torch.as_tensor(there).std()) > 0.05   # a real map, not a constant


def test_library_tests_pass_on_the_other_torch(other_torch_venv):
    python = other_torch_venv.python
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    env["MPLBACKEND"] = "Agg"
    out = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=-ra",
                          *(str(REPO / t) for t in LIBRARY_TESTS)],
                         cwd=other_torch_venv.root / "cwd", env=env, capture_output=True, text=True, timeout=3600)
    (other_torch_venv.root / "library-tests.log").write_text(out.stdout + out.stderr)   # counts, skips, for a report
    tail = out.stdout[-6000:] + out.stderr[-3000:]
    assert out.returncode == 0, tail
    summary = out.stdout.strip().splitlines()[-1]
    passed = int(re.search(r"(\d+) passed", summary).group(1))
    assert passed > 100 and "failed" not in summary and "error" not in summary, summary
    # it ran the installed package on torch 2.13, not this checkout
    probe = subprocess.run([str(python), "-c", "import torch, unioncam_lite; print(torch.__version__, unioncam_lite.__file__)"],
                           cwd=other_torch_venv.root / "cwd", env=env, capture_output=True, text=True)
    version, location = probe.stdout.split()
    assert version == f"{TORCH}+cpu" and REPO not in Path(location).parents
