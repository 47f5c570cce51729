"""The lab-wide audit trail for review: filters, human names for records, CSV, verification.

:func:`review_trail` lists events (who, when, what, which record) with each record named
as people know it (``certificates:7`` → its certificate number, ``users:3`` → the user
name); :func:`verify_trail` walks the chain and the anchors exactly as ``lims audit
verify`` does. Reviewing needs the ``review_audit`` permission.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.audit import AuditProblem, canonical_json
from lims.config import Settings
from lims.db import Database
from lims.models.audit import AuditEvent
from lims.models.certificates import Certificate, Signature
from lims.models.equipment import (
    Equipment,
    ExternalCertificate,
    IntermediateCheck,
    MeasurementStandard,
    StandardMember,
)
from lims.models.lab import Contact, Customer, LabProfile
from lims.models.materials import ReferenceMaterial
from lims.models.pki import LabAuthority, SigningCredential
from lims.models.quality import ImpactAssessment, Incident, ReferenceMaterialEvent
from lims.models.runs import Result, RuleOverride, Run, RunResource
from lims.models.users import Authorization, User, UserRole
from lims.models.work import ProcedureVersion, RegulationTable, WorkOrder, WorkOrderItem
from lims.quality.errors import QualityError
from lims.quality.permissions import Permission, require

#: The most events one review lists (narrow the filters for more).
MAX_ROWS = 5000


@dataclass(frozen=True)
class TrailFilter:
    """What to list: every filter given must match (``end`` exclusive)."""

    user: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    table: str | None = None
    #: A record id, or text found in the record's name (a certificate number, a tag).
    record: str | None = None


@dataclass(frozen=True)
class TrailRow:
    """One audit event as reviewed."""

    id: int
    occurred_at: datetime
    actor: str
    action: str
    table_name: str
    record_id: str
    record_name: str
    changes: dict[str, Any]
    reason: str
    sha256: str


@dataclass(frozen=True)
class TrailPage:
    """The rows found, and whether more matched than :data:`MAX_ROWS`."""

    rows: list[TrailRow]
    truncated: bool


Namer = Callable[[Session, list[int]], dict[int, str]]


def _names(model: Any, label: Callable[[Any], str]) -> Namer:
    def name(session: Session, ids: list[int]) -> dict[int, str]:
        out: dict[int, str] = {}
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            for row in session.scalars(select(model).where(model.id.in_(chunk))):
                out[row.id] = label(row)
        return out

    return name


def _run_label(r: Run) -> str:
    return f"{r.procedure_version.procedure_id} · {r.bench_name} · #{r.id}"


#: How each audited table's records are named (others keep ``table:id``).
NAMERS: dict[str, Namer] = {
    "certificates": _names(Certificate, lambda c: c.number),
    "users": _names(User, lambda u: f"{u.username} ({u.full_name})"),
    "runs": _names(Run, _run_label),
    "measurement_standards": _names(MeasurementStandard, lambda s: s.tag),
    "reference_materials": _names(ReferenceMaterial, lambda m: m.tag),
    "equipment": _names(Equipment, lambda e: e.asset_tag or f"{e.model} {e.serial_number}"),
    "external_certificates": _names(ExternalCertificate, lambda c: c.number),
    "work_orders": _names(WorkOrder, lambda w: w.number),
    "work_order_items": _names(WorkOrderItem, lambda i: f"{i.work_order.number} #{i.id}"),
    "customers": _names(Customer, lambda c: c.name),
    "procedure_versions": _names(ProcedureVersion, lambda v: f"{v.procedure_id} {v.version}"),
    "regulation_tables": _names(RegulationTable, lambda t: f"{t.procedure_id} {t.version}"),
    "authorizations": _names(Authorization, lambda a: f"{a.user.username} · {a.procedure_id}"),
    "impact_assessments": _names(ImpactAssessment, lambda i: f"{i.resource_tag} #{i.id}"),
    "incidents": _names(Incident, lambda i: i.title),
    "user_roles": _names(UserRole, lambda r: r.user.username),
    "signing_credentials": _names(SigningCredential, lambda c: _username(c, "user_id")),
    "signatures": _names(Signature, lambda g: f"{g.certificate.number} · {g.printed_name}"),
    "lab_authorities": _names(LabAuthority, lambda a: a.common_name),
    "lab_profile": _names(LabProfile, lambda p: f"{p.name_zh} {p.name_en}"),
    "contacts": _names(Contact, lambda c: c.name),
    "results": _names(Result, lambda r: f"#{r.run_id} {r.test_point}"),
    "run_resources": _names(RunResource, lambda r: f"#{r.run_id} {r.tag}"),
    "rule_overrides": _names(RuleOverride, lambda o: f"#{o.run_id} {o.rule}"),
    "intermediate_checks": _names(
        IntermediateCheck, lambda c: f"{c.standard.tag} {c.performed_on.isoformat()}"
    ),
    "standard_members": _names(
        StandardMember, lambda m: f"{m.standard.tag} · {m.equipment.asset_tag or m.equipment_id}"
    ),
    "reference_material_events": _names(
        ReferenceMaterialEvent, lambda e: f"{_material_tag(e)} {e.happened_on.isoformat()}"
    ),
}

#: Tables whose records are keyed by a name already (a procedure id, a file's SHA-256).
NAMED_BY_KEY = {"procedures", "stored_files", "certificate_sequences", "database"}


def _username(row: Any, column: str) -> str:
    from sqlalchemy.orm import object_session

    session = object_session(row)
    user = session.get(User, getattr(row, column)) if session is not None else None
    return user.username if user is not None else str(getattr(row, column))


def _material_tag(event: ReferenceMaterialEvent) -> str:
    from sqlalchemy.orm import object_session

    session = object_session(event)
    rm = session.get(ReferenceMaterial, event.reference_material_id) if session else None
    return rm.tag if rm is not None else str(event.reference_material_id)


def record_names(session: Session, events: Iterable[AuditEvent]) -> dict[tuple[str, str], str]:
    """``(table, record id)`` → the record's name, for every event whose record is known."""
    wanted: dict[str, set[int]] = {}
    for ev in events:
        if ev.table_name in NAMERS and ev.record_id.isdigit():
            wanted.setdefault(ev.table_name, set()).add(int(ev.record_id))
    out: dict[tuple[str, str], str] = {}
    for table, ids in wanted.items():
        for key, name in NAMERS[table](session, sorted(ids)).items():
            out[(table, str(key))] = name
    return out


def audited_tables(db: Database, actor: User) -> list[str]:
    """The tables that have audit events, alphabetical (for the table filter)."""
    require(actor, Permission.REVIEW_AUDIT)
    with db.read() as s:
        return list(s.scalars(select(AuditEvent.table_name).distinct().order_by("table_name")))


def review_trail(db: Database, actor: User, f: TrailFilter) -> TrailPage:
    """Audit events matching ``f``, oldest first, with their records named."""
    require(actor, Permission.REVIEW_AUDIT)
    if f.start is not None and f.end is not None and f.end <= f.start:
        raise QualityError("审计期间无效 the end of the period must be after its start")
    query = select(AuditEvent).order_by(AuditEvent.id)
    if f.user:
        query = query.where(AuditEvent.actor == f.user)
    if f.start is not None:
        query = query.where(AuditEvent.occurred_at >= f.start)
    if f.end is not None:
        query = query.where(AuditEvent.occurred_at < f.end)
    if f.table:
        query = query.where(AuditEvent.table_name == f.table)
    record = (f.record or "").strip()
    if record and ":" in record:
        table, _, key = record.partition(":")
        query = query.where(AuditEvent.table_name == table, AuditEvent.record_id == key)
        record = ""
    rows: list[TrailRow] = []
    with db.read() as s:
        offset = 0
        while len(rows) <= MAX_ROWS:
            events = list(s.scalars(query.offset(offset).limit(MAX_ROWS + 1)))
            names = record_names(s, events)
            for ev in events:
                name = names.get((ev.table_name, ev.record_id)) or _fallback(ev)
                if record and record != ev.record_id and record.lower() not in name.lower():
                    continue
                rows.append(_row(ev, name))
            if len(events) <= MAX_ROWS:
                break
            offset += len(events)
    return TrailPage(rows[:MAX_ROWS], len(rows) > MAX_ROWS)


def _fallback(ev: AuditEvent) -> str:
    """A record without a namer: its key when that is a name, else ``table:id``."""
    if ev.table_name in NAMED_BY_KEY or not ev.record_id.isdigit():
        return ev.record_id[:16] if ev.table_name == "stored_files" else ev.record_id
    return f"{ev.table_name}:{ev.record_id}"


def _row(ev: AuditEvent, name: str) -> TrailRow:
    return TrailRow(
        ev.id,
        ev.occurred_at,
        ev.actor,
        ev.action,
        ev.table_name,
        ev.record_id,
        name,
        dict(ev.changes or ev.state or {}),
        ev.reason or "",
        ev.sha256,
    )


CSV_COLUMNS = (
    "id",
    "occurred_at",
    "actor",
    "action",
    "table_name",
    "record_id",
    "record",
    "changes",
    "reason",
    "sha256",
)


def write_trail_csv(rows: Iterable[TrailRow], path: Path) -> int:
    """Write rows as UTF-8 CSV with BOM (spreadsheets read the Chinese); returns the count."""
    n = 0
    try:
        with path.open("w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(CSV_COLUMNS)
            for r in rows:
                writer.writerow(
                    [
                        r.id,
                        r.occurred_at.isoformat(),
                        r.actor,
                        r.action,
                        r.table_name,
                        r.record_id,
                        r.record_name,
                        canonical_json(r.changes),
                        r.reason,
                        r.sha256,
                    ]
                )
                n += 1
    except OSError as exc:
        raise QualityError(f"{path}: cannot write CSV: {exc.strerror}") from exc
    return n


@dataclass
class TrailCheck:
    """The findings of ``lims audit verify``: chain, records, runs, archive and anchors."""

    events: int = 0
    records: int = 0
    readings: int = 0
    anchors: int = 0
    problems: list[AuditProblem] = field(default_factory=list)
    #: What cannot be confirmed (anchor destinations out of reach, unsealed readings).
    doubts: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing was found (doubts aside)."""
        return not self.problems


def verify_trail(db: Database, actor: User, settings: Settings) -> TrailCheck:
    """Everything ``lims audit verify`` checks, with the same findings: the audit chain from
    the newest anchored checkpoint, every record against it, the runs' plans and instrument
    I/O, synchronized records, archived files and every anchor destination."""
    from lims.audit_anchors import AnchorFileError
    from lims.integrity import check_integrity, verification_session

    require(actor, Permission.REVIEW_AUDIT)
    with verification_session(db) as s:
        try:
            report = check_integrity(
                s,
                archive_dir=settings.archive_dir,
                anchor_file=settings.anchor_file,
                anchor_copies=settings.anchor_copies,
            )
        except AnchorFileError as exc:
            raise QualityError(str(exc)) from exc
    trail = report.trail
    return TrailCheck(
        trail.events,
        trail.records,
        trail.readings,
        report.anchors.anchors,
        report.problems,
        report.doubts,
    )
