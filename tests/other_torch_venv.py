"""A second virtual environment with another torch than `make`'s: torch 2.13.0+cpu, torchvision 0.28.0.

Built once per test session (tests/conftest.py: the fixture ``other_torch_venv``) by
:func:`build`, in the order a researcher with their own torch would go:

1. a fresh venv, then their torch: ``pip install torch==2.13.0 torchvision==0.28.0`` (this
   machine's pip takes torch-2.13.0+cpu from /opt/wheels and torchvision from its local index);
2. ``pip install <the package>`` with no extra, from a copy of the files a wheel is made of, so
   nothing of the checkout can leak in; pip must keep their torch (pyproject declares ranges);
3. the ``test`` extra (pytest, the reference CAM libraries, ...): tests/test_install.py runs the
   library's tests with this python.

The versions of everything but torch and torchvision come from constraints.txt, as in `make`.
Nothing is installed from the network that this machine's pip cannot find offline once cached.

**torchvision beside a +cpu torch.** PyPI's torchvision 0.28.0 is built against PyPI's CUDA torch:
its C++ ops library (``torchvision/_C.so``) needs ``libtorch_cuda.so``, which a +cpu torch does not
have, so the ops do not load, and ``import torchvision`` then stops at
``torchvision/_meta_registrations.py``, which registers fake kernels for ``torchvision::nms`` and
``qnms`` without checking that the ops exist ("operator torchvision::nms does not exist"). The
matching build (``torchvision==0.28.0+cpu``, PyTorch's own index) is not reachable here. So when,
and only when, that exact failure happens, the venv gets a start-up hook (a ``.pth`` file) that
declares those two operators' schemas before that module runs: torchvision's Python code —
models, weights' metadata, transforms, everything this package uses — then imports and runs on
torch 2.13, while its C++ ops (nms, roi_align, image decoding; unused here) keep raising
torchvision's own "Couldn't load custom C++ ops" error. ``INFO["torchvision_hook"]`` says whether
the hook was needed.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TORCH = "2.13.0"
TORCHVISION = "0.28.0"
PIP = ("-m", "pip", "--no-input", "--disable-pip-version-check", "-q")
#: what the wheel is made of (pyproject.toml: packages, package data, readme, licence)
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "constraints.txt", "unioncam_lite")

HOOK_MODULE = '''"""Declares torchvision::nms and ::qnms when torchvision's C++ ops cannot load (tests/other_torch_venv.py)."""
import importlib.abc
import sys


class _DeclareMissingOps(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torchvision._meta_registrations":
            sys.meta_path.remove(self)
            import torch
            import torchvision.extension

            if not torchvision.extension._has_ops():
                for op in ("nms", "qnms"):
                    torch.library.define(f"torchvision::{op}",
                                         "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        return None


sys.meta_path.insert(0, _DeclareMissingOps())
'''
TV_FAILURE = "operator torchvision::nms does not exist"

#: imports every module of the installed package (``unioncam_lite``, ``importlib``, ``pkgutil`` imported
#: before it); ``failed`` maps each module that could not be imported to its error
IMPORT_EVERY_MODULE = '''
failed = {}
for m in pkgutil.walk_packages(unioncam_lite.__path__, "unioncam_lite."):
    if not m.name.endswith(".__main__"):
        try:
            importlib.import_module(m.name)
        except Exception as err:
            failed[m.name] = repr(err)
'''

#: run by the venv's python right after ``pip install <package>`` (no extra), from outside the checkout
BARE_CHECK = '''
import importlib, importlib.util, json, pkgutil, sys
import numpy as np, torch, torchvision
import unioncam_lite
from unioncam_lite import load_model, union_cam
from unioncam_lite.data import shapes
''' + IMPORT_EVERY_MODULE + '''model, spec = load_model("shapes_cnn", device="cpu")
images, labels, masks = shapes.generate(1, seed=SEED)
result = union_cam(model, shapes.to_tensor(images), spec.target_layer)
np.save(sys.argv[1], result.cam.numpy())
try:
    from unioncam_lite.course.student import blank_solution
    blank_solution("def f():\\n    \\"\\"\\"Doc.\\"\\"\\"\\n    return 1\\n")
    course_error = None
except ImportError as err:
    course_error = str(err)
print(json.dumps({
    "torch": torch.__version__, "torchvision": torchvision.__version__, "package_file": unioncam_lite.__file__,
    "failed_imports": failed, "class_idx": result.class_idx.tolist(), "label": labels.tolist(),
    "chosen": result.chosen, "course_error": course_error,
    "extras_present": [n for n in EXTRAS if importlib.util.find_spec(n) is not None]}))
'''
#: the packages of the extras (course and test) that a plain install must not bring
EXTRAS = ("nbformat", "nbgrader", "nbclient", "nbconvert", "ipywidgets", "IPython", "ipykernel", "voila", "jupyterlab",
          "latex2mathml", "pytest", "nbval", "yaml", "playwright", "pytorch_grad_cam", "torchcam", "mypy", "ruff")
SEED = 3


class BuildError(RuntimeError):
    """A step of the build failed; the message holds its command and output."""


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 1800) -> str:
    """Run ``cmd``; its output, or :class:`BuildError` with the command and output."""
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode:
        raise BuildError(f"{' '.join(map(str, cmd))} exited {proc.returncode}:\n{proc.stdout[-6000:]}\n"
                         f"{proc.stderr[-6000:]}")
    return proc.stdout


def copy_sources(dest: Path) -> Path:
    """The files a wheel is made of, copied to ``dest`` (no caches, no build leftovers)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    dest.mkdir(parents=True, exist_ok=True)
    for name in SOURCES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        else:
            shutil.copy2(src, dest / name)
    return dest


def constraints_without_torch(dest: Path) -> Path:
    """constraints.txt's pins, less torch and torchvision (this venv's own)."""
    lines = [line for line in (REPO / "constraints.txt").read_text().splitlines()
             if line.split("==")[0].strip().lower() not in ("torch", "torchvision")]
    dest.write_text("\n".join(lines) + "\n")
    return dest


def local_torch_wheel() -> Path | None:
    """The ``torch-TORCH+cpu-*.whl`` wheel (TORCH: the module constant) in one of pip's find-links
    folders (``PIP_FIND_LINKS``, pip's config), or None: without it pip would download a CUDA build
    of several GB."""
    folders = os.environ.get("PIP_FIND_LINKS", "").split()
    config = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
    for line in config.splitlines():
        key, _, value = line.partition("=")
        if key.endswith("find-links"):
            folders += value.strip("'\"").split()
    for folder in folders:
        path = Path(folder.removeprefix("file://"))
        if path.is_dir():
            found = sorted(path.glob(f"torch-{TORCH}+cpu-*.whl"))
            if found:
                return found[0]
    return None


def site_packages(python: Path) -> Path:
    return Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=python.parent)
                .strip())


def _torchvision_imports(python: Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), "-c", "import torchvision"], cwd=cwd, capture_output=True, text=True)


def _env() -> dict[str, str]:
    env = {**os.environ, "PIP_NO_INPUT": "1"}
    env.pop("PYTHONPATH", None)
    return env


def _step(info: dict, name: str, cmd: list[str], cwd: Path) -> None:
    t = time.perf_counter()
    run(cmd, cwd=cwd, env=_env())
    info["seconds"][name] = round(time.perf_counter() - t, 1)


def build(root: Path) -> tuple[Path, dict]:
    """The venv under ``root`` (see the module docstring) with the package and no extra: its python
    and what was done, with the seconds each step took (``info["seconds"]``)."""
    python, info = with_torch(root)
    install_package(root, python, info)
    return python, info


def with_torch(root: Path, torch: str = TORCH, torchvision: str = TORCHVISION) -> tuple[Path, dict]:
    """Step 1: a fresh venv with torch TORCH (+cpu) and torchvision TORCHVISION, or the given
    versions (and, only if torchvision cannot import beside that torch, the start-up hook of the
    module docstring)."""
    root.mkdir(parents=True, exist_ok=True)
    outside = root / "cwd"       # every command runs here: outside the checkout
    outside.mkdir(exist_ok=True)
    python = root / "venv" / "bin" / "python"
    info: dict = {"seconds": {}, "torch": torch, "torchvision": torchvision}
    base = getattr(sys, "_base_executable", sys.executable)
    _step(info, "venv", [base, "-m", "venv", str(root / "venv")], outside)
    _step(info, "torch", [str(python), *PIP, "install", f"torch=={torch}", f"torchvision=={torchvision}"], outside)
    probe = _torchvision_imports(python, outside)
    info["torchvision_hook"] = probe.returncode != 0
    if probe.returncode:
        if TV_FAILURE not in probe.stderr:
            raise BuildError(f"torchvision {torchvision} does not import beside torch {torch}:\n{probe.stderr[-4000:]}")
        packages = site_packages(python)
        (packages / "_unioncam_tests_torchvision_ops.py").write_text(HOOK_MODULE)
        (packages / "_unioncam_tests_torchvision_ops.pth").write_text("import _unioncam_tests_torchvision_ops\n")
        probe = _torchvision_imports(python, outside)
        if probe.returncode:
            raise BuildError(f"torchvision still does not import:\n{probe.stderr[-4000:]}")
    return python, info


def install_package(root: Path, python: Path, info: dict) -> None:
    """Step 2: ``pip install <package>`` (no extra), then what the installed package does, from
    outside the checkout (``info["bare"]``, ``root/bare_cam.npy``)."""
    outside = root / "cwd"
    src = copy_sources(root / "src")
    pins = constraints_without_torch(root / "constraints-other-torch.txt")
    _step(info, "package", [str(python), *PIP, "install", str(src), "-c", str(pins)], outside)
    info["after_package"] = json.loads(run([str(python), "-c", (
        "import importlib.metadata as m, json; print(json.dumps({d.metadata['Name'].lower(): d.version "
        "for d in m.distributions()}))")], cwd=outside))
    script = BARE_CHECK.replace("SEED", str(SEED)).replace("EXTRAS", repr(EXTRAS))
    info["bare"] = json.loads(run([str(python), "-c", script, str(root / "bare_cam.npy")], cwd=outside, env=_env())
                              .strip().splitlines()[-1])
    cli = subprocess.run([str(python.parent / "unioncam-lite"), "--help"], cwd=outside, capture_output=True, text=True)
    info["bare"]["cli_help"] = (cli.returncode, cli.stdout[:200])


def add_test_extra(python: Path, root: Path, info: dict) -> None:
    """The ``test`` extra into the venv, at constraints.txt's pins."""
    t = time.perf_counter()
    src, pins = root / "src", root / "constraints-other-torch.txt"
    run([str(python), *PIP, "install", f"{src}[test]", "-c", str(pins)], cwd=root / "cwd", env=_env())
    info["seconds"]["test_extra"] = round(time.perf_counter() - t, 1)
    (root / "info.json").write_text(json.dumps(info, indent=1))
