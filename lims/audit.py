"""The tamper-evident audit trail.

Every write of an audited record goes through one mechanism: a SQLAlchemy
session hook that, at each flush, appends one :class:`AuditEvent` per created,
changed or deleted record. An event stores the record's full audited state and
the changed fields (old -> new), and its SHA-256 covers the previous event's
hash, so the events form a chain.

Readings are too many to audit one by one: each reading carries a hash chained
to the previous reading of its run, and every batch written appends one event
holding the run's reading count and chain head.

:func:`verify` (:mod:`lims.audit_verify`) detects and names any event, audited
record or reading changed, deleted or inserted behind the application's back.

Append-only records (readings, results, signatures, ...) and issued
certificates are also refused at flush time (:class:`ImmutableRecordError`).
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection, Float, Row, Table, event, insert, inspect, select, update
from sqlalchemy.orm import Session, UOWTransaction

from lims.db.base import Base
from lims.db.engine import REQUIRE_REASON
from lims.db.lengths import check_row
from lims.db.types import utcnow
from lims.models.audit import AuditEvent, AuditHead
from lims.models.certificates import Certificate
from lims.models.enums import CertificateStatus
from lims.models.runs import Reading

if TYPE_CHECKING:
    from lims.audit_verify import VerifyReport

_EVENTS = cast(Table, AuditEvent.__table__)
_HEAD = cast(Table, AuditHead.__table__)
_READINGS = cast(Table, Reading.__table__)

GENESIS_SHA256 = "0" * 64
READINGS_TABLE = "readings"
#: Actions that record a row's state; other events (logins, refusals) only log what happened.
STATE_ACTIONS = frozenset({"create", "update", "delete", "append"})
#: Actions that change a record: each needs a reason (EU GMP Annex 11 §9).
CHANGE_ACTIONS = frozenset({"create", "update", "delete"})
#: Longest actor name the trail stores (``audit_events.actor``).
ACTOR_MAX = 64

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


def _stored_default(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return "sha256:" + hashlib.sha256(value).hexdigest()
    raise TypeError(f"{type(value).__name__} has no canonical JSON form")


_STORED_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_stored_default
)
# The C encoder JSONEncoder.encode builds on every call, built once (same arguments).
_C_ENCODER = (
    json.encoder.c_make_encoder(  # type: ignore[attr-defined]
        None, _stored_default, json.encoder.encode_basestring, None, ":", ",", True, False, True
    )
    if getattr(json.encoder, "c_make_encoder", None) is not None
    else None
)


def stored_canonical_json(obj: Any) -> str:
    """:func:`canonical_json` of a value whose every mapping key is a ``str``.

    Every value read back from the database is such a value (JSON keys are strings; a
    record's state is keyed by column names), and so is every flat content dict written
    with literal keys. For those the text is identical to :func:`canonical_json`'s,
    produced by the C encoder without the :func:`jsonable` walk: what verification uses
    on millions of rows. (:func:`canonical_json` turns other keys into ``str(key)`` before
    sorting; this function would sort them first, so it is not for arbitrary values.)
    """
    if _C_ENCODER is not None and isinstance(obj, dict):
        return "".join(_C_ENCODER(obj, 0))
    return _STORED_ENCODER.encode(obj)


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


def without_upgrade_defaults(
    model: type[Base], state: dict[str, Any], audited: dict[str, Any]
) -> dict[str, Any]:
    """``state`` less the columns an upgrade added after ``audited`` was written.

    Such a column is absent from older events; while the record still holds that column's
    default, the column is left out, so an upgraded lab's records stay intact. Any other
    value in such a column is a change the trail does not explain.
    """
    missing = [k for k in state if k not in audited]
    if not missing:
        return state
    out = dict(state)
    attrs = {a.key: a for a in inspect(model).column_attrs}
    for key in missing:
        attr = attrs.get(key)
        if attr is None:
            continue
        arg = getattr(attr.columns[0].default, "arg", None)
        if callable(arg):
            try:
                arg = arg(None)
            except TypeError:
                arg = arg()
        if canonical_json(out[key]) == canonical_json(jsonable(arg)):
            del out[key]
    return out


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


def stored_event_sha256(ev: AuditEvent | Row[Any]) -> str:
    """What ``ev``'s hash must be, computed from its stored content (an event or a row of
    the events table, read back from the database)."""
    payload = {
        "id": ev.id,
        "occurred_at": ev.occurred_at,
        "actor": ev.actor,
        "action": ev.action,
        "table": ev.table_name,
        "record": ev.record_id,
        "changes": ev.changes,
        "state": ev.state,
        "reason": ev.reason,
        "prev": ev.prev_sha256,
    }
    return sha256_hex(stored_canonical_json(payload))


def reading_chain_sha256(prev: str, reading: dict[str, Any]) -> str:
    """Chain hash of one reading (``reading`` holds its content columns, by name)."""
    return sha256_hex(prev + stored_canonical_json(reading))


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


def clipped(text: str, limit: int = ACTOR_MAX) -> str:
    """``text`` cut to ``limit`` characters (with an ellipsis), for names typed by anyone."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
    for row in rows:
        check_row(_EVENTS, row)
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


@contextmanager
def reason(session: Session, text: str) -> Iterator[Session]:
    """Give the changes made inside the block their own reason (flushed at the end).

    ``Database.write(reason=...)`` gives one reason to a whole transaction; a
    transaction that does several things (a run completing a step, then recording
    its results) names each one::

        with audit.reason(session, "step P20 completed"):
            run.current_step = "P20"
    """
    if not text or not text.strip():
        raise AuditError("an audit reason cannot be empty")
    session.flush()
    previous = session.info.get("reason")
    session.info["reason"] = text
    try:
        yield session
        session.flush()
    finally:
        session.info["reason"] = previous


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
    if pending and not (reason and str(reason).strip()) and session.info.get(REQUIRE_REASON):
        tables = sorted({p.table_name for p in pending})
        raise AuditError(
            f"change to {', '.join(tables)} without a reason: every change needs one "
            "(EU GMP Annex 11 §9)"
        )
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
    # the chain event first: the database refuses readings whose event it has not seen
    log_event(
        session,
        "append",
        READINGS_TABLE,
        str(run_id),
        state={"count": last_seq, "last_seq": last_seq, "head": prev},
    )
    session.execute(insert(table), rows)
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


def verify(session: Session) -> VerifyReport:
    """Walk the audit chain and check every audited record, reading and certificate number.

    See :mod:`lims.audit_verify`; what ``lims audit verify`` adds (archived files,
    anchors) is in :mod:`lims.integrity`.
    """
    from lims.audit_verify import verify_trail

    return verify_trail(session)
