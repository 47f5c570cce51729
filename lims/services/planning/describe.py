"""A run plan described for a person: what ``lims run --plan`` prints and the desktop's
preflight shows, from one place."""

from __future__ import annotations

from dataclasses import dataclass

from lims.services.planning.service import PlannedRun
from lims.units import display_quantity

__all__ = ["ParameterRow", "PlanDescription", "describe_plan"]


@dataclass(frozen=True)
class ParameterRow:
    """One run parameter: its value as shown, where it came from (bilingual) and which
    record or key it was read from."""

    name: str
    value: str
    source: str
    origin: str

    @property
    def line(self) -> str:
        """The row as one line of text."""
        return f"{self.name} = {self.value} · {self.source} ({self.origin})"


@dataclass(frozen=True)
class PlanDescription:
    """The plan in lines: heading, parameters, and what the run uses."""

    heading: tuple[str, ...]
    parameters: tuple[ParameterRow, ...]
    resources: tuple[str, ...]


def describe_plan(planned: PlannedRun) -> PlanDescription:
    """The plan of ``planned`` as a person reads it (Chinese first, English beside)."""
    plan = planned.plan
    item = plan.item
    state = "released" if plan.table_released else "draft"
    heading = (
        f"运行计划 Run plan {plan.sha256[:16]} · {plan.procedure_id} {plan.procedure_version} "
        f"· table {plan.table_version} ({state})",
        f"委托项 item {item.item_id} ({item.work_order}): {item.description} · "
        f"{item.manufacturer} {item.model} {item.serial_number} · range {item.range_text}",
        f"工作台 bench {plan.bench_name} · operator {plan.operator}",
    )
    rows = []
    for p in plan.parameters:
        shown = p.text
        decl = next((d for d in planned.procedure.parameters if d.name == p.name), None)
        if decl is not None and decl.like is not None:
            shown = display_quantity(decl.parse(p.text), "g")
        rows.append(ParameterRow(p.name, shown, p.source.text.joined(" "), p.origin))
    resources = [
        "测试点 points: " + ", ".join(f"{pt.label.zh} / {pt.label.en}" for pt in plan.points)
    ]
    resources += [
        f"计量标准 standard {s.tag}: {s.name} ({', '.join(s.certificates)})" for s in plan.standards
    ]
    resources += [
        f"设备 equipment {e.asset_tag}: {e.description} ({e.certificate}, valid until "
        f"{e.valid_until})"
        for e in plan.equipment
    ]
    for m in plan.materials:
        port = f" port {m.port}" if m.port is not None else ""
        resources.append(
            f"标准物质 material {m.tag} ({m.purpose}{port}): {m.gbw_number} {m.certified}, "
            f"U = {m.expanded_uncertainty} (k = {m.coverage_factor:g})"
        )
    resources += [
        f"偏离 deviation {d.name}: item {d.item_value} → {d.value} ({d.approved_by}: {d.reason})"
        for d in plan.deviations
    ]
    return PlanDescription(heading, tuple(rows), tuple(resources))
