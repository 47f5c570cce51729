"""On-site work: sites (a customer's plant and measuring point), visits, portable standards
and reference materials checked out of the lab and back in, runs marked as done on site.

A standard is checked out for a visit only if it is in service and every member's
calibration certificate is valid through the visit's last day; other equipment (a portable
environment monitor) only if its own certificate is; a reference material only if it is
usable and does not expire before. A run is marked on site only for a visit whose dates
include the run, and only when every standard, item of equipment and reference material it
used was checked out for that visit and not checked back in before the run started. Every
record is audited (actor and reason on each change).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lims.db.types import utcnow
from lims.lab_time import local_date
from lims.models import (
    Checkout,
    Customer,
    Equipment,
    EquipmentStatus,
    ExternalCertificate,
    MeasurementStandard,
    ReferenceMaterial,
    ReferenceMaterialStatus,
    Run,
    RunResource,
    RunSite,
    Site,
    SiteVisit,
    StandardMember,
    User,
    WorkOrder,
)
from lims.quality.errors import NotFoundError, QualityError
from lims.quality.permissions import Permission, require
from lims.services.lab import lab_time_zone

__all__ = [
    "CheckoutKind",
    "SiteError",
    "VisitSummary",
    "add_site",
    "check_in",
    "check_out",
    "mark_run_on_site",
    "plan_visit",
    "visit_summary",
]

CheckoutKind = str  # "standard" | "equipment" | "reference_material"
_KINDS = ("standard", "equipment", "reference_material")
_USABLE_RM = (ReferenceMaterialStatus.IN_STOCK, ReferenceMaterialStatus.IN_USE)


class SiteError(QualityError):
    """An on-site request that cannot be done as asked; nothing was changed."""


def add_site(
    session: Session, actor: User, customer: str, plant: str, point: str, address: str = ""
) -> Site:
    """Register a customer's plant and measuring point (e.g. "stack 1, sampling port A")."""
    require(actor, Permission.RUN_PROCEDURE)
    cust = session.scalars(select(Customer).where(Customer.name == customer)).first()
    if cust is None:
        raise NotFoundError(f"customer {customer!r} not found")
    if not plant.strip() or not point.strip():
        raise SiteError("a site needs the plant and the measuring point")
    site = Site(customer_id=cust.id, plant=plant.strip(), point=point.strip(), address=address)
    session.add(site)
    session.flush()
    return site


def plan_visit(
    session: Session,
    actor: User,
    site_id: int,
    starts_on: date,
    ends_on: date,
    work_order: str | None = None,
    notes: str = "",
) -> SiteVisit:
    """Plan a visit to a site for the given dates (inclusive)."""
    require(actor, Permission.RUN_PROCEDURE)
    if session.get(Site, site_id) is None:
        raise NotFoundError(f"site {site_id} not found")
    if ends_on < starts_on:
        raise SiteError(f"visit ends {ends_on} before it starts {starts_on}")
    order_id = None
    if work_order is not None:
        order_id = session.scalars(
            select(WorkOrder.id).where(WorkOrder.number == work_order)
        ).one_or_none()
        if order_id is None:
            raise NotFoundError(f"work order {work_order!r} not found")
    visit = SiteVisit(
        uid=str(uuid.uuid4()),
        site_id=site_id,
        starts_on=starts_on,
        ends_on=ends_on,
        work_order_id=order_id,
        notes=notes,
        created_by_id=actor.id,
    )
    session.add(visit)
    session.flush()
    return visit


def _visit(session: Session, visit_id: int) -> SiteVisit:
    visit = session.get(SiteVisit, visit_id)
    if visit is None:
        raise NotFoundError(f"visit {visit_id} not found")
    return visit


def _standard_validity(session: Session, std: MeasurementStandard) -> date:
    if std.status is not EquipmentStatus.ACTIVE:
        raise SiteError(f"standard {std.tag} is {std.status.value}: not checked out")
    members = list(
        session.scalars(select(StandardMember).where(StandardMember.standard_id == std.id))
    )
    if not members:
        raise SiteError(f"standard {std.tag} has no member instruments with certificates")
    valid: list[date] = []
    for m in members:
        until = session.scalar(
            select(func.max(ExternalCertificate.valid_until)).where(
                ExternalCertificate.equipment_id == m.equipment_id
            )
        )
        if until is None:
            raise SiteError(f"standard {std.tag}: a member instrument has no certificate")
        valid.append(until)
    return min(valid)


def _equipment_validity(session: Session, tag: str) -> tuple[int, date]:
    eq = session.scalars(select(Equipment).where(Equipment.asset_tag == tag)).one_or_none()
    if eq is None:
        raise NotFoundError(f"equipment {tag!r} not found")
    if eq.status is not EquipmentStatus.ACTIVE:
        raise SiteError(f"equipment {tag} is {eq.status.value}: not checked out")
    until = session.scalar(
        select(func.max(ExternalCertificate.valid_until)).where(
            ExternalCertificate.equipment_id == eq.id
        )
    )
    if until is None:
        raise SiteError(f"equipment {tag} has no calibration certificate: not checked out")
    return eq.id, until


def _resource(session: Session, kind: str, tag: str) -> tuple[int, date]:
    if kind not in _KINDS:
        raise SiteError(f"kind {kind!r}: expected standard, equipment or reference_material")
    if kind == "equipment":
        return _equipment_validity(session, tag)
    if kind == "standard":
        std = session.scalars(
            select(MeasurementStandard).where(MeasurementStandard.tag == tag)
        ).one_or_none()
        if std is None:
            raise NotFoundError(f"standard {tag!r} not found")
        return std.id, _standard_validity(session, std)
    rm = session.scalars(
        select(ReferenceMaterial).where(ReferenceMaterial.tag == tag)
    ).one_or_none()
    if rm is None:
        raise NotFoundError(f"reference material {tag!r} not found")
    if rm.status not in _USABLE_RM:
        raise SiteError(f"reference material {tag} is {rm.status.value}: not checked out")
    return rm.id, rm.expires_on


def check_out(session: Session, actor: User, visit_id: int, kind: str, tag: str) -> Checkout:
    """Record that ``tag`` leaves the lab for the visit; refused unless valid through its end."""
    require(actor, Permission.RUN_PROCEDURE)
    visit = _visit(session, visit_id)
    resource_id, valid_until = _resource(session, kind, tag)
    if valid_until < visit.ends_on:
        raise SiteError(
            f"{kind.replace('_', ' ')} {tag} is valid until {valid_until}, before the visit ends "
            f"on {visit.ends_on}: not checked out"
        )
    out = session.scalars(
        select(Checkout).where(
            Checkout.tag == tag, Checkout.kind == kind, Checkout.checked_in_at.is_(None)
        )
    ).first()
    if out is not None:
        raise SiteError(f"{tag} is checked out already (visit {out.visit_id}): check it in first")
    co = Checkout(
        visit_id=visit.id,
        kind=kind,
        resource_id=resource_id,
        tag=tag,
        valid_until=valid_until,
        checked_out_by_id=actor.id,
        checked_out_at=utcnow(),
    )
    session.add(co)
    session.flush()
    return co


def check_in(
    session: Session, actor: User, visit_id: int, tag: str, condition: str = ""
) -> Checkout:
    """Record that ``tag`` is back in the lab, with its condition on return."""
    require(actor, Permission.RUN_PROCEDURE)
    _visit(session, visit_id)
    co = session.scalars(
        select(Checkout).where(Checkout.visit_id == visit_id, Checkout.tag == tag)
    ).first()
    if co is None:
        raise NotFoundError(f"{tag!r} was not checked out for visit {visit_id}")
    if co.checked_in_at is not None:
        raise SiteError(f"{tag} was checked in already on {co.checked_in_at:%Y-%m-%d %H:%M}")
    co.checked_in_by_id = actor.id
    co.checked_in_at = utcnow()
    co.condition_in = condition
    session.flush()
    return co


def mark_run_on_site(session: Session, actor: User, run_id: int, visit_id: int) -> RunSite:
    """Mark a run as done on site during a visit (see module doc for what is checked)."""
    require(actor, Permission.RUN_PROCEDURE)
    visit = _visit(session, visit_id)
    run = session.get(Run, run_id)
    if run is None:
        raise NotFoundError(f"run {run_id} not found")
    if session.get(RunSite, run_id) is not None:
        raise SiteError(f"run {run_id} is marked on site already")
    started = run.started_at or run.created_at
    day = local_date(started, lab_time_zone(session))
    if not visit.starts_on <= day <= visit.ends_on:
        raise SiteError(
            f"run {run_id} of {day} is outside visit {visit_id} ({visit.starts_on}…{visit.ends_on})"
        )
    out = {
        (c.kind, c.tag)
        for c in session.scalars(select(Checkout).where(Checkout.visit_id == visit_id))
        if c.checked_in_at is None or _naive(c.checked_in_at) >= _naive(started)
    }
    missing = sorted(
        f"{r.kind.replace('_', ' ')} {r.tag}"
        for r in session.scalars(select(RunResource).where(RunResource.run_id == run_id))
        if (r.kind, r.tag) not in out
    )
    if missing:
        raise SiteError(
            f"run {run_id} used {', '.join(missing)}, not checked out for visit {visit_id} "
            "(or checked back in before the run)"
        )
    mark = RunSite(run_id=run_id, visit_id=visit_id)
    session.add(mark)
    session.flush()
    return mark


def _naive(moment: datetime) -> datetime:
    """UTC moments compared alike whether the backend returned them aware or naive."""
    return moment.replace(tzinfo=None) if moment.tzinfo is not None else moment


@dataclass(frozen=True)
class VisitSummary:
    """A visit, its site and what was taken along."""

    visit: SiteVisit
    site: Site
    customer: str
    checkouts: tuple[Checkout, ...]
    runs: tuple[int, ...]

    @property
    def location(self) -> dict[str, Any]:
        """The site as a certificate states it (bilingual labels)."""
        return {
            "customer / 客户": self.customer,
            "plant / 厂区": self.site.plant,
            "point / 测点": self.site.point,
            "address / 地址": self.site.address,
        }


def visit_summary(session: Session, visit_id: int) -> VisitSummary:
    """The visit with its site, check-outs and the runs marked on site."""
    visit = _visit(session, visit_id)
    site = session.get(Site, visit.site_id)
    assert site is not None
    customer = session.get(Customer, site.customer_id)
    checkouts = tuple(
        session.scalars(select(Checkout).where(Checkout.visit_id == visit_id).order_by(Checkout.id))
    )
    runs = tuple(
        session.scalars(
            select(RunSite.run_id).where(RunSite.visit_id == visit_id).order_by(RunSite.run_id)
        )
    )
    return VisitSummary(visit, site, customer.name if customer else "", checkouts, runs)
