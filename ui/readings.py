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


#: Kinds of quantity that get an axis of their own, each named (tried in this order).
AXIS_KINDS = (
    ("temperature", "degC"),
    ("time", "s"),
    ("current", "A"),
    ("voltage", "V"),
    ("energy", "J"),
    ("power", "W"),
    ("pressure", "Pa"),
    ("flow", "m^3/s"),
    ("mass", "g"),
    ("frequency", "Hz"),
    ("length", "m"),
)


def axis_kind(value: Any) -> str:
    """The kind of a quantity for its axis: a named kind, a fraction or a count (both are
    dimensionless), or else its dimensionality."""
    for name, unit in AXIS_KINDS:
        try:
            if value.check(unit):
                return name
        except Exception:  # a unit this registry does not know: try the next
            continue
    dims = str(value.dimensionality)
    if dims != "dimensionless":
        return dims
    # µmol/mol, %, ppm are fractions; a plain number (pulses, a count) is a count
    scale = float((1 * value.units).to("dimensionless").magnitude)
    return "count" if scale == 1.0 else "fraction"


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
            return PlotPoint(quantity, seq, float(value.magnitude), unit, axis_kind(value), step)
        except (TypeError, ValueError):
            return None
    try:
        return PlotPoint(quantity, seq, float(value), "", "", step)
    except (TypeError, ValueError):
        return None
