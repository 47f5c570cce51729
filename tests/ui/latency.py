"""Sampling the GUI event loop's latency, separating what the machine's load adds.

A precise 5 ms timer ticks on the GUI thread; each tick's lateness is how long the
event loop could not run it. On Linux the GUI thread's scheduler statistics
(``/proc/thread-self/schedstat``: time spent runnable but waiting for a CPU) tell how
much of that lateness the operating system caused by giving the CPU to other
processes. On a shared machine that part says nothing about the application, so both
figures are reported. No assertion is made on them (speed is reported, not tested).
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, QTimer

_SCHEDSTAT = Path("/proc/thread-self/schedstat")


def _run_queue_wait_s() -> float | None:
    try:
        return int(_SCHEDSTAT.read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


@dataclass(frozen=True)
class LatencyReport:
    """Lateness of the ticks in milliseconds: all of it, and without the CPU wait."""

    samples: int
    max_ms: float
    p99_ms: float
    median_ms: float
    own_max_ms: float | None
    own_p99_ms: float | None
    load_average: float

    def line(self) -> str:
        """One line for the test output."""
        own = (
            f"; without the time the OS gave the CPU to others: max {self.own_max_ms:.1f} ms, "
            f"p99 {self.own_p99_ms:.1f} ms"
            if self.own_max_ms is not None
            else ""
        )
        return (
            f"{self.samples} samples: max {self.max_ms:.1f} ms, p99 {self.p99_ms:.1f} ms, "
            f"median {self.median_ms:.1f} ms{own} (load average {self.load_average:.2f})"
        )


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


class LatencyProbe:
    """Start, let the event loop run, stop, then :meth:`report`."""

    def __init__(self, interval_ms: int = 5) -> None:
        self.interval_s = interval_ms / 1000
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        self.late: list[float] = []
        self.own: list[float] = []
        self._last = 0.0
        self._last_wait: float | None = None
        self._load = 0.0

    def start(self) -> None:
        """Begin sampling (on the GUI thread)."""
        self._load = os.getloadavg()[0]
        self._last = time.perf_counter()
        self._last_wait = _run_queue_wait_s()
        self.timer.start()

    def stop(self) -> None:
        """Stop sampling."""
        self.timer.stop()

    def _tick(self) -> None:
        now = time.perf_counter()
        wait = _run_queue_wait_s()
        late = max(0.0, now - self._last - self.interval_s)
        self.late.append(late * 1000)
        if wait is not None and self._last_wait is not None:
            self.own.append(max(0.0, late - (wait - self._last_wait)) * 1000)
        self._last, self._last_wait = now, wait

    def report(self) -> LatencyReport:
        """The figures of the ticks sampled (the first tick is dropped: no interval)."""
        late, own = self.late[1:], self.own[1:]
        return LatencyReport(
            samples=len(late),
            max_ms=max(late),
            p99_ms=_p99(late),
            median_ms=statistics.median(late),
            own_max_ms=max(own) if own else None,
            own_p99_ms=_p99(own) if own else None,
            load_average=self._load,
        )
