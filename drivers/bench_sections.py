"""Reading the tables of a bench file: typed sections and the checks every value passes.

:class:`TableReader` holds the primitive checks (one :class:`~drivers.errors.BenchFileError`
line naming file and key) and the sections that do not depend on an instrument's physics:
faults, cylinders, stated identities and the ``[auto]`` answers.
"""

from __future__ import annotations

import math
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivers.errors import BenchFileError
from drivers.units import SIGN_RULED, UnitParseError, check_sign, parse_quantity

__all__ = [
    "FAULT_KINDS",
    "IDENTITY_KEYS",
    "AutoAnswer",
    "Cylinder",
    "FaultSchedule",
    "IdentitySpec",
    "TableReader",
]

FAULT_KINDS = ("no_reply", "garbage", "drop_connection", "slow_reply", "out_of_range")


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
class IdentitySpec:
    """An identity stated in a bench file (a field not stated is None).

    On a driverless instrument under test: the model and serial the technician declares
    is connected. In a simulated instrument's ``sim.identity``: what the simulated device
    answers to ``identify()``.
    """

    manufacturer: str | None = None
    model: str | None = None
    serial: str | None = None


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


IDENTITY_KEYS = {"manufacturer", "model", "serial"}
_CYLINDER_KEYS = {"port", "id", "zero", "component", "matrix", "certified", "U", "k", "actual"}
_FAULT_KEYS = {"kind", "at", "duration", "delay"}


class TableReader:
    """Checks of bench-file values; every failure is one line naming file and key."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.file = Path(path).name
        self.manual: set[str] = set()

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

    def _identity(
        self, table: dict[str, Any], keys: set[str], where: str, *, strict: bool = False
    ) -> IdentitySpec | None:
        """The identity fields among ``keys`` in ``table`` (``strict``: no other key)."""
        if strict:
            self.unknown(table, keys, where)
        found = {k: self.text(table[k], f"{where}.{k}") for k in sorted(keys) if k in table}
        if not found:
            if strict:
                raise self.fail(where, f"expected one or more of {', '.join(sorted(keys))}")
            return None
        return IdentitySpec(**found)

    def _list(self, value: Any, where: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(where, f"expected an array of tables, got {value!r}")
        return value

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
        self, table: dict[str, Any], instruments: Mapping[str, Any], simulated: bool
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

    def _auto_instrument(self, value: Any, instruments: Mapping[str, Any], where: str) -> str:
        name = self.text(value, where)
        if name not in instruments:
            raise self.fail(where, f"no instrument {name!r} on this bench")
        return name
