"""Certificate numbers are unique and gapless per year, with several processes at once."""

from __future__ import annotations

import multiprocessing as mp
import random
import time

import pytest
from sqlalchemy import select

from lims.db import Database
from lims.models import CertificateSequence, LabProfile
from lims.services.numbering import (
    NumberingError,
    format_number,
    next_certificate_number,
)


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
