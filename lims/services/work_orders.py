"""Receiving customers' instruments into work orders (委托单), and the status board.

Input is checked field by field first (:func:`check_receipt`, no database needed),
so a form can show every problem beside its field; :func:`receive_instruments`
checks again and saves nothing unless everything is valid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lims.models.enums import ItemStatus, RunStatus, ServiceKind, WorkOrderStatus
from lims.models.equipment import Equipment
from lims.models.lab import Contact, Customer
from lims.models.runs import Run
from lims.models.users import User
from lims.models.work import Procedure, WorkOrder, WorkOrderItem
from lims.quality.permissions import Permission, require
from lims.services.work_order_status import OPEN_STATES

#: Receiving instruments is bench work: the permission matrix grants it with running.
RECEIVE_PERMISSION = Permission.RUN_PROCEDURE

_NUMBER_RE = re.compile(r"^WO(\d{4})-(\d{4,})$")


@dataclass(frozen=True)
class FieldProblem:
    """One refused field: ``field`` names it (``items[0].serial_number``), ``message`` says why."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class WorkOrderError(ValueError):
    """Refused input or state; ``problems`` lists every refused field."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class InstrumentInput:
    """One instrument received: what it is and the service asked for.

    ``range_min``/``range_max`` are pint Quantities of one dimension (or both None).
    """

    kind: str
    description: str
    manufacturer: str
    model: str
    serial_number: str
    service: ServiceKind
    procedure_id: str
    range_min: Any = None
    range_max: Any = None
    accuracy: str = ""
    condition_on_receipt: str = ""
    decision_rule: str | None = None
    """A calibration's statement of conformity, when the customer asks for one: its rule."""
    budget_annex: bool = False
    """The customer asks for the uncertainty budgets as an annex to the certificate."""


@dataclass(frozen=True)
class ReceiptInput:
    """A customer's delivery: who, when, and the instruments."""

    customer_name: str
    received_on: date
    due_on: date | None
    items: tuple[InstrumentInput, ...]
    contact_name: str = ""
    contact_phone: str = ""
    customer_address: str = ""
    notes: str = ""


@dataclass(frozen=True)
class ItemRow:
    """One work-order item on the status board."""

    item_id: int
    description: str
    model: str
    serial_number: str
    service: ServiceKind
    procedure_id: str
    status: ItemStatus


@dataclass(frozen=True)
class WorkOrderRow:
    """One work order on the status board."""

    number: str
    customer: str
    received_on: date
    due_on: date | None
    status: WorkOrderStatus
    items: list[ItemRow] = field(default_factory=list)


def _required(problems: list[FieldProblem], name: str, value: str, label: str) -> None:
    if not value.strip():
        problems.append(FieldProblem(name, f"{label} 必填 is required"))


def check_instrument(item: InstrumentInput, prefix: str = "") -> list[FieldProblem]:
    """Every problem of one instrument's fields (empty when it may be received)."""
    p: list[FieldProblem] = []
    _required(p, f"{prefix}kind", item.kind, "仪器类别 kind")
    _required(p, f"{prefix}description", item.description, "名称 description")
    _required(p, f"{prefix}manufacturer", item.manufacturer, "制造商 manufacturer")
    _required(p, f"{prefix}model", item.model, "型号 model")
    _required(p, f"{prefix}serial_number", item.serial_number, "出厂编号 serial number")
    _required(p, f"{prefix}procedure_id", item.procedure_id, "规程 procedure")
    lo, hi = item.range_min, item.range_max
    if (lo is None) != (hi is None):
        p.append(
            FieldProblem(f"{prefix}range", "测量范围 range needs both a minimum and a maximum")
        )
    elif lo is not None and hi is not None:
        if not (hasattr(lo, "units") and hasattr(hi, "units")):
            p.append(FieldProblem(f"{prefix}range", "测量范围 range must be quantities with units"))
        elif lo.dimensionality != hi.dimensionality:
            p.append(
                FieldProblem(
                    f"{prefix}range_max",
                    f"单位不一致 unit of {hi:~P} does not match the minimum {lo:~P}",
                )
            )
        elif hi.to(lo.units).magnitude <= lo.magnitude:
            p.append(
                FieldProblem(
                    f"{prefix}range_max", "上限须大于下限 the maximum must exceed the minimum"
                )
            )
    return p


def check_receipt(data: ReceiptInput, today: date) -> list[FieldProblem]:
    """Every problem of a receipt's fields (empty when it may be saved)."""
    p: list[FieldProblem] = []
    _required(p, "customer_name", data.customer_name, "委托方 customer")
    if data.received_on > today:
        p.append(FieldProblem("received_on", "收样日期不能在将来 received date is in the future"))
    if data.due_on is not None and data.due_on < data.received_on:
        p.append(
            FieldProblem("due_on", "要求完成日期早于收样日期 due date is before the received date")
        )
    if not data.items:
        p.append(FieldProblem("items", "至少一台仪器 at least one instrument is required"))
    seen: set[tuple[str, str, str]] = set()
    for i, item in enumerate(data.items):
        p.extend(check_instrument(item, prefix=f"items[{i}]."))
        key = (item.manufacturer.strip(), item.model.strip(), item.serial_number.strip())
        if key in seen:
            p.append(
                FieldProblem(
                    f"items[{i}].serial_number",
                    f"重复 the same instrument {' '.join(key)} is listed twice",
                )
            )
        seen.add(key)
    return p


def next_work_order_number(session: Session, year: int) -> str:
    """The next free work-order number of ``year`` (``WO2026-0001``, ...)."""
    # the longest, then highest numbers first: a few rows however many orders the year has
    numbers = session.scalars(
        select(WorkOrder.number)
        .where(WorkOrder.number.like(f"WO{year}-%"))
        .order_by(func.length(WorkOrder.number).desc(), WorkOrder.number.desc())
        .limit(20)
    ).all()
    last = 0
    for n in numbers:
        m = _NUMBER_RE.match(n)
        if m and int(m.group(1)) == year:
            last = max(last, int(m.group(2)))
    return f"WO{year}-{last + 1:04d}"


def _customer(session: Session, data: ReceiptInput) -> Customer:
    name = data.customer_name.strip()
    customer = session.scalars(select(Customer).where(Customer.name == name)).first()
    if customer is None:
        customer = Customer(name=name, address=data.customer_address.strip())
        session.add(customer)
        session.flush()
    return customer


def _equipment(session: Session, customer: Customer, item: InstrumentInput, i: int) -> Equipment:
    found = session.scalars(
        select(Equipment).where(
            Equipment.manufacturer == item.manufacturer.strip(),
            Equipment.model == item.model.strip(),
            Equipment.serial_number == item.serial_number.strip(),
        )
    ).first()
    if found is not None:
        if found.owner_customer_id != customer.id:
            raise WorkOrderError(
                [
                    FieldProblem(
                        f"items[{i}].serial_number",
                        f"仪器已登记在其他所有者名下 instrument {item.model} "
                        f"{item.serial_number} is registered to another owner",
                    )
                ]
            )
        return found
    lo = hi = None
    unit: str | None = None
    if item.range_min is not None and item.range_max is not None:
        from lims.units import to_storage  # pint: only when a range is stored

        lo, unit = to_storage(item.range_min)
        hi = float(item.range_max.to(item.range_min.units).magnitude)
    eq = Equipment(
        kind=item.kind.strip(),
        description=item.description.strip(),
        manufacturer=item.manufacturer.strip(),
        model=item.model.strip(),
        serial_number=item.serial_number.strip(),
        range_min=lo,
        range_max=hi,
        range_unit=unit,
        accuracy=item.accuracy.strip(),
        owner_customer_id=customer.id,
    )
    session.add(eq)
    session.flush()
    return eq


def receive_instruments(
    session: Session, actor: User, data: ReceiptInput, today: date
) -> WorkOrderRow:
    """Register a work order with its instruments; the customer is created when new.

    Raises :class:`WorkOrderError` (nothing is written) for any refused field.
    """
    require(actor, RECEIVE_PERMISSION)
    problems = check_receipt(data, today)
    if problems:
        raise WorkOrderError(problems)
    customer = _customer(session, data)
    if data.contact_name.strip():
        session.add(
            Contact(
                customer_id=customer.id,
                name=data.contact_name.strip(),
                phone=data.contact_phone.strip(),
            )
        )
        session.flush()
    wo = WorkOrder(
        number=next_work_order_number(session, data.received_on.year),
        customer_id=customer.id,
        received_on=data.received_on,
        due_on=data.due_on,
        notes=data.notes.strip(),
    )
    session.add(wo)
    session.flush()
    rows: list[ItemRow] = []
    for i, item in enumerate(data.items):
        eq = _equipment(session, customer, item, i)
        woi = WorkOrderItem(
            work_order_id=wo.id,
            equipment_id=eq.id,
            service=item.service,
            procedure_id=item.procedure_id.strip(),
            decision_rule=item.decision_rule,
            budget_annex=item.budget_annex,
            condition_on_receipt=item.condition_on_receipt.strip(),
            due_on=data.due_on,
        )
        session.add(woi)
        session.flush()
        rows.append(
            ItemRow(
                woi.id,
                eq.description,
                eq.model,
                eq.serial_number,
                woi.service,
                woi.procedure_id,
                ItemStatus.RECEIVED,
            )
        )
    return WorkOrderRow(
        wo.number, customer.name, wo.received_on, wo.due_on, WorkOrderStatus.RECEIVED, rows
    )


def status_board(
    session: Session, actor: User, *, include_closed: bool = False
) -> list[WorkOrderRow]:
    """Every open work order with its items, newest received first (all states on request),
    in one query; the board pages with :func:`lims.services.work_order_board.board_page`."""
    from lims.services.work_order_board import BoardFilter, board_page

    states = () if include_closed else OPEN_STATES
    return board_page(session, actor, BoardFilter(states=states), limit=None).rows


def customer_names(session: Session, actor: User) -> list[str]:
    """Names of the lab's customers, alphabetical."""
    require(actor, Permission.VIEW_RECORDS)
    return list(session.scalars(select(Customer.name).order_by(Customer.name)))


def procedure_choices(session: Session, actor: User) -> list[str]:
    """Procedure ids to offer: those the lab registered plus those already used by work orders."""
    require(actor, Permission.VIEW_RECORDS)
    ids = set(session.scalars(select(Procedure.id)))
    ids |= set(session.scalars(select(WorkOrderItem.procedure_id).distinct()))
    return sorted(ids)


def parse_range_bound(text: str, where: str) -> Any:
    """A range bound typed in a form (``"2000 µmol/mol"``) as a Quantity; the unit is required.

    Raises :class:`WorkOrderError` naming ``where`` when the text is not a quantity.
    """
    from lims.units import UnitParseError, parse_quantity, ureg

    try:
        q = parse_quantity(text)
    except UnitParseError as exc:
        raise WorkOrderError([FieldProblem(where, str(exc))]) from exc
    if q.units == ureg.dimensionless:
        raise WorkOrderError(
            [FieldProblem(where, f"缺少单位 missing unit in {text!r}: type e.g. '2000 µmol/mol'")]
        )
    return q


#: Run states that mean the run was interrupted (its process ended while it ran).
INTERRUPTED_STATES = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.PAUSED)


@dataclass(frozen=True)
class InterruptedRun:
    """A run of one of the operator's work-order items that never reached a final state."""

    run_id: int
    item_id: int | None
    procedure_id: str
    status: RunStatus
    bench_name: str
    last_completed_step: str | None
    parameters: dict[str, str]
    standards: list[str]
    materials: list[str]


def interrupted_runs(session: Session, actor: User) -> list[InterruptedRun]:
    """The actor's runs left queued, running or paused: to offer for recovery at start-up.

    Call it when no run of the actor is going on in this process.
    """
    require(actor, Permission.RUN_PROCEDURE)
    out: list[InterruptedRun] = []
    for run in session.scalars(
        select(Run)
        .where(Run.operator_id == actor.id, Run.status.in_(INTERRUPTED_STATES))
        .order_by(Run.id)
    ):
        request = dict(run.provenance.get("request", {}))
        out.append(
            InterruptedRun(
                run.id,
                run.work_order_item_id,
                run.procedure_version.procedure_id,
                run.status,
                run.bench_name,
                run.last_completed_step,
                {str(k): str(v) for k, v in run.parameters.items()},
                [str(t) for t in request.get("standards", [])],
                [str(t) for t in request.get("reference_materials", [])],
            )
        )
    return out
