"""Indication errors: absolute, relative (%) and fiducial (%FS).

With indication x, reference (conventional true) value x_s and span (full
scale, upper − lower range limit) R:

* absolute error      E = x − x_s                 (unit of the reference)
* relative error      δ = (x − x_s) / x_s × 100 %
* fiducial error      δ_FS = (x − x_s) / R × 100 %FS

``percent_FS`` is its own dimension in the registry, so a fiducial error is
never silently compared with a relative one; :func:`as_fiducial` and
:func:`from_fiducial` convert explicitly (for an MPE or an uncertainty).
"""

from __future__ import annotations

from typing import Any

from lims.calc._common import CalcError, require_quantity, same_dimension
from lims.units import ureg

__all__ = [
    "absolute_error",
    "as_fiducial",
    "as_relative",
    "fiducial_error",
    "from_fiducial",
    "relative_error",
    "span_of",
]


def _span(span: Any) -> Any:
    span = require_quantity(span, "span")
    if span.magnitude <= 0:
        raise CalcError(f"span: must be positive, got {span:~P}")
    return span


def span_of(lower: Any, upper: Any) -> Any:
    """Span R = upper − lower of a measuring range (must be positive)."""
    lower = require_quantity(lower, "range lower limit")
    upper = require_quantity(upper, "range upper limit")
    upper = same_dimension(upper, lower, "range upper limit", "range lower limit")
    return _span(upper - lower)


def absolute_error(indication: Any, reference: Any) -> Any:
    """E = indication − reference, in the reference's unit."""
    reference = require_quantity(reference, "reference value")
    indication = require_quantity(indication, "indication")
    indication = same_dimension(indication, reference, "indication", "reference value")
    return indication - reference


def relative_error(indication: Any, reference: Any) -> Any:
    """δ = (indication − reference) / reference, in percent."""
    error = absolute_error(indication, reference)
    if reference.magnitude == 0:
        raise CalcError("reference value: a relative error needs a non-zero reference")
    return (error / reference).to("percent")


def fiducial_error(indication: Any, reference: Any, span: Any) -> Any:
    """δ_FS = (indication − reference) / span, in %FS."""
    return as_fiducial(absolute_error(indication, reference), span)


def as_fiducial(value: Any, span: Any) -> Any:
    """Express an absolute value (error, MPE, U) as %FS of ``span``."""
    value = require_quantity(value, "value")
    span = _span(span)
    value = same_dimension(value, span, "value", "span")
    return ureg.Quantity(float(value.magnitude / span.magnitude) * 100.0, "percent_FS")


def from_fiducial(value: Any, span: Any) -> Any:
    """Convert a %FS value (e.g. an MPE of ±2 %FS) to an absolute value in the span's unit."""
    value = require_quantity(value, "value")
    span = _span(span)
    if value.dimensionality != ureg.Quantity(1, "percent_FS").dimensionality:
        raise CalcError(f"value ({value:~P}) is not a fiducial (%FS) quantity")
    return span * (float(value.to("percent_FS").magnitude) / 100.0)


def as_relative(value: Any, reference: Any) -> Any:
    """Express an absolute value (error, U) relative to ``reference``, in percent."""
    value = require_quantity(value, "value")
    reference = require_quantity(reference, "reference value")
    value = same_dimension(value, reference, "value", "reference value")
    if reference.magnitude == 0:
        raise CalcError("reference value: a relative value needs a non-zero reference")
    return (value / reference).to("percent")
