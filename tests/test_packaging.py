"""environment.yml and pyproject.toml describe the same dependencies."""
import re
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]


def name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "python=3.11" in conda and "-e .[dev]" in pip
    listed = {name(d) for d in conda if not d.startswith(("python", "pip"))} | {name(d) for d in pip if not d.startswith("-e")}
    declared = {name(d) for d in project["dependencies"]} | {name(d) for d in project["optional-dependencies"]["dev"]}
    assert listed == declared, f"only in environment.yml: {listed - declared}; only in pyproject: {declared - listed}"
    # pins agree where both pin
    pins = {name(d): d for d in project["dependencies"] if "==" in d}
    for d in pip:
        if name(d) in pins:
            assert d.replace(" ", "") == pins[name(d)].replace(" ", "")
