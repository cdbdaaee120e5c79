"""The call watcher of the exercise checks: did the learner's function run a library function it
was asked to write (under any name, on any thread, or a copy of its code)?

:func:`watch_calls` combines two watches, so that turning one off does not blind the other:

* a profiler hook on the calling thread and on every thread started meanwhile
  (``sys.setprofile`` / ``threading.setprofile``) that recognises the library's code by its
  content (bytecode and constants, not its name or identity), so a renamed copy of
  ``union.__code__`` counts too; calls of ``sys.setprofile`` / ``threading.setprofile`` (which
  would turn the hook off) are recorded as tampering;
* traps: for the duration of the block, every function object with the library's code found in
  this package's modules or the notebook's namespace (``__main__``) runs a recorder first, on
  any thread, including threads that were running before the block.

What it cannot see (README, "For instructors"): a copy of the code kept elsewhere and run on a
thread that existed before the block, code run in another process, or an edited copy of the code.
A call made during the block by another thread, for another reason, counts too.
"""
from __future__ import annotations
import __future__

import inspect
import sys
import textwrap
import threading
import types
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

#: the calls that would turn the profiler off: a C function and a Python one (seen by its code)
_SYS_SETPROFILE = sys.setprofile
_THREADING_SETPROFILE = threading.setprofile.__code__


def _constant(value: object) -> object:
    if isinstance(value, types.CodeType):
        return code_signature(value)
    if isinstance(value, (tuple, frozenset)):
        items = [_constant(v) for v in value]
        return type(value).__name__, tuple(sorted(items, key=repr) if isinstance(value, frozenset) else items)
    return type(value).__name__, repr(value)


def code_signature(code: types.CodeType) -> tuple:
    """What a code object computes, without its names: its bytecode and constants (nested code
    objects by their own signature). A renamed or recompiled copy has the same signature."""
    return code.co_code, tuple(_constant(c) for c in code.co_consts)


def _recompiled_signatures(f: types.FunctionType) -> list[tuple]:
    """The signatures of ``f``'s source compiled on its own, as an answer cell compiles a pasted copy
    (with and without ``from __future__ import annotations``). Its bytecode can differ from the
    module's: Python 3.11 loads ``torch.where`` with LOAD_ATTR where ``import torch`` is in the same
    source, and with LOAD_METHOD where it is not."""
    try:
        source = textwrap.dedent(inspect.getsource(f))
    except (OSError, TypeError):
        return []
    found = []
    for flags in (0, __future__.annotations.compiler_flag):
        try:
            module = compile(source, "<copy>", "exec", flags, dont_inherit=True)
        except SyntaxError:
            continue
        found += [code_signature(c) for c in module.co_consts
                  if isinstance(c, types.CodeType) and c.co_name == f.__code__.co_name]
    return found


@dataclass
class Watch:
    """What :func:`watch_calls` saw: the library functions called (by name) and the tampering."""

    called: list[str] = field(default_factory=list)
    tampered: list[str] = field(default_factory=list)

    def record(self, name: str, into: list[str] | None = None) -> None:
        """Note ``name`` once (in ``called`` unless ``into`` is given)."""
        target = self.called if into is None else into
        if name not in target:
            target.append(name)


def _trap_template(*args: Any, _ucl_watch_recorder: Callable[..., Any], **kwargs: Any) -> Any:
    """The code a watched function runs during a check: the recorder (a keyword default of the
    function, set by :func:`_trapped`), which notes the call and runs the original."""
    return _ucl_watch_recorder(*args, **kwargs)


def _copies(functions: list[types.FunctionType], signatures: dict[tuple, str]) -> list[types.FunctionType]:
    """``functions`` and the function objects with their code (by content) in this package's
    modules (also when read fresh under another name: :mod:`.fresh`) and the notebook's namespace."""
    packages = tuple({"unioncam_lite", __name__.split(".")[0]})
    found = {id(f): f for f in functions if not f.__closure__}
    for name, module in list(sys.modules.items()):
        if name != "__main__" and name.split(".")[0] not in packages:
            continue
        try:
            values = list(vars(module).values())
        except TypeError:
            continue
        for value in values:
            if isinstance(value, types.FunctionType) and not value.__closure__ and \
                    code_signature(value.__code__) in signatures:
                found[id(value)] = value
    return list(found.values())


@contextmanager
def _trapped(functions: list[types.FunctionType], signatures: dict[tuple, str], watch: Watch) -> Iterator[None]:
    """Within the block, each of ``functions`` records its call in ``watch`` and then runs as before."""
    saved = []
    try:
        for f in functions:
            original = types.FunctionType(f.__code__, f.__globals__, f.__name__, f.__defaults__, f.__closure__)
            original.__kwdefaults__ = f.__kwdefaults__
            name = signatures[code_signature(f.__code__)]

            def recorder(*args: Any, _name: str = name, _original: Callable = original, **kwargs: Any) -> Any:
                watch.record(_name)
                return _original(*args, **kwargs)

            saved.append((f, f.__code__, f.__kwdefaults__))
            f.__kwdefaults__ = {**(f.__kwdefaults__ or {}), "_ucl_watch_recorder": recorder}
            f.__code__ = _trap_template.__code__.replace(co_name=f.__name__)   # (its name in tracebacks)
        yield
    finally:
        for f, code, kwdefaults in reversed(saved):
            f.__code__ = code
            f.__kwdefaults__ = kwdefaults


@contextmanager
def watch_calls(functions: Iterable[Callable]) -> Iterator[Watch]:
    """Record calls of ``functions`` (or of any code identical to theirs) on every thread while the
    block runs, and calls that would turn the watch off; see the module's docstring."""
    watched = [f for f in functions if isinstance(f, types.FunctionType)]
    signatures = {code_signature(f.__code__): f.__name__ for f in watched}
    for f in watched:
        signatures.update(dict.fromkeys(_recompiled_signatures(f), f.__name__))
    watch = Watch()
    if not signatures:
        yield watch
        return
    active = True

    def hook(frame: types.FrameType, event: str, arg: Any) -> None:
        if not active:
            return
        if event == "call":
            code = frame.f_code
            name = signatures.get(code_signature(code)) if code.co_code in bytecodes else None
            if name is not None:
                watch.record(name)
            elif code is _THREADING_SETPROFILE:
                watch.record("threading.setprofile", watch.tampered)
        elif event == "c_call" and arg is _SYS_SETPROFILE:
            watch.record("sys.setprofile", watch.tampered)

    def main_hook(frame: types.FrameType, event: str, arg: Any) -> None:
        hook(frame, event, arg)
        if previous is not None:
            previous(frame, event, arg)  # type: ignore[arg-type]

    bytecodes = {s[0] for s in signatures}
    previous, previous_threads = sys.getprofile(), threading.getprofile()
    with _trapped(_copies(watched, signatures), signatures, watch):
        threading.setprofile(hook)
        sys.setprofile(main_hook)
        try:
            yield watch
        finally:
            active = False
            if sys.getprofile() is not main_hook:
                watch.record("sys.setprofile", watch.tampered)
            sys.setprofile(previous)
            threading.setprofile(previous_threads)
