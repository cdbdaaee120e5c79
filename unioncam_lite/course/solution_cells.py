"""The code cells tagged ``solution``: the one function each defines, and nbgrader's solution markers.

Without markers, the whole body of the function after its docstring is the solution. A *scaffold*
marks only the essential lines: the author writes ``### BEGIN SOLUTION`` / ``### END SOLUTION``
comment lines (indented like the code they enclose) inside the function, and everything outside
them — the signature, the docstring, the shapes, the loop — is given to the learner. Several
regions per function are allowed. nbgrader's own ``ClearSolutions`` then replaces each region with
its stub (:mod:`.student`, and ``nbgrader generate_assignment`` for the graded course); in the
committed notebooks the markers are plain comments, so the reference solution runs as it is.
"""
from __future__ import annotations

import ast

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


def solution_function(source: str) -> ast.FunctionDef:
    """The one function a cell tagged ``solution`` defines; a ValueError if it defines none or several."""
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        raise ValueError(f"a cell tagged 'solution' is not valid Python ({err.msg}, line {err.lineno})") from err
    funcs = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    if len(funcs) != 1:
        raise ValueError(f"a cell tagged 'solution' must define exactly one function, found {len(funcs)}")
    return funcs[0]


def mark_solution(source: str) -> str:
    """The cell with nbgrader's solution markers: the author's own (a scaffold, checked), else around the
    function's whole body after its docstring."""
    func = solution_function(source)
    if BEGIN in source or END in source:
        _check_markers(source, func)
        return source
    has_doc = ast.get_docstring(func) is not None
    body = func.body[1:] if has_doc else func.body
    if not body:
        raise ValueError(f"the solution function {func.name}() has no code after its docstring")
    if has_doc:
        start = func.body[0].end_lineno
    else:  # the line after the signature (which may span lines)
        parts = [*func.args.args, *func.args.kwonlyargs, *func.args.defaults, *func.args.kw_defaults,
                 func.args.vararg, func.args.kwarg, func.returns]
        start = max([func.lineno] + [p.end_lineno or p.lineno for p in parts if p is not None])
    lines = source.splitlines()
    indent = " " * body[0].col_offset
    return "\n".join(lines[:start] + [f"{indent}{BEGIN}"] + lines[start:func.end_lineno]
                     + [f"{indent}{END}"] + lines[func.end_lineno:])


def _check_markers(source: str, func: ast.FunctionDef) -> None:
    """The author's markers: balanced, not nested, each region inside the function's body and not empty."""
    lines = source.splitlines()
    last = func.end_lineno or len(lines)   # the last statement's line; comment lines indented under the def follow it
    while last < len(lines) and (lines[last].strip() == "" or (lines[last].lstrip().startswith("#") and
                                 len(lines[last]) - len(lines[last].lstrip()) > func.col_offset)):
        last += 1
    open_at = None
    for number, line in enumerate(lines, start=1):
        if (BEGIN in line or END in line) and not func.lineno < number <= last:
            raise ValueError(f"{func.name}(): a solution marker on line {number} is outside the function's body")
        if BEGIN in line:
            if open_at is not None:
                raise ValueError(f"{func.name}(): '{BEGIN}' on line {number} is inside the region opened "
                                 f"on line {open_at}")
            open_at = number
        elif END in line:
            if open_at is None:
                raise ValueError(f"{func.name}(): '{END}' on line {number} without a '{BEGIN}' before it")
            if not any(part.strip() and not part.strip().startswith("#") for part in lines[open_at:number - 1]):
                raise ValueError(f"{func.name}(): the solution region on lines {open_at}-{number} has no code")
            open_at = None
    if open_at is not None:
        raise ValueError(f"{func.name}(): '{BEGIN}' on line {open_at} has no '{END}' after it")
