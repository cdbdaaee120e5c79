"""The checking engine of the notebook exercises: run the learner's function, compare, give feedback.

An :class:`Exercise` names the reference (the library's function where there is one), the
tolerance, the known :class:`Mistake` s with their hints, the library functions an answer must
not call, and where its cases come from: ``visible(*real_tensors)`` for the notebook's check
cell, ``hidden(seed)`` for the graded course's hidden tests (:mod:`.hidden_inputs`).
:func:`run_exercise` runs either set through :func:`check`, which prints one ✓/✗ line per case
and ``PASS:``/``FAIL:``; :func:`feedback` turns warnings and unexpected errors into lines on
stdout, so that a checker never raises (output on stderr would cost an nbgrader cell its points).
"""
from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import torch

from ..cams import ThetaHasNoEffectWarning
from .watching import watch_calls

Args = tuple
Cases = list[tuple[str, Args]]
F = TypeVar("F", bound=Callable[..., bool])


@dataclass(frozen=True)
class Mistake:
    """A known wrong answer: if the learner's result equals ``variant(*args)``, print ``hint``."""

    variant: Callable
    hint: str | Callable[[Args], str]

    def message(self, args: Args) -> str:
        """The hint, filled in from the case's arguments when it depends on them."""
        return self.hint(args) if callable(self.hint) else self.hint


def _no_cases(*_: object) -> Cases:
    return []


@dataclass(frozen=True)
class Exercise:
    """What a checker compares against: the reference (the library's function where there is one,
    so the checks follow the library), known mistakes, the library calls an answer must not make,
    and its cases: ``visible(*real)`` (the notebook's, plus its real tensors if given) and
    ``hidden(seed)`` (drawn from the seed, for the graded course)."""

    name: str
    reference: Callable
    rtol: float = 1e-5                  # tolerance relative to the largest expected value
    mistakes: tuple[Mistake, ...] = ()
    forbidden: tuple[Callable, ...] = ()  # library functions the answer must not call
    nan_hint: str = ""
    visible: Callable[..., Cases] = _no_cases
    hidden: Callable[[int], Cases] = _no_cases
    about: Callable[[Args], str] | None = None  # what is special about a case (:mod:`.case_notes`)
    advice: str = ""                             # what to check when no known mistake explains a failure


# ---------------------------------------------------------------- running and comparing

def _clone(args: Args) -> Args:
    return tuple(a.detach().clone() if isinstance(a, torch.Tensor) else a for a in args)


class Refused(str):
    """Why an answer's result is not compared: it is not plain data (see :func:`plain`); ``kind``
    says what it was ("a tensor subclass", "a dict", ...)."""

    kind = "something else"

    @classmethod
    def of(cls, message: str, kind: str) -> Refused:
        """The sentence ``message`` about a result that was ``kind``."""
        refused = cls(message)
        refused.kind = kind
        return refused


def _plain_tensor(x: torch.Tensor) -> torch.Tensor | Refused:
    if type(x) is not torch.Tensor:   # a subclass can redefine every operation, comparisons included
        return Refused.of(f"returned a {type(x).__name__} (a subclass of torch.Tensor), expected a plain tensor: "
                          "return the torch.Tensor your operations make", "a tensor subclass")
    if x.layout is not torch.strided or x.is_meta or x.is_quantized or x.is_nested:
        return Refused.of("returned a sparse, meta, quantized or nested tensor, expected an ordinary (dense) "
                          "tensor", "a tensor")
    copy = x.detach().clone()
    return copy if type(copy) is torch.Tensor else Refused.of("returned a tensor that does not copy as a plain "
                                                              "tensor", "a tensor")


def plain(got: object) -> object:
    """The answer's result as plain data, taken as soon as it returns (while the call watcher runs):
    a copy of an exact ``torch.Tensor``, or an exact ``list`` or ``tuple`` of such results and
    exact ``str``; anything else (a tensor subclass, an object that would convert
    itself later) becomes a :class:`Refused` sentence, so no code of the answer runs after it
    returned, during the comparison."""
    if got is None:
        return Refused.of("returned None — did you forget `return`?", "None")
    if isinstance(got, torch.Tensor):
        return _plain_tensor(got)
    if type(got) is tuple or type(got) is list:   # (exact types: no code of a subclass runs)
        items = [v if type(v) is str else plain(v) for v in cast(list, got)]
        return items if type(got) is list else tuple(items)
    return Refused.of(f"returned {_kind(got)}, expected a tensor"
                      + (" (torch.from_numpy(...) makes one)" if type(got).__module__ == "numpy" else ""), _kind(got))


def _kind(x: object) -> str:
    return "a tensor" if isinstance(x, torch.Tensor) else f"a {type(x).__name__}"


def _shape(x: torch.Tensor) -> tuple[int, ...]:
    return tuple(x.shape)


def differ(got: object, expected: torch.Tensor | tuple, rtol: float, nan_hint: str = "") -> str | None:
    """None if ``got`` (plain data: :func:`plain`) matches ``expected`` (a tensor, or a pair (map,
    choices) of Eq. 8) within ``rtol`` of the largest expected value; else a sentence saying what differs."""
    if isinstance(expected, tuple):  # (map, choices), Eq. 8
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            kind = got if isinstance(got, Refused) else f"returned {_kind(got)}"
            return (f"{kind}, expected a pair (cam, choices): "
                    "`return cam, choices` with choices a list of 'fused' / 'region'")
        problem = differ(got[0], expected[0], rtol, nan_hint)
        if problem:
            return "cam: " + problem
        if not isinstance(got[1], (list, tuple)) or not all(type(c) is str for c in got[1]):
            kind = got[1].kind if isinstance(got[1], Refused) else _kind(got[1])
            return f"choices should be a list of 'fused' / 'region', got {kind}"
        choices = list(got[1])
        if expected[1] is not None and choices != list(expected[1]):  # None: a mistake about the map only
            return f"choices {choices}, expected {list(expected[1])}"
        return None
    if isinstance(got, Refused):
        return got
    if not isinstance(got, torch.Tensor):   # a list or tuple
        return f"returned {_kind(got)}, expected a tensor"
    if got.is_complex():
        return "returned a complex tensor, expected real numbers"
    t = got.detach().cpu().to(torch.float64)
    e = expected.detach().cpu().to(torch.float64)
    if t.shape != e.shape:
        note = f"shape {_shape(t)}, expected {_shape(e)}"
        if t.numel() == e.numel() and differ(t.reshape(e.shape), e, rtol) is None:
            note += " — the values are right: drop the extra dimensions (e.g. keepdim=False, or .squeeze())"
        return note
    bad_values = ~torch.isfinite(t) & torch.isfinite(e)
    if bool(bad_values.any()):
        count = int(bad_values.sum())
        return f"{count} value{'s are' if count > 1 else ' is'} NaN or infinite" + \
            (f" — {nan_hint}" if nan_hint else "")
    scale = float(e.abs().max()) if e.numel() else 1.0
    close = torch.isclose(t, e, rtol=rtol, atol=rtol * (scale if scale > 0 else 1.0), equal_nan=True)
    if bool(close.all()):
        return None
    diff = float((t - e).abs()[~close].max())
    return f"{int((~close).sum())} of {e.numel()} values differ from the library, by up to {diff:.3g}"


def run_case(ex: Exercise, fn: Callable, label: str, args: Args) -> str:
    """Run one case and print its line; 'ok', 'fail', or 'todo' (not implemented yet)."""
    try:
        expected = ex.reference(*_clone(args))
    except Exception as err:
        print(f"✗ {ex.name} [{label}]: the checker could not compute the expected result from these inputs "
              f"({type(err).__name__}: {err}) — check the tensors passed to the checker")
        return "fail"
    inputs = _clone(args)
    with warnings.catch_warnings(record=True) as caught, watch_calls(ex.forbidden) as watch:
        warnings.simplefilter("always")  # shown on stdout below: stderr would cost a graded cell its points
        warnings.filterwarnings("ignore", category=ThetaHasNoEffectWarning)   # the library's, not the answer's
        try:
            got = plain(fn(*inputs))     # copied before the watch ends: no code of the answer runs later
        except NotImplementedError:
            print(f"✗ {ex.name}: not implemented yet — replace the `raise NotImplementedError` with your code")
            return "todo"
        except Exception as err:
            hint = ""
            if isinstance(err, RuntimeError) and "size of tensor" in str(err):
                shapes = ", ".join(str(_shape(a)) for a in args if isinstance(a, torch.Tensor))
                hint = (f" — the inputs have shapes {shapes}: add the missing dimensions so they broadcast, "
                        "e.g. beta[:, None, None] for a (N,) tensor against (N, H, W) maps")
            print(f"✗ {ex.name} [{label}]: your function raised {type(err).__name__}: {err}{hint}")
            explain_failure(ex, None, args)
            return "fail"
    for w in caught:
        print(f"  note: your function warned: {w.category.__name__}: {w.message}")
    if watch.tampered:
        print(f"✗ {ex.name} [{label}]: your function calls {', '.join(watch.tampered)}, which would turn off the "
              "check that it does not call the library's function — the exercise is to write it yourself")
        return "fail"
    if watch.called:
        names = ", ".join(f"`{n}`" for n in watch.called)
        print(f"✗ {ex.name} [{label}]: your function calls the library's {names} — the exercise is to write "
              "it yourself (torch operations and the helpers the notebook shows are fine)")
        return "fail"
    changed = [i for i, (a, b) in enumerate(zip(args, inputs)) if isinstance(a, torch.Tensor) and
               not (type(b) is torch.Tensor and a.shape == b.shape and torch.equal(a, b))]
    if changed:
        print(f"  note: your function changed its input #{changed[0] + 1} in place; other cells using that "
              "tensor would see the change (work on a copy or use torch.where)")
    problem = differ(got, expected, ex.rtol, ex.nan_hint)
    if problem is None:
        print(f"✓ {ex.name} [{label}]: matches the library")
        return "ok"
    print(f"✗ {ex.name} [{label}]: {problem}")
    explain_failure(ex, got, args)
    return "fail"


def explain_failure(ex: Exercise, got: object, args: Args) -> None:
    """Under a ✗ line: what is special about the case (``this case:``), then the hint of the known
    mistake the answer ``got`` matches, or else the exercise's advice (``check:``); ``got`` is None
    when the answer raised."""
    if ex.about is not None:
        with contextlib.suppress(Exception):   # a note must never hide the result
            print(f"  this case: {ex.about(args)}")
    for mistake in ex.mistakes if got is not None else ():
        try:
            variant = mistake.variant(*_clone(args))
        except Exception:
            continue
        if differ(got, variant, ex.rtol) is None:
            print(f"  hint: {mistake.message(args)}")
            return
    if ex.advice:
        print(f"  check: {ex.advice}")


def check(ex: Exercise, fn: object, cases: Cases) -> bool:
    """Run every case (stopping at a not-implemented answer); print ``PASS:``/``FAIL:``; True if all match."""
    if not callable(fn):
        print(f"✗ {ex.name}: expected your function, got a {type(fn).__name__} — pass the function itself "
              "(its name, without calling it)")
        print(f"FAIL: {ex.name}")
        return False
    ok = True
    for label, args in cases:
        status = run_case(ex, fn, label, args)
        ok &= status == "ok"
        if status == "todo":
            break
    print(("PASS: " if ok else "FAIL: ") + ex.name)
    return ok


def run_exercise(ex: Exercise, fn: object, *real: object, seed: int | None = None) -> bool:
    """The skeleton of every ``check_*``: the visible cases (with the learner's real tensors) when
    ``seed`` is None, else the hidden cases drawn from ``seed``; then :func:`check`."""
    cases = ex.visible(*real) if seed is None else ex.hidden(seed)
    return check(ex, fn, cases)


def feedback(checker: F) -> F:
    """Make a ``check_*`` print rather than raise: warnings go to stdout (output on stderr would
    cost a graded cell its points in nbgrader) and an unexpected error becomes a ✗ line."""
    @functools.wraps(checker)
    def wrapper(*args: Any, **kwargs: Any) -> bool:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warnings.filterwarnings("ignore", category=ThetaHasNoEffectWarning)   # a fact of the layer, not feedback
            try:
                ok = checker(*args, **kwargs)
            except Exception as err:  # a bug of the checker or of the tensors given to it
                print(f"✗ {checker.__name__} could not run: {type(err).__name__}: {err}")
                ok = False
        for w in caught:
            print(f"  note: {w.category.__name__}: {w.message}")
        return ok
    return cast(F, wrapper)
