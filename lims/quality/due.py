"""Due lists: the lab's standards (certificates, intermediate checks) and reference
materials coming due, and the customer recall list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lims.models.certificates import Certificate
from lims.models.enums import CertificateStatus, EquipmentStatus, ReferenceMaterialStatus
from lims.models.equipment import Equipment, IntermediateCheck, MeasurementStandard
from lims.models.lab import Customer
from lims.models.materials import ReferenceMaterial
from lims.models.runs import Run
from lims.models.users import User
from lims.models.work import WorkOrder, WorkOrderItem
from lims.quality.errors import QualityError
from lims.quality.permissions import Permission, require
from lims.quality.standards import current_certificate


@dataclass(frozen=True)
class DueItem:
    """Something of the lab's that falls due on ``due_on`` (overdue when negative days)."""

    kind: str  # standard_certificate, intermediate_check, no_certificate, reference_material
    tag: str
    what: str
    due_on: date
    days_left: int


def due_list(session: Session, actor: User, today: date, within_days: int = 30) -> list[DueItem]:
    """Everything due on or before ``today + within_days`` (overdue items included)."""
    require(actor, Permission.VIEW_RECORDS)
    if within_days < 0:
        raise QualityError("--within: the horizon cannot be negative")
    horizon = today + timedelta(days=within_days)
    items: list[DueItem] = []

    def add(kind: str, tag: str, what: str, due: date) -> None:
        if due <= horizon:
            items.append(DueItem(kind, tag, what, due, (due - today).days))

    for std in session.scalars(
        select(MeasurementStandard)
        .where(MeasurementStandard.status != EquipmentStatus.RETIRED)
        .order_by(MeasurementStandard.tag)
    ):
        for member in std.members:
            eq = member.equipment
            label = eq.asset_tag or f"{eq.model} {eq.serial_number}"
            cert = current_certificate(session, eq.id)
            if cert is None:
                items.append(
                    DueItem("no_certificate", std.tag, f"{label}: no certificate", today, 0)
                )
            else:
                add(
                    "standard_certificate",
                    std.tag,
                    f"{label}: certificate {cert.number}",
                    cert.valid_until,
                )
        last = session.scalar(
            select(func.max(IntermediateCheck.performed_on)).where(
                IntermediateCheck.standard_id == std.id
            )
        )
        base = last if last is not None else std.created_at.date()
        add(
            "intermediate_check",
            std.tag,
            "期间核查 intermediate check",
            base + timedelta(days=std.intermediate_check_interval_days),
        )
    for rm in session.scalars(
        select(ReferenceMaterial)
        .where(
            ReferenceMaterial.status.in_(
                [ReferenceMaterialStatus.IN_STOCK, ReferenceMaterialStatus.IN_USE]
            )
        )
        .order_by(ReferenceMaterial.tag)
    ):
        add("reference_material", rm.tag, f"{rm.gbw_number} {rm.name} expires", rm.expires_on)
    items.sort(key=lambda i: (i.due_on, i.kind, i.tag))
    return items


@dataclass(frozen=True)
class RecallItem:
    """A customer's instrument whose verification expires soon."""

    customer: str
    equipment: str
    serial_number: str
    certificate_number: str
    valid_until: date
    days_left: int


def recall_list(
    session: Session, actor: User, today: date, within_days: int = 30
) -> list[RecallItem]:
    """Customers' instruments whose latest issued certificate's 有效期至 falls within the horizon.

    Only the newest issued certificate per instrument counts (a later
    verification supersedes the earlier validity). Already expired ones are
    listed too, with negative ``days_left``.
    """
    require(actor, Permission.VIEW_RECORDS)
    return _recall(session, today, within_days, None)


def customer_recall_list(
    session: Session, customer_id: int, today: date, within_days: int = 30
) -> list[RecallItem]:
    """:func:`recall_list` of one customer's instruments (its certificates only).

    No permission check: the caller has already scoped the request to this
    customer (the portal, through :mod:`lims.services.customer_certificates`).
    """
    return _recall(session, today, within_days, customer_id)


def _recall(
    session: Session, today: date, within_days: int, customer_id: int | None
) -> list[RecallItem]:
    if within_days < 0:
        raise QualityError("--within: the horizon cannot be negative")
    horizon = today + timedelta(days=within_days)
    scope = [] if customer_id is None else [Certificate.customer_id == customer_id]
    latest = (
        select(
            WorkOrderItem.equipment_id.label("equipment_id"),
            func.max(Certificate.valid_until).label("valid_until"),
        )
        .join(Run, Run.id == Certificate.run_id)
        .join(WorkOrderItem, WorkOrderItem.id == Run.work_order_item_id)
        .where(
            Certificate.status == CertificateStatus.ISSUED,
            Certificate.valid_until.is_not(None),
            *scope,
        )
        .group_by(WorkOrderItem.equipment_id)
        .subquery()
    )
    rows = session.execute(
        select(Customer.name, Equipment, Certificate.number, Certificate.valid_until)
        .select_from(Certificate)
        .join(Run, Run.id == Certificate.run_id)
        .join(WorkOrderItem, WorkOrderItem.id == Run.work_order_item_id)
        .join(
            latest,
            (latest.c.equipment_id == WorkOrderItem.equipment_id)
            & (latest.c.valid_until == Certificate.valid_until),
        )
        .join(Equipment, Equipment.id == WorkOrderItem.equipment_id)
        .join(WorkOrder, WorkOrder.id == WorkOrderItem.work_order_id)
        .join(Customer, Customer.id == WorkOrder.customer_id)
        .where(
            Certificate.status == CertificateStatus.ISSUED,
            latest.c.valid_until <= horizon,
            *scope,
        )
        .order_by(latest.c.valid_until, Customer.name, Equipment.serial_number)
    )
    seen: set[int] = set()
    out: list[RecallItem] = []
    for name, eq, number, valid_until in rows:
        if eq.id in seen or valid_until is None:
            continue
        seen.add(eq.id)
        out.append(
            RecallItem(
                name,
                f"{eq.manufacturer} {eq.model}",
                eq.serial_number,
                number,
                valid_until,
                (valid_until - today).days,
            )
        )
    return out
