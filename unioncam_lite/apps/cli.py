"""Command line: ``python -m unioncam_lite {explain,evaluate,train-shapes,student,assignments} ...``.

One argparse tree, one module per subcommand (:mod:`.commands`), one error convention: bad
input (a missing file, an unknown model or method, a bad layer, a class out of range, θ outside
[0, 100] or not a number, an ``--out`` that cannot be written, a malformed data set) prints one
``error: ...`` line on stderr that names the problem and the fix, and exits with status 2, never
a traceback; outputs are checked before any work. The library names its own arguments in its
errors (``n=9``, ``root=DIR``); :func:`cli_message` says them as this command's flags
(``--num-images 9``, ``--root DIR``).
"""
from __future__ import annotations

import argparse
import re
import sys
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from .commands import course, evaluate, explain, train_shapes

ERRORS = (ValueError, TypeError, OSError, RuntimeError)
COMMANDS = (explain, evaluate, train_shapes, course)


class UsageError(Exception):
    """A command-line argument that argparse rejected (reported as one ``error:`` line)."""


class Parser(argparse.ArgumentParser):
    """argparse without the usage block before errors: one line, which ``main`` prints."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand; each sets ``run``, the function that takes its arguments."""
    parser = Parser(prog="python -m unioncam_lite",
                    description="UnionCAM-lite: explain images, evaluate the methods, train the shapes models, "
                                "and make the course's exercise copies and nbgrader course.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    for subparser in sub.choices.values():
        subparser.set_defaults(flags=flags(subparser))
    return parser


def flags(parser: argparse.ArgumentParser) -> dict[str, str]:
    """``{argument name: flag}`` of a (sub)parser's options, e.g. ``{"n": "--num-images"}``."""
    return {a.dest: a.option_strings[-1] for a in parser._actions if a.option_strings and a.dest != "help"}


#: a quoted repr in a message (a path, a name): an opening quote that does not end a word
_QUOTED = re.compile(r"(?<!\w)'(?:[^'\\]|\\.)*'" + r'|(?<!\w)"(?:[^"\\]|\\.)*"')


def cli_message(message: str, names: Mapping[str, str]) -> str:
    """The library's argument names as flags: ``n=9`` -> ``--num-images 9``, ``root=`` -> ``--root``
    (for the names in ``names``; nothing inside quotes, such as a path, is changed)."""
    if not names:
        return message
    keyword = re.compile(r"(?<![\w.\-/])(" + "|".join(map(re.escape, sorted(names, key=len, reverse=True)))
                         + r")=(?=(.?))", re.DOTALL)
    quoted = [m.span() for m in _QUOTED.finditer(message)]

    def flag(m: re.Match[str]) -> str:
        if any(a <= m.start() < b for a, b in quoted):
            return m.group(0)
        value_follows = m.group(2) != "" and not m.group(2).isspace() and m.group(2) not in ",;:.)]"
        return names[m.group(1)] + (" " if value_follows else "")

    return keyword.sub(flag, message)


def error_line(err: BaseException, names: Mapping[str, str] | None = None) -> str:
    """The one ``error: ...`` line of a library error (an OSError as its reason and file name)."""
    message = str(err)
    if isinstance(err, OSError) and err.strerror:
        message = f"{err.strerror}: {err.filename!r}" if err.filename else err.strerror
    return f"error: {cli_message(' '.join(message.split()), names or {})}"


_warned: set[str] = set()


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    """Print each distinct library warning once, as ``warning: ...`` on stderr."""
    text = " ".join(str(message).split())
    if text not in _warned:
        _warned.add(text)
        print(f"warning: {text}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; returns its exit status (0; 2 for bad input; 130 for an interrupted evaluation)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except SystemExit as done:              # --help
        return done.code if isinstance(done.code, int) else 0
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning   # the library's warnings (e.g. a 1×1 layer) as one line
            return int(args.run(args))
    except ERRORS as err:
        print(error_line(err, args.flags), file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
