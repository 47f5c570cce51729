"""Stability detection: slope and spread over a sliding window, or a fixed time.

:class:`StabilityCriteria` says what "stable" means; :class:`StabilityDetector` is fed
``(time, value)`` pairs (simulated seconds, Quantities) and answers whether the window is
stable. The engine's ``wait_for_stability`` drives it, enforces the timeout and records
the time taken.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from lims.units import ureg

__all__ = ["StabilityCriteria", "StabilityDetector", "StabilityResult"]


@dataclass(frozen=True)
class StabilityCriteria:
    """What "stable" means for one wait.

    Window mode: over the last ``window`` (a time Quantity), the least-squares slope must
    be within ``±max_slope`` (value unit per time) and the spread (max − min) within
    ``max_spread``; at least ``min_samples`` readings, spanning the whole window, are
    needed. Fixed mode (``fixed`` set, e.g. "wait 3 × T90" where the regulation says so):
    stable once that time has passed. ``interval`` is the sampling period and ``timeout``
    the longest wait; all times are simulated seconds.
    """

    timeout: Any
    interval: Any
    window: Any | None = None
    max_slope: Any | None = None
    max_spread: Any | None = None
    fixed: Any | None = None
    min_samples: int = 3

    def __post_init__(self) -> None:
        for name in ("timeout", "interval"):
            _seconds(getattr(self, name), name)
        if self.fixed is None:
            if self.window is None or self.max_slope is None or self.max_spread is None:
                raise ValueError(
                    "stability criteria need either 'fixed', or 'window', 'max_slope' and "
                    "'max_spread'"
                )
            _seconds(self.window, "window")
            slope_dim = (self.max_spread / ureg.second).dimensionality
            if self.max_slope.dimensionality != slope_dim:
                raise ValueError(
                    f"max_slope {self.max_slope:~P} must be in units of max_spread per time"
                )
        else:
            _seconds(self.fixed, "fixed")
        if self.min_samples < 2:
            raise ValueError("min_samples must be at least 2")


def _seconds(q: Any, what: str) -> float:
    try:
        s = float(q.to("s").magnitude)
    except Exception as exc:
        raise ValueError(f"{what} must be a time Quantity, got {q!r}") from exc
    if s <= 0:
        raise ValueError(f"{what} must be positive, got {q!r}")
    return s


@dataclass(frozen=True)
class StabilityResult:
    """How a wait for stability ended."""

    stable: bool
    elapsed: Any  # simulated seconds, a Quantity
    samples: int
    last_value: Any | None
    slope: Any | None
    spread: Any | None
    mode: str  # "window" or "fixed"


class StabilityDetector:
    """Sliding-window stability test, fed with ``(t_seconds, value)``."""

    def __init__(self, criteria: StabilityCriteria) -> None:
        self.criteria = criteria
        self._window_s = (
            float(criteria.window.to("s").magnitude) if criteria.window is not None else 0.0
        )
        self._samples: deque[tuple[float, float]] = deque()
        self._unit: Any = None
        self.slope: Any | None = None
        self.spread: Any | None = None
        self.last_value: Any | None = None
        self.count = 0

    def reset(self) -> None:
        """Forget the window (after a pause, values before it are stale)."""
        self._samples.clear()
        self.slope = self.spread = None

    def add(self, t_s: float, value: Any) -> bool:
        """Add a sample; return whether the window is now stable."""
        if self._unit is None:
            self._unit = value.units
        magnitude = float(value.to(self._unit).magnitude)
        self._samples.append((t_s, magnitude))
        self.last_value = value
        self.count += 1
        # keep the last sample at or before the window start, so that the window spans the
        # full window time even when readings come slower than the nominal interval
        while len(self._samples) > 1 and self._samples[1][0] <= t_s - self._window_s:
            self._samples.popleft()
        return self.stable()

    def stable(self) -> bool:
        """Whether the current window meets the slope and spread limits."""
        c = self.criteria
        if len(self._samples) < c.min_samples:
            return False
        t = np.array([s[0] for s in self._samples])
        y = np.array([s[1] for s in self._samples])
        # a window counts only once it spans (almost) the full window time
        interval_s = float(c.interval.to("s").magnitude)
        if t[-1] - t[0] < self._window_s - interval_s * 0.5:
            return False
        slope = float(np.polyfit(t - t[0], y, 1)[0])
        spread = float(y.max() - y.min())
        self.slope = ureg.Quantity(slope, self._unit / ureg.second)
        self.spread = ureg.Quantity(spread, self._unit)
        assert c.max_slope is not None
        assert c.max_spread is not None
        return bool(abs(self.slope) <= c.max_slope and self.spread <= c.max_spread)
