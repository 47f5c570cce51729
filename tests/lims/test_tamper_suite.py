"""The lab attacked as an insider with database rights would: every tampering detected or refused.

A lab with an issued certificate (PDF and DCC archived, the trail anchored by the
approval and once more afterwards), readings, an incident and a proficiency test.
Each case tampers in plain SQL with every guard trigger dropped and foreign keys
relaxed first (or with the files under the data directory), then runs what
``lims audit verify`` runs (:func:`lims.integrity.check_integrity`). A case counts
as caught when the database refuses the edit or the verdict is not "intact";
everything is rolled back (files restored) before the next case. Run on SQLite and
PostgreSQL; the detection rate is printed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    Boolean,
    Connection,
    Date,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    create_engine,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from lims.audit import GENESIS_SHA256, append_readings, stored_event_sha256
from lims.certificates import Meaning
from lims.db import Database
from lims.db.base import Base
from lims.integrity import IntegrityVerdict, check_integrity
from lims.models import AuditEvent, Verdict
from lims.quality.archive import iter_archive
from lims.quality.incidents import report_incident
from lims.quality.proficiency import record_proficiency_test
from lims.services.certificates import draft_certificate, sign_certificate
from lims.units import parse_quantity
from tests.certificate_service.builder import (
    PASSWORDS,
    POLICY,
    Point,
    lab_database,
    make_gas_run,
    user,
)
from tests.conftest import PG_URL, _pg_schema_url, require_pg
from tests.lims._lab import drop_guard, reading_rows

Edit = Callable[[Connection], object]


@dataclass
class Lab:
    db: Database
    data: Path
    run_id: int

    @property
    def archive(self) -> Path:
        return self.data / "archive"

    @property
    def anchors(self) -> Path:
        return self.data / "audit-anchors.jsonl"


def _build(db: Database, data: Path) -> Lab:
    run_id = make_gas_run(db, 1, [Point("P20", 400.0, 3.0, 9.0, Verdict.PASS)])
    with db.write(actor="system:test", reason="readings of the run") as s:
        append_readings(s, run_id, reading_rows(1, 5))
    number = draft_certificate(db, user(db, "zhang"), run_id).number
    for username, meaning in (
        ("zhang", Meaning.PERFORMED),
        ("li", Meaning.REVIEWED),
        ("wang", Meaning.APPROVED),
    ):
        sign_certificate(
            db,
            number,
            username,
            PASSWORDS[username],
            meaning,
            POLICY,
            archive_dir=data / "archive",
            anchor_file=data / "audit-anchors.jsonl",
        )
    chen = user(db, "chen")
    with db.write(actor=chen, reason="incident and proficiency test") as s:
        report_incident(
            s,
            chen,
            category="equipment_failure",
            title="analyzer fault",
            description="no reply",
        )
        q = parse_quantity
        record_proficiency_test(
            s,
            chen,
            scheme="CNAS T0001",
            measurand="CO2",
            lab_value=q("400.5 umol/mol"),
            lab_uncertainty=q("2 umol/mol"),
            reference_value=q("400 umol/mol"),
            reference_uncertainty=q("1 umol/mol"),
            performed_on=date(2026, 3, 1),
        )
    from lims.audit_anchors import write_anchor

    write_anchor(db, data / "audit-anchors.jsonl")  # the trail anchored as it is now
    return Lab(db, data, run_id)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    data = tmp_path_factory.mktemp("tamper")
    admin = None
    schema = ""
    if request.param == "sqlite":
        url = f"sqlite:///{data / 'lims.sqlite3'}"
    else:
        require_pg()
        schema = f"tamper_{os.getpid()}"
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = _pg_schema_url(schema)
    db = lab_database(url)
    try:
        yield _build(db, data)
    finally:
        db.dispose()
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            admin.dispose()


# --------------------------------------------------------------------------- the attacker


def _unguard(conn: Connection) -> None:
    """Drop every guard trigger and relax foreign keys, as a database owner can."""
    for table in Base.metadata.sorted_tables:
        drop_guard(conn, table.name)
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
    else:
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")


def _table(name: str) -> Table:
    return Base.metadata.tables[name]


def _first(conn: Connection, table: Table) -> dict[str, Any]:
    pk = list(table.primary_key.columns)
    return dict(conn.execute(select(table).order_by(*pk).limit(1)).mappings().one())


def _where_pk(table: Table, row: dict[str, Any]) -> Any:
    (pk,) = table.primary_key.columns
    return pk == row[pk.name]


def _changed(column: Any, value: Any) -> Any:
    """A plausible different value for ``column``."""
    kind = column.type
    if value is None:
        return 1 if isinstance(kind, Integer) else None
    if isinstance(kind, Boolean):
        return not value
    if isinstance(kind, Integer):
        return value + 1
    if isinstance(kind, Float):
        return value + 0.5
    if isinstance(kind, DateTime):
        return value + timedelta(days=1)
    if isinstance(kind, Date):
        return value + timedelta(days=1)
    if isinstance(kind, LargeBinary):
        return bytes(value) + b"x"
    if isinstance(kind, String | Text):
        options = getattr(kind, "enums", None)
        if options:
            return next(o for o in options if o != value)
        return ("X" + value)[: kind.length] if getattr(kind, "length", None) else value + "X"
    if isinstance(value, dict):
        return {**value, "tampered": True}
    return None


def _update_one(name: str) -> Edit:
    def edit(conn: Connection) -> None:
        table = _table(name)
        row = _first(conn, table)
        keys = {c.name for c in table.primary_key.columns}
        for column in table.columns:
            if column.name in keys or column.foreign_keys:
                continue
            new = _changed(column, row[column.name])
            if new is not None and new != row[column.name]:
                conn.execute(update(table).where(_where_pk(table, row)).values({column.name: new}))
                return
        raise AssertionError(f"{name}: no column to change")

    return edit


def _delete_one(name: str) -> Edit:
    def edit(conn: Connection) -> None:
        table = _table(name)
        row = _first(conn, table)
        conn.execute(table.delete().where(_where_pk(table, row)))

    return edit


def _insert_copy(name: str) -> Edit:
    """Insert a copy of a row with a new key and new unique values: a forged record."""

    def edit(conn: Connection) -> None:
        table = _table(name)
        row = _first(conn, table)
        (pk,) = table.primary_key.columns
        copy = dict(row)
        copy[pk.name] = row[pk.name] + 100_000 if isinstance(pk.type, Integer) else "f" * 64
        unique = {c.name for con in table.constraints if hasattr(con, "columns") and
                  con.__class__.__name__ == "UniqueConstraint" for c in con.columns}  # fmt: skip
        for index in table.indexes:
            if index.unique:
                unique |= {c.name for c in index.columns}
        for col in unique - {pk.name}:
            column = table.columns[col]
            if isinstance(column.type, String) and not getattr(column.type, "enums", None):
                copy[col] = (str(row[col]) + "-2")[-(column.type.length or 64) :]
            elif isinstance(column.type, Integer) and not column.foreign_keys:
                copy[col] = (row[col] or 0) + 100_000
        if name == "certificates":
            copy["status"] = "rejected"  # a second live one of the run is refused anyway
        conn.execute(insert(table), [copy])

    return edit


def _rechain(conn: Connection, from_id: int, mutate: Callable[[AuditEvent], None]) -> None:
    """Rewrite event ``from_id`` and re-hash it and every later event and the head."""
    prev = (
        conn.scalar(select(AuditEvent.sha256).where(AuditEvent.id == from_id - 1)) or GENESIS_SHA256
    )
    with Session(bind=conn) as s:
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.id >= from_id)))
        for ev in events:
            s.expunge(ev)
    for ev in sorted(events, key=lambda e: e.id):
        if ev.id == from_id:
            mutate(ev)
        ev.prev_sha256 = prev
        ev.sha256 = stored_event_sha256(ev)
        conn.execute(
            update(AuditEvent)
            .where(AuditEvent.id == ev.id)
            .values(
                reason=ev.reason,
                state=ev.state,
                changes=ev.changes,
                actor=ev.actor,
                prev_sha256=ev.prev_sha256,
                sha256=ev.sha256,
            )
        )
        prev = ev.sha256
    conn.execute(text("UPDATE audit_head SET last_sha256 = :h"), {"h": prev})


def _last_event_of(conn: Connection, table: str, record: str) -> int:
    return int(
        conn.scalar(
            select(AuditEvent.id)
            .where(AuditEvent.table_name == table, AuditEvent.record_id == record)
            .order_by(AuditEvent.id.desc())
            .limit(1)
        )
    )


def _falsify_customer(conn: Connection) -> None:
    """The insider's consistent rewrite: a customer's address, its audit event, the chain."""
    conn.execute(text("UPDATE customers SET address = 'forged' WHERE id = 1"))
    first = _last_event_of(conn, "customers", "1")

    def mutate(ev: AuditEvent) -> None:
        ev.state = {**ev.state, "address": "forged"}

    _rechain(conn, first, mutate)


def _forget_anchors(conn: Connection) -> None:
    """...and the record of the anchors written: as if the trail had never been anchored."""
    conn.execute(
        text(
            "UPDATE audit_anchor_state SET anchors_written = 0, newest_event_id = 0, "
            "newest_anchor_sha256 = ''"
        )
    )
    ids = conn.scalars(
        select(AuditEvent.id)
        .where(AuditEvent.table_name == "audit_anchor_state")
        .order_by(AuditEvent.id)
    ).all()
    for ev_id in ids:

        def mutate(ev: AuditEvent) -> None:
            ev.state = {**ev.state, "anchors_written": 0, "newest_event_id": 0}
            ev.state["newest_anchor_sha256"] = ""
            ev.changes = {}

        _rechain(conn, ev_id, mutate)


def _cut_end(conn: Connection) -> None:
    """Delete the newest events and rewind the head to match: a consistent cut."""
    last = int(conn.scalar(text("SELECT last_id FROM audit_head")))
    keep = last - 3
    digest = conn.scalar(select(AuditEvent.sha256).where(AuditEvent.id == keep))
    conn.execute(text("DELETE FROM audit_events WHERE id > :i"), {"i": keep})
    conn.execute(
        text("UPDATE audit_head SET last_id = :i, last_sha256 = :h"), {"i": keep, "h": digest}
    )


def _forge_event(conn: Connection) -> None:
    """Append a well-formed event (hash and head correct) claiming a change nobody made."""
    last = conn.execute(text("SELECT last_id, last_sha256 FROM audit_head")).one()
    ev = AuditEvent(
        id=last[0] + 1,
        occurred_at=datetime.now(UTC),
        actor="wang",
        action="update",
        table_name="customers",
        record_id="1",
        changes={"address": ["x", "y"]},
        state={"address": "y"},
        reason="moved",
        prev_sha256=last[1],
    )
    ev.sha256 = stored_event_sha256(ev)
    conn.execute(
        insert(AuditEvent),
        [{c.name: getattr(ev, c.key) for c in AuditEvent.__table__.columns}],  # type: ignore[attr-defined]
    )
    conn.execute(
        text("UPDATE audit_head SET last_id = :i, last_sha256 = :h"), {"i": ev.id, "h": ev.sha256}
    )


def _sql(statement: str) -> Edit:
    return lambda conn: conn.exec_driver_sql(statement)


_DELETE_LAST = "DELETE FROM audit_events WHERE id = (SELECT max(id) FROM audit_events)"


def _second_issued(conn: Connection) -> None:
    """A second issued certificate for the run (two certificates for one instrument)."""
    _insert_copy("certificates")(conn)
    conn.exec_driver_sql("UPDATE certificates SET status = 'issued' WHERE id > 100000")


def _falsify_all(conn: Connection) -> None:
    _falsify_customer(conn)
    _forget_anchors(conn)


# --------------------------------------------------------------------------- files


def _flip_archived(lab: Lab) -> Callable[[], None]:
    _sha, path = next(iter_archive(lab.archive))
    data = path.read_bytes()
    path.chmod(0o644)
    path.write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])
    return lambda: (path.write_bytes(data), path.chmod(0o444))  # type: ignore[func-returns-value]


def _delete_archived(lab: Lab) -> Callable[[], None]:
    _sha, path = next(iter_archive(lab.archive))
    data = path.read_bytes()
    path.chmod(0o644)
    path.unlink()
    return lambda: path.write_bytes(data)  # type: ignore[func-returns-value]


def _hide_anchors(lab: Lab) -> Callable[[], None]:
    saved = lab.anchors.read_bytes()
    lab.anchors.unlink()
    return lambda: lab.anchors.write_bytes(saved)  # type: ignore[func-returns-value]


def _drop_last_anchor(lab: Lab) -> Callable[[], None]:
    saved = lab.anchors.read_bytes()
    lines = saved.decode().splitlines()
    lab.anchors.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    return lambda: lab.anchors.write_bytes(saved)  # type: ignore[func-returns-value]


def _nothing(_lab: Lab) -> Callable[[], None]:
    return lambda: None


# --------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    name: str
    edit: Edit | None = None
    #: The table whose first row the edit needs (a case on an empty table is skipped).
    table: str | None = None
    files: Callable[[Lab], Callable[[], None]] = _nothing
    #: The primary anchor destination out of reach (an unmounted share).
    unreachable: bool = False


def _audited_tables() -> list[str]:
    return sorted(m.class_.__tablename__ for m in Base.registry.mappers if m.class_.__audited__)


CASES = [
    *[Case(f"{t}-update", _update_one(t), table=t) for t in _audited_tables()],
    *[Case(f"{t}-delete", _delete_one(t), table=t) for t in _audited_tables()],
    *[Case(f"{t}-insert", _insert_copy(t), table=t) for t in _audited_tables()],
    Case("readings-update", _sql("UPDATE readings SET magnitude = magnitude + 1 WHERE seq = 2")),
    Case("readings-delete-last", _sql("DELETE FROM readings WHERE seq = 5")),
    Case("readings-insert", _insert_copy("readings")),
    Case("counter-back", _sql("UPDATE certificate_sequences SET last = last - 1")),
    Case("counter-forward", _sql("UPDATE certificate_sequences SET last = last + 5")),
    Case("counter-delete", _sql("DELETE FROM certificate_sequences")),
    Case("second-issued-certificate", _second_issued),
    Case("archive-file-altered", files=_flip_archived),
    Case("archive-file-deleted", files=_delete_archived),
    Case("event-update", _sql("UPDATE audit_events SET actor = 'mallory' WHERE id = 5")),
    Case("event-delete-middle", _sql("DELETE FROM audit_events WHERE id = 5")),
    Case("event-delete-last", _sql(_DELETE_LAST)),
    Case("event-forged-at-end", _forge_event),
    Case("chain-end-cut-consistently", _cut_end),
    Case("head-rewound", _sql("UPDATE audit_head SET last_id = last_id - 1")),
    Case("anchor-file-deleted", files=_hide_anchors),
    Case("anchor-line-removed", files=_drop_last_anchor),
    Case("anchor-count-lowered", _sql("UPDATE audit_anchor_state SET anchors_written = 1")),
    Case("insider-rewrite-with-anchor-file", _falsify_customer),
    Case("insider-rewrite-anchor-file-deleted", _falsify_customer, files=_hide_anchors),
    Case("insider-rewrite-and-anchor-record", _falsify_all, files=_hide_anchors),
    Case("insider-rewrite-destination-unreachable", _falsify_customer, unreachable=True),
]


def _outcome(lab: Lab, case: Case) -> str:
    restore_files = case.files(lab)
    anchor_file = (
        lab.data / "unmounted-share" / "audit-anchors.jsonl" if case.unreachable else lab.anchors
    )
    try:
        with lab.db.engine.connect() as conn:
            trans = conn.begin()
            try:
                _unguard(conn)
                if case.edit is not None:
                    nested = conn.begin_nested()
                    try:
                        case.edit(conn)
                        nested.commit()
                    except DBAPIError:
                        nested.rollback()
                        return "prevented"
                with Session(bind=conn) as s:
                    report = check_integrity(s, archive_dir=lab.archive, anchor_file=anchor_file)
                return report.verdict.value
            finally:
                trans.rollback()
    finally:
        restore_files()


_results: dict[str, dict[str, str]] = {}
_skipped: dict[str, set[str]] = {}


def test_the_untouched_lab_is_intact(lab: Lab) -> None:
    with lab.db.read() as s:
        report = check_integrity(s, archive_dir=lab.archive, anchor_file=lab.anchors)
    assert report.verdict is IntegrityVerdict.INTACT, (report.problems, report.anchors.doubts)
    assert report.anchors.anchors >= 2
    assert report.archived_files == 2  # the issued PDF and DCC


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_tampering_is_detected_or_refused(lab: Lab, case: Case) -> None:
    if case.table is not None:
        with lab.db.read() as s:
            rows = s.scalar(select(func.count()).select_from(_table(case.table)))
        if not rows:
            _skipped.setdefault(lab.db.engine.dialect.name, set()).add(case.table)
            pytest.skip(f"{case.table} holds no row in this lab: nothing to tamper with")
    outcome = _outcome(lab, case)
    _results.setdefault(lab.db.engine.dialect.name, {})[case.name] = outcome
    assert outcome in {"prevented", "tampered", "cannot confirm"}, f"{case.name}: {outcome}"
    with lab.db.read() as s:  # rolled back: the next case starts from an intact lab
        after = check_integrity(s, archive_dir=lab.archive, anchor_file=lab.anchors)
    assert after.verdict is IntegrityVerdict.INTACT, (case.name, after.problems)


def test_the_documented_limit_is_reported_as_cannot_confirm(lab: Lab) -> None:
    """Unanchored events rewritten with every anchor destination out of reach."""
    outcome = _outcome(
        lab,
        Case("tail", _sql("UPDATE audit_events SET reason = 'x' WHERE id = 1"), unreachable=True),
    )
    assert outcome in {"tampered", "cannot confirm"}
    assert _outcome(lab, Case("reach", None, unreachable=True)) == "cannot confirm"


def test_detection_rate(lab: Lab) -> None:
    results = _results.get(lab.db.engine.dialect.name, {})
    empty = sorted(_skipped.get(lab.db.engine.dialect.name, set()))
    if len(results) + 3 * len(empty) < len(CASES):
        pytest.skip("run with the whole suite to count")
    caught = sum(v != "intact" for v in results.values())
    by_kind = {k: sum(v == k for v in results.values()) for k in set(results.values())}
    for name, verdict in results.items():
        if verdict != "tampered":
            print(f"  {name}: {verdict}")
    print(
        f"{lab.db.engine.dialect.name}: {caught} of {len(results)} tamperings caught "
        f"({100 * caught / len(results):.0f} %): {by_kind}; "
        f"audited tables empty in this lab: {', '.join(empty) or 'none'}"
    )
    assert len(results) >= 30
    assert caught == len(results)
