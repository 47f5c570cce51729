"""Planning a run: from (procedure, item, bench, operator, overrides) to a frozen RunPlan.

This is the one place where a run is defined. The command line, the desktop app and the
demo build their runs only through :func:`plan_run` (and :func:`replan_run` to resume),
show the plan, and run it; none of them knows a procedure's parameter names.

What decides:

* **The item's registered data.** A parameter the procedure takes from the item (range,
  class, nameplate values) is the item's; an operator value that contradicts it is refused
  unless a quality manager records a deviation with a reason.
* **The bench.** Each role the procedure needs is one instrument of the bench; its standards
  are those whose every member is on the bench (by asset tag); other lab equipment on the
  bench is traced on its own; cylinders and materials come from the bench file and must
  agree with the register.
* **The procedure's plan hook** derives what depends on these (test points, gases per point,
  test currents) and refuses what cannot be done.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from drivers.bench import BenchConfig
from lims.db import Database
from lims.engine.engine import register_procedure, with_stored_release
from lims.engine.regulation import RegulationTable, parse_regulation_table
from lims.engine.sdk import Parameter, Procedure, ProcedureRegistry, discover_procedures
from lims.models import RegulationTable as TableRow
from lims.models import (
    Run,
    WorkOrderItem,
)
from lims.services.planning.context import BenchUnfitError, ItemView, PlanError, PlanningContext
from lims.services.planning.model import (
    ParameterSource,
    PlanDeviation,
    PlannedValue,
    RunPlan,
    plan_differences,
)
from lims.services.planning.resources import (
    bench_view,
    bind_roles,
    check_cylinders,
    item_view,
    load_bench_file,
    planned_item,
    quality_managers,
    register_of,
    standards_and_equipment,
)
from lims.units import UnitParseError, display_quantity

__all__ = [
    "BenchUnfitError",
    "DeviationRequest",
    "PlanError",
    "PlanRequest",
    "PlannedRun",
    "accuracy_class_of",
    "plan_run",
    "replan_run",
]

#: The shortest reason a quality manager may give for a deviation.
MIN_REASON = 5


@dataclass(frozen=True)
class DeviationRequest:
    """A value that contradicts the item's data, approved by a quality manager (who the
    caller has authenticated), with the reason printed on the certificate."""

    name: str
    value: str
    reason: str
    approved_by: str


@dataclass(frozen=True)
class PlanRequest:
    """What a technician asks for: run the item's procedure on a bench.

    ``values`` are parameters typed by the operator (only where the item is silent);
    ``materials`` choose the reference-material lot for a purpose (``acetanilide=RM-…``).
    """

    item_id: int
    bench_path: Path
    operator: str
    procedure_id: str | None = None
    values: Mapping[str, str] = field(default_factory=dict)
    materials: Mapping[str, str] = field(default_factory=dict)
    deviations: Sequence[DeviationRequest] = ()


@dataclass(frozen=True)
class PlannedRun:
    """A plan and what runs it: the procedure bound to the plan, and the bench."""

    plan: RunPlan
    procedure: Procedure
    bench: BenchConfig
    table_row_id: int | None = None


def accuracy_class_of(text: str) -> str | None:
    """The class number in a registered accuracy text (``1.0 级 class 1.0`` → ``1.0``)."""
    import re

    m = re.search(r"(?:class|等级|级别)\s*([0-9]+(?:\.[0-9]+)?)", text, re.IGNORECASE)
    if m is None:
        m = re.search(r"([0-9]+(?:\.[0-9]+)?)\s*级", text)
    return m[1] if m else None


# --------------------------------------------------------------------------- parameters


def _item_datum(view: ItemView, key: str) -> Any | None:
    if key == "range_min":
        return view.range_min
    if key == "range_max":
        return view.range_max
    if key == "span":
        return view.span
    if key == "decision_rule":
        return view.decision_rule
    if key == "accuracy_class":
        return view.spec("accuracy_class") or accuracy_class_of(view.accuracy_text)
    return view.spec(key)


def _text(value: Any) -> str:
    if hasattr(value, "units"):
        return f"{float(value.magnitude)!r} {value.units:D}"
    return str(value)


def _same(decl: Parameter, a: str, b: str) -> bool:
    try:
        pa, pb = decl.parse(a), decl.parse(b)
    except ValueError:
        return a.strip() == b.strip()
    if hasattr(pa, "units"):
        return bool(abs((pa - pb).to(pa.units).magnitude) <= 1e-9 * max(abs(pa.magnitude), 1e-12))
    return bool(pa == pb)


def _resolve(
    proc: Procedure,
    view: ItemView,
    request: PlanRequest,
    approvers: Mapping[str, bool],
) -> tuple[dict[str, PlannedValue], list[PlanDeviation]]:
    declared = {p.name: p for p in proc.parameters}
    for name in [*request.values, *(d.name for d in request.deviations)]:
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise PlanError(f"unknown parameter {name!r} for {proc.id} (known: {known})")
    values: dict[str, PlannedValue] = {}
    deviations: list[PlanDeviation] = []
    by_name = {d.name: d for d in request.deviations}
    for decl in proc.parameters:
        item_value = _item_datum(view, decl.item) if decl.item else None
        item_text = None if item_value is None else _text(item_value)
        typed = request.values.get(decl.name)
        dev = by_name.get(decl.name)
        if dev is not None:
            if not approvers.get(dev.approved_by, False):
                raise PlanError(
                    f"deviation {decl.name}: only an active quality manager may record it; "
                    f"{dev.approved_by!r} is not one"
                )
            if len(dev.reason.strip()) < MIN_REASON:
                raise PlanError(f"deviation {decl.name}: give the reason (at least 5 characters)")
            _check(decl, dev.value)
            values[decl.name] = PlannedValue(
                decl.name,
                decl.title,
                dev.value,
                ParameterSource.OVERRIDE,
                f"deviation approved by {dev.approved_by}: {dev.reason.strip()}",
            )
            deviations.append(
                PlanDeviation(
                    decl.name, item_text or "—", dev.value, dev.reason.strip(), dev.approved_by
                )
            )
            continue
        if typed is not None:
            _check(decl, typed)
        if item_text is not None:
            if typed is not None and not _same(decl, typed, item_text):
                raise PlanError(
                    f"parameter {decl.name}: the item states {_shown(decl, item_text)}; "
                    f"{typed!r} contradicts it — a quality manager must record a deviation "
                    "with a reason"
                )
            _check(decl, item_text, f"item {view.item_id} {decl.item}")
            values[decl.name] = PlannedValue(
                decl.name, decl.title, item_text, ParameterSource.ITEM, f"item {decl.item}"
            )
        elif typed is not None:
            _check(decl, typed)
            values[decl.name] = PlannedValue(
                decl.name, decl.title, typed, ParameterSource.OPERATOR, "typed by the operator"
            )
        elif decl.table is not None and decl.table in proc.table.limits:
            text = _text(proc.table.limit(decl.table))
            values[decl.name] = PlannedValue(
                decl.name, decl.title, text, ParameterSource.TABLE, f"table limits.{decl.table}"
            )
        elif decl.default is not None:
            values[decl.name] = PlannedValue(
                decl.name, decl.title, decl.default, ParameterSource.PROCEDURE, "procedure default"
            )
    return values, deviations


def _shown(decl: Parameter, text: str) -> str:
    try:
        v = decl.parse(text)
    except ValueError:
        return text
    return display_quantity(v, "g") if hasattr(v, "units") else str(v)


def _check(decl: Parameter, text: str, where: str = "") -> None:
    try:
        decl.parse(text)
    except ValueError as exc:
        raise PlanError(f"{where + ': ' if where else ''}{exc}") from None


def _build(
    session: Session,
    proc_cls: type[Procedure],
    table: RegulationTable,
    item: WorkOrderItem,
    bench: BenchConfig,
    bench_sha: str,
    request: PlanRequest,
) -> tuple[RunPlan, Procedure]:
    path = request.bench_path
    proc = proc_cls(table)
    view = item_view(item)
    seen = bench_view(bench)
    if request.materials:
        seen = replace(seen, materials={**seen.materials, **request.materials})
    register = register_of(session, bench)
    approvers = quality_managers(session, [d.approved_by for d in request.deviations])
    values, deviations = _resolve(proc, view, request, approvers)
    instruments = bind_roles(proc, bench, path)
    standards, equipment = standards_and_equipment(session, bench, path, instruments)
    check_cylinders(seen, register, path)
    ctx = PlanningContext(
        table=table,
        item=view,
        bench=seen,
        register=register,
        declared={p.name: p for p in proc.parameters},
        values=values,
    )
    try:
        proc.plan(ctx)
    except PlanError:
        raise
    except (ValueError, UnitParseError) as exc:
        raise PlanError(f"{proc.id}: {exc}") from None
    missing = [p.name for p in proc.parameters if p.required and p.name not in values]
    if missing:
        raise PlanError(
            f"{proc.id}: parameter {missing[0]!r} is not stated by item {item.id} nor by the "
            f"regulation table: register it with the item or give --param {missing[0]}=VALUE"
        )
    if not ctx.points:
        raise PlanError(f"{proc.id}: the plan has no test points")
    requested = tuple(
        [("value", k, v) for k, v in sorted(request.values.items())]
        + [("material", k, v) for k, v in sorted(request.materials.items())]
    )
    plan = RunPlan(
        procedure_id=proc.id,
        procedure_version=proc.version,
        procedure_source_sha256=proc.source_sha256(),
        kind=proc.kind,
        regulation=proc.regulation,
        table_version=table.version,
        table_sha256=table.sha256,
        table_released=table.release.released,
        table_unverified=tuple(table.unverified_keys()),
        item=planned_item(item, view),
        bench_name=bench.name,
        bench_sha256=bench_sha,
        simulated=bench.simulated,
        operator=request.operator,
        parameters=tuple(values[p.name] for p in proc.parameters if p.name in values),
        points=tuple(ctx.points),
        instruments=tuple(instruments),
        standards=tuple(standards),
        equipment=tuple(equipment),
        materials=tuple(ctx.materials),
        environment_limits=tuple(
            (name, lim.describe()) for name, lim in sorted(table.environment.items())
        ),
        deviations=tuple(deviations),
        standard_uses=tuple(ctx.standard_uses),
        requested=requested,
    )
    bound = proc_cls(table, plan)
    plan = replace(plan, steps=tuple((st.name, st.title) for st in bound.steps()))
    return plan, proc_cls(table, plan)


def plan_run(
    db: Database, request: PlanRequest, registry: ProcedureRegistry | None = None
) -> PlannedRun:
    """Plan a new run of the item's procedure on a bench (PlanError says why not).

    Nothing is written except the procedure's registration (its table and source version),
    which every run of it needs anyway.
    """
    registry = registry or discover_procedures()
    bench, bench_sha = load_bench_file(request.bench_path)
    with db.write(actor=request.operator, reason="plan a run: register procedure version") as s:
        item = s.get(WorkOrderItem, request.item_id)
        if item is None:
            raise PlanError(f"no work-order item {request.item_id}")
        procedure_id = request.procedure_id or item.procedure_id
        if item.procedure_id != procedure_id:
            raise PlanError(
                f"work-order item {item.id} asks for procedure {item.procedure_id!r}, "
                f"not {procedure_id!r}"
            )
        try:
            cls = registry.get(procedure_id)
        except KeyError as exc:
            raise PlanError(str(exc.args[0])) from None
        table = with_stored_release(s, cls(None).table)
        plan, proc = _build(s, cls, table, item, bench, bench_sha, request)
        register_procedure(s, proc)
        row = s.scalars(
            select(TableRow).where(
                TableRow.procedure_id == proc.id, TableRow.version == table.version
            )
        ).one()
        return PlannedRun(plan, proc, bench, row.id)


def replan_run(
    db: Database, run_id: int, bench_path: Path, registry: ProcedureRegistry | None = None
) -> tuple[PlannedRun, list[str]]:
    """Rebuild the plan of an interrupted run with today's records, under the table the run
    started with; returns it and what differs from the stored plan (empty: the same).

    The caller refuses the resume when anything differs.
    """
    registry = registry or discover_procedures()
    bench, bench_sha = load_bench_file(bench_path)
    with db.read() as s:
        run = s.get(Run, run_id)
        if run is None:
            raise PlanError(f"no run {run_id}")
        stored = dict(run.plan or {})
        if not stored:
            raise PlanError(
                f"run {run_id} was started by an earlier release without a run plan; "
                "it cannot be resumed under this release"
            )
        old = RunPlan.from_json(stored)
        item = run.work_order_item
        if item is None:
            raise PlanError(f"run {run_id} belongs to no work-order item")
        try:
            cls = registry.get(old.procedure_id)
        except KeyError as exc:
            raise PlanError(str(exc.args[0])) from None
        row = s.get(TableRow, run.regulation_table_id) if run.regulation_table_id else None
        if row is None:
            raise PlanError(f"run {run_id}: its regulation table is not on record")
        row_id = row.id
        table = parse_regulation_table(row.content, f"{row.procedure_id} {row.version} (stored)")
        if old.table_released and not table.release.released:
            table = replace(table, release=replace(table.release, status="released"))
        request = PlanRequest(
            item_id=item.id,
            bench_path=bench_path,
            operator=old.operator,
            procedure_id=old.procedure_id,
            values={n: v for kind, n, v in old.requested if kind == "value"},
            materials={n: v for kind, n, v in old.requested if kind == "material"},
            deviations=[
                DeviationRequest(d.name, d.value, d.reason, d.approved_by) for d in old.deviations
            ],
        )
        plan, _ = _build(s, cls, table, item, bench, bench_sha, request)
        plan = replace(plan, table_released=old.table_released)
    changes = plan_differences(old.to_json(), plan.to_json())
    return PlannedRun(plan, cls(table, plan), bench, row_id), changes
