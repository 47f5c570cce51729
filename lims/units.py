"""The application's unit registry and unit handling at every boundary.

One pint registry serves the whole application; importing this module installs
it as pint's application registry, so drivers (which only know pint's
application registry) return quantities of this same registry.

Laboratory units added to pint's defaults:

* ``percent_vol`` (typed ``%vol``): volume fraction in percent;
* ``percent_FS`` (typed ``%FS``): fiducial error, percent of full scale. It is a
  distinct dimension so that it is never silently mixed with a relative error;
* ``normal_cubic_meter`` / ``normal_liter`` (typed ``Nm³``, ``NL``): gas volume at
  normal conditions (0 °C, 101.325 kPa), a distinct dimension because it cannot be
  converted to an actual volume without the gas temperature and pressure;
* ``percent_RH`` (typed ``%RH``, shown ``%RH``): relative humidity in percent, a ratio
  like ``percent`` (80 %RH = 80 %); without it pint would read ``%RH`` as percent ×
  ronnahenry;
* ``yuan`` (typed ``yuan``, ``CNY``, ``RMB``, ``元``; shown ``CNY``): money, a distinct
  dimension ``[currency]`` so that an amount is never mixed with a pure number
  (a tariff is ``yuan/kWh``).

The database stores a magnitude plus a canonical unit string
(:func:`canonical_unit`), which :func:`from_storage` reads back exactly.
"""

from __future__ import annotations

import math
import os
import re
import sys
from typing import Any

import pint

from drivers.units import UnitParseError, normalize_unit_text

__all__ = [
    "Q_",
    "UnitParseError",
    "canonical_unit",
    "check_dimension",
    "display_quantity",
    "display_unit",
    "from_storage",
    "parse_quantity",
    "parse_unit",
    "to_storage",
    "ureg",
]

_DEFINITIONS = """
percent_vol = 0.01
fiducial_percent = [fiducial]
percent_FS = fiducial_percent
normal_cubic_meter = [normal_volume] = Nm3
normal_liter = 1e-3 * normal_cubic_meter = NL
percent_RH = percent = %RH
yuan = [currency] = CNY = RMB = 元
"""


def _cache_folder() -> str | None:
    """Where pint caches its parsed definitions (per user: a much faster start-up).

    No cache with ``LIMS_UNIT_CACHE=0``, and none for an offline certificate verification
    (``lims certificate verify FILE --ca CA``), which writes nothing anywhere.
    """
    if os.environ.get("LIMS_UNIT_CACHE") == "0":
        return None
    argv = sys.argv[1:]
    if argv[:2] == ["certificate", "verify"] and any(
        a == "--ca" or a.startswith("--ca=") for a in argv
    ):
        return None
    return ":auto:"


ureg: Any = pint.UnitRegistry(
    autoconvert_offset_to_baseunit=True,
    on_redefinition="raise",
    cache_folder=_cache_folder(),
)
for _line in _DEFINITIONS.strip().splitlines():
    ureg.define(_line)
ureg.formatter.default_format = "~P"
pint.set_application_registry(ureg)  # type: ignore[no-untyped-call]

Q_: Any = ureg.Quantity

_LAB_REPLACEMENTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"%\s*vol\b|%\s*\(V/V\)|%V/V", re.IGNORECASE), "percent_vol"),
    (re.compile(r"%\s*FS\b", re.IGNORECASE), "percent_FS"),
    (re.compile(r"%\s*RH\b", re.IGNORECASE), "percent_RH"),
    (re.compile(r"\bN\s*m\s*(\*\*\s*3|3)"), "normal_cubic_meter"),
    (re.compile(r"\bNL\b"), "normal_liter"),
    (re.compile(r"\bkW\s*\*\s*h\b"), "kWh"),
)
_NUMBER_RE = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")


def _lab_normalize(text: str) -> str:
    out = normalize_unit_text(text)
    for pattern, repl in _LAB_REPLACEMENTS:
        out = pattern.sub(repl, out)
    return out


def parse_unit(text: str) -> Any:
    """Parse a unit as people type it; raise :class:`UnitParseError` if unknown."""
    if not isinstance(text, str) or not text.strip():
        raise UnitParseError(f"empty or missing unit: {text!r}")
    norm = _lab_normalize(text)
    try:
        unit = ureg.parse_units(norm)
    except pint.errors.UndefinedUnitError as exc:
        raise UnitParseError(f"unknown unit {text!r}") from exc
    except Exception as exc:  # malformed expressions raise assorted errors
        raise UnitParseError(f"cannot parse unit {text!r}") from exc
    return unit


def check_dimension(q: Any, like: str | Any, *, what: str | None = None) -> None:
    """Raise :class:`UnitParseError` unless ``q`` has the dimension of unit ``like``."""
    target = parse_unit(like) if isinstance(like, str) else like
    if ureg.Quantity(1, q.units).dimensionality != ureg.Quantity(1, target).dimensionality:
        label = what if what is not None else f"{q:~P}"
        raise UnitParseError(
            f"{label!r} has the wrong dimension: expected a quantity convertible to {target:~P}"
        )


def parse_quantity(text: str, like: str | Any | None = None) -> Any:
    """Parse ``"<number> <unit>"`` (e.g. ``"1000 μmol/mol"``, ``"3.5 kW·h"``).

    With ``like`` (a unit or unit string), the dimension must match, else
    :class:`UnitParseError`. A bare number is refused when ``like`` has a
    dimension: units are never guessed.
    """
    if not isinstance(text, str):
        raise UnitParseError(f"expected text such as '20 s', got {text!r}")
    m = _NUMBER_RE.match(text)
    if not m:
        raise UnitParseError(f"not a quantity (a number followed by a unit): {text!r}")
    number, unit_text = m.group(1), m.group(2)
    value = float(number)
    if not math.isfinite(value):
        raise UnitParseError(f"not a finite number: {text!r}")
    unit = parse_unit(unit_text) if unit_text else ureg.dimensionless
    q = ureg.Quantity(value, unit)
    if like is not None:
        if not unit_text:
            target = parse_unit(like) if isinstance(like, str) else like
            if target != ureg.dimensionless:
                raise UnitParseError(f"missing unit in {text!r}: expected a unit like {like}")
        check_dimension(q, like, what=text)
    return q


def canonical_unit(unit: Any) -> str:
    """The canonical storage string for a unit (pint's long form, e.g. ``micromole / mole``)."""
    return format(ureg.Unit(unit), "D")


def to_storage(q: Any) -> tuple[float, str]:
    """Split a quantity into ``(magnitude, canonical unit string)`` for the database."""
    return float(q.magnitude), canonical_unit(q.units)


def from_storage(magnitude: float, unit: str) -> Any:
    """Rebuild a quantity from its stored magnitude and canonical unit string."""
    return ureg.Quantity(magnitude, ureg.parse_units(unit))


#: How units are shown to people (tables, certificates, the desktop app), Chinese and
#: English, where pint's short symbol is not what a lab writes. One table for every screen.
DISPLAY_UNITS: dict[str, tuple[str, str]] = {
    "percent": ("%", "%"),
    "percent_FS": ("%FS", "%FS"),
    "percent_vol": ("%vol", "%vol"),
    "percent_RH": ("%RH", "%RH"),
    "Nm3": ("Nm³", "Nm³"),
    "NL": ("NL", "NL"),
    "CNY": ("元", "CNY"),
    "CNY/kWh": ("元/kWh", "CNY/kWh"),
    "count": ("个脉冲", "pulses"),
}
_DISPLAY_PARTS = (("percent_FS", "%FS"), ("percent_vol", "%vol"), ("percent_RH", "%RH"))


def display_unit(unit: Any, lang: str = "en") -> str:
    """The unit of a Quantity (or a unit) as shown to people: ``%FS``, ``µmol/mol``, ``元``.

    ``lang`` is ``"zh"`` or ``"en"``; most units read the same in both.
    """
    text = format(ureg.Unit(getattr(unit, "units", unit)), "~P")
    pair = DISPLAY_UNITS.get(text)
    if pair is not None:
        return pair[0] if lang == "zh" else pair[1]
    for old, new in _DISPLAY_PARTS:
        text = text.replace(old, new)
    # litre is written L (GB 3100), also inside compound units: L/min, mL, 1/L
    return re.sub(r"(?<![A-Za-z])([mµk]?)l(?![A-Za-z])", r"\1L", text)


def display_quantity(q: Any, spec: str = ".6g", lang: str = "en") -> str:
    """A Quantity as shown to people: ``1.04 %FS``, ``400 µmol/mol``, ``2.40 元``."""
    unit = display_unit(q, lang)
    number = format(float(q.magnitude), spec)
    if unit in ("", "1"):
        return number
    return f"{number} {unit}"
