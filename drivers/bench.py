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
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drivers.bench_schema import SIM_SCHEMA as _SIM_SCHEMA
from drivers.bench_sections import (
    FAULT_KINDS,
    IDENTITY_KEYS,
    AutoAnswer,
    Cylinder,
    FaultSchedule,
    IdentitySpec,
    TableReader,
)
from drivers.errors import InstrumentConnectionError, InstrumentError
from drivers.io_record import IoObserver
from drivers.registry import DRIVERS, MANUAL, ROLES
from drivers.roles import Instrument

__all__ = [
    "FAULT_KINDS",
    "AutoAnswer",
    "BenchConfig",
    "Cylinder",
    "FaultSchedule",
    "IdentitySpec",
    "InstrumentConfig",
    "load_bench",
    "open_instruments",
]

ELEMENTS = ("C", "H", "N", "S")


@dataclass(frozen=True)
class InstrumentConfig:
    """One ``[instruments.<name>]`` table.

    ``asset_tag`` names the lab's registered equipment this instrument is; ``declared``
    is the model/serial declared for a driverless instrument; ``sim_identity`` what a
    simulated instrument answers to ``identify()`` (None: the simulator's default).
    """

    name: str
    role: str
    driver: str
    address: str | None
    timeout: Any
    port: int | None = None
    sim: dict[str, Any] = field(default_factory=dict)
    faults: tuple[FaultSchedule, ...] = ()
    cylinders: tuple[Cylinder, ...] = ()
    asset_tag: str | None = None
    declared: IdentitySpec | None = None
    sim_identity: IdentitySpec | None = None

    @property
    def timeout_s(self) -> float:
        """The driver timeout in seconds."""
        return float(self.timeout.to("s").magnitude)

    @property
    def has_driver(self) -> bool:
        """False for a device under test observed through a pulse output, or read by eye."""
        return DRIVERS[self.driver].cls is not None


@dataclass(frozen=True)
class BenchConfig:
    """A validated bench file.

    ``materials`` maps a purpose (e.g. ``acetanilide``) to the tag of the reference
    material the bench holds for it (materials not on a dilutor port).
    """

    path: str
    name: str
    simulated: bool
    time_scale: float
    seed: int
    control_port: int | None
    instruments: dict[str, InstrumentConfig]
    auto: dict[str, AutoAnswer]
    materials: dict[str, str] = field(default_factory=dict)
    #: Carried to the customer's site: its standards are portable and checked out per visit.
    on_site: bool = False


_TOP_KEYS = {
    "name",
    "simulated",
    "time_scale",
    "seed",
    "control_port",
    "instruments",
    "auto",
    "materials",
    "on_site",
}
_INSTRUMENT_KEYS = {
    "role",
    "driver",
    "address",
    "timeout",
    "port",
    "sim",
    "faults",
    "cylinders",
    "asset_tag",
    "model",
    "serial",
}
_TOML_LINE_RE = re.compile(r"\(at line (\d+), column (\d+)\)")


class _Loader(TableReader):
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
        self.manual = {
            n
            for n, t in raw_instruments.items()
            if isinstance(t, dict) and t.get("driver") == MANUAL
        }
        roles = {
            n: self._role(n, self.table(t, f"instruments.{n}")) for n, t in raw_instruments.items()
        }
        instruments = {
            n: self._instrument(n, t, simulated, roles) for n, t in raw_instruments.items()
        }
        auto = self._auto(self.table(data.get("auto", {}), "auto"), instruments, simulated)
        materials = {
            self.text(purpose, "materials"): self.text(tag, f"materials.{purpose}")
            for purpose, tag in self.table(data.get("materials", {}), "materials").items()
        }
        on_site = data.get("on_site", False)
        if not isinstance(on_site, bool):
            raise self.fail("on_site", f"expected true or false, got {on_site!r}")
        return BenchConfig(
            self.path,
            name,
            simulated,
            time_scale,
            seed,
            control_port,
            instruments,
            auto,
            materials,
            on_site,
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
        if spec.role is not None and spec.role != role:
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
        asset_tag = None
        if "asset_tag" in table:
            asset_tag = self.text(table["asset_tag"], f"{where}.asset_tag")
        declared = self._identity(table, {"model", "serial"}, where)
        if declared is not None and spec.cls is not None:
            key = "model" if "model" in table else "serial"
            raise self.fail(
                f"{where}.{key}",
                "an instrument with a driver tells its model and serial through identify()"
                + (" (a simulated one: set sim.identity)" if simulated else ""),
            )
        sim: dict[str, Any] = {}
        sim_identity = None
        faults: tuple[FaultSchedule, ...] = ()
        if simulated and driver == MANUAL:
            for key in ("sim", "faults"):
                if key in table:
                    raise self.fail(
                        f"{where}.{key}", "an instrument read by eye has no simulated physics"
                    )
        elif simulated:
            raw_sim = dict(self.table(table.get("sim"), f"{where}.sim"))
            if "identity" in raw_sim:
                if spec.cls is None:
                    raise self.fail(
                        f"{where}.sim.identity",
                        "a driverless instrument answers nothing; declare model and serial "
                        "on the instrument",
                    )
                identity = self.table(raw_sim.pop("identity"), f"{where}.sim.identity")
                sim_identity = self._identity(
                    identity, IDENTITY_KEYS, f"{where}.sim.identity", strict=True
                )
            sim = self._sim(where, role, raw_sim, roles)
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
        return InstrumentConfig(
            name,
            role,
            driver,
            address,
            timeout,
            port,
            sim,
            faults,
            cylinders,
            asset_tag,
            declared,
            sim_identity,
        )

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
                assert isinstance(f.like, str)
                if roles.get(ref) not in f.like.split("|") or ref in self.manual:
                    wanted = " or ".join(repr(r) for r in f.like.split("|"))
                    raise self.fail(
                        k, f"{ref!r} is not an instrument with role {wanted} on this bench"
                    )
                out[key] = ref
            elif f.kind == "curve":
                out[key] = self._curve(value, f.like, k)
            elif f.kind == "elements":
                assert isinstance(f.like, str)
                out[key] = self._elements(self.table(value, k), f.like, k)
            elif f.kind == "qmap":
                assert isinstance(f.like, str)
                entries = self.table(value, k)
                if not entries:
                    raise self.fail(k, "at least one entry")
                out[key] = {n: self.quantity(v, f.like, f"{k}.{n}") for n, v in entries.items()}
            elif f.kind == "qlist":
                assert isinstance(f.like, str)
                if not isinstance(value, list) or len(value) < 2:
                    raise self.fail(k, "expected a list of at least two values")
                out[key] = [self.quantity(v, f.like, f"{k}[{i}]") for i, v in enumerate(value)]
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


def load_bench(path: str | Path) -> BenchConfig:
    """Read and validate a bench file; raise :class:`BenchFileError` naming file and key."""
    return _Loader(str(path)).load()


def open_instruments(
    bench: BenchConfig,
    addresses: Mapping[str, str] | None = None,
    *,
    io_observer: IoObserver | None = None,
) -> dict[str, Instrument]:
    """Connect every instrument of ``bench`` that has a driver and check it answers.

    ``addresses`` overrides the bench file's addresses (a :class:`SimulatedBench`
    provides them). ``io_observer`` is added to every driver before its first exchange
    (see :mod:`drivers.io_record`). Each driver is connected and asked :meth:`identify`;
    if any fails, those already opened are closed and the error is raised.
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
            if io_observer is not None:
                driver.add_io_observer(io_observer)
            driver.identify()
    except InstrumentError:
        for driver in opened.values():
            driver.close()
        raise
    return opened
