"""What waits for a user today: the counts of a role's home page (desktop, portal, CLI).

:func:`home_summary` answers with one :class:`HomeCount` per topic the user's
permissions make relevant (the permission matrix of :mod:`lims.quality.permissions`
decides; nothing here knows role names). Every count is one query.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, aliased

from lims.db import Database
from lims.models.audit import AuditEvent
from lims.models.certificates import Certificate
from lims.models.enums import (
    CertificateStatus,
    ItemStatus,
    ReferenceMaterialStatus,
    RunStatus,
    WorkOrderStatus,
)
from lims.models.equipment import IntermediateCheck, MeasurementStandard
from lims.models.materials import ReferenceMaterial
from lims.models.quality import ImpactAssessment, Incident
from lims.models.runs import Run
from lims.models.users import Authorization, User
from lims.models.work import WorkOrder, WorkOrderItem
from lims.quality.due import due_list
from lims.quality.permissions import Permission, can, require
from lims.services.work_orders import INTERRUPTED_STATES

#: Runs of the last this many days count as "my runs".
RECENT_DAYS = 7


class HomeTopic(StrEnum):
    """Something a home page counts (the vocabulary the front ends translate)."""

    MY_ITEMS = "my_items"
    MY_RUNS = "my_runs"
    INTERRUPTED_RUNS = "interrupted_runs"
    REJECTED_DRAFTS = "rejected_drafts"
    AWAITING_SIGNATURE = "awaiting_signature"
    STANDARDS_OVERDUE = "standards_overdue"
    STANDARDS_DUE = "standards_due"
    MATERIALS_EXPIRED = "materials_expired"
    MATERIALS_DUE = "materials_due"
    MATERIALS_LOW = "materials_low"
    FAILED_CHECKS = "failed_checks"
    OPEN_INCIDENTS = "open_incidents"
    OPEN_IMPACTS = "open_impacts"
    TABLES_TO_RELEASE = "tables_to_release"
    AUDIT_EVENTS = "audit_events"
    CERTIFICATES_ISSUED = "certificates_issued"
    ACTIVE_USERS = "active_users"
    LOCKED_USERS = "locked_users"


@dataclass(frozen=True)
class HomeCount:
    """How many of ``topic`` there are; ``urgent`` when a non-zero count needs action now."""

    topic: HomeTopic
    count: int
    urgent: bool = False


@dataclass(frozen=True)
class HomeSettings:
    """Due within ``warning_days``; low when under ``low_stock_percent`` % above the minimum."""

    warning_days: int = 30
    low_stock_percent: int = 50


def _count(session: Session, query: object) -> int:
    return int(session.scalar(query) or 0)  # type: ignore[call-overload]


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _technician(session: Session, user: User, today: date) -> list[HomeCount]:
    authorized = select(Authorization.procedure_id).where(
        Authorization.user_id == user.id,
        Authorization.revoked_at.is_(None),
        Authorization.valid_from <= today,
        Authorization.valid_until >= today,
    )
    items = (
        select(func.count(WorkOrderItem.id))
        .join(WorkOrder, WorkOrder.id == WorkOrderItem.work_order_id)
        .where(
            WorkOrderItem.status.in_([ItemStatus.RECEIVED, ItemStatus.IN_PROGRESS]),
            WorkOrder.status.not_in([WorkOrderStatus.DELIVERED, WorkOrderStatus.CANCELLED]),
            WorkOrderItem.procedure_id.in_(authorized),
        )
    )
    recent = _start_of(today - timedelta(days=RECENT_DAYS))
    runs = select(func.count(Run.id)).where(Run.operator_id == user.id, Run.created_at >= recent)
    interrupted = select(func.count(Run.id)).where(
        Run.operator_id == user.id, Run.status.in_(INTERRUPTED_STATES)
    )
    # A rejected draft counts until a newer certificate of the same run exists.
    other = aliased(Certificate)
    newer = (
        select(other.id)
        .where(other.run_id == Certificate.run_id, other.status != CertificateStatus.REJECTED)
        .exists()
    )
    rejected = (
        select(func.count(Certificate.id))
        .join(Run, Run.id == Certificate.run_id)
        .where(
            Run.operator_id == user.id,
            Run.status == RunStatus.COMPLETED,
            Certificate.status == CertificateStatus.REJECTED,
            ~newer,
        )
    )
    n_interrupted = _count(session, interrupted)
    n_rejected = _count(session, rejected)
    return [
        HomeCount(HomeTopic.MY_ITEMS, _count(session, items)),
        HomeCount(HomeTopic.MY_RUNS, _count(session, runs)),
        HomeCount(HomeTopic.INTERRUPTED_RUNS, n_interrupted, n_interrupted > 0),
        HomeCount(HomeTopic.REJECTED_DRAFTS, n_rejected, n_rejected > 0),
    ]


def _standards(session: Session, user: User, today: date, warn: int) -> list[HomeCount]:
    due = due_list(session, user, today, within_days=warn)
    std_kinds = {"standard_certificate", "intermediate_check", "no_certificate"}
    overdue = {
        i.tag
        for i in due
        if i.kind in std_kinds and (i.days_left < 0 or i.kind == "no_certificate")
    }
    soon = {i.tag for i in due if i.kind in std_kinds} - overdue
    # The latest check of each standard and quantity decides whether it failed.
    latest = (
        select(
            IntermediateCheck.standard_id,
            IntermediateCheck.quantity,
            func.max(IntermediateCheck.id).label("last_id"),
        )
        .group_by(IntermediateCheck.standard_id, IntermediateCheck.quantity)
        .subquery()
    )
    failed = (
        select(func.count(IntermediateCheck.id))
        .join(latest, latest.c.last_id == IntermediateCheck.id)
        .join(MeasurementStandard, MeasurementStandard.id == IntermediateCheck.standard_id)
        .where(IntermediateCheck.passed.is_(False))
    )
    n_failed = _count(session, failed)
    return [
        HomeCount(HomeTopic.STANDARDS_OVERDUE, len(overdue), bool(overdue)),
        HomeCount(HomeTopic.STANDARDS_DUE, len(soon)),
        HomeCount(HomeTopic.FAILED_CHECKS, n_failed, n_failed > 0),
    ]


def _materials(session: Session, today: date, cfg: HomeSettings) -> list[HomeCount]:
    usable = ReferenceMaterial.status.in_(
        [ReferenceMaterialStatus.IN_STOCK, ReferenceMaterialStatus.IN_USE]
    )
    expired = select(func.count(ReferenceMaterial.id)).where(
        usable, ReferenceMaterial.expires_on < today
    )
    due = select(func.count(ReferenceMaterial.id)).where(
        usable,
        ReferenceMaterial.expires_on >= today,
        ReferenceMaterial.expires_on <= today + timedelta(days=cfg.warning_days),
    )
    low = select(func.count(ReferenceMaterial.id)).where(
        usable,
        and_(ReferenceMaterial.remaining.is_not(None), ReferenceMaterial.minimum.is_not(None)),
        ReferenceMaterial.remaining < ReferenceMaterial.minimum * (1 + cfg.low_stock_percent / 100),
    )
    n_expired, n_low = _count(session, expired), _count(session, low)
    return [
        HomeCount(HomeTopic.MATERIALS_EXPIRED, n_expired, n_expired > 0),
        HomeCount(HomeTopic.MATERIALS_DUE, _count(session, due)),
        HomeCount(HomeTopic.MATERIALS_LOW, n_low, n_low > 0),
    ]


def home_summary(
    db: Database, user: User, today: date, cfg: HomeSettings | None = None
) -> list[HomeCount]:
    """The counts of ``user``'s home page, in the order they are shown."""
    require(user, Permission.VIEW_RECORDS)
    cfg = cfg or HomeSettings()
    out: list[HomeCount] = []
    with db.read() as s:
        if can(user, Permission.RUN_PROCEDURE, today):
            out += _technician(s, user, today)
        signs = (Permission.SIGN_PERFORMED, Permission.SIGN_REVIEWED, Permission.SIGN_APPROVED)
        if any(can(user, p, today) for p in signs):
            from lims.services.certificates import pending_for

            waiting = len(pending_for(db, user))
            out.append(HomeCount(HomeTopic.AWAITING_SIGNATURE, waiting, waiting > 0))
        if can(user, Permission.MANAGE_STANDARDS, today):
            out += _standards(s, user, today, cfg.warning_days)
        if can(user, Permission.MANAGE_REFERENCE_MATERIALS, today):
            out += _materials(s, today, cfg)
        if can(user, Permission.CLOSE_INCIDENT, today):
            n = _count(s, select(func.count(Incident.id)).where(Incident.status == "open"))
            out.append(HomeCount(HomeTopic.OPEN_INCIDENTS, n, n > 0))
        if can(user, Permission.RECORD_FINDING, today):
            n = _count(
                s,
                select(func.count(ImpactAssessment.id)).where(ImpactAssessment.status == "open"),
            )
            out.append(HomeCount(HomeTopic.OPEN_IMPACTS, n, n > 0))
        if can(user, Permission.REVIEW_AUDIT, today):
            week = _start_of(today - timedelta(days=RECENT_DAYS))
            out.append(
                HomeCount(
                    HomeTopic.AUDIT_EVENTS,
                    _count(
                        s, select(func.count(AuditEvent.id)).where(AuditEvent.occurred_at >= week)
                    ),
                )
            )
            month = _start_of(today - timedelta(days=30))
            issued = select(func.count(Certificate.id)).where(
                Certificate.issued_at.is_not(None), Certificate.issued_at >= month
            )
            out.append(HomeCount(HomeTopic.CERTIFICATES_ISSUED, _count(s, issued)))
        if can(user, Permission.MANAGE_USERS, today):
            active = select(func.count(User.id)).where(User.active.is_(True))
            locked = select(func.count(User.id)).where(User.locked_at.is_not(None))
            n_locked = _count(s, locked)
            out.append(HomeCount(HomeTopic.ACTIVE_USERS, _count(s, active)))
            out.append(HomeCount(HomeTopic.LOCKED_USERS, n_locked, n_locked > 0))
    if can(user, Permission.RELEASE_REGULATION_TABLE, today):
        from lims.services.regulation_tables import list_tables

        drafts = sum(1 for v in list_tables(db, user) if v.status == "draft")
        out.append(HomeCount(HomeTopic.TABLES_TO_RELEASE, drafts, drafts > 0))
    return out
