"""Input checking shared by the calculation modules."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pint

from lims.units import display_unit, ureg

__all__ = [
    "CalcError",
    "is_relative_unit",
    "magnitudes",
    "require_quantity",
    "same_dimension",
    "unit_text",
]


class CalcError(ValueError):
    """Bad input to a calculation: names what is wrong and where."""


def unit_text(unit: Any) -> str:
    """Short display form of a unit for tables and certificates (``µmol/mol``, ``%FS``)."""
    return display_unit(unit)


def require_quantity(value: Any, what: str) -> Any:
    """Return ``value`` if it is a finite scalar pint Quantity, else raise :class:`CalcError`."""
    if not isinstance(value, pint.Quantity):
        raise CalcError(f"{what}: expected a quantity with a unit, got {value!r}")
    mag = value.magnitude
    if not isinstance(mag, int | float) or isinstance(mag, bool):
        raise CalcError(f"{what}: expected a single value, got {value!r}")
    if not math.isfinite(float(mag)):
        raise CalcError(f"{what}: not a finite number: {value!r}")
    return value


def is_relative_unit(unit: Any) -> bool:
    """True for the units of a relative value: ``%``, ``‰`` or a bare number."""
    return bool(unit in (ureg.percent, ureg.permille, ureg.dimensionless))


def _check_compatible(value: Any, reference: Any, what: str, reference_what: str) -> None:
    mismatch = value.dimensionality != reference.dimensionality
    # Amount fractions (µmol/mol, ppm) are dimensionless in pint, as is %: never
    # let a relative value pass for an absolute fraction or the other way round.
    if not mismatch and value.dimensionless:
        mismatch = is_relative_unit(value.units) != is_relative_unit(reference.units)
    if mismatch:
        raise CalcError(
            f"{what} ({value:~P}) is not of the same kind as {reference_what} "
            f"({reference:~P}); convert it explicitly first"
        )


def same_dimension(value: Any, reference: Any, what: str, reference_what: str) -> Any:
    """Return ``value`` converted to the unit of ``reference``.

    Raises :class:`CalcError` on a dimension mismatch, and when one is a relative
    value (``%``, ``‰``, a bare number) and the other an absolute fraction such
    as ``µmol/mol`` (both dimensionless to pint).
    """
    _check_compatible(value, reference, what, reference_what)
    return value.to(reference.units)


def magnitudes(values: Any, what: str, *, unit: Any = None) -> tuple[list[float], Any]:
    """Convert a sequence of quantities (or a quantity array) to floats in one unit.

    The unit is ``unit`` when given, else the unit of the first value. Raises
    :class:`CalcError` naming the offending item (by 1-based position) when an
    item is not a quantity, not finite, or of another dimension.
    """
    if isinstance(values, pint.Quantity):
        mag = values.magnitude
        if isinstance(mag, int | float):
            raise CalcError(f"{what}: expected a sequence of values, got the single value {values}")
        values = [ureg.Quantity(float(m), values.units) for m in mag]
    if not isinstance(values, Sequence) or isinstance(values, str):
        raise CalcError(f"{what}: expected a sequence of quantities, got {values!r}")
    if not values:
        raise CalcError(f"{what}: no values given")
    first = require_quantity(values[0], f"{what} item 1")
    target = ureg.Quantity(1.0, unit if unit is not None else first.units)
    out: list[float] = []
    for i, item in enumerate(values, start=1):
        q = require_quantity(item, f"{what} item {i}")
        if q.units == target.units:
            out.append(float(q.magnitude))
            continue
        _check_compatible(q, target, f"{what} item {i}", f"{target.units:~P}")
        out.append(float(q.to(target.units).magnitude))
    return out, target.units
