"""The reading writer: batching, periodic commits, and retried batches never duplicate."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from lims.audit import AuditError, verify
from lims.db import Database
from lims.engine import WriterError
from lims.engine.journal import seal_journal, write_journal
from lims.engine.writer import ReadingWriter
from lims.models import (
    AuditEvent,
    Procedure,
    ProcedureVersion,
    Reading,
    ReadingJournal,
    RegulationTable,
    Run,
    ServiceKind,
    User,
)


def _run(db: Database) -> int:
    with db.write(actor="test-setup") as s:
        user = User(
            username="op",
            full_name="op",
            password_hash="x",
            password_changed_at=datetime.now(UTC),
        )
        s.add(
            Procedure(
                id="p", title_zh="p", title_en="p", kind=ServiceKind.CALIBRATION, regulation="r"
            )
        )
        s.add(user)
        s.flush()
        table = RegulationTable(procedure_id="p", version="1", sha256="0" * 64, content="")
        s.add(table)
        s.flush()
        pv = ProcedureVersion(
            procedure_id="p", version="1", source_sha256="0" * 64, regulation_table_id=table.id
        )
        s.add(pv)
        s.flush()
        run = Run(procedure_version_id=pv.id, operator_id=user.id, bench_name="b")
        s.add(run)
        s.flush()
        return run.id


def _reading(seq: int) -> dict[str, Any]:
    return {
        "seq": seq,
        "step": "s",
        "test_point": "P",
        "quantity": "indication",
        "magnitude": 400.0 + seq,
        "unit": "micromole / mole",
        "taken_at": datetime.now(UTC),
        "source": "analyzer",
    }


class _LostAckWriter(ReadingWriter):
    """Commits, then reports a failure, once: the batch is retried after a real commit."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.failures_left = 2
        self.commits = 0

    def _commit(self, batch: Sequence[dict[str, Any]]) -> None:
        super()._commit(batch)
        self.commits += 1
        if self.failures_left:
            self.failures_left -= 1
            raise ConnectionError("connection lost after COMMIT")


def test_retried_batch_never_duplicates(db: Database) -> None:
    run_id = _run(db)
    acks: list[tuple[int, int]] = []
    w = _LostAckWriter(
        db, run_id, "op", retry_delay_s=0.001, on_commit=lambda s, n: acks.append((s, n))
    )
    w.start()
    for i in range(1, 41):
        w.put(_reading(i))
    assert w.flush() == 40
    for i in range(41, 51):
        w.put(_reading(i))
    w.close()
    assert w.commits >= 3  # the first batch was committed twice
    with db.read() as s:
        seqs = list(
            s.scalars(select(Reading.seq).where(Reading.run_id == run_id).order_by(Reading.seq))
        )
        assert verify(s).ok
    assert seqs == list(range(1, 51))
    assert acks[-1][0] == 50


def test_batches_and_commits_without_flush(db: Database) -> None:
    run_id = _run(db)
    committed = threading.Event()
    w = ReadingWriter(db, run_id, "op", on_commit=lambda s, n: committed.set())
    w.start()
    for i in range(1, 201):
        w.put(_reading(i))
    w.flush()
    assert w.batches < 200  # readings are written in batches, not one commit each
    committed.clear()
    w.put(_reading(201))
    # no flush: the writer commits by itself within its latency
    assert committed.wait(10)
    assert w.committed_seq == 201
    w.close()
    with db.read() as s:
        n = len(s.scalars(select(Reading.id).where(Reading.run_id == run_id)).all())
    assert n == 201


def test_refused_batch_is_reported(db: Database) -> None:
    run_id = _run(db)
    w = ReadingWriter(db, run_id, "op", retries=2, retry_delay_s=0.001)
    w.start()
    w.put(_reading(2))  # a gap: seq 1 is missing, the database layer refuses
    try:
        with pytest.raises(WriterError, match="sequence has a gap"):
            w.flush()
    finally:
        w.close(1)


def _reading_events(db: Database, run_id: int) -> int:
    with db.read() as s:
        return len(
            s.scalars(
                select(AuditEvent.id).where(
                    AuditEvent.table_name == "readings", AuditEvent.record_id == str(run_id)
                )
            ).all()
        )


def test_real_time_pacing_acknowledges_each_reading_and_audits_once_per_group(
    db: Database,
) -> None:
    run_id = _run(db)
    acks: list[int] = []
    acked = threading.Event()

    def on_commit(seq: int, _n: int) -> None:
        acks.append(seq)
        acked.set()

    # one reading at a time, each committed on its own (as at one reading a second)
    w = ReadingWriter(db, run_id, "op", max_latency_s=0.01, on_commit=on_commit)
    w.start()
    try:
        for i in range(1, 13):
            acked.clear()
            w.put(_reading(i))
            assert acked.wait(10)
        assert acks == list(range(1, 13))  # every reading acknowledged by its own commit
        with db.read() as s:
            journaled = s.scalars(
                select(ReadingJournal.seq).where(ReadingJournal.run_id == run_id)
            ).all()
        assert sorted(journaled) == list(range(1, 13))  # durable before the group closes
        assert w.flush() == 12  # a step boundary closes the group
    finally:
        w.close()
    assert _reading_events(db, run_id) == 1
    with db.read() as s:
        seqs = list(
            s.scalars(select(Reading.seq).where(Reading.run_id == run_id).order_by(Reading.seq))
        )
        assert not s.scalars(select(ReadingJournal.id)).all()
        assert verify(s).ok
    assert seqs == list(range(1, 13))


def test_journal_left_by_a_crash_is_sealed_on_recovery(db: Database) -> None:
    run_id = _run(db)
    items = [_reading(i) for i in range(1, 6)]
    with db.write(actor="op", reason="readings recorded") as s:
        write_journal(s, run_id, items)
        # a retried batch with the same content is skipped, other content refused
        assert write_journal(s, run_id, items[3:]) == 0
    changed = {**items[2], "magnitude": 1.0}
    with pytest.raises(AuditError, match="other content"), db.write(actor="op") as s:
        write_journal(s, run_id, [changed])
    with db.read() as s:
        assert verify(s).ok  # journaled readings are not yet part of the trail
    assert seal_journal(db, run_id, "system:test") == 5
    assert seal_journal(db, run_id, "system:test") == 0
    assert _reading_events(db, run_id) == 1
    with db.read() as s:
        stored = s.scalars(select(Reading).where(Reading.run_id == run_id)).all()
        assert [r.magnitude for r in stored] == [400.0 + i for i in range(1, 6)]
        assert verify(s).ok
