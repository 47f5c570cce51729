"""Units for instrument I/O.

Drivers return pint Quantities from pint's *application registry*, so that the
application (which installs its own registry with the laboratory's units via
``pint.set_application_registry``) and the drivers share one registry without
the drivers importing the application.

This module also holds the lenient parser for units as people type them
("umol/mol", "μmol/mol", "kW·h", "m³/h"), used for bench files.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pint

ureg: Any = pint.get_application_registry()  # type: ignore[no-untyped-call]
"""The shared registry (a proxy that follows ``pint.set_application_registry``)."""

Quantity = pint.Quantity

_REPLACEMENTS: tuple[tuple[str, str], ...] = (
    ("μ", "µ"),  # Greek small mu -> micro sign
    ("·", "*"),
    ("⋅", "*"),
    ("×", "*"),
    ("²", "**2"),
    ("³", "**3"),
    ("℃", "degC"),
    ("°C", "degC"),
    ("％", "%"),
)
_NUMBER_RE = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")


class UnitParseError(ValueError):
    """A unit or quantity string that cannot be understood or has the wrong dimension."""


def normalize_unit_text(text: str) -> str:
    """Rewrite the ways people type units into pint's syntax."""
    out = text.strip()
    for old, new in _REPLACEMENTS:
        out = out.replace(old, new)
    # "kWh" is defined; "kW h" (space as product) is not pint syntax.
    return re.sub(r"(?<=[A-Za-z])\s+(?=[A-Za-z])", "*", out)


def parse_unit(text: str) -> Any:
    """Parse a unit string; raise :class:`UnitParseError` naming it if unknown."""
    norm = normalize_unit_text(text)
    if not norm:
        raise UnitParseError("empty unit")
    try:
        return ureg.parse_units(norm)
    except (pint.errors.UndefinedUnitError, pint.errors.DefinitionSyntaxError) as exc:
        raise UnitParseError(f"unknown unit {text!r}") from exc
    except Exception as exc:  # pint raises assorted errors for malformed expressions
        raise UnitParseError(f"cannot parse unit {text!r}: {exc}") from exc


def parse_quantity(text: str, like: str | None = None) -> Any:
    """Parse ``"<number> <unit>"``.

    When ``like`` is given (a unit string, e.g. ``"umol/mol"``), the quantity must
    have the same dimensionality, otherwise :class:`UnitParseError` is raised.
    """
    if not isinstance(text, str):
        raise UnitParseError(f"expected a quantity string such as '20 s', got {text!r}")
    m = _NUMBER_RE.match(text)
    if not m:
        raise UnitParseError(f"not a quantity (number followed by a unit): {text!r}")
    number, unit_text = m.group(1), m.group(2)
    value = float(number)
    if not math.isfinite(value):
        raise UnitParseError(f"not a finite number: {text!r}")
    unit = parse_unit(unit_text) if unit_text else ureg.dimensionless
    q = ureg.Quantity(value, unit)
    if like is not None:
        check_dimension(q, like, what=text)
    return q


def check_dimension(q: Any, like: str, *, what: str | None = None) -> None:
    """Raise :class:`UnitParseError` unless ``q`` has the dimensionality of unit ``like``."""
    target = parse_unit(like)
    if q.dimensionality != ureg.Quantity(1, target).dimensionality:
        label = what if what is not None else f"{q}"
        raise UnitParseError(f"{label!r} has the wrong dimension: expected a quantity in {like}")


#: Quantities physics wants strictly positive, by the name they carry in bench files.
POSITIVE = frozenset(
    {
        "range",
        "U",
        "t90",
        "resolution",
        "max_flow",
        "max_current",
        "nominal_voltage",
        "k_factor",
        "meter_constant",
        "display_resolution",
        "run_time",
        "period",
        "pressure",
        "time_scale",
    }
)
#: Quantities that cannot be negative (a spread, an amount, a swing).
NON_NEGATIVE = frozenset(
    {
        "noise_sd",
        "certified",
        "actual",
        "ambient",
        "humidity",
        "temperature_swing",
        "humidity_swing",
        "pressure_swing",
    }
)

SIGN_RULED = POSITIVE | NON_NEGATIVE


def check_sign(name: str, q: Any) -> None:
    """Raise :class:`UnitParseError` when ``q`` has a sign physics forbids for ``name``.

    Every magnitude of ``q`` (a number or an array) must be finite; those named in
    :data:`POSITIVE` must be above zero and those in :data:`NON_NEGATIVE` not below it.
    Other names (an offset, a drift, a bias, a temperature) may take either sign.
    """
    magnitude = getattr(q, "magnitude", q)
    values = [float(v) for v in magnitude] if hasattr(magnitude, "__iter__") else [float(magnitude)]
    if not all(math.isfinite(v) for v in values):
        raise UnitParseError(f"{name}: not a finite value: {q}")
    if name in POSITIVE and any(v <= 0 for v in values):
        raise UnitParseError(f"{name} must be positive, got {q}")
    if name in NON_NEGATIVE and any(v < 0 for v in values):
        raise UnitParseError(f"{name} cannot be negative, got {q}")
