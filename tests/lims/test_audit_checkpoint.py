"""Incremental verification from an anchored checkpoint, and verification in bounded memory.

A checkpoint records the chain position a verification reached and the digest of every
audited table and of every run's reading and instrument-I/O head (:mod:`lims.audit_checkpoint`).
From it, ``lims audit verify`` walks the newer events in full and re-compares every digest:
so a record changed before the checkpoint is found (in its table's digest), as is one
changed after it (in the walk). What only ``--full`` re-hashes on SQLite, the content of
old readings and events, is shown here too; PostgreSQL's row versions are in
``test_audit_row_versions.py``.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
from sqlalchemy import Connection, func, select, text, update

from lims import audit_stream
from lims.audit_anchors import write_anchor
from lims.audit_checkpoint import CHECKPOINT_TABLE
from lims.db import Database
from lims.integrity import (
    IntegrityVerdict,
)
from lims.models import AuditEvent, Certificate, Customer, Reading
from tests.lims._attacks import rechain
from tests.lims._checkpoints import CheckpointLab as _Lab
from tests.lims._checkpoints import archive_external, flip_first_byte
from tests.lims._checkpoints import created as _created
from tests.lims._checkpoints import found as _found
from tests.lims._history import add_runs


def test_incremental_walks_only_what_came_after_the_checkpoint(
    db: Database, tmp_path: Path
) -> None:
    lab = _Lab(db, tmp_path)
    full = lab.check(full=True)
    assert full.verdict is IntegrityVerdict.CANNOT_CONFIRM  # never anchored yet
    cp = lab.checkpoint()
    with db.read() as s:
        stored = s.get(AuditEvent, cp.event_id)
        assert stored is not None
        assert (stored.table_name, stored.actor) == (CHECKPOINT_TABLE, "system:checkpoint")
        assert stored.reason
    assert cp.covers == cp.event_id - 1
    assert cp.tables["readings"].rows == 4  # the lab's run and three more
    add_runs(db, lab.lab, 2)  # a day's work after the checkpoint
    report = lab.check()
    assert report.verdict is IntegrityVerdict.INTACT, report.problems
    assert (report.trail.mode, report.trail.since) == ("incremental", cp.event_id)
    assert report.trail.events == lab.head() - cp.covers
    assert report.trail.touched_runs == {lab.runs[-1] + 1, lab.runs[-1] + 2}
    everything = lab.check(full=True)
    assert everything.verdict is IntegrityVerdict.INTACT
    assert (everything.trail.mode, everything.trail.events) == ("full", lab.head())
    assert everything.trail.readings == report.trail.readings == 3 + 5 * 20


def test_a_record_changed_before_the_checkpoint_is_found_in_its_digest(
    db: Database, tmp_path: Path
) -> None:
    lab = _Lab(db, tmp_path)
    lab.checkpoint()
    add_runs(db, lab.lab, 1)
    cid = lab.lab.customer_id
    renamed = lab.check(lambda c: c.execute(update(Customer).values(name="另一家")))
    assert renamed.trail.mode == "incremental"
    assert [f for f in _found(renamed) if "customers" in f] == [
        f"customers {cid}: differs from its audited state (event {_created(db, 'customers', cid)}) "
        "in name: changed outside the app"
    ]
    first = lab.runs[0]
    removed = lab.check(
        lambda c: c.execute(
            text("DELETE FROM readings WHERE run_id = :r AND seq = 20"), {"r": first}
        )
    )
    assert any(f"readings of run {first}: 19 stored" in f for f in _found(removed))
    forged = lab.check(
        lambda c: c.execute(text("DELETE FROM certificates WHERE run_id = :r"), {"r": lab.runs[1]})
    )
    assert any("certificates" in f and "deleted outside the app" in f for f in _found(forged))


def test_a_record_changed_after_the_checkpoint_is_found_in_the_walk(
    db: Database, tmp_path: Path
) -> None:
    lab = _Lab(db, tmp_path)
    lab.checkpoint()
    (new_run,) = add_runs(db, lab.lab, 1)
    with db.read() as s:
        cert = s.scalars(select(Certificate.id).where(Certificate.run_id == new_run)).one()
    found = _found(
        lab.check(
            lambda c: c.execute(
                update(Certificate).where(Certificate.id == cert).values(content_sha256="e" * 64)
            )
        )
    )
    assert any(f"certificates {cert}: differs from its audited state" in f for f in found)
    altered = _found(
        lab.check(
            lambda c: c.execute(
                update(Reading)
                .where(Reading.run_id == new_run, Reading.seq == 2)
                .values(magnitude=Reading.magnitude + 1)
            )
        )
    )
    assert any(f"readings of run {new_run} at seq 2" in f for f in altered)


def test_what_only_the_full_walk_rehashes(db: Database, tmp_path: Path) -> None:
    """The content of a reading or of an event before the checkpoint, its stored hashes
    left alone: ``--full`` re-hashes it. On SQLite the incremental walk does not; on
    PostgreSQL the rows' versions show they were written since the checkpoint, so it does
    (:mod:`lims.audit_row_versions`)."""
    lab = _Lab(db, tmp_path)
    lab.checkpoint()
    first = lab.runs[0]

    def reading(c: Connection) -> None:
        c.execute(
            update(Reading)
            .where(Reading.run_id == first, Reading.seq == 2)
            .values(magnitude=Reading.magnitude + 1)
        )

    def event(c: Connection) -> None:
        c.execute(update(AuditEvent).where(AuditEvent.id == 5).values(reason="nothing"))

    for edit, where in ((reading, f"readings of run {first} at seq 2"), (event, "audit event 5")):
        incremental = lab.check(edit)
        if db.is_sqlite:
            assert incremental.verdict is IntegrityVerdict.INTACT
        else:
            assert any(where in f for f in _found(incremental))
        assert any(where in f for f in _found(lab.check(edit, full=True)))


def test_events_before_the_checkpoint_deleted_or_rewritten(db: Database, tmp_path: Path) -> None:
    lab = _Lab(db, tmp_path)
    cp = lab.checkpoint()
    deleted = _found(lab.check(lambda c: c.execute(text("DELETE FROM audit_events WHERE id = 7"))))
    assert any(f"audit events up to {cp.covers}" in f and "deleted" in f for f in deleted)

    def rewrite(c: Connection) -> None:
        first = c.scalar(
            select(func.min(AuditEvent.id)).where(AuditEvent.table_name == "customers")
        )
        assert first is not None

        def mutate(ev: AuditEvent) -> None:
            ev.state = {**ev.state, "name": "另一家"}

        rechain(c, first, mutate)
        c.execute(update(Customer).values(name="另一家"))

    found = _found(lab.check(rewrite))
    assert any("anchor" in f or f"checkpoint {cp.event_id}" in f for f in found), found


def _peak(lab: _Lab, full: bool) -> int:
    lab.check(full=full)  # warm: statement caches and lazy imports are not the history
    tracemalloc.start()
    try:
        report = lab.check(full=full)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.verdict is IntegrityVerdict.INTACT, report.problems
    return peak


def test_memory_does_not_grow_with_the_history(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Peak traced memory of a full and an incremental verification (each from a fresh
    checkpoint), with 30 and with 150 runs of history (20 readings, 20 exchanges, 2
    results and a certificate each). Rows stream 50 at a time here, so that both
    histories fill the window many times over."""
    monkeypatch.setattr(audit_stream, "CHUNK", 50)
    lab = _Lab(db, tmp_path, runs=30)
    lab.checkpoint()
    small = (_peak(lab, True), _peak(lab, False))
    add_runs(db, lab.lab, 120)
    lab.checkpoint()
    large = (_peak(lab, True), _peak(lab, False))
    events = lab.head()
    assert events > 1300
    for before, after in zip(small, large, strict=True):
        assert after < before * 1.25 + 64_000, (small, large)


def test_lims_audit_verify_checkpoint_then_incremental(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from lims.db.migrate import upgrade
    from tests.lims._cli import clean_env, run_main

    url = f"sqlite:///{tmp_path / 'lims.sqlite3'}"
    db = Database(url)
    upgrade(db.engine)
    lab = _Lab(db, tmp_path, runs=2)
    write_anchor(db, tmp_path / "audit-anchors.jsonl")
    env = clean_env(tmp_path, LIMS_DATABASE_URL=url)
    r = run_main(["audit", "verify", "--checkpoint"], env, monkeypatch, capsys)
    assert r.code == 0, r.err
    assert "full walk" in r.out
    assert "checkpoint written: event" in r.out
    add_runs(db, lab.lab, 1)
    r = run_main(["audit", "verify"], env, monkeypatch, capsys)
    assert r.code == 0, r.err
    assert "incremental from checkpoint" in r.out
    assert "增量核查" in r.out
    r = run_main(["audit", "verify", "--full"], env, monkeypatch, capsys)
    assert (r.code, "full walk" in r.out) == (0, True), r.err
    db.dispose()


def test_readings_left_unsealed_by_an_interrupted_run_cannot_be_confirmed(
    db: Database, tmp_path: Path
) -> None:
    """Acknowledged readings still in the journal of a run nobody executes are not yet under
    the audit trail: verify says so (cannot confirm) instead of calling the trail intact;
    while the run executes under a live lease, its journal is its own business."""
    from datetime import timedelta

    from lims.db.types import utcnow
    from lims.engine.journal import write_journal
    from lims.models import RunLease

    lab = _Lab(db, tmp_path, runs=1)
    write_anchor(db, lab.anchors)
    assert lab.check().verdict is IntegrityVerdict.INTACT
    run_id = lab.runs[0]
    items = [{"kind": "reading", "seq": 1000 + i, "value": float(i)} for i in range(3)]
    with db.write(actor="system:test", reason="a run's batch journaled, then the run died") as s:
        write_journal(s, run_id, items)
    report = lab.check()
    assert report.verdict is IntegrityVerdict.CANNOT_CONFIRM
    assert report.verdict.exit_code == 4
    assert any(f"run {run_id}: 3 acknowledged" in d for d in report.doubts), report.doubts
    with db.write(actor="system:test", reason="the run executes again") as s:
        lease = s.get(RunLease, run_id) or RunLease(run_id=run_id)
        lease.holder, lease.host, lease.pid = "tester", "here", 1
        lease.taken_at, lease.expires_at = utcnow(), utcnow() + timedelta(minutes=5)
        s.add(lease)
    assert lab.check().verdict is IntegrityVerdict.INTACT


def test_incremental_rehashes_the_files_of_records_changed_since_the_checkpoint(
    db: Database, tmp_path: Path
) -> None:
    """Archived files: an incremental verification re-hashes the files of records changed
    after the checkpoint and checks that every recorded file is there; a file archived
    before it is re-hashed only by ``--full``."""
    from lims.quality.archive import archive_path

    lab = _Lab(db, tmp_path, runs=1)
    old = archive_external(lab, b"%PDF-1.7 old certificate of STD-01", "NIM-2025-1")
    lab.checkpoint()
    new = archive_external(lab, b"%PDF-1.7 new certificate of STD-01", "NIM-2026-7")
    flip_first_byte(lab, old)
    flip_first_byte(lab, new)
    found = _found(lab.check())
    assert any(str(archive_path(lab.archive, new)) in f and "altered" in f for f in found)
    assert not any(old in f for f in found)
    assert any(old in f and "altered" in f for f in _found(lab.check(full=True)))
    archive_path(lab.archive, old).unlink()
    assert any(old in f and "missing" in f for f in _found(lab.check()))


def test_anchors_a_checkpoint_checked_are_not_parsed_again(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One anchor per approval makes the anchor file grow with the lab: the checkpoint
    records each file as its verification read it, and the next incremental verification
    parses only the lines appended since, as long as the file still begins with those
    bytes. A line removed or altered before them makes it read the whole file again."""
    from lims import audit_anchors

    lab = _Lab(db, tmp_path)
    for _ in range(5):
        write_anchor(db, lab.anchors)
    lab.checkpoint()  # 6 anchors checked (one more before its walk), then its own
    add_runs(db, lab.lab, 1)
    write_anchor(db, lab.anchors)
    parsed: list[int] = []
    real = audit_anchors._parse

    def parse(obj: object) -> audit_anchors.Anchor:
        anchor = real(obj)
        parsed.append(anchor.event_id)
        return anchor

    monkeypatch.setattr(audit_anchors, "_parse", parse)
    report = lab.check()
    assert report.verdict is IntegrityVerdict.INTACT, report.problems
    assert report.trail.mode == "incremental"
    assert report.anchors.prefix_trusted
    assert len(parsed) == 2  # the checkpoint's anchor and the one after it
    assert report.anchors.anchors == 8
    lines = lab.anchors.read_text(encoding="utf-8").splitlines(keepends=True)

    def rewrite(kept: list[str]) -> None:
        lab.anchors.write_text("".join(kept), encoding="utf-8")

    try:
        rewrite(lines[:2] + lines[3:])  # an old anchor removed
        parsed.clear()
        removed = lab.check()
        assert not removed.anchors.prefix_trusted
        assert len(parsed) == 7
        assert any("holds 7 anchors, but 8 were written" in f for f in _found(removed))
        digit = lines[1].index('"sha256": "') + len('"sha256": "')
        other = "0" if lines[1][digit] != "0" else "1"
        forged = lines[1][:digit] + other + lines[1][digit + 1 :]
        rewrite([lines[0], forged, *lines[2:]])
        assert any("hash differs from its anchor" in f for f in _found(lab.check()))
    finally:
        rewrite(lines)
    assert lab.check().verdict is IntegrityVerdict.INTACT
