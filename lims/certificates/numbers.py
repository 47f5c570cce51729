"""How numbers are written on a certificate: one home for the rounding the PDF, the DCC,
``lims certificate show`` and the desktop app share.

* The expanded uncertainty U is written with two significant digits, rounded up
  (JJF 1059.1-2012: "0.20", never "0.2"; :mod:`lims.calc.rounding`).
* The value it belongs to (the error, the characteristic) is written to U's decimal
  place; a value without U to two significant digits, but never coarser than units.
* A limit is written as the regulation states it: at most three significant digits,
  ``±`` for a two-sided limit, ``≤``/``≥`` for a one-sided one.
* Reference values and indications of one table share one number of decimals.
* k is written with up to two decimals (``2``, ``2.28``).

Every function takes magnitudes as they are stored (floats) and returns text; the
rounding rule is GB/T 8170 (half to even) through :mod:`lims.calc.rounding`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from lims.calc.rounding import RoundingMode, round_significant, round_to_exponent
from lims.results import LimitKind
from lims.units import display_unit

__all__ = [
    "RowTexts",
    "decimals_of",
    "distribution_for",
    "k_text",
    "limit_text",
    "number_text",
    "plain",
    "quantity_text",
    "row_texts",
    "uncertainty_place",
    "uncertainty_text",
    "value_text",
    "with_unit",
]

U_DIGITS = 2
"""Significant digits of an expanded uncertainty."""
LIMIT_DIGITS = 3
"""At most this many significant digits of a limit (2/3 % is written 0.667 %)."""


def plain(x: float | Decimal) -> str:
    """Shortest exact decimal of ``x`` without exponent (``1004``, ``0.05``)."""
    d = x if isinstance(x, Decimal) else Decimal(repr(float(x)))
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "", "-") else text


def decimals_of(text: str) -> int:
    """Digits after the decimal point in ``text``."""
    return len(text.split(".")[1]) if "." in text else 0


def number_text(x: float, place: int) -> str:
    """``x`` rounded (half to even) to the decimal place 10**place, trailing zeros kept."""
    d = round_to_exponent(float(x), place)
    if place > 0:
        return format(d.quantize(Decimal(1)), "f")
    return format(d, "f")


def _significant(x: float, digits: int) -> Decimal:
    return round_significant(float(x), digits)


def _u_rounded(u: float) -> Decimal:
    """U to two significant digits, never rounded down (JJF 1059.1: 只进不舍)."""
    return round_significant(float(u), U_DIGITS, RoundingMode.UP)


def uncertainty_place(u: float) -> int | None:
    """The decimal place (exponent) of U written with two significant digits; None for 0."""
    if not math.isfinite(u) or u <= 0:
        return None
    return int(_u_rounded(u).as_tuple().exponent)


def uncertainty_text(u: float) -> str:
    """U with two significant digits, rounded up: ``0.20``, ``1.5``, ``12``, ``120``."""
    place = uncertainty_place(u)
    if place is None:
        return plain(u)
    d = _u_rounded(u)
    return format(d.quantize(Decimal(1)), "f") if place > 0 else format(d, "f")


def value_text(x: float, u: float | None = None) -> str:
    """A value to U's decimal place; without U, to two significant digits (not past units)."""
    place = uncertainty_place(u) if u is not None else None
    if place is None:
        if x == 0 or not math.isfinite(x):
            return plain(x)
        place = min(int(_significant(x, U_DIGITS).as_tuple().exponent), 0)
    return number_text(x, place)


def k_text(k: float) -> str:
    """The coverage factor: ``2``, ``2.28``."""
    return plain(Decimal(repr(float(k))).quantize(Decimal("0.01")))


def limit_number(x: float) -> str:
    """A limit's magnitude: as given, or to three significant digits when it has more."""
    text = plain(abs(x))
    digits = len(text.replace(".", "").lstrip("0"))
    if digits <= LIMIT_DIGITS or x == 0:
        return text
    return plain(_significant(abs(x), LIMIT_DIGITS))


def with_unit(number: str, q: Any) -> str:
    """``number`` followed by the display unit of ``q`` (``%`` and ``%FS`` without a space)."""
    unit = display_unit(q)
    if unit in ("", "1"):
        return number
    sep = "" if unit.startswith("%") else " "
    return f"{number}{sep}{unit}"


def quantity_text(q: Any, decimals: int | None = None) -> str:
    """``"1004 µmol/mol"``; with ``decimals``, rounded or padded to that many places."""
    x = float(q.magnitude)
    text = plain(x) if decimals is None else number_text(x, -decimals)
    return with_unit(text, q)


def limit_text(q: Any, kind: LimitKind | str = LimitKind.SYMMETRIC) -> str:
    """``±2%FS``, ``≤ 0.667%``, ``≥ 95%``: a limit as the regulation states it."""
    kind = LimitKind(kind)
    number = with_unit(limit_number(float(q.magnitude)), q)
    if kind is LimitKind.SYMMETRIC:
        return f"±{number}"
    return f"{kind.symbol} {number}"


LARGE_DOF = 50.0
"""From this many effective degrees of freedom on, t and normal quantiles differ by < 2 %."""


def distribution_for(k: float, p: float, dof_eff: float | None = None) -> str:
    """The distribution a DCC states for U (D-SI ``si:distribution``): ``normal`` when ν_eff
    is large (or not stated) and k is the normal quantile for p (k = 2 for 95 %); ``t``
    (Student's t with ν_eff degrees of freedom) otherwise, e.g. k = 4.3 for ν_eff = 2."""
    from statistics import NormalDist

    if dof_eff is not None and dof_eff < LARGE_DOF:
        return "t"
    z = NormalDist().inv_cdf(0.5 + min(p, 0.999999) / 2)
    return "normal" if abs(k - z) <= 0.05 else "t"


@dataclass(frozen=True)
class RowTexts:
    """One result row as written: every cell's number with its unit."""

    point: str
    reference: str
    indication: str
    value: str
    limit: str
    uncertainty: str
    """``0.20 µmol/mol`` (empty without U)."""
    k: str
    """``2`` (empty without U)."""
    value_number: str
    """The value's number alone (what the DCC stores)."""
    uncertainty_number: str
    """U's number alone (what the DCC stores), empty without U."""


def reading_decimals(quantities: list[Any]) -> int:
    """Decimals shared by the reference values and indications of one table."""
    return max((decimals_of(plain(float(q.magnitude))) for q in quantities), default=0)


def row_texts(row: Any, reading_places: int | None = None, limit_kind: Any = None) -> RowTexts:
    """The texts of a :class:`~lims.certificates.model.ResultRow`.

    ``reading_places`` is the table's shared number of decimals for reference values and
    indications (:func:`reading_decimals`).
    """
    u = row.expanded_uncertainty
    u_mag = float(u.magnitude) if u is not None and row.coverage_factor is not None else None
    if u_mag is not None and u_mag <= 0:
        u_mag = None
    value_number = value_text(float(row.error.magnitude), u_mag)
    u_number = uncertainty_text(u_mag) if u_mag is not None else ""
    kind = limit_kind or getattr(row, "limit_kind", LimitKind.SYMMETRIC)
    return RowTexts(
        point=quantity_text(row.point) if row.point is not None else "",
        reference=quantity_text(row.reference, reading_places) if row.reference is not None else "",
        indication=quantity_text(row.indication, reading_places)
        if row.indication is not None
        else "",
        value=with_unit(value_number, row.error),
        limit=limit_text(row.mpe, kind) if row.mpe is not None else "",
        uncertainty=with_unit(u_number, u) if u_mag is not None else "",
        k=k_text(row.coverage_factor) if u_mag is not None else "",
        value_number=value_number,
        uncertainty_number=u_number,
    )
