"""Bench files: which instrument plays which role, through which driver, at which address.

A bench file is TOML; the same format describes a real bench (addresses, no physics)
and a simulated one (``simulated = true``, a ``sim`` physics table per instrument, the
addresses assigned by the simulator). See ``examples/benches/README.md``.

:func:`load_bench` validates everything and raises :class:`~drivers.errors.BenchFileError`
with one line naming the file and the key (or the line, for malformed TOML).
:func:`open_instruments` connects every configured driver.
"""

from __future__ import annotations

import itertools
import math
import re
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drivers.errors import BenchFileError, InstrumentConnectionError, InstrumentError
from drivers.registry import DRIVERS, ROLES
from drivers.roles import Instrument
from drivers.units import SIGN_RULED, UnitParseError, check_sign, parse_quantity

__all__ = [
    "FAULT_KINDS",
    "AutoAnswer",
    "BenchConfig",
    "Cylinder",
    "FaultSchedule",
    "InstrumentConfig",
    "load_bench",
    "open_instruments",
]

FAULT_KINDS = ("no_reply", "garbage", "drop_connection", "slow_reply", "out_of_range")
ELEMENTS = ("C", "H", "N", "S")


@dataclass(frozen=True)
class FaultSchedule:
    """A fault scheduled in the bench file; times in simulated seconds from bench start."""

    kind: str
    at_s: float
    duration_s: float | None
    delay_s: float = 2.0


@dataclass(frozen=True)
class Cylinder:
    """A standard-gas cylinder on a dilutor port (``actual`` only on simulated benches)."""

    port: int
    id: str
    zero: bool
    component: str
    matrix: str
    certified: Any
    U: Any
    k: float
    actual: Any | None


@dataclass(frozen=True)
class InstrumentConfig:
    """One ``[instruments.<name>]`` table."""

    name: str
    role: str
    driver: str
    address: str | None
    timeout: Any
    port: int | None = None
    sim: dict[str, Any] = field(default_factory=dict)
    faults: tuple[FaultSchedule, ...] = ()
    cylinders: tuple[Cylinder, ...] = ()

    @property
    def timeout_s(self) -> float:
        """The driver timeout in seconds."""
        return float(self.timeout.to("s").magnitude)

    @property
    def has_driver(self) -> bool:
        """False for a device under test that is only observed through a pulse output."""
        return DRIVERS[self.driver].cls is not None


@dataclass(frozen=True)
class AutoAnswer:
    """How the engine answers one operator prompt on a simulated bench.

    Exactly one of: ``literal`` (the answer itself); ``peek`` = (instrument, observable),
    the answer is what the simulator shows a human; ``act`` = (instrument, action,
    keyword arguments), a physical action performed at the bench.
    """

    literal: str | float | bool | None = None
    peek: tuple[str, str] | None = None
    act: tuple[str, str, dict[str, str]] | None = None


@dataclass(frozen=True)
class BenchConfig:
    """A validated bench file."""

    path: str
    name: str
    simulated: bool
    time_scale: float
    seed: int
    control_port: int | None
    instruments: dict[str, InstrumentConfig]
    auto: dict[str, AutoAnswer]


# --- physics schema ---------------------------------------------------------------


@dataclass(frozen=True)
class _F:
    kind: str  # "q" quantity, "num", "str", "ref", "curve", "elements", "substances", "choice"
    like: str | tuple[str, str] | None = None
    default: str | float | None = None
    required: bool = True


_SIM_SCHEMA: dict[str, dict[str, _F]] = {
    "gas_analyzer": {
        "component": _F("str"),
        "range": _F("q", "umol/mol"),
        "gain_error": _F("q", ""),
        "offset": _F("q", "umol/mol"),
        "nonlinearity": _F("q", ""),
        "drift": _F("q", "umol/mol/h"),
        "noise_sd": _F("q", "umol/mol"),
        "t90": _F("q", "s"),
        "resolution": _F("q", "umol/mol"),
        "gas_source": _F("ref", "gas_dilutor"),
    },
    "gas_dilutor": {
        "max_flow": _F("q", "L/min", "5 L/min", False),
        "noise_sd": _F("q", "L/min", "0.001 L/min", False),
        "ambient": _F("q", "umol/mol", "0 umol/mol", False),
    },
    "flow_controller": {
        "max_flow": _F("q", "L/min"),
        "noise_sd": _F("q", "L/min", "0 L/min", False),
    },
    "flowmeter_under_test": {
        "error_curve": _F("curve", ("m**3/h", "")),
        "noise_sd": _F("q", ""),
        "k_factor": _F("q", "1/L"),
        "flow_source": _F("ref", "flow_controller"),
    },
    "reference_flow_standard": {
        "noise_sd": _F("q", ""),
        "meter": _F("ref", "flowmeter_under_test"),
        "flow_source": _F("ref", "flow_controller"),
    },
    "charging_pile": {
        "kind": _F("choice", "ac|dc"),
        "nominal_voltage": _F("q", "V"),
        "errors": _F("curve", ("A", "")),
        "clock_offset": _F("q", "s"),
        "meter_constant": _F("q", "1/kWh"),
        "tariff": _F("num"),
        "display_resolution": _F("q", "kWh", "0.001 kWh", False),
        "load": _F("ref", "programmable_load"),
    },
    "pile_tester": {
        "pile": _F("ref", "charging_pile"),
        "noise_sd": _F("q", "", "0", False),
    },
    "programmable_load": {
        "max_current": _F("q", "A"),
    },
    "elemental_analyzer": {
        "bias": _F("elements", ""),
        "noise_sd": _F("elements", "percent"),
        "run_time": _F("q", "s", "300 s", False),
        "substances": _F("substances", "percent"),
    },
    "environment_monitor": {
        "temperature": _F("q", "degC"),
        "humidity": _F("q", "percent"),
        "pressure": _F("q", "kPa"),
        "temperature_swing": _F("q", "K", "0.3 K", False),
        "humidity_swing": _F("q", "percent", "2 percent", False),
        "pressure_swing": _F("q", "kPa", "0.2 kPa", False),
        "period": _F("q", "s", "2 h", False),
    },
}

_TOP_KEYS = {"name", "simulated", "time_scale", "seed", "control_port", "instruments", "auto"}
_INSTRUMENT_KEYS = {"role", "driver", "address", "timeout", "port", "sim", "faults", "cylinders"}
_CYLINDER_KEYS = {"port", "id", "zero", "component", "matrix", "certified", "U", "k", "actual"}
_FAULT_KEYS = {"kind", "at", "duration", "delay"}
_TOML_LINE_RE = re.compile(r"\(at line (\d+), column (\d+)\)")


class _Loader:
    def __init__(self, path: str) -> None:
        self.path = path
        self.file = Path(path).name

    def fail(self, where: str, message: str) -> BenchFileError:
        return BenchFileError(self.file, where, message)

    def table(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected a table, got {value!r}")
        return value

    def unknown(self, data: Mapping[str, Any], allowed: set[str], where: str) -> None:
        for key in data:
            if key not in allowed:
                prefix = f"{where}." if where else ""
                raise self.fail(
                    f"{prefix}{key}", f"unknown key (allowed: {', '.join(sorted(allowed))})"
                )

    def text(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, f"expected a non-empty string, got {value!r}")
        return value.strip()

    def quantity(self, value: Any, like: str, where: str) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool) and like == "":
            value = str(value)
        if not isinstance(value, str):
            unit = like or "a dimensionless value"
            raise self.fail(where, f"expected a quantity string such as '1 {unit}', got {value!r}")
        try:
            q = parse_quantity(value, like=like or "dimensionless")
            parts = where.split(".")
            # an element's entry ("noise_sd.C") follows the rule of its table
            name = parts[-1] if parts[-1] in SIGN_RULED or len(parts) < 2 else parts[-2]
            check_sign(name, q)
        except UnitParseError as exc:
            raise self.fail(where, str(exc)) from None
        return q

    def number(self, value: Any, where: str) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise self.fail(where, f"expected a number, got {value!r}")
        return float(value)

    def port(self, value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
            raise self.fail(where, f"expected a TCP port number 0-65535, got {value!r}")
        if value:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                # as the simulator binds: a port left in TIME_WAIT by a bench just stopped
                # is free, a port another program listens on is not
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind(("127.0.0.1", value))
                except OSError:
                    raise self.fail(where, f"port {value} is already in use") from None
        return value

    # --- sections ---------------------------------------------------------------

    def load(self) -> BenchConfig:
        try:
            raw_text = Path(self.path).read_bytes().decode("utf-8")
        except FileNotFoundError:
            raise self.fail("", "file not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise self.fail("", f"cannot read: {exc}") from None
        try:
            data = tomllib.loads(raw_text)
        except tomllib.TOMLDecodeError as exc:
            msg = str(exc)
            m = _TOML_LINE_RE.search(msg)
            where = f"line {m[1]}" if m else ""
            raise self.fail(
                where, f"malformed TOML: {_TOML_LINE_RE.sub('', msg).strip()}"
            ) from None
        self.unknown(data, _TOP_KEYS, "")
        name = self.text(data.get("name"), "name")
        simulated = data.get("simulated", False)
        if not isinstance(simulated, bool):
            raise self.fail("simulated", f"expected true or false, got {simulated!r}")
        time_scale = self.number(data.get("time_scale", 1.0), "time_scale")
        if time_scale <= 0:
            raise self.fail("time_scale", f"must be positive, got {time_scale}")
        if not simulated and time_scale != 1.0:
            raise self.fail("time_scale", "a real bench runs in real time (time_scale = 1)")
        seed = data.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise self.fail("seed", f"expected an integer, got {seed!r}")
        control_port = None
        if "control_port" in data:
            if not simulated:
                raise self.fail("control_port", "only simulated benches have a control port")
            control_port = self.port(data["control_port"], "control_port")
        raw_instruments = self.table(data.get("instruments"), "instruments")
        if not raw_instruments:
            raise self.fail("instruments", "no instruments")
        roles = {
            n: self._role(n, self.table(t, f"instruments.{n}")) for n, t in raw_instruments.items()
        }
        instruments = {
            n: self._instrument(n, t, simulated, roles) for n, t in raw_instruments.items()
        }
        auto = self._auto(self.table(data.get("auto", {}), "auto"), instruments, simulated)
        return BenchConfig(
            self.path, name, simulated, time_scale, seed, control_port, instruments, auto
        )

    def _role(self, name: str, table: dict[str, Any]) -> str:
        role = self.text(table.get("role"), f"instruments.{name}.role")
        if role not in ROLES:
            raise self.fail(
                f"instruments.{name}.role", f"unknown role {role!r} (known: {', '.join(ROLES)})"
            )
        return role

    def _instrument(
        self, name: str, table: dict[str, Any], simulated: bool, roles: dict[str, str]
    ) -> InstrumentConfig:
        where = f"instruments.{name}"
        self.unknown(table, _INSTRUMENT_KEYS, where)
        role = roles[name]
        driver = self.text(table.get("driver"), f"{where}.driver")
        spec = DRIVERS.get(driver)
        if spec is None:
            raise self.fail(
                f"{where}.driver", f"unknown driver {driver!r} (known: {', '.join(DRIVERS)})"
            )
        if spec.role != role:
            raise self.fail(
                f"{where}.driver", f"driver {driver!r} serves role {spec.role!r}, not {role!r}"
            )
        timeout = self.quantity(table.get("timeout", "2 s"), "s", f"{where}.timeout")
        if timeout.to("s").magnitude <= 0:
            raise self.fail(f"{where}.timeout", "must be positive")
        address = table.get("address")
        if address is not None:
            address = self.text(address, f"{where}.address")
            if simulated:
                raise self.fail(
                    f"{where}.address",
                    "assigned by the simulator on a simulated bench (use 'port' to fix a TCP port)",
                )
        elif not simulated and spec.cls is not None:
            raise self.fail(
                f"{where}.address", "missing: a real bench names each instrument's address"
            )
        port = None
        if "port" in table:
            if not simulated:
                raise self.fail(f"{where}.port", "only simulated instruments are served on a port")
            if spec.transport not in ("visa-tcp", "modbus-tcp"):
                raise self.fail(
                    f"{where}.port", f"{driver!r} is served on a pseudo-terminal, not a TCP port"
                )
            port = self.port(table["port"], f"{where}.port")
        sim: dict[str, Any] = {}
        faults: tuple[FaultSchedule, ...] = ()
        if simulated:
            sim = self._sim(where, role, self.table(table.get("sim"), f"{where}.sim"), roles)
            faults = tuple(
                self._fault(f"{where}.faults[{i}]", self.table(f, f"{where}.faults[{i}]"))
                for i, f in enumerate(self._list(table.get("faults", []), f"{where}.faults"))
            )
        else:
            for key in ("sim", "faults"):
                if key in table:
                    raise self.fail(
                        f"{where}.{key}", "physics and faults belong to simulated benches only"
                    )
        cylinders: tuple[Cylinder, ...] = ()
        if role == "gas_dilutor":
            raw = self._list(table.get("cylinders"), f"{where}.cylinders")
            if not raw:
                raise self.fail(f"{where}.cylinders", "a dilutor needs at least one cylinder")
            cylinders = tuple(
                self._cylinder(
                    f"{where}.cylinders[{i}]", self.table(c, f"{where}.cylinders[{i}]"), simulated
                )
                for i, c in enumerate(raw)
            )
            ports = [c.port for c in cylinders]
            if len(set(ports)) != len(ports):
                raise self.fail(f"{where}.cylinders", f"two cylinders on one port: {ports}")
        elif "cylinders" in table:
            raise self.fail(f"{where}.cylinders", "only a gas_dilutor has cylinders")
        return InstrumentConfig(name, role, driver, address, timeout, port, sim, faults, cylinders)

    def _list(self, value: Any, where: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(where, f"expected an array of tables, got {value!r}")
        return value

    def _sim(
        self, where: str, role: str, table: dict[str, Any], roles: dict[str, str]
    ) -> dict[str, Any]:
        schema = _SIM_SCHEMA[role]
        where = f"{where}.sim"
        self.unknown(table, set(schema), where)
        out: dict[str, Any] = {}
        for key, f in schema.items():
            k = f"{where}.{key}"
            value = table.get(key, f.default)
            if value is None:
                raise self.fail(k, "missing physics value")
            if f.kind == "q":
                assert isinstance(f.like, str)
                out[key] = self.quantity(value, f.like, k)
            elif f.kind == "num":
                out[key] = self.number(value, k)
            elif f.kind == "str":
                out[key] = self.text(value, k)
            elif f.kind == "choice":
                assert isinstance(f.like, str)
                choices = f.like.split("|")
                if value not in choices:
                    raise self.fail(k, f"expected one of {choices}, got {value!r}")
                out[key] = value
            elif f.kind == "ref":
                ref = self.text(value, k)
                if roles.get(ref) != f.like:
                    raise self.fail(
                        k, f"{ref!r} is not an instrument with role {f.like!r} on this bench"
                    )
                out[key] = ref
            elif f.kind == "curve":
                out[key] = self._curve(value, f.like, k)
            elif f.kind == "elements":
                assert isinstance(f.like, str)
                out[key] = self._elements(self.table(value, k), f.like, k)
            else:
                assert isinstance(f.like, str)
                subs = self.table(value, k)
                if not subs:
                    raise self.fail(k, "at least one reference substance")
                out[key] = {
                    n: self._elements(self.table(s, f"{k}.{n}"), f.like, f"{k}.{n}", partial=True)
                    for n, s in subs.items()
                }
        return out

    def _curve(self, value: Any, like: Any, where: str) -> list[tuple[Any, Any]]:
        if not isinstance(value, list) or not value:
            raise self.fail(where, 'expected a list of [x, y] points, e.g. [["10 A", "0.5 %"]]')
        points = []
        for i, point in enumerate(value):
            if not isinstance(point, list) or len(point) != 2:
                raise self.fail(f"{where}[{i}]", f"expected [x, y], got {point!r}")
            points.append(
                (
                    self.quantity(point[0], like[0], f"{where}[{i}][0]"),
                    self.quantity(point[1], like[1], f"{where}[{i}][1]"),
                )
            )
        xs = [p[0].to(like[0]).magnitude for p in points]
        if any(b <= a for a, b in itertools.pairwise(xs)):
            raise self.fail(where, "x values must increase")
        return points

    def _elements(
        self, table: dict[str, Any], like: str, where: str, partial: bool = False
    ) -> dict[str, Any]:
        self.unknown(table, set(ELEMENTS), where)
        if not partial:
            for element in ELEMENTS:
                if element not in table:
                    raise self.fail(f"{where}.{element}", "missing physics value")
        return {e: self.quantity(v, like, f"{where}.{e}") for e, v in table.items()}

    def _fault(self, where: str, table: dict[str, Any]) -> FaultSchedule:
        self.unknown(table, _FAULT_KEYS, where)
        kind = table.get("kind")
        if kind not in FAULT_KINDS:
            raise self.fail(
                f"{where}.kind", f"expected one of {', '.join(FAULT_KINDS)}, got {kind!r}"
            )
        at = self.quantity(table.get("at"), "s", f"{where}.at").to("s").magnitude
        duration = None
        if "duration" in table:
            duration = self.quantity(table["duration"], "s", f"{where}.duration").to("s").magnitude
        delay = self.quantity(table.get("delay", "2 s"), "s", f"{where}.delay").to("s").magnitude
        return FaultSchedule(
            str(kind), float(at), None if duration is None else float(duration), float(delay)
        )

    def _cylinder(self, where: str, table: dict[str, Any], simulated: bool) -> Cylinder:
        self.unknown(table, _CYLINDER_KEYS, where)
        port = table.get("port")
        if isinstance(port, bool) or not isinstance(port, int) or port < 1:
            raise self.fail(f"{where}.port", f"expected a valve port number >= 1, got {port!r}")
        rm_id = self.text(table.get("id"), f"{where}.id")
        zero = table.get("zero", False)
        if not isinstance(zero, bool):
            raise self.fail(f"{where}.zero", f"expected true or false, got {zero!r}")
        matrix = self.text(table.get("matrix"), f"{where}.matrix")
        if zero:
            for key in ("certified", "U", "k", "actual"):
                if key in table:
                    raise self.fail(f"{where}.{key}", "a zero-gas cylinder has no certified value")
            component = str(table.get("component", "")).strip()
            return Cylinder(port, rm_id, True, component, matrix, None, None, 2.0, None)
        component = self.text(table.get("component"), f"{where}.component")
        certified = self.quantity(table.get("certified"), "umol/mol", f"{where}.certified")
        u = self.quantity(table.get("U"), "umol/mol", f"{where}.U")
        k = self.number(table.get("k"), f"{where}.k")
        actual = None
        if simulated:
            actual = self.quantity(table.get("actual"), "umol/mol", f"{where}.actual")
        elif "actual" in table:
            raise self.fail(
                f"{where}.actual", "the hidden true value belongs to simulated benches only"
            )
        return Cylinder(port, rm_id, False, component, matrix, certified, u, k, actual)

    def _auto(
        self, table: dict[str, Any], instruments: dict[str, InstrumentConfig], simulated: bool
    ) -> dict[str, AutoAnswer]:
        if table and not simulated:
            raise self.fail("auto", "automatic answers are for simulated benches only")
        out: dict[str, AutoAnswer] = {}
        for prompt, value in table.items():
            where = f"auto.{prompt}"
            if isinstance(value, (str | bool, int | float)):
                out[prompt] = AutoAnswer(
                    literal=value
                    if not isinstance(value, int) or isinstance(value, bool)
                    else float(value)
                )
                continue
            spec = self.table(value, where)
            if "peek" in spec:
                self.unknown(spec, {"peek", "observable"}, where)
                inst = self._auto_instrument(spec["peek"], instruments, f"{where}.peek")
                out[prompt] = AutoAnswer(
                    peek=(inst, self.text(spec.get("observable"), f"{where}.observable"))
                )
            elif "act" in spec:
                inst = self._auto_instrument(spec["act"], instruments, f"{where}.act")
                action = self.text(spec.get("action"), f"{where}.action")
                kwargs = {k: str(v) for k, v in spec.items() if k not in ("act", "action")}
                out[prompt] = AutoAnswer(act=(inst, action, kwargs))
            else:
                raise self.fail(
                    where,
                    "expected a literal, {peek = ..., observable = ...} "
                    "or {act = ..., action = ...}",
                )
        return out

    def _auto_instrument(
        self, value: Any, instruments: dict[str, InstrumentConfig], where: str
    ) -> str:
        name = self.text(value, where)
        if name not in instruments:
            raise self.fail(where, f"no instrument {name!r} on this bench")
        return name


def load_bench(path: str | Path) -> BenchConfig:
    """Read and validate a bench file; raise :class:`BenchFileError` naming file and key."""
    return _Loader(str(path)).load()


def open_instruments(
    bench: BenchConfig, addresses: Mapping[str, str] | None = None
) -> dict[str, Instrument]:
    """Connect every instrument of ``bench`` that has a driver and check it answers.

    ``addresses`` overrides the bench file's addresses (a :class:`SimulatedBench`
    provides them). Each driver is connected and asked :meth:`identify`; if any fails,
    those already opened are closed and the error is raised.
    """
    opened: dict[str, Instrument] = {}
    try:
        for name, cfg in bench.instruments.items():
            spec = DRIVERS[cfg.driver]
            if spec.cls is None:
                continue
            address = (addresses or {}).get(name, cfg.address)
            if address is None:
                raise InstrumentConnectionError(
                    name, "no address (is the simulated bench running?)"
                )
            driver = spec.cls.open(name, address, cfg.timeout_s)
            opened[name] = driver
            driver.identify()
    except InstrumentError:
        for driver in opened.values():
            driver.close()
        raise
    return opened
