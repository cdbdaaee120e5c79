"""The progress of the region map's masked passes, as the app's progress bar shows it (:class:`PassProgress`).

The library reports every group of masked passes (``cams.masked.reporting_progress``): a region
map (Score-CAM, UnionCAM's L_reg) is one group of up to K passes, each β another of one or two.
The bar follows the first group of a computation, the region map (UnionCAM computes it before its
βs), and estimates the time left from the rate so far.
"""
from __future__ import annotations

import time
from collections.abc import Callable


class PassProgress:
    """``update(done, total)`` as the masked passes report it; ``fraction`` and ``text`` for the bar."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.done = 0
        self.total: int | None = None       # the region pass's total, once it started
        self._start = 0.0

    def update(self, done: int, total: int) -> bool:
        """Record one report; True when it belongs to the region pass (the bar changes)."""
        if self.total is None:
            self.total, self.done, self._start = total, done, self.clock()
            return True
        if total != self.total or done < self.done:   # a later group (a β pass): the bar stays full
            return False
        self.done = done
        return True

    @property
    def fraction(self) -> float:
        """Passes done / total, in [0, 1] (0 before the first report)."""
        return self.done / self.total if self.total else 0.0

    def seconds_left(self) -> float | None:
        """The time left at the rate so far; None before any batch finished."""
        elapsed = self.clock() - self._start
        if not self.total or self.done == 0 or elapsed <= 0:
            return None
        return (self.total - self.done) * elapsed / self.done

    def text(self) -> str:
        """'region map: 312 / 1280 masked passes · about 6 s left'."""
        if self.total is None:
            return "region map: starting the masked passes"
        line = f"region map: {self.done} / {self.total} masked passes"
        left = self.seconds_left()
        if self.done >= self.total:
            return line + " · done"
        if left is not None:
            line += f" · about {left:.0f} s left" if left < 90 else f" · about {left / 60:.0f} min left"
        return line
