"""Periodic review of the audit trail (EU GMP Annex 11 §9): filter, export and summarize."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from lims.audit import CHANGE_ACTIONS, canonical_json
from lims.models.audit import AuditEvent
from lims.models.users import User
from lims.quality.errors import QualityError
from lims.quality.permissions import Permission, require

CSV_COLUMNS = (
    "id",
    "occurred_at",
    "actor",
    "action",
    "table_name",
    "record_id",
    "changes",
    "reason",
    "sha256",
)


def parse_record(text: str) -> tuple[str, str]:
    """``TABLE:ID`` → (table, id)."""
    table, sep, key = text.partition(":")
    if not sep or not table or not key:
        raise QualityError(f"--record: {text!r} is not TABLE:ID (e.g. certificates:12)")
    return table, key


def find_events(
    session: Session,
    actor: User,
    *,
    record: tuple[str, str] | None = None,
    user: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int | None = None,
) -> list[AuditEvent]:
    """Audit events matching every filter given, oldest first (``end`` exclusive)."""
    require(actor, Permission.REVIEW_AUDIT)
    if start is not None and end is not None and end <= start:
        raise QualityError("--to must be after --from")
    query = select(AuditEvent).order_by(AuditEvent.id)
    if record is not None:
        query = query.where(AuditEvent.table_name == record[0], AuditEvent.record_id == record[1])
    if user is not None:
        query = query.where(AuditEvent.actor == user)
    if start is not None:
        query = query.where(AuditEvent.occurred_at >= start)
    if end is not None:
        query = query.where(AuditEvent.occurred_at < end)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def write_csv(events: list[AuditEvent], path: Path) -> int:
    """Write events as UTF-8 CSV (with BOM, so spreadsheet programs read Chinese); returns rows."""
    try:
        with path.open("w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(CSV_COLUMNS)
            for ev in events:
                writer.writerow(
                    [
                        ev.id,
                        ev.occurred_at.isoformat(),
                        ev.actor,
                        ev.action,
                        ev.table_name,
                        ev.record_id,
                        canonical_json(ev.changes or ev.state),
                        ev.reason or "",
                        ev.sha256,
                    ]
                )
    except OSError as exc:
        raise QualityError(f"{path}: cannot write CSV: {exc.strerror}") from exc
    return len(events)


@dataclass(frozen=True)
class AuditSummary:
    """Counts of the audit events of a period, for the periodic review (Annex 11 §9)."""

    start: datetime | None
    end: datetime | None
    events: int
    #: Changes of records (create, update, delete) in the period.
    changes: int
    #: Of those, how many carry no reason.
    changes_without_reason: int
    by_table: list[tuple[str, int]]
    by_actor: list[tuple[str, int]]
    by_reason: list[tuple[str, int]]


#: What the summary prints for events stored without a reason.
NO_REASON = "(no reason)"


def summarize_events(
    session: Session, actor: User, *, start: datetime | None = None, end: datetime | None = None
) -> AuditSummary:
    """Counts of events by table, actor and reason between ``start`` and ``end`` (exclusive)."""
    require(actor, Permission.REVIEW_AUDIT)
    if start is not None and end is not None and end <= start:
        raise QualityError("--to must be after --from")
    period = []
    if start is not None:
        period.append(AuditEvent.occurred_at >= start)
    if end is not None:
        period.append(AuditEvent.occurred_at < end)

    def grouped(column: Any) -> list[tuple[str, int]]:
        rows = session.execute(
            select(column, func.count())
            .where(*period)
            .group_by(column)
            .order_by(func.count().desc(), column)
        ).all()
        return [(str(key) if key else NO_REASON, int(n)) for key, n in rows]

    is_change = AuditEvent.action.in_(sorted(CHANGE_ACTIONS))
    no_reason = or_(AuditEvent.reason.is_(None), func.trim(AuditEvent.reason) == "")
    count = select(func.count()).select_from(AuditEvent).where(*period)
    return AuditSummary(
        start=start,
        end=end,
        events=int(session.scalar(count) or 0),
        changes=int(session.scalar(count.where(is_change)) or 0),
        changes_without_reason=int(session.scalar(count.where(is_change, no_reason)) or 0),
        by_table=grouped(AuditEvent.table_name),
        by_actor=grouped(AuditEvent.actor),
        by_reason=grouped(AuditEvent.reason),
    )
