"""The incident log: system failures, equipment failures, nonconformities and their
corrective actions (ISO/IEC 17025 7.10, 7.11.3)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.db.types import utcnow
from lims.models.quality import Incident
from lims.models.users import User
from lims.quality.errors import NotFoundError, QualityError
from lims.quality.permissions import Permission, require

CATEGORIES = (
    "system_failure",
    "equipment_failure",
    "data_integrity",
    "security",
    "nonconformity",
    "other",
)


def report_incident(
    session: Session,
    actor: User,
    *,
    category: str,
    title: str,
    description: str,
    occurred_at: datetime | None = None,
    impact: str = "",
) -> Incident:
    """Log an incident (anyone but the read-only auditor may)."""
    require(actor, Permission.REPORT_INCIDENT)
    if category not in CATEGORIES:
        raise QualityError(f"--category: {category!r} is not one of {', '.join(CATEGORIES)}")
    if not title.strip() or not description.strip():
        raise QualityError("--title and --description must not be empty")
    when = occurred_at or utcnow()
    if when.tzinfo is None:
        raise QualityError("--occurred: give a time zone (e.g. 2026-03-01T08:00+08:00)")
    incident = Incident(
        occurred_at=when,
        category=category,
        title=title.strip(),
        description=description.strip(),
        reported_by_id=actor.id,
        impact=impact,
    )
    session.add(incident)
    session.flush()
    return incident


def close_incident(session: Session, actor: User, incident_id: int, action: str) -> Incident:
    """Record the corrective action and close the incident (quality managers)."""
    require(actor, Permission.CLOSE_INCIDENT)
    if not action.strip():
        raise QualityError("--action: describe the corrective action")
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise NotFoundError(f"incident {incident_id} does not exist")
    if incident.status == "closed":
        raise QualityError(f"incident {incident_id} is closed already")
    incident.corrective_action = action.strip()
    incident.action_by_id = actor.id
    incident.action_at = utcnow()
    incident.status = "closed"
    session.flush()
    return incident


def list_incidents(session: Session, actor: User, *, open_only: bool = False) -> list[Incident]:
    """Incidents, newest first."""
    require(actor, Permission.VIEW_RECORDS)
    query = select(Incident).order_by(Incident.occurred_at.desc(), Incident.id.desc())
    if open_only:
        query = query.where(Incident.status == "open")
    return list(session.scalars(query))
