"""Incremental verification on PostgreSQL: the rows written since the checkpoint, found from
their row versions (``xmin``), are the only ones compared again; every other row is as the
checkpoint's verification hashed it, and the row counts account for deletions.

What is re-checked on each incremental verification there: every event written since the
checkpoint's snapshot (new ones in full; old ones rewritten, by their hash and both links);
every audited record written since, or touched by a newer event, against its newest event;
every run's reading and instrument-I/O chain with a row written since, or a newer head, in
full; every table's row count against the checkpoint's count carried forward by the trail
(the readings' and exchanges' counts follow from it while the database refuses their rows
without their run's chain event).
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from lims import audit_row_versions, audit_verify
from lims.audit_row_versions import HORIZON, WrittenSince, check_records, written_since
from lims.audit_stream import check_chains, table_digest
from lims.db import Database
from lims.integrity import IntegrityVerdict
from lims.models import AuditEvent, Customer, Reading
from migrations.guards import require_chain_event
from tests.lims._checkpoints import CheckpointLab, found
from tests.lims._history import add_runs


class _Spy:
    """Records what the incremental verification compares again."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.records: dict[str, set[str]] = {}
        self.runs: dict[str, list[int]] = {}
        real_records, real_chains = check_records, check_chains

        def records(session: Session, table: Any, keys: Any) -> Any:
            self.records[table.name] = set(keys)
            return real_records(session, table, keys)

        def chains(session: Session, chained: Any, runs: Any = None) -> Any:
            self.runs[chained.name] = list(runs) if runs is not None else [-1]
            return real_chains(session, chained, runs)

        def never(*_: Any) -> None:
            raise AssertionError("an untouched table was hashed again")

        monkeypatch.setattr(audit_verify, "check_records", records)
        monkeypatch.setattr(audit_verify, "check_chains", chains)
        monkeypatch.setattr(audit_verify, "table_digest", never)
        monkeypatch.setattr(audit_verify, "heads_digest", never)


def test_a_checkpoint_records_where_the_snapshot_stood(db: Database, tmp_path: Path) -> None:
    lab = CheckpointLab(db, tmp_path)
    cp = lab.checkpoint()
    assert cp.counts == {"instrument_io": 3 * 20, "readings": 3 + 3 * 20}
    if db.is_sqlite:
        assert cp.row_versions is None
        return
    assert cp.row_versions is not None
    with db.read() as s:
        system = s.scalar(text("SELECT system_identifier::text FROM pg_control_system()"))
        xmax = int(s.scalar(text("SELECT pg_snapshot_xmax(pg_current_snapshot())::text")) or 0)
    assert (cp.row_versions.system, cp.row_versions.database) == (system, "test")
    assert 0 < cp.row_versions.xmax <= xmax
    assert all(x < cp.row_versions.xmax for x in cp.row_versions.running)


def test_a_days_work_compares_only_what_was_written(
    pg: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab = CheckpointLab(pg, tmp_path)
    lab.checkpoint()
    (new_run,) = add_runs(pg, lab.lab, 1)
    spy = _Spy(monkeypatch)
    report = lab.check()
    assert report.verdict is IntegrityVerdict.INTACT, report.problems
    assert report.trail.mode == "incremental"
    assert spy.runs == {"readings": [new_run], "instrument_io": [new_run]}
    assert spy.records["customers"] == set()
    assert str(new_run) in spy.records["runs"]
    assert report.trail.readings == 3 + 4 * 20
    full = lab.check(full=True)
    assert full.trail.digests == report.trail.digests
    assert full.trail.chain_rows == report.trail.chain_rows


def _rename(c: Connection) -> None:
    c.execute(update(Customer).values(name="另一家"))


def _reading(run: int) -> Any:
    def edit(c: Connection) -> None:
        c.execute(
            update(Reading)
            .where(Reading.run_id == run, Reading.seq == 5)
            .values(magnitude=Reading.magnitude * 1.001)
        )

    return edit


def test_an_old_row_written_behind_the_apps_back_is_compared_again(
    pg: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab = CheckpointLab(pg, tmp_path)
    cp = lab.checkpoint()
    old_run = lab.runs[0]
    spy = _Spy(monkeypatch)
    renamed = found(lab.check(_rename))
    assert spy.records["customers"] == {str(lab.lab.customer_id)}
    assert [f for f in renamed if "customers" in f] == [
        f"customers {lab.lab.customer_id}: differs from its audited state "
        f"(event {_first_event(pg, 'customers')}) in name: changed outside the app"
    ]
    altered = found(lab.check(_reading(old_run)))
    assert spy.runs["readings"] == [old_run]
    assert any(f"readings of run {old_run} at seq 5" in f for f in altered)

    def reason(c: Connection) -> None:
        c.execute(update(AuditEvent).where(AuditEvent.id == 9).values(reason="nothing to see"))

    assert any("audit event 9" in f and "altered" in f for f in found(lab.check(reason)))

    def same_again(c: Connection) -> None:  # deleted and inserted again, unchanged
        row = c.execute(text("SELECT * FROM customers")).mappings().one()
        c.execute(text("DELETE FROM customers"))
        cols = ", ".join(row.keys())
        c.execute(
            text(f"INSERT INTO customers ({cols}) VALUES (:{', :'.join(row.keys())})"), dict(row)
        )

    assert lab.check(same_again).verdict is IntegrityVerdict.INTACT
    assert cp.row_versions is not None


def _first_event(db: Database, table: str) -> int:
    with db.read() as s:
        return int(
            s.scalar(text("SELECT min(id) FROM audit_events WHERE table_name = :t"), {"t": table})
            or 0
        )


def test_deleted_rows_are_counted(pg: Database, tmp_path: Path) -> None:
    """A deletion leaves no row version behind: the count, carried forward by the trail,
    differs, and the table is then checked in full so that the record is named."""
    lab = CheckpointLab(pg, tmp_path)
    lab.checkpoint()
    add_runs(pg, lab.lab, 1)
    first = lab.runs[0]
    removed = found(
        lab.check(lambda c: c.execute(text(f"DELETE FROM readings WHERE run_id = {first}")))
    )
    assert any(f"readings of run {first}: 0 stored" in f for f in removed), removed
    io = found(
        lab.check(
            lambda c: c.execute(
                text(f"DELETE FROM instrument_io WHERE run_id = {first} AND seq = 20")
            )
        )
    )
    assert any(f"instrument exchanges of run {first}: 19 stored" in f for f in io), io
    cid = lab.lab.customer_id
    gone = found(lab.check(lambda c: c.execute(text("DELETE FROM customers"))))
    assert any(f"customers {cid}: is missing" in f for f in gone), gone


def test_a_table_rewrite_is_not_a_tamper(
    pg: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every row written again unchanged (what a migration that rewrites a table does):
    all of it is compared again, old events by their hashes, and nothing is found; one
    change among them still is."""
    lab = CheckpointLab(pg, tmp_path)
    lab.checkpoint()
    monkeypatch.setattr(audit_verify, "_REWRITTEN_LIMIT", 5)

    def rewrite(c: Connection) -> None:
        for table in ("audit_events", "readings", "customers", "runs"):
            c.execute(
                text(
                    f"UPDATE {table} SET id = id"
                    if table != "readings"
                    else "UPDATE readings SET seq = seq"
                )
            )

    report = lab.check(rewrite)
    assert report.verdict is IntegrityVerdict.INTACT, report.problems
    assert report.trail.mode == "incremental"

    def rewrite_and_alter(c: Connection) -> None:
        rewrite(c)
        c.execute(update(AuditEvent).where(AuditEvent.id == 12).values(actor="someone else"))

    assert any("audit event 12" in f for f in found(lab.check(rewrite_and_alter)))


def test_a_checkpoint_of_another_database_is_not_used_for_row_versions(
    pg: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a restore (another cluster or database) or 2^30 transactions later, the
    position means nothing: every digest is recomputed from the rows."""
    lab = CheckpointLab(pg, tmp_path)
    cp = lab.checkpoint()
    here = cp.row_versions
    assert here is not None
    with pg.read() as s:
        assert written_since(s, here) is not None
        assert written_since(s, replace(here, system="6900000000000000000")) is None
        assert written_since(s, replace(here, database="elsewhere")) is None
        assert written_since(s, replace(here, xmax=here.xmax - HORIZON, running=())) is None
        assert written_since(s, replace(here, xmax=here.xmax + 10**6, running=())) is None
    hashed: list[str] = []

    def digest(session: Session, table: Any) -> Any:
        hashed.append(table.name)
        return table_digest(session, table)

    monkeypatch.setattr(audit_verify, "table_digest", digest)
    monkeypatch.setattr(audit_row_versions, "_identity", lambda _s: ("another", "cluster"))
    report = lab.check(_rename)
    assert "customers" in hashed
    assert any("customers" in f and "changed outside the app" in f for f in found(report))


APPEND_ONLY = {"audit_events", "readings", "instrument_io"}


def test_sealed_append_only_tables_are_counted_not_scanned(
    pg: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audit trail, the readings and the exchanges only ever grow: their guards refuse
    UPDATE, DELETE and TRUNCATE even in replica mode, so while those guards are as the
    checkpoint saw them, counting their rows is all the incremental verification does."""
    lab = CheckpointLab(pg, tmp_path)
    lab.checkpoint()
    add_runs(pg, lab.lab, 1)
    surveyed: list[str] = []
    real = WrittenSince.survey

    def survey(self: WrittenSince, session: Session, table: Any, *args: Any) -> Any:
        surveyed.append(table.name)
        return real(self, session, table, *args)

    monkeypatch.setattr(WrittenSince, "survey", survey)
    report = lab.check()
    assert report.verdict is IntegrityVerdict.INTACT, report.problems
    assert not APPEND_ONLY & set(surveyed)
    assert {"customers", "runs", "certificates"} <= set(surveyed)
    for sql in (
        "UPDATE readings SET magnitude = magnitude + 1",
        "DELETE FROM instrument_io",
        "TRUNCATE audit_events",
    ):
        with pg.engine.connect() as conn:
            conn.exec_driver_sql("SET session_replication_role = replica")
            with pytest.raises(DBAPIError, match="append-only"):
                conn.exec_driver_sql(sql)
            conn.rollback()


def test_a_guard_disabled_for_a_moment_breaks_the_seal(pg: Database, tmp_path: Path) -> None:
    """Disabling a guard (or dropping and creating it again) writes its catalog row: the
    table is then surveyed row by row, and the reading changed meanwhile is found."""
    lab = CheckpointLab(pg, tmp_path)
    lab.checkpoint()
    old_run = lab.runs[0]

    def behind_a_disabled_guard(c: Connection) -> None:
        c.exec_driver_sql("ALTER TABLE readings DISABLE TRIGGER readings_append_only")
        _reading(old_run)(c)
        c.exec_driver_sql("ALTER TABLE readings ENABLE ALWAYS TRIGGER readings_append_only")

    report = lab.check(behind_a_disabled_guard, unguarded=False)
    assert any(f"readings of run {old_run} at seq 5" in f for f in found(report))


def _copy_event(conn: Connection, source: int, new_id: int) -> None:
    conn.exec_driver_sql(
        "INSERT INTO audit_events SELECT (jsonb_populate_record(NULL::audit_events, "
        f"to_jsonb(a) || jsonb_build_object('id', {new_id}))).* FROM audit_events a "
        f"WHERE a.id = {source}"
    )


def _counted_tables(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the tables the incremental verification counts, as it counts them."""
    counted: list[str] = []
    real = audit_verify.row_count

    def row_count(session: Session, table: Any, where: Any = None) -> int:
        counted.append(table.name)
        return real(session, table, where)

    monkeypatch.setattr(audit_verify, "row_count", row_count)
    return counted


def test_a_sealed_trail_up_to_the_checkpoint_is_not_even_counted(
    pg: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events 1..N were all there at the checkpoint. Sealed, none can go; with the primary
    key kept, none can come among them: only an id below 1 could be added, and the lowest
    id tells. An event added there, or beside a dropped key, is counted and found."""
    lab = CheckpointLab(pg, tmp_path)
    cp = lab.checkpoint()
    add_runs(pg, lab.lab, 1)
    counted = _counted_tables(monkeypatch)
    report = lab.check()
    assert report.verdict is IntegrityVerdict.INTACT, report.problems
    assert "audit_events" not in counted
    stored = f"{cp.covers + 1} stored, but checkpoint {cp.event_id} covers {cp.covers}"

    findings = found(lab.check(lambda conn: _copy_event(conn, 3, 0), unguarded=False))
    assert any(stored in f for f in findings), findings

    def beside_a_dropped_key(conn: Connection) -> None:
        conn.exec_driver_sql("ALTER TABLE audit_events DROP CONSTRAINT pk_audit_events CASCADE")
        _copy_event(conn, 3, 3)

    counted.clear()
    findings = found(lab.check(beside_a_dropped_key, unguarded=False))
    assert "audit_events" in counted
    assert any(stored in f for f in findings), findings


def _copy_reading(run: int, seq: int) -> str:
    """Plain SQL that stores reading 1 of ``run`` again as reading ``seq``."""
    return (
        "INSERT INTO readings SELECT (jsonb_populate_record(NULL::readings, to_jsonb(r) || "
        f"jsonb_build_object('id', nextval(pg_get_serial_sequence('readings', 'id')), "
        f"'seq', {seq}))).* FROM readings r WHERE r.run_id = {run} AND r.seq = 1"
    )


def _chain_event_of(run: int, new_id: int) -> str:
    """Plain SQL that appends a copy of a readings chain event as run ``run``'s."""
    return (
        "INSERT INTO audit_events SELECT (jsonb_populate_record(NULL::audit_events, "
        f"to_jsonb(a) || jsonb_build_object('id', {new_id}, 'record_id', '{run}'))).* "
        "FROM audit_events a WHERE a.id = (SELECT min(id) FROM audit_events "
        "WHERE table_name = 'readings')"
    )


def test_a_reading_is_stored_only_with_its_runs_chain_event(pg: Database, tmp_path: Path) -> None:
    """The database itself refuses a reading (in replica mode too, by COPY too) unless the
    same transaction first wrote an audit event on the readings of that very run; then the
    run is among the trail's newer events, walked by the next incremental verification."""
    lab = CheckpointLab(pg, tmp_path)
    lab.checkpoint()
    old, other = lab.runs[0], lab.runs[1]
    refused = "readings of run {} inserted without its audit event: refused"
    for before in ("", _chain_event_of(other, 10**9)):
        with pg.engine.connect() as conn:
            conn.exec_driver_sql("SET session_replication_role = replica")
            if before:
                conn.exec_driver_sql(before)
            with pytest.raises(DBAPIError, match=re.escape(refused.format(old))):
                conn.exec_driver_sql(_copy_reading(old, 99))
            conn.rollback()
    columns = "run_id, seq, at, instrument, operation, sent, received, duration_s, error, "
    columns += "chain_sha256"
    with pg.engine.connect() as conn:
        row = conn.exec_driver_sql(
            f"SELECT {columns} FROM instrument_io WHERE run_id = {old} AND seq = 1"
        ).one()
        raw = conn.connection.driver_connection
        assert raw is not None
        copy = f"COPY instrument_io ({columns}) FROM STDIN"
        with (
            pytest.raises(Exception, match="inserted without its audit event"),
            raw.cursor() as cur,
            cur.copy(copy) as cp,
        ):
            cp.write_row([row[0], 99, *row[2:]])
        raw.rollback()

    def with_an_event_of_its_own(c: Connection) -> None:
        c.exec_driver_sql(_chain_event_of(old, 10**9))
        c.exec_driver_sql(_copy_reading(old, 99))  # let through: the run is walked

    findings = found(lab.check(with_an_event_of_its_own, unguarded=False))
    assert any(f"readings of run {old}" in f for f in findings), findings


def test_readings_and_exchanges_are_not_counted_while_inserts_need_their_event(
    pg: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sealed and with their insert guards as the checkpoint saw them, the chained tables'
    row counts follow from the checkpoint's and the walked runs': neither table is counted,
    and the readings reported are the readings stored. A guard dropped and created again
    (to slip a reading into an old run) makes the table counted, and the reading found."""
    lab = CheckpointLab(pg, tmp_path)
    lab.checkpoint()
    with pg.read() as s:
        at_checkpoint = int(s.scalar(text("SELECT count(*) FROM readings")) or 0)
    add_runs(pg, lab.lab, 2)
    counted = _counted_tables(monkeypatch)
    report = lab.check()
    assert report.verdict is IntegrityVerdict.INTACT, report.problems
    assert not {"readings", "instrument_io"} & set(counted)
    with pg.read() as s:
        stored = int(s.scalar(text("SELECT count(*) FROM readings")) or 0)
    assert report.trail.readings == stored == at_checkpoint + 20 * 2
    old = lab.runs[0]

    def behind_a_dropped_guard(c: Connection) -> None:
        c.exec_driver_sql("DROP TRIGGER readings_audited_insert ON readings")
        c.exec_driver_sql(_copy_reading(old, 21))
        require_chain_event(c, "readings")

    findings = found(lab.check(behind_a_dropped_guard, unguarded=False))
    assert "readings" in counted
    assert any(f"readings of run {old}" in f for f in findings), findings


def test_the_guard_ignores_operators_and_tables_put_in_its_way(
    pg: Database, tmp_path: Path
) -> None:
    """A session that puts an always-true ``=`` for transaction ids, or a temporary audit
    trail holding the run's event, before the catalog in its search path gets the same
    refusal: the guard names its trail's schema and runs with the catalog's operators."""
    lab = CheckpointLab(pg, tmp_path)
    old = lab.runs[0]
    with pg.engine.connect() as conn:
        schema = conn.exec_driver_sql("SELECT current_schema()").scalar_one()
        conn.exec_driver_sql("CREATE SCHEMA shadow")
        conn.exec_driver_sql(
            "CREATE FUNCTION shadow.always(xid, xid) RETURNS boolean LANGUAGE sql AS 'SELECT true'"
        )
        conn.exec_driver_sql(
            "CREATE OPERATOR shadow.= (LEFTARG = xid, RIGHTARG = xid, FUNCTION = shadow.always)"
        )
        conn.exec_driver_sql(
            "CREATE TEMPORARY TABLE audit_events AS SELECT * FROM audit_events "
            f"WHERE table_name = 'readings' AND record_id = '{old}'"
        )
        conn.exec_driver_sql(f'SET LOCAL search_path = pg_temp, shadow, "{schema}", pg_catalog')
        with pytest.raises(DBAPIError, match="inserted without its audit event"):
            conn.exec_driver_sql(_copy_reading(old, 99))
        conn.rollback()
