"""Modbus drivers: CH4 analyzer and environment monitor (TCP), reference flow standard (RTU).

Register maps (all registers 16 bit, 32-bit values big-endian, high word first; identity
in holding registers 256–287: manufacturer, model, serial and firmware as ASCII,
8 registers = 16 characters each, NUL padded):

**ModbusGasAnalyzer** (Modbus TCP, unit 1)
  input 0–1 concentration, float32, µmol/mol; input 2 status (bit 0 over range);
  holding 100 command (write 0 = abort adjustment).

**ModbusEnvironmentMonitor** (Modbus TCP, unit 1)
  input 0 temperature, int16 × 0.01 °C; input 1 relative humidity, uint16 × 0.01 %;
  input 2 pressure, uint16 × 0.01 kPa. ``0x7FFF`` in any of them = sensor fault / over
  range.

**ModbusFlowStandard** (Modbus RTU, 19200 8N1, unit 1)
  input 0–1 flow, int32 × 0.001 m³/h; input 2–3 totalized volume, uint32 × 1 mL;
  input 4–5 pulses counted from the meter under test, uint32; input 6 status (bit 0
  totalizing, bit 1 over range); holding 100 control (1 start, 2 stop, 3 reset).
"""

from __future__ import annotations

import math
from typing import Any

from drivers.errors import InstrumentOverrange, InstrumentProtocolError
from drivers.instruments.base import (
    quantity,
    regs_to_float32,
    regs_to_int32,
    regs_to_text,
    regs_to_uint32,
)
from drivers.io_record import ObservableDriver
from drivers.roles import InstrumentIdentity
from drivers.transport import ModbusTransport, RegisterTransport, registers_bytes

__all__ = ["ModbusEnvironmentMonitor", "ModbusFlowStandard", "ModbusGasAnalyzer"]

IDENTITY_ADDRESS = 256
IDENTITY_COUNT = 32
CONTROL_ADDRESS = 100
SENSOR_FAULT = 0x7FFF


class _ModbusInstrument(ObservableDriver):
    default_timeout_s = 1.0
    rtu = False

    def __init__(self, transport: RegisterTransport, *, name: str) -> None:
        self.name = name
        self.transport = transport

    @classmethod
    def open(cls, name: str, address: str, timeout_s: float | None = None) -> Any:
        """Connect to ``tcp://host:port`` (Modbus TCP) or a serial path (Modbus RTU)."""
        transport = ModbusTransport(
            address, instrument=name, timeout_s=timeout_s or cls.default_timeout_s
        )
        return cls(transport, name=name)

    def identify(self) -> InstrumentIdentity:
        """Read the identity block (holding 256–287)."""
        regs = self.transport.read_registers(IDENTITY_ADDRESS, IDENTITY_COUNT, "identity")
        fields = [regs_to_text(regs[i : i + 8]) for i in range(0, IDENTITY_COUNT, 8)]
        return InstrumentIdentity(*fields)

    def close(self) -> None:
        """Close the connection."""
        self.transport.close()


class ModbusGasAnalyzer(_ModbusInstrument):
    """Gas analyzer with a Modbus TCP register map (role GasAnalyzer); see module doc."""

    def read_concentration(self) -> Any:
        """Concentration in µmol/mol."""
        what = "concentration (input 0-2)"
        regs = self.transport.read_registers(0, 3, what, inputs=True)
        if regs[2] & 0x1:
            raise InstrumentOverrange(self.name, what, registers_bytes(regs))
        value = regs_to_float32(regs[0:2])
        if not math.isfinite(value):
            raise InstrumentProtocolError(self.name, what, registers_bytes(regs), "not finite")
        return quantity(value, "umol/mol")

    def safe_state(self) -> None:
        """Abort any adjustment."""
        self.transport.write_registers(CONTROL_ADDRESS, [0], "abort adjustment (holding 100)")


class ModbusEnvironmentMonitor(_ModbusInstrument):
    """Temperature / humidity / pressure transmitter on Modbus TCP; see module doc."""

    def _scaled(self, address: int, what: str, signed: bool) -> float:
        (reg,) = self.transport.read_registers(address, 1, what, inputs=True)
        if reg == SENSOR_FAULT:
            raise InstrumentOverrange(self.name, what, registers_bytes([reg]))
        value = reg - 0x10000 if signed and reg & 0x8000 else reg
        return value / 100

    def read_temperature(self) -> Any:
        """Air temperature (°C)."""
        return quantity(self._scaled(0, "temperature (input 0)", True), "degC")

    def read_humidity(self) -> Any:
        """Relative humidity (percent)."""
        return quantity(self._scaled(1, "humidity (input 1)", False), "percent")

    def read_pressure(self) -> Any:
        """Barometric pressure (kPa)."""
        return quantity(self._scaled(2, "pressure (input 2)", False), "kPa")

    def safe_state(self) -> None:
        """A passive transmitter has nothing to switch off."""


class ModbusFlowStandard(_ModbusInstrument):
    """Reference flow standard on Modbus RTU (role ReferenceFlowStandard); see module doc."""

    default_timeout_s = 1.0

    def _block(self, what: str) -> list[int]:
        regs = self.transport.read_registers(0, 7, what, inputs=True)
        if regs[6] & 0x2:
            raise InstrumentOverrange(self.name, what, registers_bytes(regs))
        return regs

    def read_flow(self) -> Any:
        """Reference flow (m³/h)."""
        regs = self._block("flow (input 0-6)")
        return quantity(regs_to_int32(regs[0:2]) / 1000, "m**3/h")

    def read_volume(self) -> Any:
        """Totalized volume (L)."""
        regs = self._block("volume (input 0-6)")
        return quantity(regs_to_uint32(regs[2:4]) / 1000, "L")

    def read_pulses(self) -> Any:
        """Pulses counted from the meter under test."""
        regs = self._block("pulses (input 0-6)")
        return quantity(regs_to_uint32(regs[4:6]), "count")

    def is_totalizing(self) -> bool:
        """Whether the totalizer runs."""
        return bool(self._block("status (input 0-6)")[6] & 0x1)

    def start_totalizing(self) -> None:
        """Start totalizing."""
        self.transport.write_registers(CONTROL_ADDRESS, [1], "start (holding 100 = 1)")

    def stop_totalizing(self) -> None:
        """Stop totalizing."""
        self.transport.write_registers(CONTROL_ADDRESS, [2], "stop (holding 100 = 2)")

    def reset_totalizer(self) -> None:
        """Zero volume and pulses."""
        self.transport.write_registers(CONTROL_ADDRESS, [3], "reset (holding 100 = 3)")

    def safe_state(self) -> None:
        """Stop totalizing."""
        self.stop_totalizing()
