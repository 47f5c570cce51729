"""Certificate numbers are unique and gapless per year, with several processes at once."""

from __future__ import annotations

import multiprocessing as mp
import random
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from lims.audit import log_event
from lims.db import Database
from lims.integrity import IntegrityVerdict
from lims.models import Certificate, CertificateSequence, LabProfile
from lims.services.numbering import (
    NumberingError,
    NumberTaken,
    format_number,
    next_certificate_number,
    numbering_adds_up_since,
)
from tests.lims._checkpoints import CheckpointLab
from tests.lims._history import add_runs


def _lab(db: Database, pattern: str = "{prefix}{year}-{seq:05d}") -> None:
    with db.write(actor="test") as s:
        s.add(
            LabProfile(
                name_zh="实验室",
                name_en="Lab",
                certificate_prefix="CM",
                certificate_number_pattern=pattern,
            )
        )


def test_format_number() -> None:
    assert format_number("{prefix}{year}-{seq:05d}", "CM", 2026, 42) == "CM2026-00042"
    assert format_number("JD{year}{seq:04d}", "", 2027, 7) == "JD20270007"
    with pytest.raises(NumberingError, match="pattern"):
        format_number("{prefix}{nope}", "CM", 2026, 1)


def test_sequence_per_year_and_rollback_returns_number(db: Database) -> None:
    _lab(db)
    with db.write(actor="test") as s:
        assert next_certificate_number(s, 2026) == ("CM2026-00001", 1)
        assert next_certificate_number(s, 2026) == ("CM2026-00002", 2)
        assert next_certificate_number(s, 2027) == ("CM2027-00001", 1)
    taken: list[int] = []

    def failing_draft() -> None:
        with db.write(actor="test") as s:
            taken.append(next_certificate_number(s, 2026)[1])
            raise RuntimeError("draft creation failed")

    with pytest.raises(RuntimeError):
        failing_draft()
    assert taken == [3]
    with db.write(actor="test") as s:  # the rolled-back number is handed out again: no gap
        assert next_certificate_number(s, 2026) == ("CM2026-00003", 3)


def _worker(url: str, count: int, queue: mp.Queue) -> None:  # type: ignore[type-arg]
    db = Database(url)
    taken = []
    rng = random.Random()
    for _ in range(count):
        with db.write(actor="bench") as s:
            number, _seq = next_certificate_number(s, 2026)
            time.sleep(rng.uniform(0, 0.003))  # hold the lock while "rendering"
            taken.append(number)
    db.dispose()
    queue.put(taken)


def test_eight_processes_get_unique_gapless_numbers(db: Database, db_url: str) -> None:
    _lab(db)
    per_process, processes = 10, 8
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(db_url, per_process, queue)) for _ in range(processes)
    ]
    for p in procs:
        p.start()
    numbers = [n for _ in procs for n in queue.get(timeout=120)]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    total = per_process * processes
    assert len(numbers) == total
    assert sorted(numbers) == [f"CM2026-{i:05d}" for i in range(1, total + 1)]
    with db.read() as s:
        assert (
            s.scalar(select(CertificateSequence.last).where(CertificateSequence.year == 2026))
            == total
        )


def _counter(db: Database, year: int = 2026) -> int:
    with db.read() as s:
        return int(
            s.scalars(
                select(CertificateSequence.last).where(CertificateSequence.year == year)
            ).one()
        )


def _bump_counter(db: Database) -> None:
    """The counter moved on through the application (audited) with no certificate drafted."""
    with db.write(actor="system:test", reason="counter moved") as s:
        counter = s.scalars(
            select(CertificateSequence).where(CertificateSequence.year == 2026)
        ).one()
        counter.last += 1
        log_event(
            s, "update", "certificate_sequences", "2026", state={"year": 2026, "last": counter.last}
        )


def test_numbering_from_a_checkpoint_looks_only_at_what_changed_since(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a checkpoint, PostgreSQL's row versions show which certificates and counters
    changed: the day's drafts are checked against the checkpoint's numbering, not every
    certificate again. A gap opened since, through audited changes that every record
    check accepts, is still named."""
    from lims import audit_verify

    lab = CheckpointLab(db, tmp_path, runs=3)
    lab.checkpoint()
    add_runs(db, lab.lab, 2)
    whole: list[int] = []
    checked_whole = audit_verify.numbering_problems

    def counted(session: Any) -> Any:
        whole.append(1)
        return checked_whole(session)

    monkeypatch.setattr(audit_verify, "numbering_problems", counted)
    report = lab.check()
    assert report.verdict is IntegrityVerdict.INTACT, report.problems
    assert whole == ([1] if db.is_sqlite else [])

    highest = _counter(db)
    _bump_counter(db)  # the counter one ahead of the certificates
    report = lab.check()
    assert [str(p) for p in report.problems] == [
        f"certificate numbering of 2026: the counter stands at {highest + 1} but "
        f"the highest number taken is {highest}"
    ]
    add_runs(db, lab.lab, 1)  # the next draft leaves a gap
    found = [str(p) for p in lab.check().problems]
    assert found == [
        f"certificate numbering of 2026: gap: no certificate holds sequence {highest + 1}"
    ]


def test_the_places_changed_since_a_checkpoint_add_up(db: Database, tmp_path: Path) -> None:
    """:func:`numbering_adds_up_since` on a lab numbered 1..N: what the changes since a
    checkpoint must keep (each year numbered 1..counter, each sequence once)."""
    CheckpointLab(db, tmp_path, runs=3)
    with db.read() as s:
        newest = s.scalars(select(Certificate).order_by(Certificate.id.desc()).limit(1)).one()
        cid, seq, number = newest.id, newest.sequence, newest.number
        n = _counter(db)
        assert seq == n
        place = NumberTaken(2026, seq, number)
        assert numbering_adds_up_since(s, {}, {})
        assert numbering_adds_up_since(s, {cid: None}, {2026: n - 1})  # drafted since
        assert numbering_adds_up_since(s, {cid: place}, {})  # changed, same place
        assert not numbering_adds_up_since(s, {cid: None}, {2026: n - 2})  # a gap before it
        assert not numbering_adds_up_since(s, {cid: None}, {2026: n})  # its sequence taken twice
        assert not numbering_adds_up_since(s, {}, {2026: n - 1})  # counter moved, no draft
        moved = NumberTaken(2026, seq - 1, number)
        assert not numbering_adds_up_since(s, {cid: moved}, {})  # sequence n-1 left empty
        assert not numbering_adds_up_since(s, {cid: None}, {2026: n - 1, 2027: 3})  # 2027's gone
