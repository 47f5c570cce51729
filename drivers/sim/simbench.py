"""The simulated bench: every instrument of a bench file served on loopback with physics."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from drivers.bench import FAULT_KINDS, BenchConfig, InstrumentConfig
from drivers.errors import BenchFileError
from drivers.registry import DRIVERS, MANUAL
from drivers.sim import devices as dev
from drivers.sim.clock import Clock, WallClock
from drivers.sim.fuel_bench import (
    FUEL_MODELS,
    FlueGasAnalyzerModel,
    build_flues,
    build_fuel_models,
    fuel_device,
)
from drivers.sim.net import (
    FaultState,
    LineBackend,
    ModbusBackend,
    ModbusLoop,
    PtyFront,
    TcpFront,
    _Fault,
)
from drivers.sim.noise import Noise
from drivers.sim.physics import (
    ElementalModel,
    EnvironmentModel,
    FlowModel,
    GasAnalyzerModel,
    GasSupplyModel,
    PileModel,
)
from drivers.units import parse_quantity, ureg

__all__ = ["SNAPSHOT_VERSION", "SimulatedBench", "StatefulModel"]

SNAPSHOT_VERSION = 1


class StatefulModel(Protocol):
    """A physics model whose memory a snapshot carries (see :mod:`drivers.sim.physics`)."""

    def state(self) -> dict[str, Any]:
        """What the model remembers (JSON-able)."""
        ...

    def restore(self, state: dict[str, Any]) -> None:
        """Take a :meth:`state`."""
        ...


_MODELS = {
    "scpi-gas-analyzer": "NDIR-2000",
    "modbus-gas-analyzer": "CH4-MB100",
    "alicat-dilutor": "GD-500",
    "alicat-mfc": "MC-500SLPM",
    "modbus-flow-standard": "FS-250",
    "scpi-pile-tester": "PV-7000",
    "scpi-load": "EL-250",
    "ea-serial": "EA-CHNS",
    "modbus-env": "THP-10",
    **FUEL_MODELS,
}


class SimulatedBench:
    """All instruments of a simulated bench file, served in-process on loopback.

    Use as a context manager (or :meth:`start` / :meth:`stop`)::

        bench = load_bench("examples/benches/gas-analyzer.toml")
        with SimulatedBench(bench) as sim:
            instruments = open_instruments(bench, sim.addresses)

    ``addresses`` maps instrument names to resource addresses (VISA resource names,
    ``tcp://host:port`` for Modbus TCP, pseudo-terminal symlinks for serial devices);
    ``control_address`` is the JSON-lines control port (``host:port``). Times given to
    :meth:`inject_fault` are simulated seconds, like the bench file's.

    ``clock`` is the one source of simulated time of every model, fault and control
    operation: None gives a :class:`~drivers.sim.clock.WallClock` at the bench's
    ``time_scale``; a run engine passes a :class:`~drivers.sim.clock.VirtualClock` it
    advances itself (replies are then reproducible: see :mod:`drivers.sim.physics`).
    """

    def __init__(self, bench: BenchConfig, clock: Clock | None = None) -> None:
        if not bench.simulated:
            raise BenchFileError(Path(bench.path).name, "simulated", "not a simulated bench")
        self.bench = bench
        self.clock: Clock = WallClock(bench.time_scale) if clock is None else clock
        self.addresses: dict[str, str] = {}
        self.control_address = ""
        self.faults: dict[str, FaultState] = {}
        self._peek: dict[str, dict[str, Callable[[], Any]]] = {}
        self._devices: dict[str, Any] = {}
        self._stateful: dict[str, StatefulModel] = {}
        self._act: dict[str, dict[str, Callable[..., Any]]] = {}
        self._servers: list[Any] = []
        self._modbus: ModbusLoop | None = None
        self._dir: str | None = None
        self._control: Any = None
        self._started = False
        self._lock = threading.Lock()
        self._build_models()

    # --- physics ------------------------------------------------------------------

    def _seed(self, name: str) -> int:
        """A per-instrument seed for the models that draw from a sequential generator."""
        return int(self.bench.seed) * 1_000_003 + zlib.crc32(name.encode())

    def _noise(self, name: str) -> Noise:
        return Noise(self.bench.seed, name)

    def _fail(self, where: str, message: str) -> BenchFileError:
        return BenchFileError(Path(self.bench.path).name, where, message)

    def _build_models(self) -> None:
        inst = self.bench.instruments
        self.supplies: dict[str, GasSupplyModel] = {}
        self.analyzers: dict[str, GasAnalyzerModel] = {}
        self.flows: dict[str, FlowModel] = {}
        self.piles: dict[str, PileModel] = {}
        self.elementals: dict[str, ElementalModel] = {}
        self.environments: dict[str, EnvironmentModel] = {}
        self.flues: dict[str, Any] = {}
        self.fuel_models: dict[str, Any] = {}
        by_role: dict[str, list[InstrumentConfig]] = {}
        for cfg in inst.values():
            if cfg.driver != MANUAL:  # read by eye: no physics
                by_role.setdefault(cfg.role, []).append(cfg)
            self.faults[cfg.name] = FaultState(
                self.clock,
                [
                    _Fault(
                        f.kind,
                        f.at_s,
                        None if f.duration_s is None else f.at_s + f.duration_s,
                        f.delay_s,
                    )
                    for f in cfg.faults
                ],
                self._noise(cfg.name),
            )
            self._peek[cfg.name] = {"time": lambda: ureg.Quantity(self.clock.now(), "s")}
            self._act[cfg.name] = {}
        for cfg in by_role.get("gas_dilutor", []):
            s = GasSupplyModel(self.clock, cfg.sim, cfg.cylinders, self._noise(cfg.name))
            self.supplies[cfg.name] = s
            self.register_model(cfg.name, s)
            self._peek[cfg.name].update(
                port=lambda s=s: s.port,  # type: ignore[misc]  # loop-bound lambda
                flow=lambda s=s: ureg.Quantity(s.setpoint, "L/min"),  # type: ignore[misc]  # loop-bound lambda
            )
        build_flues(self, by_role)
        for cfg in by_role.get("gas_analyzer", []):
            source = cfg.sim["gas_source"]
            a: GasAnalyzerModel
            if source in self.flues:
                a = FlueGasAnalyzerModel(
                    self.clock, cfg.sim, self.flues[source], self._noise(cfg.name)
                )
            else:
                a = GasAnalyzerModel(
                    self.clock, cfg.sim, self.supplies[source], self._noise(cfg.name)
                )
            self.analyzers[cfg.name] = a
            self.register_model(cfg.name, a)
            self._peek[cfg.name]["indication"] = lambda a=a: ureg.Quantity(  # type: ignore[misc]  # loop-bound lambda
                a.indication(), "umol/mol"
            )
        build_fuel_models(self, by_role)
        for cfg in by_role.get("flow_controller", []):
            f = FlowModel(self.clock)
            f.configure_controller(cfg.sim, self._noise(cfg.name))
            self.flows[cfg.name] = f
            self.register_model(cfg.name, f)
            self._peek[cfg.name]["true_flow"] = lambda f=f: ureg.Quantity(f.flow, "L/min")  # type: ignore[misc]  # loop-bound lambda
        for cfg in by_role.get("flowmeter_under_test", []):
            f = self.flows[cfg.sim["flow_source"]]
            f.configure_meter(cfg.sim, self._noise(cfg.name))
            self.flows[cfg.name] = f
            self._peek[cfg.name]["display_volume"] = lambda f=f: ureg.Quantity(  # type: ignore[misc]  # loop-bound lambda
                f.meter_display(), "L"
            ).to("m**3")
        for cfg in by_role.get("reference_flow_standard", []):
            f = self.flows[cfg.sim["flow_source"]]
            meter = inst[cfg.sim["meter"]]
            if meter.sim["flow_source"] != cfg.sim["flow_source"]:
                raise self._fail(
                    f"instruments.{cfg.name}.sim.meter",
                    f"meter {meter.name!r} is fed by {meter.sim['flow_source']!r}, "
                    f"not by {cfg.sim['flow_source']!r}",
                )
            f.configure_standard(cfg.sim, self._noise(cfg.name))
            self.flows[cfg.name] = f
            self._peek[cfg.name]["volume"] = lambda f=f: ureg.Quantity(f.totals()[0], "L")  # type: ignore[misc]  # loop-bound lambda
        for cfg in by_role.get("charging_pile", []):
            p = PileModel(self.clock)
            p.configure_pile(cfg.sim)
            self.piles[cfg.name] = p
            self.register_model(cfg.name, p)
            load = cfg.sim["load"]
            if load in self.piles:
                raise self._fail(
                    f"instruments.{cfg.name}.sim.load", f"load {load!r} already feeds another pile"
                )
            p.configure_load(inst[load].sim)
            self.piles[load] = p
            self._peek[cfg.name].update(
                display_energy=lambda p=p: ureg.Quantity(p.display_energy(), "kWh"),  # type: ignore[misc]  # loop-bound lambda
                payment=lambda p=p: p.payment(),  # type: ignore[misc]  # loop-bound lambda
                clock=lambda p=p: p.pile_clock().isoformat(timespec="seconds"),  # type: ignore[misc]  # loop-bound lambda
                true_clock=lambda: self.clock.datetime().isoformat(timespec="seconds"),
            )
            self._peek[load].update(
                current=lambda p=p: ureg.Quantity(p.current if p.on else 0.0, "A"),  # type: ignore[misc]  # loop-bound lambda
                output=lambda p=p: p.on,  # type: ignore[misc]  # loop-bound lambda
            )
        for cfg in by_role.get("programmable_load", []):
            if cfg.name not in self.piles:
                raise self._fail(
                    f"instruments.{cfg.name}", "no charging_pile names this load in sim.load"
                )
        for cfg in by_role.get("pile_tester", []):
            p = self.piles[cfg.sim["pile"]]
            p.configure_tester(cfg.sim, self._noise(cfg.name))
            self.piles[cfg.name] = p
            self._peek[cfg.name].update(
                standard_energy=lambda p=p: ureg.Quantity(p.test_results()[0], "kWh"),  # type: ignore[misc]  # loop-bound lambda
                pulses=lambda p=p: ureg.Quantity(p.test_results()[1], "count"),  # type: ignore[misc]  # loop-bound lambda
            )
        for cfg in by_role.get("elemental_analyzer", []):
            e = ElementalModel(self.clock, cfg.sim, self._noise(cfg.name))
            self.elementals[cfg.name] = e
            self.register_model(cfg.name, e)
            self._peek[cfg.name]["pending"] = lambda e=e: len(e.queue)  # type: ignore[misc]  # loop-bound lambda
            self._act[cfg.name]["analyze"] = self._analyze_action(cfg.name, e)
        for cfg in by_role.get("environment_monitor", []):
            m = EnvironmentModel(self.clock, cfg.sim, self._noise(cfg.name))
            self.environments[cfg.name] = m
            self._peek[cfg.name].update(
                # the transmitter's display shows 0.01 of each unit
                temperature=lambda m=m: ureg.Quantity(round(m.values()[0], 2), "degC"),  # type: ignore[misc]  # loop-bound lambda
                humidity=lambda m=m: ureg.Quantity(round(m.values()[1], 2), "percent"),  # type: ignore[misc]  # loop-bound lambda
                pressure=lambda m=m: ureg.Quantity(round(m.values()[2], 2), "kPa"),  # type: ignore[misc]  # loop-bound lambda
            )

    def _analyze_action(self, name: str, model: ElementalModel) -> Callable[..., Any]:
        def analyze(sample_id: str, substance: str, mass: Any) -> Any:
            q = parse_quantity(mass, like="mg") if isinstance(mass, str) else mass
            due = model.analyze(
                str(sample_id),
                str(substance),
                float(q.to("mg").magnitude),
                self.faults[name].is_active("out_of_range"),
            )
            return ureg.Quantity(due, "s")

        return analyze

    # --- servers ------------------------------------------------------------------

    def _device(self, cfg: InstrumentConfig) -> Any:
        declared = cfg.sim_identity
        identity = (
            (declared and declared.manufacturer) or "CarbonSim",
            (declared and declared.model) or _MODELS[cfg.driver],
            (declared and declared.serial) or f"SIM-{cfg.name}",
            "1.0",
        )
        faults = self.faults[cfg.name]

        def overrange() -> bool:
            return faults.is_active("out_of_range")

        d = cfg.driver
        if d == "scpi-gas-analyzer":
            return dev.ScpiGasAnalyzerDevice(self.analyzers[cfg.name], identity, overrange)
        if d == "modbus-gas-analyzer":
            return dev.ModbusGasAnalyzerDevice(self.analyzers[cfg.name], identity, overrange)
        if d == "alicat-dilutor":
            return dev.supply_alicat(self.supplies[cfg.name], identity, overrange)
        if d == "alicat-mfc":
            return dev.flow_alicat(self.flows[cfg.name], identity, overrange)
        if d == "modbus-flow-standard":
            return dev.ModbusFlowStandardDevice(self.flows[cfg.name], identity, overrange)
        if d == "scpi-pile-tester":
            return dev.ScpiPileTesterDevice(self.piles[cfg.name], identity, overrange)
        if d == "scpi-load":
            return dev.ScpiLoadDevice(self.piles[cfg.name], identity, overrange)
        if d == "ea-serial":
            return dev.ElementalDevice(self.elementals[cfg.name], identity, overrange)
        if d == "modbus-env":
            return dev.ModbusEnvironmentDevice(self.environments[cfg.name], identity, overrange)
        device = fuel_device(self, cfg, identity, overrange)
        if device is not None:
            return device
        raise AssertionError(f"no simulator for driver {d!r}")  # registry and this table agree

    def _serve(self, cfg: InstrumentConfig) -> None:
        spec = DRIVERS[cfg.driver]
        if spec.cls is None:
            return
        device = self._device(cfg)
        for key, value in zip(("manufacturer", "model", "serial"), device.identity, strict=False):
            problem = device.identity_problem(value)
            if problem is not None:
                raise self._fail(f"instruments.{cfg.name}.sim.identity.{key}", problem)
        self._devices[cfg.name] = device
        faults = self.faults[cfg.name]
        backend: Any
        if isinstance(device, dev.ModbusDevice):
            if self._modbus is None:
                self._modbus = ModbusLoop()
            backend = ModbusBackend(device, self._modbus, rtu=spec.transport == "modbus-rtu")
            term = None
        else:
            backend = LineBackend(device)
            term = device.terminator
        self._servers.append(backend)
        backend.start()
        if spec.transport in ("visa-tcp", "modbus-tcp"):
            try:
                front: Any = TcpFront(backend.port, faults, term, cfg.port or 0)
            except OSError:
                raise self._fail(
                    f"instruments.{cfg.name}.port", f"port {cfg.port} is already in use"
                ) from None
            host_port = f"127.0.0.1::{front.port}"
            address = (
                f"TCPIP::{host_port}::SOCKET"
                if spec.transport == "visa-tcp"
                else f"tcp://127.0.0.1:{front.port}"
            )
        else:
            assert self._dir is not None
            link = str(Path(self._dir) / cfg.name)
            front = PtyFront(backend.port, faults, term, link)
            address = f"ASRL{link}::INSTR" if spec.transport == "visa-asrl" else link
        self._servers.append(front)
        front.start()
        self.addresses[cfg.name] = address

    def start(self) -> SimulatedBench:
        """Start every instrument server and the control port."""
        from drivers.sim.control import ControlServer

        with self._lock:
            if self._started:
                return self
            self._started = True
            self._dir = tempfile.mkdtemp(prefix="carbon-sim-")
            try:
                for cfg in self.bench.instruments.values():
                    self._serve(cfg)
                try:
                    self._control = ControlServer(self, self.bench.control_port or 0)
                except OSError:
                    raise self._fail(
                        "control_port", f"port {self.bench.control_port} is already in use"
                    ) from None
                self._control.start()
                self.control_address = f"127.0.0.1:{self._control.port}"
            except BaseException:
                self._stop_servers()
                raise
        return self

    def _stop_servers(self) -> None:
        if self._control is not None:
            self._control.stop()
            self._control = None
        for server in reversed(self._servers):
            with contextlib.suppress(Exception):
                server.stop()
        self._servers.clear()
        if self._modbus is not None:
            self._modbus.stop()
            self._modbus = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def stop(self) -> None:
        """Stop every server, close every port and pseudo-terminal."""
        with self._lock:
            if self._started:
                self._stop_servers()
                self._started = False

    def __enter__(self) -> SimulatedBench:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- control ------------------------------------------------------------------

    def _check(self, instrument: str) -> None:
        if instrument not in self.bench.instruments:
            raise KeyError(f"no instrument {instrument!r} on bench {self.bench.name!r}")

    def inject_fault(
        self, instrument: str, kind: str, duration_s: float | None = None, delay_s: float = 2.0
    ) -> None:
        """Start fault ``kind`` on ``instrument`` for ``duration_s`` simulated seconds
        (None: until :meth:`clear_fault`); ``delay_s`` (wall seconds) for ``slow_reply``."""
        self._check(instrument)
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r} (known: {', '.join(FAULT_KINDS)})")
        if duration_s is not None and duration_s <= 0:
            raise ValueError(f"fault duration must be positive, got {duration_s}")
        self.faults[instrument].inject(kind, duration_s, delay_s)

    def clear_fault(self, instrument: str) -> None:
        """End any fault of ``instrument`` now."""
        self._check(instrument)
        self.faults[instrument].clear()

    def observables(self, instrument: str) -> list[str]:
        """Names :meth:`peek` accepts for ``instrument``."""
        self._check(instrument)
        return sorted(self._peek[instrument])

    def peek(self, instrument: str, observable: str) -> Any:
        """Hidden simulator truth / what a person reads off the instrument's display."""
        self._check(instrument)
        fn = self._peek[instrument].get(observable)
        if fn is None:
            raise KeyError(
                f"{instrument!r} has no observable {observable!r} "
                f"(known: {', '.join(self.observables(instrument))})"
            )
        return fn()

    def act(self, instrument: str, action: str, **kwargs: Any) -> Any:
        """A physical action at the bench, e.g. ``act("ea", "analyze", sample_id="AC-1",
        substance="acetanilide", mass="2.000 mg")``."""
        self._check(instrument)
        fn = self._act[instrument].get(action)
        if fn is None:
            known = ", ".join(sorted(self._act[instrument])) or "none"
            raise KeyError(f"{instrument!r} has no action {action!r} (known: {known})")
        try:
            return fn(**kwargs)
        except TypeError as exc:
            raise ValueError(f"{instrument}.{action}: {exc}") from None

    # --- time and memory ----------------------------------------------------------

    def register_model(self, name: str, model: StatefulModel) -> None:
        """Include ``model`` (owned by instrument ``name``) in snapshots; a model shared by
        several instruments is registered once."""
        if all(m is not model for m in self._stateful.values()):
            self._stateful[name] = model

    def _models(self) -> dict[str, StatefulModel]:
        return dict(self._stateful)

    def snapshot(self) -> dict[str, Any]:
        """What the simulated instruments remember now, as JSON-able data.

        With :meth:`restore` a fresh simulator continues exactly where this one is (a
        resumed run: store the snapshot with the simulated time at each step boundary).
        """
        with self._lock:
            return {
                "version": SNAPSHOT_VERSION,
                "bench": self.bench.name,
                "time": self.clock.now(),
                "models": {name: m.state() for name, m in self._models().items()},
                "faults": {name: f.state() for name, f in self.faults.items()},
                "devices": {
                    name: list(d.errors)
                    for name, d in self._devices.items()
                    if isinstance(d, dev.LineDevice)
                },
            }

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Take the state of :meth:`snapshot` (set the clock to its ``time`` first).

        Raises ValueError, changing nothing, for a snapshot of another bench or version,
        or when the clock is behind the snapshot's time.
        """
        if not isinstance(snapshot, dict) or snapshot.get("version") != SNAPSHOT_VERSION:
            raise ValueError("not a simulator snapshot of this version")
        if snapshot.get("bench") != self.bench.name:
            raise ValueError(
                f"snapshot of bench {snapshot.get('bench')!r}, not of {self.bench.name!r}"
            )
        t = float(snapshot["time"])
        if self.clock.now() < t:
            raise ValueError(
                f"the simulated time {self.clock.now():g} s is before the snapshot's {t:g} s"
            )
        models = self._models()
        if set(snapshot["models"]) != set(models) or set(snapshot["faults"]) != set(self.faults):
            raise ValueError("the snapshot's instruments are not this bench's")
        with self._lock:
            for name, model in models.items():
                model.restore(snapshot["models"][name])
            for name, faults in self.faults.items():
                faults.restore(snapshot["faults"][name])
            for name, errors in snapshot["devices"].items():
                device = self._devices.get(name)
                if isinstance(device, dev.LineDevice):
                    device.errors[:] = [str(e) for e in errors]

    def time(self) -> tuple[float, Any]:
        """(simulated seconds, simulated date and time UTC) now."""
        now = self.clock.now()
        return now, self.clock.datetime()
