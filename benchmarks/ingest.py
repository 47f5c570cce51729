"""Readings per second persisted through the run engine's writer, vs one commit per row.

Run: ``uv run python benchmarks/ingest.py [N] [--pg URL]``. For SQLite (a file in a temp
directory) and PostgreSQL (default: the local server's ``test`` database, in a schema of
its own that is dropped afterwards), it writes N readings of one run

* through :class:`lims.engine.writer.ReadingWriter` (batched, a commit at least every
  200 ms), and
* one reading per transaction, each with its own commit (what a naive recorder does),

and prints both rates and their ratio. Every reading goes through the same
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


def measure(db: Database, n: int, n_single: int) -> tuple[float, float]:
    """(batched readings/s, one-commit-per-row readings/s)."""
    user, (run_a, run_b) = _prepare(db)
    writer = ReadingWriter(db, run_a, user)
    writer.start()
    start = time.perf_counter()
    for seq in range(1, n + 1):
        writer.put(_reading(seq))
    writer.flush()
    batched = n / (time.perf_counter() - start)
    writer.close()

    start = time.perf_counter()
    for seq in range(1, n_single + 1):
        with db.write(actor=user) as s:
            append_readings(s, run_b, [_reading(seq)])
    single = n_single / (time.perf_counter() - start)
    return batched, single


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=20_000, help="readings (batched)")
    parser.add_argument("--single", type=int, default=1_000, help="readings, one commit each")
    parser.add_argument(
        "--pg",
        default=os.environ.get(
            "LIMS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'ingest.sqlite3'}")
        report("SQLite", *measure(db, args.n, args.single))
        db.dispose()

    schema = f"bench_ingest_{os.getpid()}"
    admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # no server
        print(f"PostgreSQL: skipped ({exc.__class__.__name__}: unreachable at {args.pg})")
        return
    try:
        url = make_url(args.pg).update_query_dict({"options": f"-csearch_path={schema}"})
        db = Database(url)
        report("PostgreSQL", *measure(db, args.n, args.single))
        db.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def report(backend: str, batched: float, single: float) -> None:
    """Print one backend's figures."""
    print(
        f"{backend:<11} writer (batched): {batched:9.0f} readings/s   "
        f"one commit per row: {single:7.0f} readings/s   ratio: {batched / single:6.1f}×"
    )


if __name__ == "__main__":
    main()
