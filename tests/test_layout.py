"""The package's layout rule, read from the source: applications → course → core, never the other way.

Every ``import`` of every module (at module level and inside functions; not under
``if TYPE_CHECKING:``, which never runs) is resolved to a module of the package, and

* each layer imports only what its folder's ``__init__`` docstring allows;
* the module-level imports form no circle;
* no module is over ~300 lines, and each folder says what it holds and what it may import.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "unioncam_lite"

#: layer -> the layers it may import (besides itself); the root modules are the core's shared helpers
ALLOWED = {
    "cams": set(),
    "data": set(),
    "models": {"cams", "data", "device"},
    "metrics": {"cams"},
    "viz": set(),
    "outputs": set(),
    "device": set(),
    "course": {"cams", "data", "models", "metrics", "viz", "outputs", "device"},
    "apps": {"cams", "data", "models", "metrics", "viz", "outputs", "device", "course"},
    "__init__": {"cams", "data", "models", "metrics", "viz", "outputs", "device", "course"},
    "__main__": {"apps"},
}
MAX_LINES = 300


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(path: Path) -> list[tuple[str, bool]]:
    """(imported package module, at module level?) for every import that runs."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(sub, top)
                continue
            if isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - child.level + 1]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                if target.startswith("unioncam_lite"):
                    for alias in child.names:   # `from . import datasets` imports a module
                        sub = f"{target}.{alias.name}"
                        found.append((sub if _exists(sub) else target, top))
            elif isinstance(child, ast.Import):
                found.extend((a.name, top) for a in child.names if a.name.startswith("unioncam_lite"))
            inner = top and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            visit(child, inner)

    visit(tree, True)
    return found


def _exists(module: str) -> bool:
    path = PACKAGE.parent.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p) or "unioncam_lite")
def test_each_layer_imports_only_what_it_may(path):
    here = module_name(path)
    own = layer(here)
    bad = sorted({t for t, _ in imports(path) if layer(t) not in ALLOWED[own] | {own} and t != "unioncam_lite"})
    assert not bad, f"{here} ({own}) imports {bad}; {own} may import {sorted(ALLOWED[own]) or 'nothing else'}"


def find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of a directed graph (a depth-first search), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for t in sorted(graph.get(m, ())):
            if state.get(t) == 1:
                return stack[stack.index(t):] + [t]
            if t not in state and (circle := walk(t)):
                return circle
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (circle := walk(m)):
            return circle
    return None


def test_no_import_circle():
    graph = {module_name(p): {t for t, top in imports(p) if top} for p in MODULES}
    # a package's own __init__ runs before its modules: an edge to a parent package is not a circle of the code
    graph = {m: {t for t in deps if t != m and not m.startswith(t + ".") and t != "unioncam_lite"}
             for m, deps in graph.items()}
    circle = find_circle(graph)
    assert circle is None, "import circle: " + " → ".join(circle or [])


def test_the_checks_can_fail():
    assert find_circle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_circle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None
    assert layer("unioncam_lite.apps.cli") == "apps" and layer("unioncam_lite") == "__init__"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p) or "unioncam_lite")
def test_modules_stay_small(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module_name(path)} has {lines} lines: split it by idea (limit ~{MAX_LINES})"


@pytest.mark.parametrize("folder", sorted(p.parent for p in PACKAGE.glob("*/__init__.py")), ids=lambda p: p.name)
def test_each_folder_says_what_it_holds_and_may_import(folder):
    doc = ast.get_docstring(ast.parse((folder / "__init__.py").read_text(encoding="utf-8")))
    assert doc and "May import" in doc, f"{folder.name}/__init__.py: a docstring saying what it holds and 'May import: ...'"
