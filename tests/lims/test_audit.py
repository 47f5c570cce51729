"""The audit trail: every write is chained and attributed; tampering is detected and named."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, func, insert, select, text

from lims.audit import AuditError, append_readings, verify
from lims.db import Database
from lims.models import AuditEvent, AuditHead, Certificate, Customer, Equipment, Reading, Result
from tests.lims._lab import Lab, build_lab, drop_guard, get_user, reading_rows
from tests.lims.conftest import LabDb, problems_after

LIMS = Path(sys.executable).with_name("lims")


def _jsonable(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    return v


def _event_hash(ev: dict[str, Any]) -> str:
    """The documented event hash, computed here from scratch (sorted-key compact JSON)."""
    payload = {
        "id": ev["id"],
        "occurred_at": ev["occurred_at"],
        "actor": ev["actor"],
        "action": ev["action"],
        "table": ev["table_name"],
        "record": ev["record_id"],
        "changes": ev["changes"],
        "state": ev["state"],
        "reason": ev["reason"],
        "prev": ev["prev_sha256"],
    }
    body = json.dumps(_jsonable(payload), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _events(db: Database) -> list[AuditEvent]:
    with db.read() as s:
        events = list(s.scalars(select(AuditEvent).order_by(AuditEvent.id)))
        s.expunge_all()
        return events


def _as_dict(ev: AuditEvent) -> dict[str, Any]:
    return {c: getattr(ev, c) for c in AuditEvent.__table__.columns.keys()}  # noqa: SIM118


def _problems(db: Database) -> list[str]:
    with db.read() as s:
        return [str(p) for p in verify(s).problems]


# --------------------------------------------------------------------------- writes


def test_service_writes_append_chained_attributed_events(db: Database) -> None:
    lab = build_lab(db)
    before = len(_events(db))
    user = get_user(db, lab.user_id)
    with db.write(actor=user, reason="customer moved") as s:
        c = s.get(Customer, lab.customer_id)
        assert c is not None
        old_address = c.address
        c.address = "天津市"
    with db.write(actor=user, reason="new customer") as s:
        s.add(Customer(name="中化分析测试中心"))
    events = _events(db)
    new = events[before:]
    assert [(e.action, e.table_name) for e in new] == [
        ("update", "customers"),
        ("create", "customers"),
    ]
    upd, created = new
    assert upd.actor == "zhang"
    assert created.actor == "zhang"
    assert upd.record_id == str(lab.customer_id)
    assert upd.changes == {"address": [old_address, "天津市"]}
    assert upd.state["address"] == "天津市"
    assert upd.state["name"] == "绿源环境监测站"
    assert upd.reason == "customer moved"
    assert created.reason == "new customer"
    assert created.state["name"] == "中化分析测试中心"
    now = datetime.now(UTC)
    for e in new:
        assert e.occurred_at.tzinfo is not None
        assert e.occurred_at.utcoffset() == timedelta(0)
        assert now - timedelta(minutes=5) < e.occurred_at <= now
    # The whole chain: consecutive ids, each event hashes its content and its predecessor.
    prev = "0" * 64
    for i, e in enumerate(events, start=1):
        assert e.id == i
        assert e.prev_sha256 == prev
        assert e.sha256 == _event_hash(_as_dict(e))
        prev = e.sha256
    with db.read() as s:
        head = s.get(AuditHead, 1)
        assert head is not None
        assert (head.last_id, head.last_sha256) == (len(events), prev)


def test_reading_batches_are_audited_with_their_chain_head(db: Database) -> None:
    lab = build_lab(db)
    with db.write(actor="system:test") as s:
        assert append_readings(s, lab.run_id, reading_rows(1, 5)) == 2  # 1..3 exist already
    events = [e for e in _events(db) if e.table_name == "readings"]
    assert [e.state["count"] for e in events] == [3, 5]
    with db.read() as s:
        rows = list(
            s.scalars(select(Reading).where(Reading.run_id == lab.run_id).order_by(Reading.seq))
        )
        s.expunge_all()
    prev = "0" * 64
    for r in rows:
        content = {
            "run_id": r.run_id,
            "seq": r.seq,
            "step": r.step,
            "test_point": r.test_point,
            "quantity": r.quantity,
            "magnitude": r.magnitude,
            "unit": r.unit,
            "taken_at": r.taken_at.isoformat(),
            "source": r.source,
        }
        body = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        prev = hashlib.sha256((prev + body).encode("utf-8")).hexdigest()
        assert r.chain_sha256 == prev
    assert events[-1].state["head"] == prev
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]


def test_write_without_actor_is_refused_and_changes_nothing(db: Database) -> None:
    build_lab(db)
    n_events = len(_events(db))
    with pytest.raises(AuditError, match=r"customers.*without an actor"), db.write() as s:
        s.add(Customer(name="无名客户"))
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Customer)) == 1
    assert len(_events(db)) == n_events
    assert _problems(db) == []


def test_verify_passes_on_untouched_database(db: Database) -> None:
    build_lab(db)
    with db.read() as s:
        report = verify(s)
    assert report.ok, report.problems
    assert report.events == len(_events(db)) > 0
    assert report.readings == 3
    assert report.records > 5


# --------------------------------------------------------------------------- tampering


def _audited_tamper(
    lab: Lab, events: list[AuditEvent]
) -> dict[str, tuple[str, Callable[[Connection], None], str]]:
    """name -> (table whose trigger to drop, plain-SQL edit, text the report must contain)."""
    last = events[-1]
    mid = events[len(events) // 2]

    def forge_event(conn: Connection) -> None:
        ev = {
            "id": last.id + 1,
            "occurred_at": datetime.now(UTC),
            "actor": "mallory",
            "action": "update",
            "table_name": "customers",
            "record_id": str(lab.customer_id),
            "changes": {},
            "state": {},
            "reason": None,
            "prev_sha256": last.sha256,
        }
        conn.execute(insert(AuditEvent.__table__), [{**ev, "sha256": _event_hash(ev)}])

    def insert_customer(conn: Connection) -> None:
        conn.execute(
            insert(Customer.__table__),
            [
                {
                    "id": 900,
                    "name": "幽灵客户",
                    "address": "",
                    "notes": "",
                    "created_at": datetime.now(UTC),
                }
            ],
        )

    def copy_row(conn: Connection, model: Any, row_id: int, **changes: Any) -> None:
        """Insert a plausible copy of a row with a new id (what a forger would do)."""
        table = model.__table__
        row = dict(conn.execute(select(table).where(table.c.id == row_id)).mappings().one())
        conn.execute(insert(table), [{**row, "id": 900, **changes}])

    def delete_certificate(conn: Connection) -> None:
        drop_guard(conn, "signatures")  # its signature goes too, or the foreign key refuses
        conn.execute(text("DELETE FROM signatures WHERE certificate_id = :i"), {"i": cert_id})
        conn.execute(text("DELETE FROM certificates WHERE id = :i"), {"i": cert_id})

    cert_id = lab.certificate_id
    return {
        "event-update": (
            "audit_events",
            lambda c: c.execute(
                text("UPDATE audit_events SET actor = 'mallory' WHERE id = :i"), {"i": mid.id}
            ),
            f"audit event {mid.id}",
        ),
        "event-delete": (
            "audit_events",
            lambda c: c.execute(text("DELETE FROM audit_events WHERE id = :i"), {"i": mid.id}),
            f"audit event {mid.id}",
        ),
        "event-delete-last": (
            "audit_events",
            lambda c: c.execute(text("DELETE FROM audit_events WHERE id = :i"), {"i": last.id}),
            f"the chain ends at event {last.id - 1}",
        ),
        "event-insert": ("audit_events", forge_event, f"the chain ends at event {last.id + 1}"),
        "customer-update": (
            "customers",
            lambda c: c.execute(
                text("UPDATE customers SET name = 'X' WHERE id = :i"), {"i": lab.customer_id}
            ),
            f"customers {lab.customer_id}",
        ),
        "equipment-delete": (
            "equipment",
            lambda c: c.execute(
                text("DELETE FROM equipment WHERE id = :i"), {"i": lab.equipment_id}
            ),
            f"equipment {lab.equipment_id}",
        ),
        "customer-insert": ("customers", insert_customer, "customers 900"),
        "certificate-update": (
            "certificates",
            lambda c: c.execute(
                text("UPDATE certificates SET content_sha256 = :h WHERE id = :i"),
                {"h": "e" * 64, "i": lab.certificate_id},
            ),
            f"certificates {lab.certificate_id}",
        ),
        "result-update": (
            "results",
            lambda c: c.execute(
                text("UPDATE results SET verdict = 'fail' WHERE id = :i"), {"i": lab.result_id}
            ),
            f"results {lab.result_id}",
        ),
        "certificate-delete": (
            "certificates",
            delete_certificate,
            f"certificates {lab.certificate_id}: is missing but audit event",
        ),
        "certificate-insert": (
            "certificates",
            lambda c: copy_row(
                c,
                Certificate,
                lab.certificate_id,
                number="CM2026-09999",
                sequence=9999,
                status="rejected",  # a second live one of the run is refused by an index
            ),
            "certificates 900: has no audit event",
        ),
        "result-delete": (
            "results",
            lambda c: c.execute(text("DELETE FROM results WHERE id = :i"), {"i": lab.result_id}),
            f"results {lab.result_id}: is missing but audit event",
        ),
        "result-insert": (
            "results",
            lambda c: copy_row(c, Result, lab.result_id, item="forged item"),
            "results 900: has no audit event",
        ),
        "signature-delete": (
            "signatures",
            lambda c: c.execute(
                text("DELETE FROM signatures WHERE id = :i"), {"i": lab.signature_id}
            ),
            f"signatures {lab.signature_id}",
        ),
    }


TAMPER_CASES = [
    "event-update",
    "event-delete",
    "event-delete-last",
    "event-insert",
    "customer-update",
    "equipment-delete",
    "customer-insert",
    "certificate-update",
    "certificate-delete",
    "certificate-insert",
    "result-update",
    "result-delete",
    "result-insert",
    "signature-delete",
]


@pytest.mark.parametrize("case", TAMPER_CASES)
def test_verify_detects_and_names_plain_sql_tampering(lab_db: LabDb, case: str) -> None:
    db, lab = lab_db
    assert _problems(db) == []
    table, edit, expected = _audited_tamper(lab, _events(db))[case]
    problems = problems_after(db, table, edit)
    assert problems, f"{case} went undetected"
    assert any(expected in p for p in problems), problems
    assert _problems(db) == []  # rolled back: the next case starts intact


def _reading_tamper(lab: Lab) -> dict[str, tuple[Callable[[Connection], None], str]]:
    run = lab.run_id

    def forge_reading(conn: Connection) -> None:
        # A careful attacker even extends the reading chain correctly.
        last = conn.execute(
            text("SELECT chain_sha256 FROM readings WHERE run_id = :r AND seq = 3"), {"r": run}
        ).scalar_one()
        row = {**reading_rows(4, 4)[0], "run_id": run}
        body = json.dumps(_jsonable(row), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        row["chain_sha256"] = hashlib.sha256((last + body).encode("utf-8")).hexdigest()
        conn.execute(insert(Reading.__table__), [row])

    return {
        "reading-update": (
            lambda c: c.execute(
                text("UPDATE readings SET magnitude = 999 WHERE run_id = :r AND seq = 2"),
                {"r": run},
            ),
            f"readings of run {run} at seq 2",
        ),
        "reading-delete-middle": (
            lambda c: c.execute(
                text("DELETE FROM readings WHERE run_id = :r AND seq = 2"), {"r": run}
            ),
            f"readings of run {run} at seq 3",
        ),
        "reading-delete-last": (
            lambda c: c.execute(
                text("DELETE FROM readings WHERE run_id = :r AND seq = 3"), {"r": run}
            ),
            f"readings of run {run}: 2 stored but audit event",
        ),
        "reading-insert": (forge_reading, f"readings of run {run}: 4 stored but audit event"),
    }


@pytest.mark.parametrize(
    "case", ["reading-update", "reading-delete-middle", "reading-delete-last", "reading-insert"]
)
def test_verify_detects_and_names_reading_tampering(lab_db: LabDb, case: str) -> None:
    db, lab = lab_db
    edit, expected = _reading_tamper(lab)[case]
    problems = problems_after(db, "readings", edit)
    assert any(expected in p for p in problems), problems
    assert _problems(db) == []  # rolled back: the next case starts intact


def test_lims_audit_verify_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lims.sqlite3'}"
    db = Database(url)
    from lims.db.migrate import upgrade

    upgrade(db.engine)
    lab = build_lab(db, issued=False)  # an issued certificate would need its files archived
    env = {**os.environ, "LIMS_DATA_DIR": str(tmp_path), "LIMS_DATABASE_URL": url}
    env.pop("LIMS_CONFIG", None)
    never = subprocess.run(
        [str(LIMS), "audit", "verify"], env=env, capture_output=True, text=True, timeout=60
    )
    assert never.returncode == 4  # consistent, but never anchored outside the database
    assert "CANNOT CONFIRM" in never.stderr
    assert "intact" not in never.stdout
    anchored = subprocess.run(
        [str(LIMS), "audit", "anchor"], env=env, capture_output=True, text=True, timeout=60
    )
    assert anchored.returncode == 0, anchored.stderr
    ok = subprocess.run(
        [str(LIMS), "audit", "verify"], env=env, capture_output=True, text=True, timeout=60
    )
    assert ok.returncode == 0, ok.stderr
    assert "audit trail intact" in ok.stdout
    with db.engine.begin() as conn:
        conn.execute(
            text("UPDATE equipment SET serial_number = 'FAKE' WHERE id = :i"),
            {"i": lab.equipment_id},
        )
    db.dispose()
    bad = subprocess.run(
        [str(LIMS), "audit", "verify"], env=env, capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 1
    assert f"equipment {lab.equipment_id}" in bad.stderr
    assert "serial_number" in bad.stderr
    assert "TAMPERED" in bad.stderr


def test_equipment_model_is_audited() -> None:
    assert Equipment.__audited__
    assert Customer.__audited__


def test_every_table_holding_lab_records_is_audited() -> None:
    from lims.db.base import Base

    unaudited = sorted(
        m.class_.__tablename__ for m in Base.registry.mappers if not m.class_.__audited__
    )
    # the trail itself, readings and the instruments' raw I/O (each chained per run instead),
    # this database's own identity, the run leases (which process holds a run: a heartbeat,
    # not a record), the trails imported from on-site laptops (checked by their import's
    # audited hash) and the reading journal (acknowledged readings sealed into the chains at
    # each group; an unsealed journal makes verify "cannot confirm"); certificate counters are
    # audited
    assert unaudited == [
        "audit_events",
        "audit_head",
        "database_identity",
        "instrument_io",
        "reading_journal",
        "readings",
        "run_leases",
        "synced_audit_events",
    ]


def test_newest_state_before_a_bound_of_records_with_many_events(db: Database) -> None:
    # what an incremental verification subtracts from a checkpoint's digest: the newest
    # state of each touched record before the checkpoint, however many events it has (a
    # counter updated by every certificate has one per certificate)
    from lims.audit_stream import newest_states

    lab = build_lab(db)
    user = get_user(db, lab.user_id)
    with db.write(actor=user, reason="new customer") as s:
        other = Customer(name="中化分析测试中心")
        s.add(other)
        s.flush()
        other_id = other.id
    for i in range(30):
        with db.write(actor=user, reason="address corrected") as s:
            c = s.get(Customer, lab.customer_id if i % 3 else other_id)
            assert c is not None
            c.address = f"天津市 {i}"
    events = [e for e in _events(db) if e.table_name == "customers"]
    keys = [str(lab.customer_id), str(other_id), "999999"]
    for bound in (events[0].id, events[5].id, events[17].id, events[-1].id, events[-1].id + 1):
        expected = {}
        for e in events:  # the newest before the bound, by the events' own order
            if e.id < bound and e.record_id in keys and e.action in ("create", "update"):
                expected[e.record_id] = e.id
        with db.read() as s:
            got = {ev.record_id: ev.id for ev in s.execute(newest_states("customers", keys, bound))}
        assert got == expected, bound
    with db.read() as s:
        newest = {
            ev.record_id: ev.state["address"] for ev in s.execute(newest_states("customers", keys))
        }
    assert newest == {str(lab.customer_id): "天津市 29", str(other_id): "天津市 27"}
