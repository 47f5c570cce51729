"""Eight processes drafting the certificate of ONE run at the same moment: exactly one draft.

The database (partial unique indexes) and the service (the run's row locked while it
checks) keep a run to one live certificate; every other process gets one clean line
naming the certificate that exists, and a non-zero exit. Run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from lims.db import Database
from lims.models import AuditEvent, Certificate, CertificateSequence, Verdict
from tests.certificate_service.builder import PASSWORDS, Point, lab_database, make_gas_run

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 8


def _start_together(url: str, data_dir: Path, args: list[str]) -> list[subprocess.Popen[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIMS_")}
    # on a loaded machine the one drafting process can hold SQLite's write lock for longer
    # than the default busy timeout while it renders the PDF: the others wait for it
    settings = data_dir / "lims.toml"
    settings.write_text("sqlite_busy_timeout_ms = 300000\n", encoding="utf-8")
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "LIMS_DATA_DIR": str(data_dir),
            "LIMS_DATABASE_URL": url,
            "LIMS_CONFIG": str(settings),
            "COLUMNS": "200",
        }
    )
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.certificate_service.draft_worker", url, *args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    for w in workers:
        assert w.stdout is not None
        line = w.stdout.readline()
        if line.strip() != "ready":
            for other in workers:
                other.kill()
            _out, err = w.communicate()
            pytest.fail(f"worker did not start: {line!r} {err}")
    for w in workers:  # the start signal, as close together as the pipes allow
        assert w.stdin is not None
        w.stdin.write("go\n")
        w.stdin.flush()
    return workers


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_eight_drafts_of_one_run_give_one_certificate(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'lims.sqlite3'}"
        if backend == "sqlite"
        else str(request.getfixturevalue("pg_url"))
    )
    db: Database = lab_database(url)
    try:
        run_id = make_gas_run(db, 1, [Point("P20", 400.0, 3.0, 9.0, Verdict.PASS)])
        password = tmp_path / "zhang"
        password.write_text(PASSWORDS["zhang"] + "\n", encoding="utf-8")
        with db.read() as s:
            events_before = s.scalar(select(func.count()).select_from(AuditEvent))
        args = ["certificate", "draft", str(run_id), "--user", "zhang"]
        workers = _start_together(url, tmp_path, [*args, "--password-file", str(password)])
        outcomes = []
        for w in workers:
            out, err = w.communicate(timeout=600)
            outcomes.append((w.returncode, out, err))

        with db.read() as s:
            certs = [
                (c.number, c.year, c.sequence)
                for c in s.scalars(select(Certificate).where(Certificate.run_id == run_id))
            ]
            counters = {c.year: c.last for c in s.scalars(select(CertificateSequence))}
            events_after = s.scalar(select(func.count()).select_from(AuditEvent))
        assert len(certs) == 1, certs
        number, year, sequence = certs[0]
        drafted = [o for o in outcomes if o[0] == 0]
        refused = [o for o in outcomes if o[0] != 0]
        assert len(drafted) == 1, outcomes
        assert number in drafted[0][1]
        assert len(refused) == PROCESSES - 1
        for code, out, err in refused:
            assert code == 2, (code, out, err)
            lines = err.strip().splitlines()
            assert lines == [
                f"error: run {run_id} already has certificate {number} (draft); "
                "amend it instead of drafting another"
            ], err
            assert "Traceback" not in out + err
        # one number taken: the refusals returned theirs, so the numbering has no gap
        assert counters == {year: 1}
        assert sequence == 1
        assert events_after is not None
        assert events_before is not None
        print(
            f"{backend}: {len(drafted)} draft, {len(refused)} refusals, "
            f"{events_after - events_before} audit events"
        )
    finally:
        db.dispose()
