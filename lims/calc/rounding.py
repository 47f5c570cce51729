"""Rounding of uncertainties and results for certificates (GUM 7.2.6, JJF 1059.1-2012).

* The expanded uncertainty U is given to 1 or 2 significant digits (default 2).
* The result is rounded to the same decimal place as the rounded U.
* The rounding rule is GB/T 8170-2008 "四舍六入五成双": a discarded part below
  half rounds down, above half rounds up, and exactly half rounds to the even
  last kept digit. This is :attr:`RoundingMode.HALF_EVEN` and the default for
  both U and the result, because JJF 1059.1-2012 refers to the general rounding
  rule (GB/T 8170) for the final report.
* :attr:`RoundingMode.UP` ("不确定度只进不舍", any non-zero discarded digit
  raises the last kept digit) is offered for U, which JJF 1059.1-2012 allows
  so as not to understate the uncertainty. It is never applied to the result.

Numbers are handled as :class:`~decimal.Decimal`; a float is read through its
shortest decimal representation (``repr``), so ``2.675`` is the decimal
2.675 and not the binary value just below it. If rounding carries into a new
leading digit (0.0996 → 0.100), the extra digit is dropped (→ 0.10).
"""

from __future__ import annotations

import decimal
import math
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any

from lims.calc._common import CalcError, require_quantity, same_dimension, unit_text

__all__ = [
    "RoundedResult",
    "RoundingMode",
    "format_decimal",
    "round_result",
    "round_significant",
    "round_to_exponent",
    "round_uncertainty",
    "to_decimal",
]


class RoundingMode(Enum):
    """Rounding rule for the discarded digits."""

    HALF_EVEN = "half_even"
    """GB/T 8170 四舍六入五成双 (the default)."""
    UP = "up"
    """只进不舍: round away from zero whenever a non-zero digit is discarded (for U only)."""


_DECIMAL_MODE = {
    RoundingMode.HALF_EVEN: decimal.ROUND_HALF_EVEN,
    RoundingMode.UP: decimal.ROUND_UP,
}
_CTX = decimal.Context(prec=60, traps=[decimal.InvalidOperation, decimal.Overflow])


def to_decimal(x: Decimal | float | int | str, what: str = "value") -> Decimal:
    """Exact decimal of ``x``; floats via their shortest representation."""
    if isinstance(x, bool):
        raise CalcError(f"{what}: expected a number, got {x!r}")
    try:
        if isinstance(x, Decimal):
            d = x
        elif isinstance(x, int):
            d = Decimal(x)
        elif isinstance(x, float):
            if not math.isfinite(x):
                raise CalcError(f"{what}: not a finite number: {x!r}")
            d = Decimal(repr(x))
        elif isinstance(x, str):
            d = Decimal(x.strip())
        else:
            raise CalcError(f"{what}: expected a number, got {x!r}")
    except decimal.InvalidOperation:
        raise CalcError(f"{what}: not a number: {x!r}") from None
    if not d.is_finite():
        raise CalcError(f"{what}: not a finite number: {x!r}")
    return d


def round_to_exponent(
    x: Decimal | float | int | str, exponent: int, mode: RoundingMode = RoundingMode.HALF_EVEN
) -> Decimal:
    """Round to the decimal place 10**exponent (e.g. −1 for tenths); zero loses its sign."""
    d = to_decimal(x)
    out = d.quantize(Decimal(1).scaleb(exponent), rounding=_DECIMAL_MODE[mode], context=_CTX)
    return out.copy_abs() if out.is_zero() else out


def round_significant(
    x: Decimal | float | int | str, digits: int = 2, mode: RoundingMode = RoundingMode.HALF_EVEN
) -> Decimal:
    """Round to ``digits`` significant digits, keeping exactly that many after a carry."""
    if not isinstance(digits, int) or isinstance(digits, bool) or digits < 1:
        raise CalcError(f"significant digits: must be a positive integer, got {digits!r}")
    d = to_decimal(x)
    if d.is_zero():
        raise CalcError("cannot round zero to significant digits")
    exponent = d.adjusted() - digits + 1
    out = round_to_exponent(d, exponent, mode)
    if out.adjusted() > d.adjusted():  # carry: 0.0996 -> 0.100 -> 0.10
        out = round_to_exponent(out, exponent + 1, mode)
    return out


def format_decimal(d: Decimal) -> str:
    """Plain positional notation, keeping significant trailing zeros (``0.10``, ``1200``)."""
    return format(d, "f")


@dataclass(frozen=True)
class RoundedResult:
    """A result and its expanded uncertainty, rounded for a certificate."""

    value: Decimal
    uncertainty: Decimal
    unit: Any
    k: float | None = None

    @property
    def value_text(self) -> str:
        """The result with its unit, e.g. ``5.0 µmol/mol``."""
        return f"{format_decimal(self.value)} {unit_text(self.unit)}".rstrip()

    @property
    def uncertainty_text(self) -> str:
        """``U = 9.9 µmol/mol (k = 2)``; k is left out when unknown."""
        text = f"U = {format_decimal(self.uncertainty)} {unit_text(self.unit)}".rstrip()
        return f"{text} (k = {self.k:g})" if self.k is not None else text

    def __str__(self) -> str:
        return f"{self.value_text}, {self.uncertainty_text}"


def round_uncertainty(
    expanded: Any, *, digits: int = 2, mode: RoundingMode = RoundingMode.HALF_EVEN
) -> Decimal:
    """Round a (positive) expanded uncertainty quantity to ``digits`` significant digits.

    Returns the Decimal magnitude in the quantity's own unit.
    """
    q = require_quantity(expanded, "expanded uncertainty")
    if q.magnitude <= 0:
        raise CalcError(f"expanded uncertainty: must be positive, got {q:~P}")
    return round_significant(float(q.magnitude), digits, mode)


def round_result(
    value: Any,
    expanded: Any,
    *,
    digits: int = 2,
    uncertainty_mode: RoundingMode = RoundingMode.HALF_EVEN,
    k: float | None = None,
) -> RoundedResult:
    """Round U to ``digits`` significant digits and ``value`` to the same decimal place.

    U is first expressed in the unit of ``value``. The value is always rounded
    half-to-even (GB/T 8170); ``uncertainty_mode`` applies to U only.
    """
    value = require_quantity(value, "result value")
    big_u = same_dimension(
        require_quantity(expanded, "expanded uncertainty"),
        value,
        "expanded uncertainty",
        "the result value",
    )
    u_dec = round_uncertainty(big_u, digits=digits, mode=uncertainty_mode)
    v_dec = round_to_exponent(float(value.magnitude), u_dec.as_tuple().exponent)  # type: ignore[arg-type]
    return RoundedResult(value=v_dec, uncertainty=u_dec, unit=value.units, k=k)
