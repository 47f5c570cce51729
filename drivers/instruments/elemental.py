"""Elemental (CHNS) analyzer: result records pushed on its serial result output.

After each run the analyzer sends one record on its RS-232 result port (9600 8N1,
``\\r\\n`` terminated), fields separated by ``;``::

    RES;<run no>;<sample id>;<mass> mg;C=<w>;H=<w>;N=<w>;S=<w>

with mass fractions ``w`` in percent; an element not determined is omitted or ``--``;
``OVR`` in place of a value flags a result out of the calibrated range. The port also
answers two commands: ``ID?`` → ``ID;<manufacturer>;<model>;<serial>;<firmware>`` and
``STBY`` (go to standby, no reply). Records that arrive while a command waits for its
reply are kept and returned by later :meth:`SerialElementalAnalyzer.read_result` calls.
"""

from __future__ import annotations

import collections
import re
from typing import Any

from drivers.errors import InstrumentOverrange, InstrumentProtocolError
from drivers.instruments.base import quantity
from drivers.io_record import ObservableDriver
from drivers.roles import ElementalResult, InstrumentIdentity
from drivers.transport import LineTransport, SerialTransport

__all__ = ["SerialElementalAnalyzer", "parse_result_record"]

_MASS_RE = re.compile(r"^(\d+\.?\d*)\s*mg$")
ELEMENTS = ("C", "H", "N", "S")


def parse_result_record(instrument: str, command: str, line: str) -> ElementalResult:
    """Parse one ``RES;...`` record."""
    raw = line.encode()
    fields = line.split(";")
    if len(fields) < 4 or fields[0] != "RES" or not fields[2]:
        raise InstrumentProtocolError(instrument, command, raw, "not a result record")
    mass = _MASS_RE.match(fields[3].strip())
    if mass is None:
        raise InstrumentProtocolError(instrument, command, raw, "bad sample mass")
    fractions: dict[str, Any] = {}
    for item in fields[4:]:
        key, sep, value = item.partition("=")
        if not sep or key not in ELEMENTS or key in fractions:
            raise InstrumentProtocolError(instrument, command, raw, f"bad field {item!r}")
        if value == "--":
            continue
        if value == "OVR":
            raise InstrumentOverrange(instrument, command, raw)
        try:
            number = float(value)
        except ValueError:
            raise InstrumentProtocolError(instrument, command, raw, f"bad value {item!r}") from None
        if not 0.0 <= number <= 100.0:
            raise InstrumentOverrange(instrument, command, raw)
        fractions[key] = quantity(number, "percent")
    return ElementalResult(fields[2], quantity(float(mass[1]), "mg"), fractions)


class SerialElementalAnalyzer(ObservableDriver):
    """Result source of a CHNS analyzer (role :class:`~drivers.roles.ElementalAnalyzer`)."""

    default_timeout_s = 2.0

    def __init__(self, transport: LineTransport, *, name: str) -> None:
        self.name = name
        self.transport = transport
        self._pending: collections.deque[str] = collections.deque()

    @classmethod
    def open(cls, name: str, address: str, timeout_s: float | None = None) -> Any:
        """Open the result port (a serial device path or pyserial URL)."""
        transport = SerialTransport(
            address,
            instrument=name,
            timeout_s=timeout_s or cls.default_timeout_s,
            baudrate=9600,
            read_termination="\r\n",
            write_termination="\r\n",
            flush_before_query=False,
        )
        return cls(transport, name=name)

    def _reply(self, command: str, prefix: str) -> str:
        line = self.transport.query(command)
        while line.startswith("RES;"):
            self._pending.append(line)
            line = self.transport.read_line(command)
        if not line.startswith(prefix):
            raise InstrumentProtocolError(self.name, command, line.encode(), f"expected {prefix!r}")
        return line

    def identify(self) -> InstrumentIdentity:
        """``ID?``."""
        line = self._reply("ID?", "ID;")
        parts = line.split(";")
        if len(parts) != 5:
            raise InstrumentProtocolError(self.name, "ID?", line.encode(), "expected 5 fields")
        return InstrumentIdentity(*parts[1:])

    def read_result(self, timeout_s: float | None = None) -> ElementalResult:
        """Return the next result record, waiting up to ``timeout_s`` for one."""
        command = "<result record>"
        line = self._pending.popleft() if self._pending else None
        if line is None:
            line = self.transport.read_line(command, timeout_s)
        return parse_result_record(self.name, command, line)

    def safe_state(self) -> None:
        """Put the analyzer in standby."""
        self.transport.write("STBY")

    def close(self) -> None:
        """Close the port."""
        self.transport.close()
