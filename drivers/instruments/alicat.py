"""Serial mass-flow controller (Alicat-style ASCII) and a gas dilutor built from it.

Alicat-style ASCII protocol (RS-232/485, 19200 8N1, ``\\r`` terminated), unit id ``A``:

=================  =============================================================
``A``              poll → data frame ``A +101.33 +023.50 +0.5012 +0.5010 +0.5000 N2``:
                   unit id, absolute pressure (kPa), temperature (°C), volumetric flow
                   (L/min), mass flow (standard L/min), setpoint (standard L/min),
                   gas; trailing status words may follow (``MOV`` = mass flow over
                   range, ``VOV`` volumetric over range)
``AS <value>``     set the setpoint in standard L/min → data frame
``A??M*``          identity → ``A M* <manufacturer> <model> <serial> <firmware>``
                   (real units answer with several ``M00``..``M09`` lines; this is the
                   one-line form of the same fields)
=================  =============================================================

The dilutor adds a multi-position port-selector valve on the same RS-485 line,
VICI-style, device id ``1``: ``1GO<n>`` moves to port n (no reply), ``1CP`` →
``Position is = <n>``.
"""

from __future__ import annotations

import re
from typing import Any

from drivers.errors import InstrumentOverrange, InstrumentProtocolError
from drivers.instruments.base import check_unit, quantity
from drivers.io_record import ObservableDriver
from drivers.roles import InstrumentIdentity
from drivers.transport import LineTransport, SerialTransport

__all__ = ["AlicatDilutor", "AlicatMfc", "MfcFrame"]

_FRAME_RE = re.compile(
    r"^(?P<id>[A-Z])\s+(?P<p>[-+]\d+\.?\d*)\s+(?P<t>[-+]\d+\.?\d*)\s+(?P<vf>[-+]\d+\.?\d*)\s+"
    r"(?P<mf>[-+]\d+\.?\d*)\s+(?P<sp>[-+]\d+\.?\d*)\s+(?P<gas>\S+)(?P<status>(?:\s+[A-Z]{3})*)\s*$"
)
_POSITION_RE = re.compile(r"^Position is\s*=\s*(\d+)$")


class MfcFrame:
    """One parsed data frame (all Quantities)."""

    def __init__(self, match: re.Match[str]) -> None:
        self.pressure = quantity(float(match["p"]), "kPa")
        self.temperature = quantity(float(match["t"]), "degC")
        self.volumetric_flow = quantity(float(match["vf"]), "L/min")
        self.mass_flow = quantity(float(match["mf"]), "L/min")
        self.setpoint = quantity(float(match["sp"]), "L/min")
        self.gas = match["gas"]
        self.status = match["status"].split()


class AlicatMfc(ObservableDriver):
    """Mass-flow controller (role :class:`~drivers.roles.FlowController`); see module doc."""

    default_timeout_s = 1.0
    unit_id = "A"

    def __init__(self, transport: LineTransport, *, name: str) -> None:
        self.name = name
        self.transport = transport

    @classmethod
    def open(cls, name: str, address: str, timeout_s: float | None = None) -> Any:
        """Open ``address`` (a serial device path or pyserial URL) at 19200 baud."""
        transport = SerialTransport(
            address,
            instrument=name,
            timeout_s=timeout_s or cls.default_timeout_s,
            baudrate=19200,
            read_termination="\r",
            write_termination="\r",
        )
        return cls(transport, name=name)

    def _frame(self, command: str) -> MfcFrame:
        return self._parse_frame(command, self.transport.query(command))

    def _parse_frame(self, command: str, reply: str) -> MfcFrame:
        match = _FRAME_RE.match(reply)
        if match is None or match["id"] != self.unit_id:
            raise InstrumentProtocolError(self.name, command, reply.encode(), "not a data frame")
        frame = MfcFrame(match)
        if "MOV" in frame.status or "VOV" in frame.status:
            raise InstrumentOverrange(self.name, command, reply.encode())
        return frame

    def poll(self) -> MfcFrame:
        """Read one full data frame."""
        return self._frame(self.unit_id)

    def identify(self) -> InstrumentIdentity:
        """``A??M*`` manufacturer data."""
        command = f"{self.unit_id}??M*"
        reply = self.transport.query(command)
        parts = reply.split()
        if len(parts) != 6 or parts[:2] != [self.unit_id, "M*"]:
            raise InstrumentProtocolError(self.name, command, reply.encode(), "not a M* record")
        return InstrumentIdentity(*parts[2:])

    def set_flow(self, flow: Any) -> None:
        """Set the setpoint (converted to standard L/min) and check the echoed setpoint."""
        value = check_unit(flow, "L/min", "flow setpoint")
        if value < 0:
            raise ValueError(f"flow setpoint must not be negative, got {flow}")
        command = f"{self.unit_id}S {value:.4f}"
        reply = self.transport.query(command)
        frame = self._parse_frame(command, reply)
        echoed = float(frame.setpoint.magnitude)
        if abs(echoed - value) > max(1e-3, 1e-3 * abs(value)):
            if echoed < value:  # the controller clamps to its full scale
                raise ValueError(
                    f"{self.name}: setpoint {value:.4f} L/min refused (full scale {echoed})"
                )
            raise InstrumentProtocolError(
                self.name, command, reply.encode(), f"echoed setpoint {echoed} L/min"
            )

    def read_flow(self) -> Any:
        """Mass flow in standard L/min."""
        return self.poll().mass_flow

    def safe_state(self) -> None:
        """Close the valve (setpoint 0)."""
        self._frame(f"{self.unit_id}S 0.0000")

    def close(self) -> None:
        """Close the port."""
        self.transport.close()


class AlicatDilutor(AlicatMfc):
    """Gas dilutor: port-selector valve (id ``1``) + MFC (id ``A``) on one serial line.

    Role :class:`~drivers.roles.GasDilutor`; see the module doc for the protocol.
    """

    valve_id = "1"

    def select_port(self, port: int) -> None:
        """Move the valve to ``port`` and confirm the position."""
        if not isinstance(port, int) or port < 1:
            raise ValueError(f"{self.name}: port must be a positive integer, got {port!r}")
        self.transport.write(f"{self.valve_id}GO{port}")
        got = self.selected_port()
        if got != port:
            raise InstrumentProtocolError(
                self.name,
                f"{self.valve_id}GO{port}",
                f"Position is = {got}".encode(),
                "valve did not move",
            )

    def selected_port(self) -> int:
        """Current valve position."""
        command = f"{self.valve_id}CP"
        reply = self.transport.query(command)
        match = _POSITION_RE.match(reply)
        if match is None:
            raise InstrumentProtocolError(self.name, command, reply.encode(), "not a position")
        return int(match[1])
