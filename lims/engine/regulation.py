"""Regulation tables: the numbers of a regulation as versioned data (TOML beside a procedure).

A table carries its source, version and release status (who released it, when, why).
Every number may be written plainly (``mpe = "2 %FS"``) or as a table that marks it as
not yet checked against the official text (``mpe = { value = "2 %FS", unverified = true }``).
A released table may not contain unverified values. Example::

    procedure = "jjg635"
    version = "2026.1"
    source = "JJG 635-2011 一氧化碳、二氧化碳红外气体分析器"

    [release]
    status = "released"                 # or "draft"
    released_by = "chen"
    released_at = 2026-01-10T08:00:00Z
    reason = "checked against the official text"

    [decision]
    rule = "JJF1094-2002"

    [limits]
    mpe = { value = "2 %FS", unverified = true }

    [repeats]
    indication = 3

    [environment]
    temperature = { min = "10 degC", max = "30 degC" }

    [[points]]
    name = "P1"
    nominal = "400 umol/mol"
    repeats = 3

:func:`load_regulation_table` raises :class:`RegulationTableError` naming file and key.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from lims.calc.decision import DECISION_RULES
from lims.engine.errors import RegulationTableError
from lims.units import UnitParseError, parse_quantity

__all__ = [
    "EnvironmentLimit",
    "RegulationTable",
    "Release",
    "TableValue",
    "TestPoint",
    "load_regulation_table",
    "parse_regulation_table",
]

_TOP_KEYS = {
    "procedure",
    "version",
    "source",
    "release",
    "decision",
    "limits",
    "repeats",
    "environment",
    "points",
}
_RELEASE_KEYS = {"status", "released_by", "released_at", "reason"}
_POINT_KEYS = {"name", "nominal", "repeats", "unverified", "note"}
_VALUE_KEYS = {"value", "unverified", "note"}


@dataclass(frozen=True)
class TableValue:
    """One number of the table (a Quantity, or an int for counts) and whether it is verified."""

    value: Any
    unverified: bool = False
    note: str = ""


@dataclass(frozen=True)
class Release:
    """Release status: ``draft`` or ``released`` (then by whom, when and why)."""

    status: str
    released_by: str | None = None
    released_at: datetime | None = None
    reason: str | None = None

    @property
    def released(self) -> bool:
        """True for a released table."""
        return self.status == "released"


@dataclass(frozen=True)
class EnvironmentLimit:
    """Allowed range of one environmental quantity (either bound may be absent)."""

    name: str
    minimum: Any | None
    maximum: Any | None

    def contains(self, value: Any) -> bool:
        """Whether ``value`` (a Quantity of the same dimension) lies inside the range."""
        if self.minimum is not None and value < self.minimum:
            return False
        return not (self.maximum is not None and value > self.maximum)

    def describe(self) -> str:
        """The range as text, e.g. ``10 °C … 30 °C``."""
        lo = f"{self.minimum:~P}" if self.minimum is not None else "-∞"
        hi = f"{self.maximum:~P}" if self.maximum is not None else "+∞"
        return f"{lo} … {hi}"


@dataclass(frozen=True)
class TestPoint:
    """A test point: name, nominal value and number of repeats."""

    __test__ = False  # not a pytest class

    name: str
    nominal: Any
    repeats: int
    unverified: bool = False
    note: str = ""


@dataclass(frozen=True)
class RegulationTable:
    """A loaded, validated regulation table."""

    path: str
    procedure: str
    version: str
    source: str
    release: Release
    decision_rule: TableValue
    limits: dict[str, TableValue] = field(default_factory=dict)
    repeats: dict[str, TableValue] = field(default_factory=dict)
    environment: dict[str, EnvironmentLimit] = field(default_factory=dict)
    points: tuple[TestPoint, ...] = ()
    content: str = ""
    sha256: str = ""

    @property
    def has_unverified(self) -> bool:
        """Whether any value is still marked unverified."""
        return (
            self.decision_rule.unverified
            or any(v.unverified for v in self.limits.values())
            or any(v.unverified for v in self.repeats.values())
            or any(p.unverified for p in self.points)
        )

    def unverified_keys(self) -> list[str]:
        """Keys of the values still marked unverified (for display before release)."""
        keys = [f"limits.{k}" for k, v in self.limits.items() if v.unverified]
        keys += [f"repeats.{k}" for k, v in self.repeats.items() if v.unverified]
        keys += [f"points.{p.name}" for p in self.points if p.unverified]
        if self.decision_rule.unverified:
            keys.append("decision.rule")
        return keys

    def limit(self, name: str) -> Any:
        """The Quantity of limit ``name``; :class:`KeyError` naming the file if absent."""
        try:
            return self.limits[name].value
        except KeyError:
            raise KeyError(f"{Path(self.path).name}: no limits.{name}") from None

    def repeat_count(self, name: str) -> int:
        """The repeat count ``name``; :class:`KeyError` naming the file if absent."""
        try:
            return int(self.repeats[name].value)
        except KeyError:
            raise KeyError(f"{Path(self.path).name}: no repeats.{name}") from None


class _Loader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = path.name

    def fail(self, where: str, message: str) -> RegulationTableError:
        return RegulationTableError(self.file, where, message)

    def unknown(self, data: dict[str, Any], allowed: set[str], where: str) -> None:
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

    def table(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected a table, got {value!r}")
        return value

    def quantity(self, value: Any, where: str) -> Any:
        if not isinstance(value, str):
            raise self.fail(where, f"expected a quantity such as '2 %FS', got {value!r}")
        try:
            return parse_quantity(value)
        except UnitParseError as exc:
            raise self.fail(where, str(exc)) from None

    def count(self, value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self.fail(where, f"expected a whole number ≥ 1, got {value!r}")
        return value

    def flag(self, value: Any, where: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(where, f"expected true or false, got {value!r}")
        return value

    def marked(self, raw: Any, where: str, kind: str) -> TableValue:
        unverified, note = False, ""
        if isinstance(raw, dict):
            self.unknown(raw, _VALUE_KEYS, where)
            if "value" not in raw:
                raise self.fail(f"{where}.value", "missing")
            unverified = self.flag(raw.get("unverified", False), f"{where}.unverified")
            note = str(raw.get("note", ""))
            raw = raw["value"]
            where = f"{where}.value"
        if kind == "count":
            return TableValue(self.count(raw, where), unverified, note)
        if kind == "rule":
            rule = self.text(raw, where)
            if rule not in DECISION_RULES:
                raise self.fail(
                    where, f"unknown decision rule {rule!r} (known: {', '.join(DECISION_RULES)})"
                )
            return TableValue(rule, unverified, note)
        return TableValue(self.quantity(raw, where), unverified, note)

    def when(self, value: Any, where: str) -> datetime:
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(value, date):
            return datetime.combine(value, time(), tzinfo=UTC)
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                raise self.fail(where, f"expected a date-time, got {value!r}") from None
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        raise self.fail(where, f"expected a date-time, got {value!r}")

    def load(self) -> RegulationTable:
        try:
            raw_bytes = self.path.read_bytes()
        except FileNotFoundError:
            raise self.fail("", "file not found") from None
        except OSError as exc:
            raise self.fail("", f"cannot read: {exc}") from None
        return self.parse(raw_bytes)

    def parse(self, raw_bytes: bytes) -> RegulationTable:
        try:
            content = raw_bytes.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self.fail("", f"cannot read: {exc}") from None
        try:
            data = tomllib.loads(content)
        except tomllib.TOMLDecodeError as exc:
            raise self.fail("", f"malformed TOML: {exc}") from None
        self.unknown(data, _TOP_KEYS, "")
        procedure = self.text(data.get("procedure"), "procedure")
        version = self.text(data.get("version"), "version")
        source = self.text(data.get("source"), "source")
        release = self.release(self.table(data.get("release"), "release"))
        decision = self.table(data.get("decision"), "decision")
        self.unknown(decision, {"rule", "unverified", "note"}, "decision")
        if "rule" not in decision:
            raise self.fail("decision.rule", "missing")
        rule = self.marked(decision["rule"], "decision.rule", "rule")
        if "unverified" in decision or "note" in decision:
            rule = TableValue(
                rule.value,
                self.flag(decision.get("unverified", False), "decision.unverified"),
                str(decision.get("note", "")),
            )
        limits = {
            k: self.marked(v, f"limits.{k}", "quantity")
            for k, v in self.table(data.get("limits", {}), "limits").items()
        }
        repeats = {
            k: self.marked(v, f"repeats.{k}", "count")
            for k, v in self.table(data.get("repeats", {}), "repeats").items()
        }
        environment = {
            k: self.env(k, self.table(v, f"environment.{k}"))
            for k, v in self.table(data.get("environment", {}), "environment").items()
        }
        raw_points = data.get("points", [])
        if not isinstance(raw_points, list):
            raise self.fail("points", "expected an array of tables ([[points]])")
        points = tuple(
            self.point(i, self.table(p, f"points[{i}]")) for i, p in enumerate(raw_points)
        )
        names = [p.name for p in points]
        if len(set(names)) != len(names):
            raise self.fail("points", f"duplicate point names: {names}")
        table = RegulationTable(
            path=str(self.path),
            procedure=procedure,
            version=version,
            source=source,
            release=release,
            decision_rule=rule,
            limits=limits,
            repeats=repeats,
            environment=environment,
            points=points,
            content=content,
            sha256=hashlib.sha256(raw_bytes).hexdigest(),
        )
        if release.released and table.has_unverified:
            raise self.fail(
                "release.status",
                "a released table may not hold unverified values: "
                + ", ".join(table.unverified_keys()),
            )
        return table

    def release(self, raw: dict[str, Any]) -> Release:
        self.unknown(raw, _RELEASE_KEYS, "release")
        status = self.text(raw.get("status"), "release.status")
        if status not in ("draft", "released"):
            raise self.fail("release.status", f"expected 'draft' or 'released', got {status!r}")
        if status == "draft":
            return Release("draft")
        return Release(
            "released",
            self.text(raw.get("released_by"), "release.released_by"),
            self.when(raw.get("released_at"), "release.released_at"),
            self.text(raw.get("reason"), "release.reason"),
        )

    def env(self, name: str, raw: dict[str, Any]) -> EnvironmentLimit:
        where = f"environment.{name}"
        self.unknown(raw, {"min", "max"}, where)
        if not raw:
            raise self.fail(where, "give min, max or both")
        lo = self.quantity(raw["min"], f"{where}.min") if "min" in raw else None
        hi = self.quantity(raw["max"], f"{where}.max") if "max" in raw else None
        if lo is not None and hi is not None:
            if lo.dimensionality != hi.dimensionality:
                raise self.fail(where, "min and max have different dimensions")
            if lo > hi:
                raise self.fail(where, f"min {lo:~P} is above max {hi:~P}")
        return EnvironmentLimit(name, lo, hi)

    def point(self, i: int, raw: dict[str, Any]) -> TestPoint:
        where = f"points[{i}]"
        self.unknown(raw, _POINT_KEYS, where)
        return TestPoint(
            name=self.text(raw.get("name"), f"{where}.name"),
            nominal=self.quantity(raw.get("nominal"), f"{where}.nominal"),
            repeats=self.count(raw.get("repeats"), f"{where}.repeats"),
            unverified=self.flag(raw.get("unverified", False), f"{where}.unverified"),
            note=str(raw.get("note", "")),
        )


def load_regulation_table(path: str | Path) -> RegulationTable:
    """Read and validate a regulation table.

    Raises :class:`RegulationTableError` naming the file and the key.
    """
    return _Loader(Path(path)).load()


def parse_regulation_table(content: str | bytes, name: str) -> RegulationTable:
    """Validate a regulation table given as text (e.g. as stored in the database).

    ``name`` stands for the file in messages and in :attr:`RegulationTable.path`.
    Raises :class:`RegulationTableError` naming ``name`` and the key.
    """
    raw = content.encode("utf-8") if isinstance(content, str) else content
    return _Loader(Path(name)).parse(raw)
