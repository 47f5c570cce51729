"""Readings per second persisted through the run engine's writer, vs one commit per row.

Run: ``uv run python benchmarks/ingest.py [N] [--pg URL] [--rounds R]``. For SQLite (a file
in a temp directory) and PostgreSQL (a database of its own, created on the server of
``--pg``, default the local one, and dropped afterwards: the tests' ``test`` database is
never touched), it writes N readings of one run

* through :class:`lims.engine.writer.ReadingWriter` (batched, a commit at least every
  200 ms), and
* one reading per transaction, each with its own commit (what a naive recorder does),

interleaved in R rounds (ABBA order, so a drift of the machine's load hits both paths
alike), and prints both rates and their ratio. Every reading ends in the same
hash-chained, audited path (:func:`lims.audit.append_readings`).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lims.audit import append_readings
from lims.db import Database
from lims.db.migrate import upgrade
from lims.engine.writer import ReadingWriter
from lims.models import (
    Procedure,
    ProcedureVersion,
    RegulationTable,
    Role,
    Run,
    ServiceKind,
)
from lims.security import PasswordPolicy
from lims.services.users import create_user

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _reading(seq: int) -> dict[str, Any]:
    return {
        "seq": seq,
        "step": "point_50",
        "test_point": "1000 umol/mol",
        "quantity": "concentration",
        "magnitude": 1000.0 + (seq % 7) * 0.1,
        "unit": "micromole / mole",
        "taken_at": T0 + timedelta(milliseconds=seq),
        "source": "analyzer",
    }


def _prepare(db: Database) -> tuple[Any, list[int]]:
    upgrade(db.engine)
    with db.write(actor="benchmark") as s:
        user = create_user(
            s, "ingest", "Ingest", "Writer#2026-bm", [Role.TECHNICIAN], PasswordPolicy()
        )
        s.add(
            Procedure(
                id="bm",
                title_zh="基准",
                title_en="Bench",
                kind=ServiceKind.CALIBRATION,
                regulation="-",
            )
        )
        s.flush()
        table = RegulationTable(procedure_id="bm", version="1", sha256="0" * 64, content="")
        s.add(table)
        s.flush()
        pv = ProcedureVersion(
            procedure_id="bm", version="1", source_sha256="0" * 64, regulation_table_id=table.id
        )
        s.add(pv)
        s.flush()
        runs = []
        for _ in range(2):
            run = Run(procedure_version_id=pv.id, operator_id=user.id, bench_name="bm")
            s.add(run)
            s.flush()
            runs.append(run.id)
    return user, runs


def measure(db: Database, n: int, n_single: int, rounds: int) -> tuple[float, float]:
    """(batched readings/s, one-commit-per-row readings/s), the two paths interleaved."""
    user, (run_a, run_b) = _prepare(db)
    writer = ReadingWriter(db, run_a, user)
    writer.start()
    seq_a = seq_b = 0
    spent = {"batched": 0.0, "single": 0.0}

    def batched() -> None:
        nonlocal seq_a
        start = time.perf_counter()
        for _ in range(n // rounds):
            seq_a += 1
            writer.put(_reading(seq_a))
        writer.flush()
        spent["batched"] += time.perf_counter() - start

    def single() -> None:
        nonlocal seq_b
        start = time.perf_counter()
        for _ in range(n_single // rounds):
            seq_b += 1
            with db.write(actor=user) as s:
                append_readings(s, run_b, [_reading(seq_b)])
        spent["single"] += time.perf_counter() - start

    try:
        for r in range(rounds):
            for path in (batched, single) if r % 2 == 0 else (single, batched):
                path()
    finally:
        writer.close()
    return seq_a / spent["batched"], seq_b / spent["single"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=20_000, help="readings (batched)")
    parser.add_argument("--single", type=int, default=1_000, help="readings, one commit each")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds (ABBA)")
    parser.add_argument(
        "--pg",
        default=os.environ.get(
            "LIMS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
        help="a URL of the PostgreSQL server (its database is not used)",
    )
    args = parser.parse_args()
    rounds = max(1, args.rounds)

    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'ingest.sqlite3'}")
        report("SQLite", *measure(db, args.n, args.single, rounds))
        db.dispose()

    name = f"lims_bench_ingest_{os.getpid()}"
    server = make_url(args.pg)
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # no server
        print(f"PostgreSQL: skipped ({exc.__class__.__name__}: unreachable at {args.pg})")
        admin.dispose()
        return
    try:
        db = Database(server.set(database=name))
        report("PostgreSQL", *measure(db, args.n, args.single, rounds))
        db.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def report(backend: str, batched: float, single: float) -> None:
    """Print one backend's figures."""
    print(
        f"{backend:<11} writer (batched): {batched:9.0f} readings/s   "
        f"one commit per row: {single:7.0f} readings/s   ratio: {batched / single:6.1f}×"
    )


if __name__ == "__main__":
    main()
