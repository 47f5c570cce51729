"""Exceptions raised by the driver layer.

Every message names the instrument and, where there is one, the command, so that
an operator reading one line knows which instrument failed doing what.
"""

from __future__ import annotations

__all__ = [
    "BenchFileError",
    "InstrumentConnectionError",
    "InstrumentError",
    "InstrumentOverrange",
    "InstrumentProtocolError",
    "InstrumentTimeout",
]


class InstrumentError(Exception):
    """Base class of every instrument failure."""

    def __init__(self, instrument: str, message: str, command: str | None = None) -> None:
        self.instrument = instrument
        self.command = command
        where = f"{instrument}: {command!r}: " if command is not None else f"{instrument}: "
        super().__init__(where + message)


class InstrumentTimeout(InstrumentError):  # noqa: N818 (contract name)
    """No (complete) reply arrived within the driver's timeout."""

    def __init__(self, instrument: str, command: str, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        super().__init__(instrument, f"no reply within {timeout_s:g} s", command)


class InstrumentProtocolError(InstrumentError):
    """A reply arrived but could not be understood; ``raw`` holds the bytes received."""

    def __init__(self, instrument: str, command: str, raw: bytes, reason: str = "") -> None:
        self.raw = raw
        text = f"unparseable reply {raw!r}"
        if reason:
            text += f" ({reason})"
        super().__init__(instrument, text, command)


class InstrumentOverrange(InstrumentProtocolError):  # noqa: N818 (pairs with InstrumentTimeout)
    """The instrument reported a value outside its measuring range (e.g. SCPI 9.9E37)."""

    def __init__(self, instrument: str, command: str, raw: bytes) -> None:
        super().__init__(instrument, command, raw, "value out of range / overrange flag")


class InstrumentConnectionError(InstrumentError):
    """The connection could not be opened or was lost."""


class BenchFileError(ValueError):
    """A bench file that cannot be used; ``str()`` is one line naming file and key or line."""

    def __init__(self, path: str, where: str, message: str) -> None:
        self.path = path
        self.where = where
        self.message = message
        super().__init__(f"{path}: {where}: {message}" if where else f"{path}: {message}")
