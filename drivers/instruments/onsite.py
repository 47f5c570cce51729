"""On-site instruments on Modbus: belt-scale integrator, CEMS gas analyzer, flue-gas flow
monitor, reference-method stack probe.

All registers 16 bit, 32-bit values big-endian (high word first), the common identity
block in holding 256–287 (see :mod:`drivers.instruments.modbus`); unit 1.

**ModbusBeltScale** (belt-scale integrator, Modbus RTU 19200 8N1)
  input 0–1 resettable totalizer, uint32 × 0.1 kg; input 2–3 rate, float32, t/h;
  input 4–5 belt speed, float32, m/s; input 6–7 belt load, float32, kg/m;
  input 8 status (bit 0 belt running, bit 1 load over range, bit 2 speed-sensor fault);
  holding 100 command (1 = reset the totalizer).

**ModbusCemsAnalyzer** (CEMS CO2/O2 analyzer, Modbus TCP)
  input 0–1 CO2, float32, % (volume fraction, dry); input 2–3 O2, float32, %;
  input 4 status (bit 0 CO2 over range, bit 1 O2 over range, bit 2 calibration valve
  open); holding 100 command (0 = end calibration: valve closed);
  holding 101 calibration valve at the probe (1 open: calibration gas, 0 closed: flue gas).

**ModbusFlowMonitor** (flue-gas flow monitor, Modbus RTU 19200 8N1)
  input 0–1 velocity, float32, m/s; input 2–3 actual flow, float32, m³/h;
  input 4–5 dry standard flow (273.15 K, 101.325 kPa), float32, m³/h;
  input 6 gas temperature, int16 × 0.1 °C; input 7 absolute pressure, uint16 × 0.01 kPa;
  input 8 moisture, uint16 × 0.01 %; input 9 status (bit 0 over range).

**ModbusStackProbe** (reference-method S-type pitot with thermocouple and
micromanometer, Modbus RTU 19200 8N1)
  input 0–1 velocity at the probe, float32, m/s; input 2 gas temperature, int16 × 0.1 °C;
  input 3 absolute pressure, uint16 × 0.01 kPa; input 4 traverse point (1-based, 0 =
  not in the duct); input 5 status (bit 0 over range).
"""

from __future__ import annotations

from typing import Any

from drivers.errors import InstrumentOverrange
from drivers.instruments.base import quantity, regs_to_float32, regs_to_uint32
from drivers.instruments.modbus import CONTROL_ADDRESS, _ModbusInstrument
from drivers.transport import registers_bytes

__all__ = ["ModbusBeltScale", "ModbusCemsAnalyzer", "ModbusFlowMonitor", "ModbusStackProbe"]

VALVE_ADDRESS = 101


def _int16(reg: int) -> int:
    return reg - 0x10000 if reg & 0x8000 else reg


class ModbusBeltScale(_ModbusInstrument):
    """Belt-scale integrator on Modbus RTU (role BeltScale); see module doc."""

    def _block(self, what: str) -> list[int]:
        regs = self.transport.read_registers(0, 9, what, inputs=True)
        if regs[8] & 0x2:
            raise InstrumentOverrange(self.name, what, registers_bytes(regs))
        return regs

    def read_totalized(self) -> Any:
        """Resettable totalizer (kg, 0.1 kg steps)."""
        regs = self._block("totalizer (input 0-8)")
        return quantity(regs_to_uint32(regs[0:2]) / 10, "kg")

    def read_rate(self) -> Any:
        """Flow rate (t/h)."""
        return quantity(regs_to_float32(self._block("rate (input 0-8)")[2:4]), "t/h")

    def read_belt_speed(self) -> Any:
        """Belt speed (m/s)."""
        return quantity(regs_to_float32(self._block("belt speed (input 0-8)")[4:6]), "m/s")

    def read_belt_load(self) -> Any:
        """Load per metre of belt (kg/m)."""
        return quantity(regs_to_float32(self._block("belt load (input 0-8)")[6:8]), "kg/m")

    def is_running(self) -> bool:
        """Whether the integrator sees the belt running."""
        return bool(self._block("status (input 0-8)")[8] & 0x1)

    def reset_totalizer(self) -> None:
        """Zero the resettable totalizer (holding 100 = 1)."""
        self.transport.write_registers(CONTROL_ADDRESS, [1], "reset totalizer (holding 100 = 1)")

    def safe_state(self) -> None:
        """The integrator only observes; nothing to switch off."""


class ModbusCemsAnalyzer(_ModbusInstrument):
    """CEMS CO2/O2 analyzer on Modbus TCP (role CemsAnalyzer); see module doc."""

    def _block(self, what: str, over_bit: int) -> list[int]:
        regs = self.transport.read_registers(0, 5, what, inputs=True)
        if regs[4] & over_bit:
            raise InstrumentOverrange(self.name, what, registers_bytes(regs))
        return regs

    def read_concentration(self) -> Any:
        """CO2 volume fraction (%)."""
        return quantity(regs_to_float32(self._block("CO2 (input 0-4)", 0x1)[0:2]), "percent")

    def read_oxygen(self) -> Any:
        """O2 volume fraction (%)."""
        return quantity(regs_to_float32(self._block("O2 (input 0-4)", 0x2)[2:4]), "percent")

    def set_calibration_valve(self, open_: bool) -> None:
        """Open (calibration gas through the probe) or close (flue gas) the valve."""
        what = f"calibration valve (holding 101 = {int(open_)})"
        self.transport.write_registers(VALVE_ADDRESS, [int(open_)], what)

    def calibration_valve_open(self) -> bool:
        """Whether the calibration valve is open (holding 101)."""
        (reg,) = self.transport.read_registers(VALVE_ADDRESS, 1, "calibration valve (holding 101)")
        return reg == 1

    def safe_state(self) -> None:
        """End any calibration: the probe samples flue gas again (holding 100 = 0)."""
        self.transport.write_registers(CONTROL_ADDRESS, [0], "end calibration (holding 100 = 0)")


class ModbusFlowMonitor(_ModbusInstrument):
    """Flue-gas flow monitor on Modbus RTU (role FlueGasFlowMonitor); see module doc."""

    def _block(self, what: str) -> list[int]:
        regs = self.transport.read_registers(0, 10, what, inputs=True)
        if regs[9] & 0x1:
            raise InstrumentOverrange(self.name, what, registers_bytes(regs))
        return regs

    def read_velocity(self) -> Any:
        """Velocity (m/s)."""
        return quantity(regs_to_float32(self._block("velocity (input 0-9)")[0:2]), "m/s")

    def read_flow(self) -> Any:
        """Actual flow (m³/h)."""
        return quantity(regs_to_float32(self._block("flow (input 0-9)")[2:4]), "m**3/h")

    def read_standard_flow(self) -> Any:
        """Dry standard flow (m³/h at 273.15 K, 101.325 kPa)."""
        regs = self._block("standard flow (input 0-9)")
        return quantity(regs_to_float32(regs[4:6]), "m**3/h")

    def read_gas_temperature(self) -> Any:
        """Flue-gas temperature (°C)."""
        return quantity(_int16(self._block("temperature (input 0-9)")[6]) / 10, "degC")

    def read_static_pressure(self) -> Any:
        """Absolute pressure (kPa)."""
        return quantity(self._block("pressure (input 0-9)")[7] / 100, "kPa")

    def read_moisture(self) -> Any:
        """Water-vapour volume fraction (%)."""
        return quantity(self._block("moisture (input 0-9)")[8] / 100, "percent")

    def safe_state(self) -> None:
        """A monitor has nothing to switch off."""


class ModbusStackProbe(_ModbusInstrument):
    """Reference-method stack probe on Modbus RTU (role StackProbe); see module doc."""

    def _block(self, what: str) -> list[int]:
        regs = self.transport.read_registers(0, 6, what, inputs=True)
        if regs[5] & 0x1:
            raise InstrumentOverrange(self.name, what, registers_bytes(regs))
        return regs

    def read_velocity(self) -> Any:
        """Velocity at the present traverse point (m/s)."""
        return quantity(regs_to_float32(self._block("velocity (input 0-5)")[0:2]), "m/s")

    def read_gas_temperature(self) -> Any:
        """Gas temperature (°C)."""
        return quantity(_int16(self._block("temperature (input 0-5)")[2]) / 10, "degC")

    def read_static_pressure(self) -> Any:
        """Absolute pressure (kPa)."""
        return quantity(self._block("pressure (input 0-5)")[3] / 100, "kPa")

    def traverse_point(self) -> int:
        """Traverse point (1-based; 0 = probe not in the duct)."""
        return int(self._block("traverse point (input 0-5)")[4])

    def safe_state(self) -> None:
        """A probe has nothing to switch off."""
