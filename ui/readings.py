"""Readings reduced for the live plot (plain Python: built on the run's thread)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PlotPoint:
    """A reading reduced to what the live plot draws (converted off the GUI thread).

    ``unit`` is the unit ``y`` is in (None: the plan's plot unit, or no unit known);
    ``kind`` groups quantities of one dimension on one axis; a change of ``step``
    starts a new segment of the curve (the plot does not bridge the gap).
    """

    quantity: str
    seq: int
    y: float
    unit: str | None = None
    kind: str = ""
    step: str = ""


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


def plot_point(
    quantity: str, seq: int, value: Any, plot_unit: str | None, step: str = ""
) -> PlotPoint | None:
    """A reading as a plot point on the axis of its kind of quantity.

    A reading of the plan's unit's dimension is converted to that unit; any other
    quantity keeps its own unit and gets an axis of its dimension. None for a value
    that is no number (a text, a date).
    """
    if hasattr(value, "units") and hasattr(value, "magnitude"):
        try:
            unit = str(value.units)
            if plot_unit is not None and value.check(plot_unit):
                value, unit = value.to(plot_unit), plot_unit  # the plan's unit, as written
            kind = str(value.dimensionality)
            # fractions and counts are all dimensionless: one axis per unit among them
            kind = unit if kind == "dimensionless" else kind
            return PlotPoint(quantity, seq, float(value.magnitude), unit, kind, step)
        except (TypeError, ValueError):
            return None
    try:
        return PlotPoint(quantity, seq, float(value), "", "", step)
    except (TypeError, ValueError):
        return None
