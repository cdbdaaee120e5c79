"""pyproject.toml (ranges), constraints.txt (the exact pins `make` and CI install), environment.yml
and the Makefile's setup rule describe one environment."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import tomllib
import yaml
from other_torch_venv import TORCH, TORCHVISION
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def declared(project: dict) -> dict[str, list[Requirement]]:
    """name -> its requirements in the dependencies and every extra but ``dev`` (which names the others)."""
    out: dict[str, list[Requirement]] = {}
    extras = {k: v for k, v in project["optional-dependencies"].items() if k != "dev"}
    for req in [*project["dependencies"], *(r for reqs in extras.values() for r in reqs)]:
        out.setdefault(name(req), []).append(Requirement(req))
    return out


def read_pins(text: str) -> dict[str, str]:
    """``name==version`` lines of a constraints file -> {name: version}; anything else is an error."""
    pins = {}
    for line in text.splitlines():
        line = line.split("#")[0].strip()
        if line:
            m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([\w.+!\-]+)", line)
            assert m, f"constraints.txt: {line!r} is not an exact pin (name==version)"
            pins[name(m.group(1))] = m.group(2)
    return pins


def disagreements(project: dict, pins: dict[str, str]) -> list[str]:
    """Where constraints.txt and pyproject.toml disagree: a package without a pin, a pin of an
    undeclared package, or a pin outside the declared range."""
    wanted = declared(project)
    problems = [f"{n}: declared in pyproject but not pinned in constraints.txt" for n in sorted(set(wanted) - set(pins))]
    problems += [f"{n}: pinned but not declared in pyproject" for n in sorted(set(pins) - set(wanted))]
    for n, reqs in wanted.items():
        for req in reqs:
            if n in pins and not req.specifier.contains(Version(pins[n]), prereleases=True):
                problems.append(f"{n}=={pins[n]} is outside pyproject's {req}")
    return problems


@pytest.fixture(scope="module")
def project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


@pytest.fixture(scope="module")
def pins():
    return read_pins((ROOT / "constraints.txt").read_text())


def test_runtime_dependencies_are_ranges_not_pins(project):
    for req in map(Requirement, project["dependencies"]):
        assert not any(s.operator in ("==", "===") for s in req.specifier), f"{req}: a pin; pins go to constraints.txt"
    torch = {name(r): Requirement(r) for r in project["dependencies"]}
    # the tested releases: `make`'s pins and the second venv's (tests/test_install.py) lie in the ranges
    for package, other in (("torch", TORCH), ("torchvision", TORCHVISION)):
        spec = torch[package].specifier
        assert {s.operator for s in spec} == {">=", "<"}, f"{package}: a lower and an upper bound"
        assert spec.contains(Version(other)) and spec.contains(Version(other + "+cpu"))
    assert project["optional-dependencies"]["dev"] == ["unioncam-lite[course,test]"]


def test_constraints_pin_exactly_what_pyproject_declares(project, pins):
    assert disagreements(project, pins) == []
    assert pins["torch"] != TORCH and pins["torchvision"] != TORCHVISION   # the second venv tests another release


def test_the_agreement_check_can_fail(project, pins):
    assert disagreements(project, {**pins, "torch": "2.15.0"}) == ["torch==2.15.0 is outside pyproject's torch<2.15,>=2.13"]
    assert disagreements(project, {k: v for k, v in pins.items() if k != "nbval"}) == [
        "nbval: declared in pyproject but not pinned in constraints.txt"]
    assert disagreements(project, {**pins, "left-pad": "1.0"}) == ["left-pad: pinned but not declared in pyproject"]
    with pytest.raises(AssertionError, match="not an exact pin"):
        read_pins("torch>=2.13\n")


def test_environment_yml_builds_what_make_builds(project, pins):
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    # the same Python as the Makefile's venv, admitted by requires-python
    make_python = re.search(r"^PYTHON \?= python(\d+\.\d+)", (ROOT / "Makefile").read_text(), re.M).group(1)
    assert f"python={make_python}" in conda
    assert Requirement(f"x{project['requires-python']}").specifier.contains(Version(make_python))
    # the package with both extras, under constraints.txt, as `make setup` installs it
    assert "-c constraints.txt" in pip and "-e .[dev]" in pip
    # anything else it lists is a declared package at constraints.txt's version
    for entry in [*conda, *pip]:
        if entry.startswith(("python=", "-")) or entry == "pip":
            continue
        n = name(entry)
        assert n in declared(project), f"environment.yml lists {entry}, which pyproject does not declare"
        assert re.sub(r"\s", "", entry) in (f"{n}=={pins[n]}", f"{n}={pins[n]}"), f"{entry}: constraints.txt has {pins[n]}"


def test_make_setup_installs_the_constraints():
    recipe = (ROOT / "Makefile").read_text().split("$(STAMP):", 1)[1].split("\n\n", 1)[0]
    assert "pip install -q -e '.[dev]' -c constraints.txt" in recipe


# --------------------------------------------------------------------------- the setup stamp (issue 18)

def _make_setup(folder: Path) -> str:
    out = subprocess.run(["make", "-n", "setup"], cwd=folder, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_setup_reinstalls_only_when_the_dependencies_change(tmp_path):
    for f in ("Makefile", "pyproject.toml", "constraints.txt"):
        shutil.copy2(ROOT / f, tmp_path / f)
    (tmp_path / ".venv").mkdir()
    assert "pip install" in _make_setup(tmp_path)                     # a fresh clone: install
    deps_id = re.search(r"echo (\w+) > \.venv/\.installed", _make_setup(tmp_path)).group(1)
    (tmp_path / ".venv" / ".installed").write_text(deps_id + "\n")
    assert "pip install" not in _make_setup(tmp_path)                 # installed: nothing to do
    pyproject = tmp_path / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(text.replace("[tool.ruff]\n", "[tool.ruff]\nshow-fixes = true\n"))   # a tool setting
    assert "pip install" not in _make_setup(tmp_path)
    pyproject.write_text(text.replace('"tqdm",', '"tqdm",\n    "rich",'))                     # a new dependency
    assert "pip install" in _make_setup(tmp_path)
    pyproject.write_text(text)
    pins = re.sub(r"(?m)^tqdm==.*$", "tqdm==1.0", (ROOT / "constraints.txt").read_text())
    (tmp_path / "constraints.txt").write_text(pins)
    assert "pip install" in _make_setup(tmp_path)                     # another pin
