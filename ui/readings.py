"""Readings reduced for the live plot (plain Python: built on the run's thread)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PlotPoint:
    """A reading reduced to what the live plot draws (converted off the GUI thread)."""

    quantity: str
    seq: int
    y: float


def plot_value(value: Any, unit: str | None) -> float | None:
    """A reading in the plot's unit; None when it is of another dimension (or no number)."""
    try:
        if unit is None or not hasattr(value, "units"):
            if unit is not None:
                return None
            return float(value.magnitude) if hasattr(value, "magnitude") else float(value)
        return float(value.to(unit).magnitude)
    except Exception:  # another dimension (a time, a temperature), or not a number
        return None
