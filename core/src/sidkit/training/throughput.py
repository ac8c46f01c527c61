"""Samples per second over a sliding window of recent steps."""

from __future__ import annotations

import time
from collections import deque

__all__ = ["Throughput"]


class Throughput:
    """Call :meth:`update` after each step with its number of samples; :attr:`rate` is the
    samples/s over the last ``window`` steps, :attr:`overall` since construction."""

    def __init__(self, window: int = 20, clock=time.perf_counter):
        self._clock = clock
        self._start = clock()
        self._marks: deque[tuple[float, int]] = deque([(self._start, 0)], maxlen=window + 1)
        self.total = 0

    def update(self, n_samples: int) -> None:
        self.total += n_samples
        self._marks.append((self._clock(), self.total))

    @property
    def rate(self) -> float:
        (t0, n0), (t1, n1) = self._marks[0], self._marks[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0

    @property
    def overall(self) -> float:
        elapsed = self._clock() - self._start
        return self.total / elapsed if elapsed > 0 else 0.0
