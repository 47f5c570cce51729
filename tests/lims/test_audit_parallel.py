"""A full verification whose readings' and exchanges' chains are walked in worker processes
(PostgreSQL, on the verifying transaction's exported snapshot) finds what the walk in one
process finds, and sees exactly the verifier's snapshot, not later commits."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session

from lims.audit_parallel import start_chain_checks
from lims.audit_stream import CHAINED
from lims.audit_verify import VerifyReport, verify_trail
from lims.db import Database
from lims.integrity import verification_session
from lims.models import InstrumentExchange, Reading
from tests.lims._attacks import unguard
from tests.lims._history import add_runs
from tests.lims._lab import build_lab


def _verify(db: Database, parallel: bool) -> VerifyReport:
    with verification_session(db) as s:
        return verify_trail(s, parallel=parallel)


def _tamper(db: Database, reading_run: int, io_run: int) -> None:
    """Committed plain-SQL edits, as a database owner could make them."""
    with db.engine.begin() as conn:
        unguard(conn)
        conn.execute(
            update(Reading)
            .where(Reading.run_id == reading_run, Reading.seq == 3)
            .values(magnitude=Reading.magnitude + 0.5)
        )
        conn.execute(
            delete(InstrumentExchange).where(
                InstrumentExchange.run_id == io_run, InstrumentExchange.seq == 20
            )
        )


def test_workers_find_what_one_process_finds(pg: Database, tmp_path: Path) -> None:
    lab = build_lab(pg, issued=False)
    runs = add_runs(pg, lab, 4)
    alone, shared = _verify(pg, parallel=False), _verify(pg, parallel=True)
    assert alone.ok, alone.problems
    assert shared.ok, shared.problems
    assert shared.readings == alone.readings == lab_readings(pg) > 0
    assert shared.digests == alone.digests

    _tamper(pg, reading_run=runs[1], io_run=runs[2])
    alone, shared = _verify(pg, parallel=False), _verify(pg, parallel=True)
    assert sorted(map(str, shared.problems)) == sorted(map(str, alone.problems))
    found = " | ".join(map(str, shared.problems))
    assert f"readings of run {runs[1]} at seq 3" in found
    assert f"instrument exchanges of run {runs[2]}" in found


def lab_readings(db: Database) -> int:
    with db.read() as s:
        return lab_readings_in(s)


def lab_readings_in(s: Session) -> int:
    return int(s.scalar(select(func.count()).select_from(Reading)) or 0)


def test_workers_see_the_verifiers_snapshot_not_later_commits(pg: Database) -> None:
    lab = build_lab(pg, issued=False)
    add_runs(pg, lab, 2)
    with verification_session(pg) as s:
        seen = lab_readings_in(s)  # the first statement: the snapshot is taken
        checks = start_chain_checks(s, force=True)
        assert checks is not None
        add_runs(pg, lab, 2)  # committed after the verifier's snapshot
        with closing(checks):
            found = {c.name: checks.result(c) for c in CHAINED}
    assert lab_readings(pg) > seen
    assert found["readings"].rows == seen
    assert all(not f.problems for f in found.values())


def test_not_in_a_transaction_that_has_written(pg: Database) -> None:
    build_lab(pg, issued=False)
    with pg.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with Session(bind=conn) as s:
            s.execute(delete(Reading).where(Reading.id == -1))
            s.execute(update(Reading).where(Reading.id == -1).values(magnitude=0.0))
            s.execute(text("CREATE TEMP TABLE scratch (x int)"))
            assert start_chain_checks(s, force=True) is None
            s.rollback()
