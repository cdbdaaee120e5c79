"""A venv shaped like a lent GPU machine, for rehearsing ``make gpu-check`` (tests/test_gpu_check_rehearsal.py).

A lent machine (the device tool's KINDS.md) has its own torch and numeric stack, none of this
project's other packages, and no network. So this venv holds, built once per test session:

1. torch 2.13.0+cpu and torchvision 0.28.0, not `make`'s pins (tests/other_torch_venv.py's
   :func:`with_torch`, with its torchvision start-up hook where needed) — or, with
   ``UNIONCAM_REHEARSAL_TORCH=2.11.0/0.26.0`` (tests/conftest.py), the lent machines' own torch and
   torchvision (the device tool's KINDS.md: 2.11.0+cu130, 0.26.0), PyPI's CUDA build with its
   several GB of CUDA libraries: an opt-in run, not part of `make test`;
2. the compiled numeric stack of ``benchmarks/gpu_kit.py``'s ``MACHINE_OWN`` that the project uses
   (numpy, scipy, pandas, matplotlib, pillow, scikit-learn, opencv-python-headless) at the
   versions of the environment running the tests, and nothing else: not the package, not pytest.

Beside it, ``kit/``: the wheels of ``gpu_kit.py build`` for this Python's version, the kit that a
device call carries (built here from pip's index or its cache). The rehearsal installs the kit the
way the GPU machine does (``gpu_kit.py install``, offline, into a folder on ``PYTHONPATH``).
"""
from __future__ import annotations

import json
import sys
import time
from importlib import metadata
from pathlib import Path

from other_torch_venv import PIP, REPO, TORCH, TORCHVISION, _env, run, with_torch

#: the machine's own stack the project imports (numpy ... opencv: grad-cam's imports)
STACK = ("numpy", "scipy", "pandas", "matplotlib", "pillow", "scikit-learn", "opencv-python-headless")


def build(root: Path, torch: str = TORCH, torchvision: str = TORCHVISION) -> tuple[Path, Path, dict]:
    """The venv under ``root`` (with the given torch and torchvision) and the kit: its python, the
    kit's folder, and what was done."""
    python, info = with_torch(root, torch, torchvision)
    t = time.perf_counter()
    pins = [f"{name}=={metadata.version(name)}" for name in STACK]
    run([str(python), *PIP, "install", *pins], cwd=root / "cwd", env=_env())
    info["seconds"]["stack"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    kit = root / "kit"
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    run([sys.executable, str(REPO / "benchmarks" / "gpu_kit.py"), "build", "--dest", str(kit),
         "--python-version", version], cwd=REPO, env=_env())
    info["seconds"]["kit"] = round(time.perf_counter() - t, 1)
    (root / "info.json").write_text(json.dumps(info, indent=1))
    return python, kit, info
