"""The run plan: what a run will do and with what, decided once from the lab's records.

A :class:`RunPlan` is built by :func:`lims.services.planning.plan_run` from the procedure, the
work-order item, the bench file, the operator and any overrides, before anything runs.
It is immutable; its canonical JSON and SHA-256 are stored with the run, and a resumed
run continues only under the same plan. Every parameter says where it came from.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from lims.vocabulary import BiText, ServiceKind

__all__ = [
    "PLAN_SCHEMA",
    "ParameterSource",
    "PlanDeviation",
    "PlannedEquipment",
    "PlannedInstrument",
    "PlannedItem",
    "PlannedMaterial",
    "PlannedPoint",
    "PlannedStandard",
    "PlannedUse",
    "PlannedValue",
    "RunPlan",
    "canonical_plan_json",
    "plan_differences",
    "plan_sha256",
]

PLAN_SCHEMA = "carbon-lims/run-plan/1"


class ParameterSource(StrEnum):
    """Where a run parameter came from."""

    ITEM = "item"
    """The work-order item's registered data (range, class, nameplate values)."""
    TABLE = "table"
    """The regulation table (a limit, a ratio, a default of the method)."""
    BENCH = "bench"
    """The bench file (which cylinder on which port, which lot on the bench)."""
    REGISTER = "register"
    """The lab's register (a reference material's certified value, a standard's U)."""
    OPERATOR = "operator"
    """Typed by the operator for a value the item does not state."""
    OVERRIDE = "override"
    """A quality manager's recorded deviation from the item's data, with a reason."""
    PROCEDURE = "procedure"
    """A documented default of the procedure (a value the item and table leave open)."""

    @property
    def text(self) -> BiText:
        """Shown beside each parameter in the plan."""
        return _SOURCE_TEXTS[self]


_SOURCE_TEXTS = {
    ParameterSource.ITEM: BiText("委托项", "item"),
    ParameterSource.TABLE: BiText("规程表", "table"),
    ParameterSource.BENCH: BiText("工作台", "bench"),
    ParameterSource.REGISTER: BiText("台账", "register"),
    ParameterSource.OPERATOR: BiText("操作员", "operator"),
    ParameterSource.OVERRIDE: BiText("偏离", "override"),
    ParameterSource.PROCEDURE: BiText("程序默认", "procedure default"),
}


@dataclass(frozen=True)
class PlannedValue:
    """One run parameter: its value as text, where it came from and from what exactly."""

    name: str
    title: str
    text: str
    source: ParameterSource
    origin: str
    """E.g. ``item 3 range_max``, ``table limits.qt_ratio``, ``bench dilutor port 2``."""


@dataclass(frozen=True)
class PlannedItem:
    """The instrument under test as registered."""

    item_id: int
    work_order: str
    service: ServiceKind
    description: str
    manufacturer: str
    model: str
    serial_number: str
    range_text: str
    accuracy: str
    specs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class PlannedInstrument:
    """A role slot of the procedure bound to an instrument of the bench."""

    slot: str
    role: str
    bench_instrument: str
    driver: str
    asset_tag: str | None = None
    under_test: bool = False


@dataclass(frozen=True)
class PlannedStandard:
    """A measurement standard (计量标准) the run uses: every member is on the bench."""

    tag: str
    name: str
    members: tuple[str, ...]
    certificates: tuple[str, ...]
    roles: tuple[str, ...] = ()
    """The bench roles its members fill (which :class:`PlannedUse` lines concern it)."""


@dataclass(frozen=True)
class PlannedUse:
    """The span of one quantity over which the run uses the standard on ``role``.

    ``low``/``high`` are quantity texts (as parameters are stored). The run rules check
    the span against the calibrated ranges the standard's certificates state.
    """

    role: str
    quantity: str
    low: str
    high: str


@dataclass(frozen=True)
class PlannedEquipment:
    """A piece of the lab's equipment used on its own (an environment monitor, a balance)."""

    asset_tag: str
    description: str
    role: str
    certificate: str
    valid_until: str


@dataclass(frozen=True)
class PlannedMaterial:
    """A reference material the run uses or consumes, and what for."""

    tag: str
    purpose: str
    gbw_number: str
    certified: str
    expanded_uncertainty: str
    coverage_factor: float
    lot: str
    expires_on: str
    port: int | None = None


@dataclass(frozen=True)
class PlannedPoint:
    """A test point the run will measure."""

    key: str
    label: BiText
    nominal: str = ""


@dataclass(frozen=True)
class PlanDeviation:
    """A value that contradicts the item's data, recorded by a quality manager."""

    name: str
    item_value: str
    value: str
    reason: str
    approved_by: str


@dataclass(frozen=True)
class RunPlan:
    """Everything a run is, fixed before it starts (see the module docstring)."""

    procedure_id: str
    procedure_version: str
    procedure_source_sha256: str
    kind: ServiceKind
    regulation: str
    table_version: str
    table_sha256: str
    table_released: bool
    table_unverified: tuple[str, ...]
    item: PlannedItem
    bench_name: str
    bench_sha256: str
    simulated: bool
    operator: str
    parameters: tuple[PlannedValue, ...]
    points: tuple[PlannedPoint, ...]
    instruments: tuple[PlannedInstrument, ...]
    standards: tuple[PlannedStandard, ...] = ()
    equipment: tuple[PlannedEquipment, ...] = ()
    materials: tuple[PlannedMaterial, ...] = ()
    environment_limits: tuple[tuple[str, str], ...] = ()
    deviations: tuple[PlanDeviation, ...] = ()
    standard_uses: tuple[PlannedUse, ...] = ()
    requested: tuple[tuple[str, str, str], ...] = ()
    """What the operator asked for beyond the records: (``value``/``material``, name, text)."""
    steps: tuple[tuple[str, str], ...] = ()
    schema: str = field(default=PLAN_SCHEMA)

    def parameter(self, name: str) -> PlannedValue | None:
        """The planned parameter ``name``, or None."""
        return next((p for p in self.parameters if p.name == name), None)

    @property
    def parameter_texts(self) -> dict[str, str]:
        """Every parameter as the text the procedure parses."""
        return {p.name: p.text for p in self.parameters}

    @property
    def standard_tags(self) -> tuple[str, ...]:
        """Tags of the standards used."""
        return tuple(s.tag for s in self.standards)

    @property
    def material_tags(self) -> tuple[str, ...]:
        """Tags of the reference materials used (in order, without repeats)."""
        return tuple(dict.fromkeys(m.tag for m in self.materials))

    @property
    def equipment_tags(self) -> tuple[str, ...]:
        """Asset tags of the equipment used on its own."""
        return tuple(e.asset_tag for e in self.equipment)

    def uses_for(self, tag: str) -> tuple[PlannedUse, ...]:
        """The planned uses of standard ``tag`` (by the roles its members fill)."""
        std = next((s for s in self.standards if s.tag == tag), None)
        if std is None:
            return ()
        return tuple(u for u in self.standard_uses if u.role in std.roles)

    def to_json(self) -> dict[str, Any]:
        """The plan as JSON-compatible data."""
        data: dict[str, Any] = _jsonable(asdict(self))
        return data

    def canonical_json(self) -> bytes:
        """Sorted keys, compact, UTF-8: the same bytes for the same plan everywhere."""
        return canonical_plan_json(self.to_json())

    @property
    def sha256(self) -> str:
        """SHA-256 of :meth:`canonical_json` (stored with the run)."""
        return plan_sha256(self.to_json())

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunPlan:
        """Rebuild a stored plan."""
        d = dict(data)
        d["kind"] = ServiceKind(d["kind"])
        item = dict(d["item"])
        item["service"] = ServiceKind(item["service"])
        item["specs"] = tuple(tuple(x) for x in item.get("specs", ()))
        d["item"] = PlannedItem(**item)
        d["parameters"] = tuple(
            PlannedValue(**{**p, "source": ParameterSource(p["source"])}) for p in d["parameters"]
        )
        d["points"] = tuple(
            PlannedPoint(p["key"], BiText(*p["label"]), p.get("nominal", ""))
            if isinstance(p["label"], list)
            else PlannedPoint(p["key"], BiText(p["label"]["zh"], p["label"]["en"]), p["nominal"])
            for p in d["points"]
        )
        d["instruments"] = tuple(PlannedInstrument(**i) for i in d["instruments"])
        d["standards"] = tuple(
            PlannedStandard(
                s["tag"],
                s["name"],
                tuple(s["members"]),
                tuple(s["certificates"]),
                tuple(s.get("roles", ())),
            )
            for s in d.get("standards", ())
        )
        d["standard_uses"] = tuple(PlannedUse(**u) for u in d.get("standard_uses", ()))
        d["equipment"] = tuple(PlannedEquipment(**e) for e in d.get("equipment", ()))
        d["materials"] = tuple(PlannedMaterial(**m) for m in d.get("materials", ()))
        d["environment_limits"] = tuple(tuple(x) for x in d.get("environment_limits", ()))
        d["deviations"] = tuple(PlanDeviation(**x) for x in d.get("deviations", ()))
        d["steps"] = tuple(tuple(x) for x in d.get("steps", ()))
        d["requested"] = tuple(tuple(x) for x in d.get("requested", ()))
        d["table_unverified"] = tuple(d.get("table_unverified", ()))
        return cls(**d)


def canonical_plan_json(plan: dict[str, Any]) -> bytes:
    """A plan's JSON as hashed: sorted keys, compact, UTF-8."""
    return json.dumps(plan, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8"
    )


def plan_sha256(plan: dict[str, Any]) -> str:
    """The hash of a plan's JSON (as stored with the run, ``runs.plan_sha256``)."""
    return hashlib.sha256(canonical_plan_json(plan)).hexdigest()


def _jsonable(value: Any) -> Any:
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def plan_differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """What differs between two plans' JSON, one line per difference (path: old → new)."""
    out: list[str] = []
    keys = sorted(set(old) | set(new)) if isinstance(old, dict) and isinstance(new, dict) else []
    for k in keys:
        a, b = old.get(k), new.get(k)
        path = f"{prefix}{k}"
        if isinstance(a, dict) and isinstance(b, dict):
            out += plan_differences(a, b, f"{path}.")
        elif a != b:
            out.append(f"{path}: {_short(a)} → {_short(b)}")
    return out


def _short(v: Any) -> str:
    text = json.dumps(v, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 160 else text[:157] + "…"
