"""Units in D-SI syntax (PTB Digital System of Units 2.x) for the DCC.

:func:`to_dsi_unit` maps a pint unit of the application registry to a D-SI
unit string such as ``\\micro\\mole\\mole\\tothe{-1}`` (µmol/mol) or
``\\metre\\tothe{3}\\hour\\tothe{-1}`` (m³/h). Denominators use
``\\tothe{-n}``, the D-SI 2 form (``\\per`` is deprecated there).

Fiducial errors (``%FS``, percent of full scale) have no SI unit: they map to
``\\percent`` and :func:`is_fiducial` tells the DCC writer to state the
fiducial value (the full scale) beside the number.
"""

from __future__ import annotations

from typing import Any

from lims.certificates.errors import DccError
from lims.units import ureg

__all__ = ["is_fiducial", "to_dsi_unit"]

_PREFIXES = {
    "": "",
    "yotta": r"\yotta",
    "zetta": r"\zetta",
    "exa": r"\exa",
    "peta": r"\peta",
    "tera": r"\tera",
    "giga": r"\giga",
    "mega": r"\mega",
    "kilo": r"\kilo",
    "hecto": r"\hecto",
    "deca": r"\deca",
    "deci": r"\deci",
    "centi": r"\centi",
    "milli": r"\milli",
    "micro": r"\micro",
    "nano": r"\nano",
    "pico": r"\pico",
    "femto": r"\femto",
    "atto": r"\atto",
}

_UNITS = {
    "meter": r"\metre",
    "gram": r"\gram",
    "second": r"\second",
    "minute": r"\minute",
    "hour": r"\hour",
    "day": r"\day",
    "mole": r"\mole",
    "ampere": r"\ampere",
    "kelvin": r"\kelvin",
    "candela": r"\candela",
    "degree_Celsius": r"\degreecelsius",
    "liter": r"\litre",
    "watt": r"\watt",
    "watt_hour": r"\watt\hour",
    "joule": r"\joule",
    "volt": r"\volt",
    "ohm": r"\ohm",
    "hertz": r"\hertz",
    "newton": r"\newton",
    "pascal": r"\pascal",
    "bar": r"\bar",
    "coulomb": r"\coulomb",
    "siemens": r"\siemens",
    "tonne": r"\tonne",
    "metric_ton": r"\tonne",  # pint's name of t (t/h: belt scales, emission rates)
    "percent": r"\percent",
    "percent_vol": r"\percent",
    "percent_FS": r"\percent",
    "fiducial_percent": r"\percent",
    "dimensionless": r"\one",
}


def _split(name: str) -> tuple[str, str]:
    if name in _UNITS:
        return "", name
    candidates = ureg.parse_unit_name(name)
    for prefix, base, suffix in candidates:
        if not suffix and base in _UNITS and prefix in _PREFIXES:
            return prefix, base
    raise DccError(f"unit {name!r} has no D-SI equivalent in the DCC unit map")


def to_dsi_unit(unit: Any) -> str:
    """The D-SI string of a pint unit (or quantity); :class:`DccError` if there is none."""
    units = getattr(unit, "units", unit)
    items = list(ureg.Unit(units)._units.items())
    if not items:
        return r"\one"
    positive = [(n, e) for n, e in items if e > 0]
    negative = [(n, e) for n, e in items if e < 0]
    parts: list[str] = []
    for name, exponent in positive + negative:
        prefix, base = _split(name)
        token = _PREFIXES[prefix] + _UNITS[base]
        if base == "watt_hour" and exponent != 1:
            raise DccError(f"unit {name!r} with exponent {exponent} has no D-SI form here")
        if exponent != 1:
            exp = int(exponent) if float(exponent).is_integer() else exponent
            token += rf"\tothe{{{exp}}}"
        parts.append(token)
    return "".join(parts)


def is_fiducial(unit: Any) -> bool:
    """True for fiducial units (``%FS``): the value is relative to the full scale."""
    units = getattr(unit, "units", unit)
    return bool(
        ureg.Quantity(1, units).dimensionality == ureg.Quantity(1, "percent_FS").dimensionality
    )
