"""Helpers shared by the concrete drivers."""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import Any

from drivers.errors import InstrumentOverrange, InstrumentProtocolError
from drivers.quantity_factory import factory_for
from drivers.roles import InstrumentIdentity
from drivers.units import ureg

__all__ = [
    "SCPI_OVERRANGE",
    "check_unit",
    "parse_float",
    "parse_idn",
    "quantity",
    "regs_to_float32",
    "regs_to_int32",
    "regs_to_text",
    "regs_to_uint32",
]

SCPI_OVERRANGE = 9.9e37
"""SCPI's 'overload' value (IEEE 488.2 / SCPI-99 §7.2.1)."""


def parse_float(instrument: str, command: str, text: str) -> float:
    """Parse a numeric reply; SCPI overload (±9.9E37) or NaN raises InstrumentOverrange."""
    try:
        value = float(text)
    except ValueError:
        raise InstrumentProtocolError(instrument, command, text.encode(), "not a number") from None
    if math.isnan(value) or abs(value) >= SCPI_OVERRANGE * 0.999:
        raise InstrumentOverrange(instrument, command, text.encode())
    if math.isinf(value):
        raise InstrumentProtocolError(instrument, command, text.encode(), "not finite")
    return value


def parse_idn(instrument: str, command: str, text: str) -> InstrumentIdentity:
    """Parse an IEEE 488.2 ``*IDN?`` reply: ``manufacturer,model,serial,firmware``."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 4 or not all(parts[:2]):
        raise InstrumentProtocolError(instrument, command, text.encode(), "expected 4 fields")
    return InstrumentIdentity(*parts)


def check_unit(quantity: Any, unit: str, what: str) -> float:
    """Return ``quantity`` in ``unit``; raise ValueError naming ``what`` for a wrong dimension."""
    if not isinstance(quantity, ureg.Quantity):
        raise ValueError(f"{what}: expected a quantity in {unit}, got {quantity!r}")
    try:
        return float(quantity.to(unit).magnitude)
    except Exception as exc:  # pint.DimensionalityError and offset-unit errors
        raise ValueError(f"{what}: {quantity} cannot be expressed in {unit}") from exc


def regs_to_float32(regs: Sequence[int]) -> float:
    """Two big-endian registers (high word first) as an IEEE 754 float32."""
    return float(struct.unpack(">f", struct.pack(">HH", regs[0], regs[1]))[0])


def regs_to_uint32(regs: Sequence[int]) -> int:
    """Two big-endian registers (high word first) as an unsigned 32-bit integer."""
    return (regs[0] << 16) | regs[1]


def regs_to_int32(regs: Sequence[int]) -> int:
    """Two big-endian registers (high word first) as a signed 32-bit integer."""
    value = regs_to_uint32(regs)
    return value - (1 << 32) if value & 0x8000_0000 else value


def regs_to_text(regs: Sequence[int]) -> str:
    """Registers holding ASCII, two characters each, high byte first, NUL-padded."""
    return b"".join(struct.pack(">H", r) for r in regs).rstrip(b"\0 ").decode("ascii", "replace")


def quantity(value: float, unit: str) -> Any:
    """``value`` in ``unit`` as a Quantity of the current application registry.

    Built by a cached :class:`~drivers.quantity_factory.QuantityFactory` (no unit
    parsing and no pint constructor overhead per reading); a registry installed later by
    the application is honoured.
    """
    return factory_for(ureg.get(), unit)(value)
