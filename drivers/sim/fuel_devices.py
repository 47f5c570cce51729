"""Protocol front-ends of the simulated fuel and emission instruments: they answer exactly
as the docstrings of :mod:`drivers.instruments.fuel` and :mod:`drivers.instruments.onsite`
describe, computing every value from the models of :mod:`drivers.sim.fuel` and
:mod:`drivers.sim.onsite`."""

from __future__ import annotations

from collections.abc import Callable

from drivers.sim.devices import (
    CONTROL_ADDRESS,
    SENSOR_FAULT,
    LineDevice,
    ModbusDevice,
    _float_regs,
    _text_regs,
    _u32,
)
from drivers.sim.fuel import CalorimeterModel, SulfurModel, WeighingModel
from drivers.sim.onsite import BeltModel, CemsAnalyzerModel, FlowMonitorModel, StackProbeModel

__all__ = [
    "CalorimeterDevice",
    "CoulometricSulfurDevice",
    "ModbusBeltScaleDevice",
    "ModbusCemsDevice",
    "ModbusFlowMonitorDevice",
    "ModbusStackProbeDevice",
    "ModbusSulfurDevice",
    "SicsDevice",
]

Identity = tuple[str, str, str, str]
VALVE_ADDRESS = 101


class SicsDevice(LineDevice):
    """MT-SICS balance or static scale."""

    terminator = b"\r\n"

    def __init__(self, model: WeighingModel, identity: Identity, overrange: Callable[[], bool]):
        super().__init__(identity, overrange)
        self.model = model

    def _weight(self, stable_only: bool) -> str:
        if self.overrange() or self.model.over():
            return "S +"
        value = self.model.indication()
        if value < -0.04 * self.model.capacity:
            return "S -"
        decimals = max(0, len(f"{self.model.resolution:.10g}".partition(".")[2]))
        del stable_only  # the simulated balance settles at once: S and SI agree
        return f"S S {value:>12.{decimals}f} {self.model.unit}"

    def handle(self, line: str) -> str | None:
        cmd = line.strip()
        manufacturer, model, serial, firmware = self.identity
        cap = f"{self.model.capacity:g} {self.model.unit}"
        replies = {
            "I2": f'I2 A "{manufacturer} {model} {cap}"',
            "I3": f'I3 A "{firmware}"',
            "I4": f'I4 A "{serial}"',
        }
        if cmd in replies:
            return replies[cmd]
        if cmd in ("S", "SI"):
            return self._weight(cmd == "S")
        if cmd == "Z":
            if self.model.over():
                return "Z +"
            return "Z A" if self.model.set_zero() else "Z +"
        if cmd == "T":
            if self.model.over():
                return "T +"
            tare = self.model.set_tare()
            return f"T S {tare:.6g} {self.model.unit}"
        return "ES"


class CalorimeterDevice(LineDevice):
    """Automatic oxygen-bomb calorimeter (vendor ASCII)."""

    terminator = b"\r\n"

    def __init__(self, model: CalorimeterModel, identity: Identity, overrange: Callable[[], bool]):
        super().__init__(identity, overrange)
        self.model = model

    def _temp(self, value: float) -> str:
        return "9.9E37" if self.overrange() else f"{value:.4f}"

    def handle(self, line: str) -> str | None:
        header, _, arg = line.strip().partition(" ")
        m = self.model
        if header == "*ID?":
            return "ID," + ",".join(self.identity)
        if header == "SMP":
            parts = arg.split(",")
            try:
                sample_id, mass, ign = parts[0], float(parts[1]), float(parts[2])
            except (IndexError, ValueError):
                return "ERR,2,bad parameters"
            error = m.set_sample(sample_id, mass, ign)
            return "OK" if error is None else f"ERR,3,{error}"
        if header == "FIRE":
            error = m.start()
            return "OK" if error is None else f"ERR,4,{error}"
        if header == "STAT?":
            return "STAT," + m.state().upper()
        if header == "T?":
            return "T," + self._temp(m.temperature())
        if header == "TJ?":
            return "TJ," + self._temp(m.jacket_temperature())
        if header == "EE?":
            return f"EE,{m.e_stored:.1f}"
        if header == "ABOR":
            m.abort()
            return "OK"
        if header in ("RES?", "CRV?"):
            det = m.result()
            if det is None:
                return "ERR,5,no result"
            if header == "RES?":
                fire, end = m.indices()
                return (
                    f"RES,{det.sample_id},{det.entered_mass:.5f},{det.entered_ignition:.2f},"
                    f"{m.e_stored:.1f},{det.rise:.5f},{det.calorific_value:.1f},"
                    f"{len(det.temps)},{fire},{end}"
                )
            try:
                first, count = (int(x) for x in arg.split(","))
            except ValueError:
                return "ERR,2,bad parameters"
            if first < 0 or count < 1 or count > 20 or first + count > len(det.temps):
                return "ERR,2,bad parameters"
            pts = ";".join(
                f"{(first + i) * m.interval:.0f}:{det.temps[first + i]:.4f}" for i in range(count)
            )
            return f"CRV,{first},{count},{pts}"
        return "ERR,1,unknown command"


class CoulometricSulfurDevice(LineDevice):
    """Coulometric sulfur analyzer's result port."""

    terminator = b"\r\n"

    def __init__(self, model: SulfurModel, identity: Identity, overrange: Callable[[], bool]):
        super().__init__(identity, overrange)
        self.model = model

    def handle(self, line: str) -> str | None:
        if line.strip() == "ID?":
            return "ID;" + ";".join(self.identity)
        return None  # STBY and anything else: no reply

    def outbox(self) -> list[str]:
        out = []
        for r in self.model.due():
            sulfur = "OVR" if r["over"] else f"{r['sulfur']:.3f}"
            out.append(
                f"ST;{r['run']:04d};{r['sample_id']};{r['mass']:.2f} mg;"
                f"Q={r['raw']:.1f};St={sulfur}"
            )
        return out


class ModbusSulfurDevice(ModbusDevice):
    """Infrared sulfur analyzer (Modbus TCP)."""

    def __init__(self, model: SulfurModel, identity: Identity, overrange: Callable[[], bool]):
        super().__init__(identity, overrange)
        self.model = model

    def refresh(self) -> None:
        self.model.due()
        last = self.model.last
        status = 1 if self.model.analyzing() else 0
        if last is None:
            self.registers[0:18] = [0] * 18
            self.registers[8] = status
            return
        if last["over"] or self.overrange():
            status |= 2
        self.registers[0:18] = [
            *_u32(self.model.completed),
            *_float_regs(last["sulfur"]),
            *_float_regs(last["mass"]),
            *_float_regs(last["raw"]),
            status,
            0,
            *_text_regs(last["sample_id"]),
        ]


class ModbusBeltScaleDevice(ModbusDevice):
    """Belt-scale integrator (Modbus RTU)."""

    def __init__(self, model: BeltModel, identity: Identity, overrange: Callable[[], bool]):
        super().__init__(identity, overrange)
        self.model = model

    def refresh(self) -> None:
        rate, speed, load, over = self.model.readings()
        total = round(self.model.totalized() * 10)
        status = 1 | (2 if over or self.overrange() else 0)
        self.registers[0:9] = [
            *_u32(total),
            *_float_regs(rate * 3.6),
            *_float_regs(speed),
            *_float_regs(load),
            status,
        ]

    def write(self, address: int, values: list[int]) -> bool:
        if address == CONTROL_ADDRESS and values == [1]:
            self.model.reset()
            return True
        return False


class ModbusCemsDevice(ModbusDevice):
    """CEMS CO2/O2 analyzer (Modbus TCP)."""

    def __init__(self, model: CemsAnalyzerModel, identity: Identity, overrange: Callable[[], bool]):
        super().__init__(identity, overrange)
        self.model = model

    def refresh(self) -> None:
        co2, o2 = self.model.readings()
        valve = self.model.valve_open()
        over = self.overrange() or co2 > 1.1 * self.model.range
        status = (1 if over else 0) | (2 if self.overrange() else 0) | (4 if valve else 0)
        self.registers[0:5] = [*_float_regs(co2), *_float_regs(o2), status]
        self.registers[VALVE_ADDRESS] = 1 if valve else 0

    def write(self, address: int, values: list[int]) -> bool:
        if address == VALVE_ADDRESS and values in ([0], [1]):
            self.model.set_valve(values == [1])
            return True
        if address == CONTROL_ADDRESS and values == [0]:
            self.model.set_valve(False)
            return True
        return False


class ModbusFlowMonitorDevice(ModbusDevice):
    """Flue-gas flow monitor (Modbus RTU)."""

    def __init__(self, model: FlowMonitorModel, identity: Identity, overrange: Callable[[], bool]):
        super().__init__(identity, overrange)
        self.model = model

    def refresh(self) -> None:
        v, flow, std, temp, pressure, moisture = self.model.readings()
        if self.overrange():
            fault = [SENSOR_FAULT, SENSOR_FAULT, SENSOR_FAULT, 1]
            self.registers[0:10] = [*_float_regs(v), *_float_regs(flow), *_float_regs(std), *fault]
            return
        self.registers[0:10] = [
            *_float_regs(v),
            *_float_regs(flow),
            *_float_regs(std),
            round(temp * 10) & 0xFFFF,
            round(pressure * 100),
            round(moisture * 100),
            0,
        ]

    def write(self, address: int, values: list[int]) -> bool:
        return False


class ModbusStackProbeDevice(ModbusDevice):
    """Reference-method stack probe (Modbus RTU)."""

    def __init__(self, model: StackProbeModel, identity: Identity, overrange: Callable[[], bool]):
        super().__init__(identity, overrange)
        self.model = model

    def refresh(self) -> None:
        f = self.model.flue
        self.registers[0:6] = [
            *_float_regs(self.model.velocity()),
            round(f.temperature * 10) & 0xFFFF,
            round(f.pressure * 100),
            self.model.point,
            1 if self.overrange() else 0,
        ]

    def write(self, address: int, values: list[int]) -> bool:
        return False
