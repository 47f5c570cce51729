"""Reverse traceability: which runs and certificates used a standard or reference
material, directly or through a standard calibrated in-house with it; and the
impact record opened by an out-of-tolerance finding."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lims.db.types import utcnow
from lims.models.certificates import Certificate
from lims.models.enums import EquipmentStatus
from lims.models.equipment import (
    Equipment,
    ExternalCertificate,
    MeasurementStandard,
    StandardMember,
)
from lims.models.materials import ReferenceMaterial
from lims.models.quality import ImpactAssessment
from lims.models.runs import Run, RunResource
from lims.models.users import User
from lims.quality.errors import NotFoundError, QualityError
from lims.quality.permissions import Permission, require


@dataclass(frozen=True)
class TracedRun:
    """A run that used the traced resource; ``via`` is the chain of tags from it."""

    run_id: int
    started_at: datetime
    via: tuple[str, ...]


@dataclass(frozen=True)
class TracedCertificate:
    """A certificate issued from a traced run."""

    certificate_id: int
    number: str
    status: str
    run_id: int
    via: tuple[str, ...]


@dataclass
class TraceResult:
    """Everything that used a resource, in run and certificate id order."""

    tag: str
    since: date | None
    runs: list[TracedRun] = field(default_factory=list)
    certificates: list[TracedCertificate] = field(default_factory=list)


def _start(d: date) -> datetime:
    return datetime.combine(d, time.min, tzinfo=UTC)


def resource_kind(session: Session, tag: str) -> str:
    """``standard``, ``reference_material`` or ``equipment`` (a standard's member, by its
    asset tag) for a known tag, else :class:`NotFoundError`."""
    if session.scalar(select(MeasurementStandard.id).where(MeasurementStandard.tag == tag)):
        return "standard"
    if session.scalar(select(ReferenceMaterial.id).where(ReferenceMaterial.tag == tag)):
        return "reference_material"
    if session.scalar(select(Equipment.id).where(Equipment.asset_tag == tag)):
        return "equipment"
    if session.scalar(select(RunResource.id).where(RunResource.tag == tag).limit(1)):
        return "resource"
    raise NotFoundError(f"no standard or reference material is tagged {tag!r}")


def reverse_trace(
    session: Session, actor: User, tag: str, *, since: date | None = None
) -> TraceResult:
    """Every run and certificate that used ``tag`` on or after ``since``.

    Runs count when they started (or, if never started, were created) on or
    after ``since``. Through an in-house calibration: a run that used ``tag``
    and produced the certificate of a piece of equipment makes every standard
    containing that equipment traced too, for runs from the calibration date on
    (earlier runs used an earlier calibration). This repeats to any depth. A member
    instrument of a standard (its asset tag) is traced through every standard it
    belongs to.
    """
    require(actor, Permission.VIEW_RECORDS)
    kind = resource_kind(session, tag)
    result = TraceResult(tag=tag, since=since)
    run_when = func.coalesce(Run.started_at, Run.created_at)
    frontier: list[tuple[str, date | None, tuple[str, ...]]] = [(tag, since, (tag,))]
    if kind == "equipment":
        frontier += [(std, since, (tag, std)) for std in standards_containing(session, tag)]
    visited: set[str] = set()
    runs: dict[int, TracedRun] = {}
    while frontier:
        current, from_day, via = frontier.pop(0)
        if current in visited:
            continue
        visited.add(current)
        query = (
            select(Run.id, run_when)
            .join(RunResource, RunResource.run_id == Run.id)
            .where(RunResource.tag == current)
        )
        if from_day is not None:
            query = query.where(run_when >= _start(from_day))
        for run_id, when in session.execute(query):
            runs.setdefault(run_id, TracedRun(run_id, when, via))
        # Standards whose equipment was calibrated in-house by one of those runs.
        inhouse = (
            select(MeasurementStandard.tag, func.min(ExternalCertificate.calibrated_on))
            .join(StandardMember, StandardMember.standard_id == MeasurementStandard.id)
            .join(
                ExternalCertificate,
                ExternalCertificate.equipment_id == StandardMember.equipment_id,
            )
            .join(Run, Run.id == ExternalCertificate.in_house_run_id)
            .join(RunResource, RunResource.run_id == Run.id)
            .where(RunResource.tag == current)
            .group_by(MeasurementStandard.tag)
            .order_by(MeasurementStandard.tag)
        )
        if from_day is not None:
            inhouse = inhouse.where(run_when >= _start(from_day))
        for std_tag, calibrated_on in session.execute(inhouse):
            if std_tag in visited:
                continue
            start = calibrated_on if from_day is None else max(from_day, calibrated_on)
            frontier.append((std_tag, start, (*via, std_tag)))
    result.runs = [runs[k] for k in sorted(runs)]
    if runs:
        ids = sorted(runs)
        for chunk_start in range(0, len(ids), 5000):
            chunk = ids[chunk_start : chunk_start + 5000]
            # Columns, not entities: a certificate's content record is large.
            found = session.execute(
                select(
                    Certificate.id, Certificate.number, Certificate.status, Certificate.run_id
                ).where(Certificate.run_id.in_(chunk))
            )
            for cert_id, number, status, run_id in found:
                result.certificates.append(
                    TracedCertificate(cert_id, number, status.value, run_id, runs[run_id].via)
                )
        result.certificates.sort(key=lambda c: c.certificate_id)
    return result


def standards_containing(session: Session, asset_tag: str) -> list[str]:
    """Tags of the standards the equipment with ``asset_tag`` is a member of."""
    return list(
        session.scalars(
            select(MeasurementStandard.tag)
            .join(StandardMember, StandardMember.standard_id == MeasurementStandard.id)
            .join(Equipment, Equipment.id == StandardMember.equipment_id)
            .where(Equipment.asset_tag == asset_tag)
            .order_by(MeasurementStandard.tag)
        )
    )


def record_out_of_tolerance(
    session: Session,
    actor: User,
    tag: str,
    *,
    finding: str,
    found_on: date,
    since: date | None = None,
    take_out_of_service: bool = True,
) -> ImpactAssessment:
    """Record an out-of-tolerance finding and open an impact record listing what it affects.

    ``since`` is the last day the resource is known to have been right (its last
    passed check or calibration); None traces its whole history. A standard (or a
    member instrument) is also taken out of service unless ``take_out_of_service``
    is False.
    """
    require(actor, Permission.RECORD_FINDING)
    if not finding.strip():
        raise QualityError("--finding: describe what was found out of tolerance")
    kind = resource_kind(session, tag)
    trace = reverse_trace(session, actor, tag, since=since)
    affected: dict[str, Any] = {
        "runs": [r.run_id for r in trace.runs],
        "certificates": [
            {"id": c.certificate_id, "number": c.number, "run_id": c.run_id, "via": list(c.via)}
            for c in trace.certificates
        ],
    }
    record = ImpactAssessment(
        resource_tag=tag,
        resource_kind=kind,
        finding=finding.strip(),
        found_on=found_on,
        since=since,
        opened_by_id=actor.id,
        affected=affected,
    )
    session.add(record)
    if kind == "standard" and take_out_of_service:
        std = session.scalars(
            select(MeasurementStandard).where(MeasurementStandard.tag == tag)
        ).one()
        if std.status == EquipmentStatus.ACTIVE:
            std.status = EquipmentStatus.OUT_OF_SERVICE
            std.status_reason = f"out of tolerance: {finding.strip()}"[:500]
    if kind == "equipment" and take_out_of_service:
        eq = session.scalars(select(Equipment).where(Equipment.asset_tag == tag)).one()
        if eq.status == EquipmentStatus.ACTIVE:
            eq.status = EquipmentStatus.OUT_OF_SERVICE
            eq.status_reason = f"out of tolerance: {finding.strip()}"[:500]
    session.flush()
    return record


def close_impact(
    session: Session, actor: User, impact_id: int, conclusion: str
) -> ImpactAssessment:
    """Close an impact record with its conclusion; refused while an affected certificate has
    no decision or a customer affected by one is not notified (:mod:`lims.quality.oot`)."""
    from lims.quality.oot import open_problems

    require(actor, Permission.RECORD_FINDING)
    if not conclusion.strip():
        raise QualityError("--conclusion: closing an impact record needs a conclusion")
    record = session.get(ImpactAssessment, impact_id)
    if record is None:
        raise NotFoundError(f"impact record {impact_id} does not exist")
    if record.status == "closed":
        raise QualityError(f"impact record {impact_id} is closed already")
    problems = open_problems(session, impact_id)
    if problems:
        raise QualityError(f"impact record {impact_id} cannot close: {'; '.join(problems)}")
    record.status = "closed"
    record.conclusion = conclusion.strip()
    record.closed_by_id = actor.id
    record.closed_at = utcnow()
    session.flush()
    return record
