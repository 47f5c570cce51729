"""A standard's calibration certificate as data: certified values with U and k, and
the ranges it covers.

The content of :attr:`ExternalCertificate.values` is written and read only here:
``{"items": [{"quantity", "value", "unit", "U", "U_unit", "k"}],
"ranges": [{"quantity", "min", "max", "unit"}], "source": "manual" | "dcc",
"dcc": {...}}``. Records written by earlier releases (``{"items": [...]}`` without
ranges, a free-text ``{"summary": ...}``, or ``{"values": [{"quantity", "U", "U_unit",
"k"}]}`` stating only an uncertainty) still read: they state no range.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from lims.calc._common import is_relative_unit
from lims.quality.errors import QualityError
from lims.units import UnitParseError, from_storage, parse_quantity, to_storage

__all__ = [
    "CalibratedRange",
    "CertificateData",
    "CertifiedValue",
    "certificate_content",
    "certified_uncertainty",
    "parse_range",
    "parse_value",
    "stored_values",
]


@dataclass(frozen=True)
class CertifiedValue:
    """One value a certificate states, with its expanded uncertainty U and coverage factor k."""

    quantity: str
    value: Any | None
    """None when an earlier release's record states only the uncertainty."""
    expanded_uncertainty: Any | None = None
    k: float | None = None

    def describe(self) -> str:
        """``flow 10.002 m³/h, U = 0.025 m³/h (k = 2)``."""
        text = self.quantity if self.value is None else f"{self.quantity} {self.value:~P}"
        if self.expanded_uncertainty is not None:
            k = f" (k = {self.k:g})" if self.k is not None else ""
            text += f", U = {self.expanded_uncertainty:~P}{k}"
        return text


@dataclass(frozen=True)
class CalibratedRange:
    """The range of one quantity a certificate covers, ``low`` to ``high`` inclusive."""

    quantity: str
    low: Any
    high: Any

    def __post_init__(self) -> None:
        if self.low.dimensionality != self.high.dimensionality:
            raise QualityError(
                f"range of {self.quantity}: {self.low:~P} and {self.high:~P} differ in dimension"
            )
        if self.high.to(self.low.units).magnitude < self.low.magnitude:
            raise QualityError(
                f"range of {self.quantity}: the upper end {self.high:~P} is below {self.low:~P}"
            )

    def same_dimension(self, q: Any) -> bool:
        """Whether ``q`` is a quantity this range can contain (a relative % never matches an
        absolute fraction such as µmol/mol, although both are dimensionless)."""
        return bool(q.dimensionality == self.low.dimensionality) and (
            is_relative_unit(q.units) == is_relative_unit(self.low.units)
        )

    def contains(self, low: Any, high: Any) -> bool:
        """Whether ``low`` … ``high`` (same dimension) lies inside this range."""
        lo = float(low.to(self.low.units).magnitude)
        hi = float(high.to(self.low.units).magnitude)
        # a relative tolerance of 1e-9 absorbs unit-conversion rounding at the ends
        eps = 1e-9 * max(abs(float(self.low.magnitude)), abs(float(self.high.magnitude)), 1e-300)
        return float(self.low.magnitude) - eps <= lo and hi <= float(self.high.magnitude) + eps

    def describe(self) -> str:
        """``flow 0.1 … 100 m³/h``."""
        high = float(self.high.to(self.low.units).magnitude)
        return f"{self.quantity} {float(self.low.magnitude):g} … {high:g} {self.low.units:~P}"


@dataclass(frozen=True)
class CertificateData:
    """What a standard's new certificate states (typed; from the command line or a DCC)."""

    number: str
    issuer: str
    calibrated_on: date
    issued_on: date
    valid_until: date
    values: tuple[CertifiedValue, ...] = ()
    ranges: tuple[CalibratedRange, ...] = ()
    #: ``manual`` (typed in) or ``dcc`` (read from a digital calibration certificate).
    source: str = "manual"
    #: What the DCC intake found (file hash, signature, issuing lab code), for the record.
    dcc: Mapping[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        """Refuse incoherent data (dates, empty fields) with one clear message."""
        if not self.number.strip():
            raise QualityError("--number: the certificate number is empty")
        if not self.issuer.strip():
            raise QualityError("--issuer: the issuing body is empty")
        if self.issued_on < self.calibrated_on:
            raise QualityError("--issued: a certificate cannot be issued before the calibration")
        if self.valid_until <= self.calibrated_on:
            raise QualityError("--valid-until: must be after the calibration date")


def parse_value(text: str) -> CertifiedValue:
    """``QUANTITY=VALUE[;U=U_VALUE;k=K]``, e.g. ``flow=10.002 m3/h;U=0.025 m3/h;k=2``.

    U may be relative (``U=0.25 %``); it is then stored as given.
    """
    name, sep, rest = text.partition("=")
    if not sep or not name.strip() or not rest.strip():
        raise QualityError(f"--value {text!r}: write QUANTITY=VALUE[;U=...;k=...]")
    parts = [p.strip() for p in rest.split(";")]
    try:
        value = parse_quantity(parts[0])
        big_u = None
        k = None
        for part in parts[1:]:
            key, _, val = part.partition("=")
            key = key.strip()
            if key == "U":
                big_u = parse_quantity(val)
            elif key == "k":
                k = float(val)
            else:
                raise QualityError(f"--value {text!r}: unknown field {key!r} (U, k)")
    except UnitParseError as exc:
        raise QualityError(f"--value {text!r}: {exc}") from exc
    except ValueError as exc:
        if isinstance(exc, QualityError):
            raise
        raise QualityError(f"--value {text!r}: k must be a number") from exc
    if big_u is not None:
        relative = big_u.dimensionality == parse_quantity("1 %").dimensionality
        if not relative and big_u.dimensionality != value.dimensionality:
            raise QualityError(f"--value {text!r}: U has another dimension than the value")
        if big_u.magnitude < 0:
            raise QualityError(f"--value {text!r}: U cannot be negative")
        if k is None:
            raise QualityError(f"--value {text!r}: give the coverage factor k with U")
    if k is not None and (not math.isfinite(k) or k <= 0):
        raise QualityError(f"--value {text!r}: k must be positive")
    return CertifiedValue(name.strip(), value, big_u, k)


def parse_range(text: str) -> CalibratedRange:
    """``QUANTITY=LOW..HIGH``, e.g. ``flow=0.1..100 m3/h`` or ``flow=0.1 m3/h..100 m3/h``."""
    name, sep, rest = text.partition("=")
    low_text, dots, high_text = rest.partition("..")
    if not sep or not dots or not name.strip():
        raise QualityError(f"--range {text!r}: write QUANTITY=LOW..HIGH UNIT")
    try:
        high = parse_quantity(high_text.strip())
        low_text = low_text.strip()
        try:
            low = parse_quantity(low_text, high.units)
        except UnitParseError:
            low = parse_quantity(f"{low_text} {high.units:~}")
    except UnitParseError as exc:
        raise QualityError(f"--range {text!r}: {exc}") from exc
    if low.dimensionality != high.dimensionality:
        raise QualityError(f"--range {text!r}: the two ends differ in dimension")
    return CalibratedRange(name.strip(), low, high)


def certificate_content(data: CertificateData) -> dict[str, Any]:
    """The JSON stored in :attr:`ExternalCertificate.values` for ``data``."""
    items = []
    for v in data.values:
        magnitude, unit = to_storage(v.value)
        item: dict[str, Any] = {"quantity": v.quantity, "value": magnitude, "unit": unit}
        if v.expanded_uncertainty is not None:
            u_mag, u_unit = to_storage(v.expanded_uncertainty)
            item |= {"U": u_mag, "U_unit": u_unit, "k": v.k}
        items.append(item)
    ranges = []
    for r in data.ranges:
        low, unit = to_storage(r.low)
        ranges.append(
            {
                "quantity": r.quantity,
                "min": low,
                "max": float(r.high.to(r.low.units).magnitude),
                "unit": unit,
            }
        )
    out: dict[str, Any] = {"items": items, "ranges": ranges, "source": data.source}
    if data.dcc:
        out["dcc"] = dict(data.dcc)
    return out


def stored_values(
    values: Mapping[str, Any] | None,
) -> tuple[list[CertifiedValue], list[CalibratedRange]]:
    """The certified values and ranges of a stored certificate (legacy records: none)."""
    out_values: list[CertifiedValue] = []
    out_ranges: list[CalibratedRange] = []
    data = values or {}
    for item in _dicts(data.get("items")):
        try:
            value = from_storage(float(item["value"]), str(item["unit"]))
        except (KeyError, TypeError, ValueError, UnitParseError):
            continue
        big_u = None
        if item.get("U") is not None:
            big_u = from_storage(float(item["U"]), str(item.get("U_unit") or item["unit"]))
        k = float(item["k"]) if item.get("k") is not None else None
        out_values.append(CertifiedValue(str(item.get("quantity", "")), value, big_u, k))
    for item in _dicts(data.get("values")):  # uncertainty-only records of earlier releases
        try:
            big_u = from_storage(float(item["U"]), str(item.get("U_unit") or item.get("unit")))
            k = float(item.get("k", 2.0))
        except (KeyError, TypeError, ValueError, UnitParseError):
            continue
        out_values.append(CertifiedValue(str(item.get("quantity", "")), None, big_u, k))
    for r in _dicts(data.get("ranges")):
        try:
            out_ranges.append(
                CalibratedRange(
                    str(r.get("quantity", "")),
                    from_storage(float(r["min"]), str(r["unit"])),
                    from_storage(float(r["max"]), str(r["unit"])),
                )
            )
        except (KeyError, TypeError, ValueError, UnitParseError, QualityError):
            continue
    return out_values, out_ranges


def _dicts(items: Any) -> Sequence[Mapping[str, Any]]:
    if not isinstance(items, list):
        return []
    return [i for i in items if isinstance(i, Mapping)]


def certified_uncertainty(values: Mapping[str, Any] | None) -> tuple[Any, float] | None:
    """The first expanded uncertainty U a stored certificate states, with its k (or None)."""
    for v in stored_values(values)[0]:
        if v.expanded_uncertainty is not None:
            return v.expanded_uncertainty, v.k if v.k is not None else 2.0
    return None
