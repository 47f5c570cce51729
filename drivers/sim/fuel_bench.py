"""The fuel and emission instruments of a simulated bench: their models, the simulator's
observables and physical actions, and their protocol front-ends.

Called by :class:`~drivers.sim.simbench.SimulatedBench` while it builds its models
(:func:`build_flues` before the gas analyzers, :func:`build_fuel_models` after the gas
dilutors) and while it serves its instruments (:func:`fuel_device`).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from drivers.bench import InstrumentConfig
from drivers.sim import fuel_devices as fdev
from drivers.sim.clock import Clock as SimClock
from drivers.sim.fuel import CalorimeterModel, SulfurModel, WeighingModel
from drivers.sim.noise import Noise
from drivers.sim.onsite import (
    BeltModel,
    CemsAnalyzerModel,
    FlowMonitorModel,
    FlueModel,
    StackProbeModel,
)
from drivers.sim.physics import GasAnalyzerModel
from drivers.units import parse_quantity, ureg

if TYPE_CHECKING:
    from drivers.sim.simbench import SimulatedBench

__all__ = ["FUEL_MODELS", "FlueGasAnalyzerModel", "build_flues", "build_fuel_models", "fuel_device"]

FUEL_MODELS = {
    "sics-balance": "BAL-220",
    "calorimeter-serial": "BC-5000",
    "coulometric-sulfur": "ST-C700",
    "modbus-ir-sulfur": "ST-IR900",
    "modbus-belt-scale": "BI-600",
    "modbus-cems-analyzer": "CEMS-CO2-2000",
    "modbus-flow-monitor": "FM-PT50",
    "modbus-stack-probe": "PT-3012",
}
"""Model names the simulated instruments report (driver name → model)."""

ByRole = dict[str, list[InstrumentConfig]]


class FlueGasAnalyzerModel(GasAnalyzerModel):
    """A gas analyzer sampling a flue duct (the reference method's portable analyzer).

    Same static response as :class:`GasAnalyzerModel`; its first-order lag follows the
    flue's continuously varying CO2 in steps of at most 1 s.
    """

    def __init__(self, clock: SimClock, sim: dict[str, Any], flue: FlueModel, noise: Noise) -> None:
        self.flue = flue
        self.clock = clock
        self.lock = threading.Lock()
        self.noise = noise
        self.component = sim["component"]
        self.range = _si(sim["range"], "umol/mol")
        self.gain = _si(sim["gain_error"], "")
        self.offset = _si(sim["offset"], "umol/mol")
        self.nl = _si(sim["nonlinearity"], "")
        self.drift_per_s = _si(sim["drift"], "umol/mol/s")
        self.noise_sd = _si(sim["noise_sd"], "umol/mol")
        self.tau = _si(sim["t90"], "s") / math.log(10)
        self.resolution = _si(sim["resolution"], "umol/mol")
        self.t = 0.0
        self.c = self._true(0.0)
        self.y = self.target(self.c)

    def _true(self, t: float) -> float:
        return self.flue.co2_at(t) * 1e4 if self.component == "CO2" else 0.0

    def _advance(self, now: float) -> None:
        while self.t < now:
            step = min(1.0, now - self.t)
            c = self._true(self.t + step / 2)
            self.c = c + (self.c - c) * math.exp(-step / self.tau)
            self.t += step
        self.y = self.target(self.c)

    def sensor(self, now: float) -> float:
        """Sensor value at ``now``: the lag integrated along the flue's CO2."""
        with self.lock:
            self._advance(now)
            return self.y

    def state(self) -> dict[str, Any]:
        """What this model remembers (JSON-able)."""
        with self.lock:
            return {"t": self.t, "c": self.c}

    def restore(self, state: dict[str, Any]) -> None:
        """Take a :meth:`state`."""
        with self.lock:
            self.t, self.c = float(state["t"]), float(state["c"])
            self.y = self.target(self.c)


def _si(q: Any, unit: str) -> float:
    return float(q.to(unit).magnitude)


def _mass(value: Any, unit: str) -> float:
    q = parse_quantity(value, like=unit) if isinstance(value, str) else value
    return float(q.to(unit).magnitude)


def _flag(value: Any) -> bool:
    text = str(value).strip().lower()
    if text in ("yes", "true", "on", "1"):
        return True
    if text in ("no", "false", "off", "0"):
        return False
    raise ValueError(f"expected yes or no, got {value!r}")


def build_flues(sb: SimulatedBench, by_role: ByRole) -> None:
    """Flue ducts (needed by gas analyzers that sample them)."""
    for cfg in by_role.get("flue_duct", []):
        f = FlueModel(sb.clock, cfg.sim, sb._seed(cfg.name))
        sb.flues[cfg.name] = f
        sb._peek[cfg.name].update(
            co2=lambda f=f: ureg.Quantity(f.co2_at(sb.clock.now()), "percent"),  # type: ignore[misc]  # loop-bound lambda
            velocity=lambda f=f: ureg.Quantity(f.velocity_at(sb.clock.now()), "m/s"),  # type: ignore[misc]  # loop-bound lambda
            standard_flow=lambda f=f: ureg.Quantity(  # type: ignore[misc]  # loop-bound lambda
                f.standard_dry_flow(sb.clock.now()), "m**3/h"
            ),
        )


def build_fuel_models(sb: SimulatedBench, by_role: ByRole) -> None:
    """Balances, calorimeters, sulfur analyzers, belt scales, CEMS and their probes."""
    clock = sb.clock
    for cfg in by_role.get("balance", []):
        w = WeighingModel(clock, cfg.sim, sb._seed(cfg.name))
        sb.fuel_models[cfg.name] = w
        sb._peek[cfg.name].update(
            load=lambda w=w: ureg.Quantity(w.load, w.unit),  # type: ignore[misc]  # loop-bound lambda
            display=lambda w=w: ureg.Quantity(w.indication(), w.unit),  # type: ignore[misc]  # loop-bound lambda
        )
    for cfg in by_role.get("bomb_calorimeter", []):
        pan = sb.fuel_models[cfg.sim["balance"]]
        c = CalorimeterModel(clock, cfg.sim, pan, sb._seed(cfg.name))
        sb.fuel_models[cfg.name] = c
        sb._peek[cfg.name]["state"] = c.state
        sb._act[cfg.name]["load_pellet"] = _pellet_action(c)
    for cfg in by_role.get("sulfur_analyzer", []):
        s = SulfurModel(clock, cfg.sim, sb._seed(cfg.name))
        sb.fuel_models[cfg.name] = s
        sb._peek[cfg.name]["pending"] = lambda s=s: len(s.queue)  # type: ignore[misc]  # loop-bound lambda
        sb._act[cfg.name]["analyze"] = _sulfur_action(sb, cfg.name, s)
    for cfg in by_role.get("belt_scale", []):
        control = sb.fuel_models[cfg.sim["control_scale"]]
        b = BeltModel(clock, cfg.sim, control, sb._seed(cfg.name))
        sb.fuel_models[cfg.name] = b
        sb._peek[cfg.name].update(
            totalized=lambda b=b: ureg.Quantity(b.totalized(), "kg"),  # type: ignore[misc]  # loop-bound lambda
            passed=lambda b=b: ureg.Quantity(b.passed(), "kg"),  # type: ignore[misc]  # loop-bound lambda
            feeding=lambda b=b: b.feeding(),  # type: ignore[misc]  # loop-bound lambda
            travel=lambda b=b: ureg.Quantity(b.travel(), "m"),  # type: ignore[misc]  # loop-bound lambda
        )
        sb._act[cfg.name].update(_belt_actions(b))
    for cfg in by_role.get("cems_analyzer", []):
        supply = sb.supplies[cfg.sim["gas_source"]]
        a = CemsAnalyzerModel(clock, cfg.sim, sb.flues[cfg.sim["flue"]], supply, sb._seed(cfg.name))
        sb.fuel_models[cfg.name] = a
        sb._peek[cfg.name]["indication"] = lambda a=a: ureg.Quantity(a.readings()[0], "percent")  # type: ignore[misc]  # loop-bound lambda
    for cfg in by_role.get("flow_monitor", []):
        fm = FlowMonitorModel(clock, cfg.sim, sb.flues[cfg.sim["flue"]], sb._seed(cfg.name))
        sb.fuel_models[cfg.name] = fm
    for cfg in by_role.get("stack_probe", []):
        p = StackProbeModel(clock, cfg.sim, sb.flues[cfg.sim["flue"]], sb._seed(cfg.name))
        sb.fuel_models[cfg.name] = p
        sb._peek[cfg.name]["point"] = lambda p=p: p.point  # type: ignore[misc]  # loop-bound lambda
        sb._act[cfg.name]["move"] = lambda p=p, point="0": p.move(int(point))


def _pellet_action(model: CalorimeterModel) -> Callable[..., Any]:
    def load_pellet(substance: str, mass: Any) -> Any:
        grams = _mass(mass, "g")
        model.load_pellet(str(substance), grams)
        return ureg.Quantity(grams, "g")

    return load_pellet


def _sulfur_action(sb: SimulatedBench, name: str, model: SulfurModel) -> Callable[..., Any]:
    def analyze(sample_id: str, sample: str, mass: Any) -> Any:
        due = model.analyze(
            str(sample_id),
            str(sample),
            _mass(mass, "mg"),
            sb.faults[name].is_active("out_of_range"),
        )
        return ureg.Quantity(due, "s")

    return analyze


def _belt_actions(model: BeltModel) -> dict[str, Callable[..., Any]]:
    def feed(mass: Any, rate: Any) -> Any:
        kg = _mass(mass, "kg")
        kg_s = _mass(rate, "kg/s")
        return ureg.Quantity(model.feed(kg, kg_s), "s")

    def chain(on: Any) -> Any:
        """Lay or lift the chain; returns the simulated time it happened."""
        return ureg.Quantity(model.set_chain(_flag(on)), "s")

    return {"feed": feed, "chain": chain}


def fuel_device(
    sb: SimulatedBench,
    cfg: InstrumentConfig,
    identity: tuple[str, str, str, str],
    overrange: Callable[[], bool],
) -> Any | None:
    """The protocol front-end of a fuel or emission instrument (None: not one of them)."""
    m: Any = sb.fuel_models.get(cfg.name)
    devices: dict[str, Callable[[], Any]] = {
        "sics-balance": lambda: fdev.SicsDevice(m, identity, overrange),
        "calorimeter-serial": lambda: fdev.CalorimeterDevice(m, identity, overrange),
        "coulometric-sulfur": lambda: fdev.CoulometricSulfurDevice(m, identity, overrange),
        "modbus-ir-sulfur": lambda: fdev.ModbusSulfurDevice(m, identity, overrange),
        "modbus-belt-scale": lambda: fdev.ModbusBeltScaleDevice(m, identity, overrange),
        "modbus-cems-analyzer": lambda: fdev.ModbusCemsDevice(m, identity, overrange),
        "modbus-flow-monitor": lambda: fdev.ModbusFlowMonitorDevice(m, identity, overrange),
        "modbus-stack-probe": lambda: fdev.ModbusStackProbeDevice(m, identity, overrange),
    }
    make = devices.get(cfg.driver)
    return None if make is None else make()
