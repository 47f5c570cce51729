"""Zero drift and span drift over an interval.

For readings y_0 (the initial one), y_1 … y_m taken over the drift interval,
the drift is the deviation from the initial reading with the largest magnitude,

    Δ = y_j − y_0  with  |y_j − y_0| = max_i |y_i − y_0|,

reported with its sign and also as %FS of the span R: Δ / R × 100 %FS.
Span drift may optionally be corrected for the zero drift measured at the same
instants (Δ_span,i = (S_i − Z_i) − (S_0 − Z_0)), as some regulations require;
the procedure's regulation table decides which form applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lims.calc._common import CalcError, magnitudes
from lims.calc.errors import as_fiducial
from lims.units import ureg

__all__ = ["Drift", "drift", "span_drift", "zero_drift"]


@dataclass(frozen=True)
class Drift:
    """Largest deviation from the initial reading over the interval."""

    initial: Any
    max_deviation: Any
    """Signed deviation y_j − y_0 with the largest magnitude."""
    max_deviation_fs: Any
    """The same, as %FS of the span."""
    index: int
    """0-based position of the reading y_j in the sequence."""


def _drift(values: list[float], unit: Any, span: Any) -> Drift:
    if len(values) < 2:
        raise CalcError("drift: at least 2 readings (initial and one later) are needed")
    y0 = values[0]
    devs = [v - y0 for v in values]
    j = max(range(len(devs)), key=lambda i: abs(devs[i]))
    dev = ureg.Quantity(devs[j], unit)
    return Drift(
        initial=ureg.Quantity(y0, unit),
        max_deviation=dev,
        max_deviation_fs=as_fiducial(dev, span),
        index=j,
    )


def drift(readings: Any, span: Any) -> Drift:
    """Largest deviation of ``readings`` from the first of them, absolute and in %FS."""
    values, unit = magnitudes(readings, "drift readings")
    return _drift(values, unit, span)


def zero_drift(zero_readings: Any, span: Any) -> Drift:
    """Zero drift: :func:`drift` of the readings of zero gas over the interval."""
    return drift(zero_readings, span)


def span_drift(span_readings: Any, span: Any, zero_readings: Any = None) -> Drift:
    """Span drift over the interval, optionally corrected for zero drift.

    ``zero_readings``, when given, must be paired one-to-one with
    ``span_readings`` (taken at the same instants).
    """
    s, unit = magnitudes(span_readings, "span readings")
    if zero_readings is not None:
        z, _ = magnitudes(zero_readings, "zero readings", unit=unit)
        if len(z) != len(s):
            raise CalcError(f"zero readings: {len(z)} zero readings for {len(s)} span readings")
        s = [si - zi for si, zi in zip(s, z, strict=True)]
    return _drift(s, unit, span)
