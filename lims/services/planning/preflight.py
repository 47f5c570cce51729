"""Preflight: the checklist a technician sees before Start, the same in the CLI and the app.

The bench fitting the procedure is part of planning (a bench that does not fit has no
plan). Preflight adds what needs the lab's records of today and the instruments
themselves: the instrument under test is the item (model and serial from ``identify()``),
every standard, piece of equipment and reference material of the plan is usable, the
operator is authorized, the table may be used, the environment is inside its limits.
A failed *fit* line (:attr:`CheckLine.blocks`) means no run is created at all; the rule
lines are checked again by the engine, which refuses the run (and records why, for a
quality manager's override).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from drivers.errors import InstrumentError
from lims.db import Database
from lims.engine.rules import (
    check_environment,
    check_equipment,
    check_operator,
    check_reference_material,
    check_regulation_table,
    check_standard,
    read_environment,
)
from lims.services.planning.service import PlannedRun
from lims.units import display_quantity

__all__ = ["CheckLine", "identity_line", "preflight"]


@dataclass(frozen=True)
class CheckLine:
    """One line of the preflight checklist."""

    what: str
    ok: bool
    reason: str = ""
    blocks: bool = False
    """A failure of the bench or instrument to fit the item: no run may be created."""


def _norm(text: str) -> str:
    return "".join(text.split()).upper()


def identity_line(planned: PlannedRun, opened: Mapping[str, Any] | None) -> CheckLine:
    """The instrument under test against the item (model and serial)."""
    plan = planned.plan
    item = plan.item
    what = f"被检仪器 instrument under test {item.model} {item.serial_number}"
    iut = next((i for i in plan.instruments if i.under_test), None)
    if iut is None:
        return CheckLine(
            what, True, "程序未声明被检仪器 the procedure names no instrument under test"
        )
    cfg = planned.bench.instruments[iut.bench_instrument]
    model = serial = None
    if cfg.has_driver:
        if opened is None or iut.bench_instrument not in opened:
            return CheckLine(what, True, "未连接，未核对 not connected: not checked yet")
        try:
            ident = opened[iut.bench_instrument].identify()
        except InstrumentError as exc:
            return CheckLine(what, False, f"无法读取身份 identity not readable: {exc}", True)
        model, serial = ident.model, ident.serial
    else:
        model = cfg.declared.model if cfg.declared is not None else None
        serial = cfg.declared.serial if cfg.declared is not None else None
        if not model and not serial:
            return CheckLine(
                what, True, "无通信接口，请在准备步骤核对铭牌 no interface: check the nameplate"
            )
    differs = []
    if model and _norm(model) != _norm(item.model):
        differs.append(f"model {model} ≠ item {item.model}")
    if serial and _norm(serial) != _norm(item.serial_number):
        differs.append(f"serial {serial} ≠ item {item.serial_number}")
    if differs:
        return CheckLine(
            what,
            False,
            "工作台上的仪器不是委托项 the instrument on the bench is not the item: "
            + "; ".join(differs),
            True,
        )
    return CheckLine(what, True)


def _environment_line(planned: PlannedRun, opened: Mapping[str, Any] | None) -> CheckLine:
    what = "环境条件 environment"
    limits = planned.procedure.table.environment
    if not limits:
        return CheckLine(f"{what}: 规程无要求 no limits in the table", True)
    monitor = next(
        (i.bench_instrument for i in planned.plan.instruments if i.role == "environment_monitor"),
        None,
    )
    if monitor is None:
        return CheckLine(what, False, "无环境监测仪 no environment monitor is bound")
    if opened is None or monitor not in opened:
        return CheckLine(what, True, "未连接，开始时检查 not connected: checked at start")
    try:
        values = read_environment(opened[monitor], limits)
    except Exception as exc:  # shown on the checklist: the run cannot start without it
        return CheckLine(what, False, f"环境读取失败 environment not readable: {exc}")
    fails = check_environment(values, limits)
    shown = ", ".join(
        f"{k} {display_quantity(v, '.3g')}" for k, v in values.items() if v is not None
    )
    return CheckLine(f"{what} {shown}", not fails, "; ".join(f.reason for f in fails))


def preflight(
    db: Database, planned: PlannedRun, today: date, opened: Mapping[str, Any] | None = None
) -> list[CheckLine]:
    """The checklist for a planned run; ``opened`` are the bench's connected instruments
    by bench name (None: the lines that need them say so)."""
    plan = planned.plan
    lines = [
        CheckLine(
            f"工作台 bench {plan.bench_name}: 适用 fits {plan.procedure_id}",
            True,
        ),
        identity_line(planned, opened),
    ]
    with db.read() as s:
        for std in plan.standards:
            fails = check_standard(s, std.tag, today, plan.uses_for(std.tag))
            lines.append(
                CheckLine(
                    f"计量标准 standard {std.tag}", not fails, "; ".join(f.reason for f in fails)
                )
            )
        for eq in plan.equipment:
            fails = check_equipment(s, eq.asset_tag, today)
            lines.append(
                CheckLine(
                    f"设备 equipment {eq.asset_tag}", not fails, "; ".join(f.reason for f in fails)
                )
            )
        for tag in plan.material_tags:
            fails = check_reference_material(s, tag, today)
            lines.append(
                CheckLine(
                    f"标准物质 reference material {tag}",
                    not fails,
                    "; ".join(f.reason for f in fails),
                )
            )
        fails = check_operator(s, plan.operator, plan.procedure_id, today)
        lines.append(
            CheckLine(
                f"授权 authorization {plan.operator}", not fails, "; ".join(f.reason for f in fails)
            )
        )
    fails = check_regulation_table(
        planned.procedure.table, simulated=plan.simulated, practice=False
    )
    lines.append(
        CheckLine(
            f"规程表 regulation table {plan.table_version}",
            not fails,
            "; ".join(f.reason for f in fails),
        )
    )
    lines.append(_environment_line(planned, opened))
    return lines
