"""Protocol front-ends of the simulated instruments: they answer exactly as the drivers'
docstrings describe, computing every value from the physics models."""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Callable

from drivers.sim.physics import (
    ElementalModel,
    EnvironmentModel,
    FlowModel,
    GasAnalyzerModel,
    GasSupplyModel,
    PileModel,
)

__all__ = [
    "AlicatDevice",
    "ElementalDevice",
    "LineDevice",
    "ModbusDevice",
    "ScpiGasAnalyzerDevice",
    "ScpiLoadDevice",
    "ScpiPileTesterDevice",
]

IDENTITY_ADDRESS = 256
CONTROL_ADDRESS = 100
SENSOR_FAULT = 0x7FFF
SCPI_OVERRANGE = "9.9E37"


def _nr3(value: float) -> str:
    return f"{value:+.6E}"


def _ascii_problem(value: str) -> str | None:
    if not value.isascii() or not value.isprintable():
        return "printable ASCII only"
    return None


class LineDevice:
    """A line-protocol device: one reply line (or none) per command line."""

    terminator = b"\n"

    def __init__(self, identity: tuple[str, str, str, str], overrange: Callable[[], bool]) -> None:
        self.identity = identity
        self.overrange = overrange
        self.errors: list[str] = []

    @staticmethod
    def identity_problem(value: str) -> str | None:
        """Why ``value`` cannot be an identity field in this protocol (None: it can)."""
        return _ascii_problem(value)

    def handle(self, line: str) -> str | None:
        """Answer one command line."""
        raise NotImplementedError

    def outbox(self) -> list[str]:
        """Lines the device sends on its own (none by default)."""
        return []


class _Scpi(LineDevice):
    @staticmethod
    def identity_problem(value: str) -> str | None:
        """``*IDN?`` fields are separated by commas."""
        return _ascii_problem(value) or ("no commas in a *IDN? field" if "," in value else None)

    def __init__(self, identity: tuple[str, str, str, str], overrange: Callable[[], bool]) -> None:
        super().__init__(identity, overrange)
        self.commands: dict[str, Callable[[str], str | None]] = {}

    def handle(self, line: str) -> str | None:
        """Answer a program message: units separated by ``;``, carried out in order, the
        replies of its queries joined by ``;`` (IEEE 488.2)."""
        replies = [r for unit in line.split(";") if (r := self._unit(unit)) is not None]
        return ";".join(replies) if replies else None

    def _unit(self, unit: str) -> str | None:
        header, _, arg = unit.strip().partition(" ")
        header = header.upper()
        if header == "*IDN?":
            return ",".join(self.identity)
        if header == "*OPC?":
            return "1"  # every command is complete when the next unit is read
        if header == "SYST:ERR?":
            return self.errors.pop(0) if self.errors else '0,"No error"'
        fn = self.commands.get(header)
        if fn is None:
            self.errors.append('-113,"Undefined header"')
            return None
        try:
            return fn(arg.strip())
        except ValueError:
            self.errors.append('-224,"Illegal parameter value"')
            return None

    def measured(self, value: float) -> str:
        return SCPI_OVERRANGE if self.overrange() else _nr3(value)


class ScpiGasAnalyzerDevice(_Scpi):
    """SCPI NDIR analyzer (see :class:`drivers.instruments.scpi.ScpiGasAnalyzer`)."""

    def __init__(
        self,
        model: GasAnalyzerModel,
        identity: tuple[str, str, str, str],
        overrange: Callable[[], bool],
    ) -> None:
        super().__init__(identity, overrange)
        self.model = model
        self.commands = {
            "MEAS:CONC?": lambda _a: self._conc(),
            "SENS:RANG?": lambda _a: _nr3(model.range),
            "CAL:ABOR": lambda _a: None,
        }

    def _conc(self) -> str:
        value = self.model.indication()
        if value > 1.1 * self.model.range or value < -0.1 * self.model.range:
            return SCPI_OVERRANGE
        return self.measured(value)


class ScpiPileTesterDevice(_Scpi):
    """Charging-pile verification device (see :class:`drivers.instruments.scpi.ScpiPileTester`)."""

    def __init__(
        self, model: PileModel, identity: tuple[str, str, str, str], overrange: Callable[[], bool]
    ) -> None:
        super().__init__(identity, overrange)
        self.model = model
        self.commands = {
            "CONF:CONS": self._set_constant,
            "CONF:CONS?": lambda _a: _nr3(model.tester_constant),
            "TEST:STAR": lambda _a: model.start_test(),
            "TEST:STOP": lambda _a: model.stop_test(),
            "MEAS:ENER?": lambda _a: self.measured(model.test_results()[0]),
            "MEAS:PULS?": lambda _a: (
                SCPI_OVERRANGE if self.overrange() else str(model.test_results()[1])
            ),
            "MEAS:VOLT?": lambda _a: self.measured(model.measured_voltage()),
            "MEAS:CURR?": lambda _a: self.measured(model.measured_current()),
            "MEAS:ERR?": lambda _a: self._error(),
        }

    def _set_constant(self, arg: str) -> None:
        value = float(arg)
        if value <= 0:
            raise ValueError(arg)
        self.model.tester_constant = value

    def _error(self) -> str:
        energy, pulses = self.model.test_results()
        if energy <= 0:
            return SCPI_OVERRANGE
        return self.measured((pulses / self.model.tester_constant - energy) / energy * 100.0)


class ScpiLoadDevice(_Scpi):
    """Programmable load (see :class:`drivers.instruments.scpi.ScpiLoad`)."""

    def __init__(
        self, model: PileModel, identity: tuple[str, str, str, str], overrange: Callable[[], bool]
    ) -> None:
        super().__init__(identity, overrange)
        self.model = model
        self.commands = {
            "CURR": lambda a: model.set_current(float(a)),
            "CURR?": lambda _a: _nr3(model.current),
            "OUTP": self._output,
            "OUTP?": lambda _a: "1" if model.on else "0",
            "MEAS:CURR?": lambda _a: self.measured(model.current if model.on else 0.0),
        }

    def _output(self, arg: str) -> None:
        if arg.upper() not in ("ON", "OFF", "1", "0"):
            raise ValueError(arg)
        self.model.set_output(arg.upper() in ("ON", "1"))


class AlicatDevice(LineDevice):
    """Alicat-style MFC, optionally with a VICI-style port valve (id ``1``)."""

    terminator = b"\r"

    @staticmethod
    def identity_problem(value: str) -> str | None:
        """The ``M*`` record separates its fields by spaces."""
        if any(c.isspace() for c in value):
            return "no spaces in an Alicat M* field"
        return _ascii_problem(value)

    def __init__(
        self,
        identity: tuple[str, str, str, str],
        overrange: Callable[[], bool],
        *,
        set_flow: Callable[[float], object],
        read_flow: Callable[[], float],
        setpoint: Callable[[], float],
        select_port: Callable[[int], bool] | None = None,
        port: Callable[[], int] | None = None,
        gas: str = "N2",
    ) -> None:
        super().__init__(identity, overrange)
        self.set_flow = set_flow
        self.read_flow = read_flow
        self.setpoint = setpoint
        self.select_port = select_port
        self.port = port
        self.gas = gas

    def _frame(self) -> str:
        flow = self.read_flow()
        status = " MOV" if self.overrange() else ""
        return (
            f"A +101.33 +023.50 {flow:+.4f} {flow:+.4f} {self.setpoint():+.4f} {self.gas}{status}"
        )

    def handle(self, line: str) -> str | None:
        cmd = line.strip()
        if cmd == "A":
            return self._frame()
        if cmd == "A??M*":
            return "A M* " + " ".join(self.identity)
        if cmd.startswith("AS"):
            try:
                value = float(cmd[2:])
            except ValueError:
                return "A ?"
            self.set_flow(value)
            return self._frame()
        if self.select_port is not None and self.port is not None:
            if cmd.startswith("1GO"):
                with contextlib.suppress(ValueError):
                    self.select_port(int(cmd[3:]))
                return None
            if cmd == "1CP":
                return f"Position is = {self.port()}"
        return None


class ElementalDevice(LineDevice):
    """CHNS analyzer result port (see :mod:`drivers.instruments.elemental`)."""

    terminator = b"\r\n"

    @staticmethod
    def identity_problem(value: str) -> str | None:
        """The ``ID;`` record separates its fields by semicolons."""
        return _ascii_problem(value) or ("no ';' in an ID field" if ";" in value else None)

    def __init__(
        self,
        model: ElementalModel,
        identity: tuple[str, str, str, str],
        overrange: Callable[[], bool],
    ) -> None:
        super().__init__(identity, overrange)
        self.model = model

    def handle(self, line: str) -> str | None:
        cmd = line.strip()
        if cmd == "ID?":
            return "ID;" + ";".join(self.identity)
        return None  # STBY and anything else: no reply

    def outbox(self) -> list[str]:
        return self.model.due_records()


def _text_regs(text: str) -> list[int]:
    data = text.encode("ascii", "replace")[:16].ljust(16, b"\0")
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, 16, 2)]


def _float_regs(value: float) -> list[int]:
    hi, lo = struct.unpack(">HH", struct.pack(">f", value))
    return [hi, lo]


def _u32(value: int) -> list[int]:
    value &= 0xFFFF_FFFF
    return [value >> 16, value & 0xFFFF]


class ModbusDevice:
    """A register-map device: ``read(address, count)`` fills registers, ``write`` acts."""

    size = 300

    @staticmethod
    def identity_problem(value: str) -> str | None:
        """Each identity field has 8 registers: 16 ASCII characters."""
        return _ascii_problem(value) or (
            "at most 16 characters in the identity registers" if len(value) > 16 else None
        )

    def __init__(self, identity: tuple[str, str, str, str], overrange: Callable[[], bool]) -> None:
        self.identity = identity
        self.overrange = overrange
        self.registers = [0] * self.size
        regs: list[int] = []
        for text in identity:
            regs += _text_regs(text)
        self.registers[IDENTITY_ADDRESS : IDENTITY_ADDRESS + len(regs)] = regs

    def refresh(self) -> None:
        """Recompute the measurement registers."""

    def write(self, address: int, values: list[int]) -> bool:
        """Act on a register write; False for an illegal write."""
        return address == CONTROL_ADDRESS and len(values) == 1


class ModbusGasAnalyzerDevice(ModbusDevice):
    """Modbus TCP gas analyzer (map in :mod:`drivers.instruments.modbus`)."""

    def __init__(
        self,
        model: GasAnalyzerModel,
        identity: tuple[str, str, str, str],
        overrange: Callable[[], bool],
    ) -> None:
        super().__init__(identity, overrange)
        self.model = model

    def refresh(self) -> None:
        value = self.model.indication()
        over = self.overrange() or value > 1.1 * self.model.range
        self.registers[0:3] = [*_float_regs(value), 1 if over else 0]


class ModbusEnvironmentDevice(ModbusDevice):
    """Modbus TCP T/RH/p transmitter."""

    def __init__(
        self,
        model: EnvironmentModel,
        identity: tuple[str, str, str, str],
        overrange: Callable[[], bool],
    ) -> None:
        super().__init__(identity, overrange)
        self.model = model

    def refresh(self) -> None:
        if self.overrange():
            self.registers[0:3] = [SENSOR_FAULT] * 3
            return
        t, h, p = self.model.values()
        self.registers[0:3] = [round(t * 100) & 0xFFFF, round(h * 100), round(p * 100)]

    def write(self, address: int, values: list[int]) -> bool:
        return False


class ModbusFlowStandardDevice(ModbusDevice):
    """Modbus RTU reference flow standard."""

    def __init__(
        self, model: FlowModel, identity: tuple[str, str, str, str], overrange: Callable[[], bool]
    ) -> None:
        super().__init__(identity, overrange)
        self.model = model

    def refresh(self) -> None:
        flow_m3h = self.model.reference_flow() * 60.0 / 1000.0
        volume, pulses, running = self.model.totals()
        status = (1 if running else 0) | (2 if self.overrange() else 0)
        self.registers[0:7] = [
            *_u32(round(flow_m3h * 1000)),
            *_u32(round(volume * 1000)),
            *_u32(pulses),
            status,
        ]

    def write(self, address: int, values: list[int]) -> bool:
        return address == CONTROL_ADDRESS and len(values) == 1 and self.model.control(values[0])


def supply_alicat(
    supply: GasSupplyModel, identity: tuple[str, str, str, str], overrange: Callable[[], bool]
) -> AlicatDevice:
    """The dilutor's serial device."""
    return AlicatDevice(
        identity,
        overrange,
        set_flow=supply.set_flow,
        read_flow=supply.read_flow,
        setpoint=lambda: supply.setpoint,
        select_port=supply.select_port,
        port=lambda: supply.port,
    )


def flow_alicat(
    model: FlowModel, identity: tuple[str, str, str, str], overrange: Callable[[], bool]
) -> AlicatDevice:
    """The flow line's controller."""
    return AlicatDevice(
        identity,
        overrange,
        set_flow=model.set_flow,
        read_flow=model.controller_reading,
        setpoint=lambda: model.flow,
        gas="Air",
    )
