"""The tamper-evident audit trail.

Every write of an audited record goes through one mechanism: a SQLAlchemy
session hook that, at each flush, appends one :class:`AuditEvent` per created,
changed or deleted record. An event stores the record's full audited state and
the changed fields (old -> new), and its SHA-256 covers the previous event's
hash, so the events form a chain.

Readings are too many to audit one by one: each reading carries a hash chained
to the previous reading of its run, and every batch written appends one event
holding the run's reading count and chain head.

:func:`verify` detects, and names:

* an audit event updated, deleted or inserted behind the application's back
  (broken hash, gap in the sequence, head mismatch);
* an audited record changed, deleted or inserted behind the application's back
  (its current content does not match the state of its last event);
* a reading changed, deleted or inserted (the run's chain no longer matches).

Append-only records (readings, results, signatures, ...) and issued
certificates are also refused at flush time (:class:`ImmutableRecordError`).
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Connection, Float, Table, event, insert, inspect, select, update
from sqlalchemy.orm import Session, UOWTransaction

from lims.db.base import Base
from lims.db.types import utcnow
from lims.models.audit import AuditEvent, AuditHead
from lims.models.certificates import Certificate
from lims.models.enums import CertificateStatus
from lims.models.runs import Reading

_EVENTS = cast(Table, AuditEvent.__table__)
_HEAD = cast(Table, AuditHead.__table__)
_READINGS = cast(Table, Reading.__table__)

GENESIS_SHA256 = "0" * 64
READINGS_TABLE = "readings"
#: Actions that record a row's state; other events (logins, refusals) only log what happened.
STATE_ACTIONS = frozenset({"create", "update", "delete", "append"})

_CERT_FINAL = {
    CertificateStatus.ISSUED,
    CertificateStatus.SUPERSEDED,
    CertificateStatus.REVOKED,
}
_CERT_ALLOWED_AFTER_ISSUE = {
    CertificateStatus.ISSUED: {CertificateStatus.SUPERSEDED, CertificateStatus.REVOKED},
    CertificateStatus.SUPERSEDED: {CertificateStatus.REVOKED},
    CertificateStatus.REVOKED: set(),
}


class AuditError(Exception):
    """A write that cannot be audited (for example: no actor)."""


class ImmutableRecordError(Exception):
    """An attempt to change or delete a record that is append-only or issued."""


# --------------------------------------------------------------------------- hashing


def jsonable(value: Any) -> Any:
    """Convert a column value into its canonical JSON form."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes):
        return "sha256:" + hashlib.sha256(value).hexdigest()
    return value


def canonical_json(obj: Any) -> str:
    """Deterministic JSON text (sorted keys, no spaces, UTF-8 kept)."""
    return json.dumps(jsonable(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(text: str | bytes) -> str:
    """SHA-256 of text (UTF-8) or bytes, as hex."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


def record_state(instance: Base) -> dict[str, Any]:
    """The audited state of a record: every mapped column, canonicalized."""
    mapper = inspect(instance).mapper
    state: dict[str, Any] = {}
    for attr in mapper.column_attrs:
        value = getattr(instance, attr.key)
        if value is not None and isinstance(attr.columns[0].type, Float):
            value = float(value)  # an int given for a float column reads back as float
        state[attr.key] = jsonable(value)
    return state


def record_key(instance: Base) -> str:
    """The primary key of a record as a string (``"3"`` or ``"2026"``)."""
    identity = inspect(instance).mapper.primary_key_from_instance(instance)
    if any(v is None for v in identity):
        raise AuditError(f"{type(instance).__name__} has no primary key yet")
    return ",".join(str(v) for v in identity)


def event_sha256(
    *,
    event_id: int,
    occurred_at: datetime,
    actor: str,
    action: str,
    table_name: str,
    record_id: str,
    changes: dict[str, Any],
    state: dict[str, Any],
    reason: str | None,
    prev_sha256: str,
) -> str:
    """The hash of one audit event, covering the previous event's hash."""
    payload = {
        "id": event_id,
        "occurred_at": occurred_at,
        "actor": actor,
        "action": action,
        "table": table_name,
        "record": record_id,
        "changes": changes,
        "state": state,
        "reason": reason,
        "prev": prev_sha256,
    }
    return sha256_hex(canonical_json(payload))


def stored_event_sha256(ev: AuditEvent) -> str:
    """What ``ev``'s hash must be, computed from its stored content."""
    return event_sha256(
        event_id=ev.id,
        occurred_at=ev.occurred_at,
        actor=ev.actor,
        action=ev.action,
        table_name=ev.table_name,
        record_id=ev.record_id,
        changes=ev.changes,
        state=ev.state,
        reason=ev.reason,
        prev_sha256=ev.prev_sha256,
    )


def reading_chain_sha256(prev: str, reading: dict[str, Any]) -> str:
    """Chain hash of one reading (``reading`` holds its content columns)."""
    return sha256_hex(prev + canonical_json(reading))


def reading_content(r: Reading) -> dict[str, Any]:
    """The columns of a reading that its chain hash covers."""
    return {
        "run_id": r.run_id,
        "seq": r.seq,
        "step": r.step,
        "test_point": r.test_point,
        "quantity": r.quantity,
        "magnitude": r.magnitude,
        "unit": r.unit,
        "taken_at": r.taken_at,
        "source": r.source,
    }


# --------------------------------------------------------------------------- appending


@dataclass
class PendingEvent:
    """An event about to be appended to the chain."""

    actor: str
    action: str
    table_name: str
    record_id: str
    changes: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None


def actor_name(actor: Any) -> str | None:
    """The name recorded for an actor: a user's username, or a system actor string."""
    if actor is None:
        return None
    if isinstance(actor, str):
        return actor
    username = getattr(actor, "username", None)
    return str(username) if username else None


def append_events(conn: Connection, events: Sequence[PendingEvent]) -> None:
    """Append events to the chain, holding the chain head's row lock."""
    if not events:
        return
    head_table = _HEAD
    head = conn.execute(
        select(head_table.c.last_id, head_table.c.last_sha256)
        .where(head_table.c.id == 1)
        .with_for_update()
    ).one_or_none()
    if head is None:
        raise AuditError("the audit chain head is missing: run `lims db upgrade`")
    last_id, prev = int(head.last_id), str(head.last_sha256)
    rows: list[dict[str, Any]] = []
    now = utcnow()
    for ev in events:
        last_id += 1
        digest = event_sha256(
            event_id=last_id,
            occurred_at=now,
            actor=ev.actor,
            action=ev.action,
            table_name=ev.table_name,
            record_id=ev.record_id,
            changes=ev.changes,
            state=ev.state,
            reason=ev.reason,
            prev_sha256=prev,
        )
        rows.append(
            {
                "id": last_id,
                "occurred_at": now,
                "actor": ev.actor,
                "action": ev.action,
                "table_name": ev.table_name,
                "record_id": ev.record_id,
                "changes": jsonable(ev.changes),
                "state": jsonable(ev.state),
                "reason": ev.reason,
                "prev_sha256": prev,
                "sha256": digest,
            }
        )
        prev = digest
    conn.execute(insert(_EVENTS), rows)
    conn.execute(
        update(head_table).where(head_table.c.id == 1).values(last_id=last_id, last_sha256=prev)
    )


def log_event(
    session: Session,
    action: str,
    table_name: str,
    record_id: str,
    *,
    changes: dict[str, Any] | None = None,
    state: dict[str, Any] | None = None,
    reason: str | None = None,
    actor: Any = None,
) -> None:
    """Append an event that is not a row change (a login failure, a refused signature, ...)."""
    name = actor_name(actor) or actor_name(session.info.get("actor"))
    if not name:
        raise AuditError(f"audit event {action} on {table_name} {record_id} has no actor")
    append_events(
        session.connection(),
        [
            PendingEvent(
                actor=name,
                action=action,
                table_name=table_name,
                record_id=record_id,
                changes=changes or {},
                state=state or {},
                reason=reason if reason is not None else session.info.get("reason"),
            )
        ],
    )


# --------------------------------------------------------------------------- session hooks


def _is_audited(obj: object) -> bool:
    return isinstance(obj, Base) and type(obj).__audited__


def _check_immutable(session: Session) -> None:
    for obj in list(session.dirty) + list(session.deleted):
        if not isinstance(obj, Base):
            continue
        if type(obj).__append_only__:
            verb = "deleted" if obj in session.deleted else "changed"
            if obj in session.dirty and not session.is_modified(obj):
                continue
            raise ImmutableRecordError(
                f"{type(obj).__tablename__} {record_key(obj)} is append-only and cannot be {verb}"
            )
        if isinstance(obj, Certificate):
            _check_certificate_change(session, obj)


def _check_certificate_change(session: Session, cert: Certificate) -> None:
    state = inspect(cert)
    status_hist = state.attrs.status.history
    old_status = status_hist.deleted[0] if status_hist.deleted else cert.status
    if old_status not in _CERT_FINAL:
        if cert in session.deleted:
            raise ImmutableRecordError(f"certificate {cert.number} cannot be deleted")
        return
    if cert in session.deleted:
        raise ImmutableRecordError(f"issued certificate {cert.number} cannot be deleted")
    changed = {a.key for a in state.attrs if a.history.has_changes()}
    if not changed <= {"status", "status_reason", "signatures"}:
        bad = sorted(changed - {"status", "status_reason", "signatures"})
        raise ImmutableRecordError(
            f"certificate {cert.number} is {CertificateStatus(old_status).value}: "
            f"{', '.join(bad)} cannot be changed; amend it instead"
        )
    if "status" in changed and cert.status not in _CERT_ALLOWED_AFTER_ISSUE[old_status]:
        raise ImmutableRecordError(
            f"certificate {cert.number} cannot go from {CertificateStatus(old_status).value} "
            f"to {CertificateStatus(cert.status).value}"
        )


def _before_flush(session: Session, _ctx: UOWTransaction, _instances: object) -> None:
    _check_immutable(session)


def _after_flush(session: Session, _ctx: UOWTransaction) -> None:
    pending: list[PendingEvent] = []
    name = actor_name(session.info.get("actor"))
    reason = session.info.get("reason")
    for obj in session.new:
        if _is_audited(obj):
            pending.append(
                PendingEvent(
                    actor=name or "",
                    action="create",
                    table_name=type(obj).__tablename__,
                    record_id=record_key(obj),
                    state=record_state(obj),
                    reason=reason,
                )
            )
    for obj in session.dirty:
        if not _is_audited(obj) or not session.is_modified(obj, include_collections=False):
            continue
        changes: dict[str, Any] = {}
        for attr in inspect(obj).mapper.column_attrs:
            hist = inspect(obj).attrs[attr.key].history
            if hist.has_changes():
                old = hist.deleted[0] if hist.deleted else None
                new = hist.added[0] if hist.added else None
                changes[attr.key] = [jsonable(old), jsonable(new)]
        if changes:
            pending.append(
                PendingEvent(
                    actor=name or "",
                    action="update",
                    table_name=type(obj).__tablename__,
                    record_id=record_key(obj),
                    changes=changes,
                    state=record_state(obj),
                    reason=reason,
                )
            )
    for obj in session.deleted:
        if _is_audited(obj):
            pending.append(
                PendingEvent(
                    actor=name or "",
                    action="delete",
                    table_name=type(obj).__tablename__,
                    record_id=record_key(obj),
                    changes={"deleted": [record_state(obj), None]},
                    reason=reason,
                )
            )
    if pending and not name:
        tables = sorted({p.table_name for p in pending})
        raise AuditError(f"write to {', '.join(tables)} without an actor: every change needs one")
    pending.sort(key=lambda p: (p.table_name, p.record_id))
    append_events(session.connection(), pending)


def install() -> None:
    """Install the audit hooks on every ORM session (idempotent)."""
    if not event.contains(Session, "before_flush", _before_flush):
        event.listen(Session, "before_flush", _before_flush)
        event.listen(Session, "after_flush", _after_flush)


install()


# --------------------------------------------------------------------------- readings


def append_readings(session: Session, run_id: int, readings: Iterable[dict[str, Any]]) -> int:
    """Write readings of one run with their chain hashes and audit the new chain head.

    Each item holds ``seq, step, test_point, quantity, magnitude, unit, taken_at,
    source``. Readings whose ``seq`` is already stored are skipped (a retried
    batch never duplicates). Returns the number of readings written.
    """
    table = _READINGS
    last = session.execute(
        select(table.c.seq, table.c.chain_sha256)
        .where(table.c.run_id == run_id)
        .order_by(table.c.seq.desc())
        .limit(1)
    ).one_or_none()
    last_seq = int(last.seq) if last else 0
    prev = str(last.chain_sha256) if last else GENESIS_SHA256
    rows: list[dict[str, Any]] = []
    for item in sorted(readings, key=lambda r: int(r["seq"])):
        seq = int(item["seq"])
        if seq <= last_seq:
            continue
        if seq != last_seq + 1:
            raise AuditError(f"run {run_id}: reading {seq} follows {last_seq}; sequence has a gap")
        content = {
            "run_id": run_id,
            "seq": seq,
            "step": item["step"],
            "test_point": item.get("test_point", ""),
            "quantity": item["quantity"],
            "magnitude": float(item["magnitude"]),
            "unit": item["unit"],
            "taken_at": item["taken_at"],
            "source": item["source"],
        }
        prev = reading_chain_sha256(prev, content)
        rows.append({**content, "chain_sha256": prev})
        last_seq = seq
    if not rows:
        return 0
    session.execute(insert(table), rows)
    log_event(
        session,
        "append",
        READINGS_TABLE,
        str(run_id),
        state={"count": last_seq, "last_seq": last_seq, "head": prev},
    )
    return len(rows)


# --------------------------------------------------------------------------- verification


@dataclass(frozen=True)
class AuditProblem:
    """One finding of :func:`verify`."""

    kind: str
    where: str
    detail: str

    def __str__(self) -> str:
        return f"{self.where}: {self.detail}"


@dataclass
class VerifyReport:
    """What :func:`verify` checked and found."""

    events: int = 0
    records: int = 0
    readings: int = 0
    problems: list[AuditProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing was found."""
        return not self.problems


def _iter_events(session: Session) -> Iterator[AuditEvent]:
    yield from session.execute(
        select(AuditEvent).order_by(AuditEvent.id).execution_options(yield_per=2000)
    ).scalars()


def _audited_models() -> list[type[Base]]:
    return sorted(
        (m.class_ for m in Base.registry.mappers if m.class_.__audited__),
        key=lambda c: c.__tablename__,
    )


def verify(session: Session) -> VerifyReport:
    """Walk the audit chain and check every audited record and reading against it."""
    report = VerifyReport()
    prev = GENESIS_SHA256
    expected_id = 1
    latest: dict[tuple[str, str], AuditEvent] = {}
    first_break: AuditProblem | None = None
    for ev in _iter_events(session):
        report.events += 1
        if first_break is None:
            if ev.id != expected_id:
                first_break = AuditProblem(
                    "chain",
                    f"audit event {expected_id}",
                    f"missing (next event found is {ev.id}): events were deleted",
                )
            elif ev.prev_sha256 != prev:
                first_break = AuditProblem(
                    "chain",
                    f"audit event {ev.id}",
                    "does not follow its predecessor: an event before it was altered, "
                    "inserted or deleted",
                )
            else:
                if stored_event_sha256(ev) != ev.sha256:
                    first_break = AuditProblem(
                        "chain", f"audit event {ev.id}", "content does not match its hash: altered"
                    )
        prev = ev.sha256
        expected_id = ev.id + 1
        if ev.action in STATE_ACTIONS:
            latest[(ev.table_name, ev.record_id)] = ev
        session.expunge(ev)
    if first_break is not None:
        report.problems.append(first_break)
    head = session.get(AuditHead, 1)
    if head is None:
        report.problems.append(AuditProblem("chain", "audit head", "missing"))
    elif first_break is None and (head.last_id != expected_id - 1 or head.last_sha256 != prev):
        report.problems.append(
            AuditProblem(
                "chain",
                f"audit event {head.last_id}",
                f"the chain ends at event {expected_id - 1} but the head records event "
                f"{head.last_id}: events at the end were deleted or inserted",
            )
        )

    _verify_records(session, latest, report)
    _verify_readings(session, latest, report)
    return report


def _verify_records(
    session: Session, latest: dict[tuple[str, str], AuditEvent], report: VerifyReport
) -> None:
    for model in _audited_models():
        table = model.__tablename__
        seen: set[str] = set()
        for obj in session.execute(select(model).execution_options(yield_per=2000)).scalars():
            report.records += 1
            key = record_key(obj)
            seen.add(key)
            ev = latest.get((table, key))
            if ev is None or ev.action == "delete":
                report.problems.append(
                    AuditProblem(
                        "record", f"{table} {key}", "has no audit event: inserted outside the app"
                    )
                )
            elif canonical_json(record_state(obj)) != canonical_json(ev.state):
                diff = _diff_fields(record_state(obj), ev.state)
                report.problems.append(
                    AuditProblem(
                        "record",
                        f"{table} {key}",
                        f"differs from its audited state (event {ev.id}) in {', '.join(diff)}: "
                        "changed outside the app",
                    )
                )
            session.expunge(obj)
        for (t, key), ev in latest.items():
            if t == table and key not in seen and ev.action != "delete":
                report.problems.append(
                    AuditProblem(
                        "record",
                        f"{table} {key}",
                        f"is missing but audit event {ev.id} says it exists: "
                        "deleted outside the app",
                    )
                )


def _diff_fields(current: dict[str, Any], audited: dict[str, Any]) -> list[str]:
    keys = sorted(set(current) | set(audited))
    return [
        k for k in keys if canonical_json(current.get(k)) != canonical_json(audited.get(k))
    ] or ["(representation)"]


def _verify_readings(
    session: Session, latest: dict[tuple[str, str], AuditEvent], report: VerifyReport
) -> None:
    expected = {int(key): ev for (table, key), ev in latest.items() if table == READINGS_TABLE}
    found: dict[int, tuple[int, str]] = {}
    run_id: int | None = None
    prev = GENESIS_SHA256
    count = 0
    broken: set[int] = set()
    for r in session.execute(
        select(Reading).order_by(Reading.run_id, Reading.seq).execution_options(yield_per=5000)
    ).scalars():
        report.readings += 1
        if r.run_id != run_id:
            if run_id is not None:
                found[run_id] = (count, prev)
            run_id, prev, count = r.run_id, GENESIS_SHA256, 0
        count += 1
        if r.run_id not in broken:
            digest = reading_chain_sha256(prev, reading_content(r))
            if r.seq != count or digest != r.chain_sha256:
                broken.add(r.run_id)
                report.problems.append(
                    AuditProblem(
                        "reading",
                        f"readings of run {r.run_id} at seq {r.seq}",
                        "do not match their chain: a reading was altered, inserted or deleted",
                    )
                )
        prev = r.chain_sha256
        session.expunge(r)
    if run_id is not None:
        found[run_id] = (count, prev)
    for rid in sorted(set(expected) | set(found)):
        if rid in broken:
            continue
        ev = expected.get(rid)
        got = found.get(rid, (0, GENESIS_SHA256))
        if ev is None:
            report.problems.append(
                AuditProblem("reading", f"readings of run {rid}", "were never audited")
            )
        elif got != (int(ev.state.get("count", -1)), str(ev.state.get("head"))):
            report.problems.append(
                AuditProblem(
                    "reading",
                    f"readings of run {rid}",
                    f"{got[0]} stored but audit event {ev.id} recorded {ev.state.get('count')}: "
                    "readings were deleted or inserted",
                )
            )
