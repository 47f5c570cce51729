"""The run's clock: real time on a real bench, virtual time on a simulated one.

On a simulated bench the engine owns time: a wait advances the simulator's virtual clock at
once (no wall time passes unless a pacing is asked for, to watch a run), and every
instrument call advances it by :data:`CALL_SECONDS`, as a real exchange takes a moment. The
simulator reads the same clock, so a seeded bench answers the same calls with the same
readings whatever the machine load, and a resumed run continues at the simulated time its
last completed step ended.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any, Protocol

from lims.db.types import utcnow

__all__ = ["CALL_SECONDS", "RunClock", "ScaledClock", "VirtualRunClock"]

#: Simulated seconds one instrument exchange takes on a virtual clock.
CALL_SECONDS = 0.05


class RunClock(Protocol):
    """Seconds since the run's clock started, and how waits pass."""

    virtual: bool

    def now(self) -> float:
        """Seconds on this clock."""
        ...

    def wall_seconds(self, seconds: float) -> float:
        """How many wall seconds a wait of ``seconds`` on this clock takes."""
        ...

    def advance(self, seconds: float) -> None:
        """Move a virtual clock forward (a real clock ignores it: time passes by itself)."""
        ...

    def set(self, seconds: float) -> None:
        """Set a virtual clock (after a resume); a real clock ignores it."""
        ...

    def timestamp(self) -> datetime:
        """When a reading is taken: UTC now, or the simulated date and time."""
        ...


class ScaledClock:
    """Wall time scaled by ``time_scale`` (1 on a real bench)."""

    virtual = False

    def __init__(self, time_scale: float = 1.0) -> None:
        if not time_scale > 0:
            raise ValueError("time_scale must be positive")
        self.time_scale = time_scale
        self._t0 = time.monotonic()

    def now(self) -> float:
        """Scaled seconds since the clock was made."""
        return (time.monotonic() - self._t0) * self.time_scale

    def wall_seconds(self, seconds: float) -> float:
        """``seconds`` / time scale."""
        return seconds / self.time_scale

    def advance(self, seconds: float) -> None:
        """Real time passes by itself."""

    def set(self, seconds: float) -> None:
        """Real time cannot be set."""

    def timestamp(self) -> datetime:
        """UTC now."""
        return utcnow()


class VirtualRunClock:
    """The engine's side of a simulator's virtual clock (``now``/``advance``/``set``).

    ``pacing``: simulated seconds per wall second a wait also sleeps (0: none — waits cost
    no wall time; a GUI may pace a run to watch it live).
    """

    virtual = True

    def __init__(self, target: Any, pacing: float = 0.0) -> None:
        self._target = target
        self.pacing = pacing
        self._lock = threading.Lock()

    def now(self) -> float:
        """Simulated seconds."""
        return float(self._target.now())

    def wall_seconds(self, seconds: float) -> float:
        """Wall time a wait takes: none, or ``seconds / pacing``."""
        return seconds / self.pacing if self.pacing > 0 else 0.0

    def advance(self, seconds: float) -> None:
        """Move simulated time forward."""
        if seconds > 0:
            with self._lock:
                self._target.advance(seconds)

    def set(self, seconds: float) -> None:
        """Set simulated time (never backwards)."""
        with self._lock:
            if seconds > self.now():
                self._target.set(seconds)

    def timestamp(self) -> datetime:
        """The simulated date and time (a simulated run's readings carry simulated time)."""
        stamp: datetime = self._target.datetime()
        return stamp
