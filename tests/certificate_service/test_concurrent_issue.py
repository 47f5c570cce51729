"""8 processes issuing certificates against PostgreSQL at once get unique, gapless numbers."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from lims.db import Database
from lims.models import Certificate, CertificateStatus, Verdict
from tests.certificate_service.builder import Point, lab_database, make_gas_run
from tests.conftest import PG_URL, _pg_schema_url, require_pg

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 8
PER_PROCESS = 1


@pytest.fixture
def pg_lab() -> Iterator[tuple[str, Database]]:
    require_pg()
    schema = f"ci_{os.getpid()}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = _pg_schema_url(schema)
    db = lab_database(url)
    try:
        yield url, db
    finally:
        db.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def test_eight_processes_issue_gapless_numbers(pg_lab: tuple[str, Database]) -> None:
    url, db = pg_lab
    point = [Point("P20", 400.0, 3.0, 9.0, Verdict.PASS)]
    runs = [make_gas_run(db, 1, point) for _ in range(PROCESSES * PER_PROCESS)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.certificate_service.issue_worker",
                url,
                *map(str, runs[i * PER_PROCESS : (i + 1) * PER_PROCESS]),
            ],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(PROCESSES)
    ]
    # Start line: every worker has connected and imported everything; release them together.
    for w in workers:
        assert w.stdout is not None
        line = w.stdout.readline()
        if line.strip() != "ready":
            w.kill()
            _out, err = w.communicate()
            pytest.fail(f"worker did not start: {line!r} {err}")
    for w in workers:
        assert w.stdin is not None
        w.stdin.write("go\n")
        w.stdin.flush()
    printed: list[str] = []
    for w in workers:
        out, err = w.communicate(timeout=600)  # also closes stdin
        assert w.returncode == 0, err
        printed += out.split()
    with db.read() as s:
        certs = [
            (c.number, c.year, c.sequence, c.status, c.run_id)
            for c in s.scalars(select(Certificate))
        ]
    year = date.today().year
    assert sorted(printed) == sorted(c[0] for c in certs)
    assert len({c[0] for c in certs}) == PROCESSES * PER_PROCESS
    assert sorted(c[2] for c in certs if c[1] == year) == list(
        range(1, PROCESSES * PER_PROCESS + 1)
    )
    assert all(c[3] is CertificateStatus.ISSUED for c in certs)
    assert len({c[4] for c in certs}) == len(runs)
