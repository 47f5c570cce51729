"""The quality commands end to end on SQLite: trace reverse, audit show CSV, refusals."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lims.cli.main import app
from lims.db import Database
from lims.db.migrate import upgrade
from lims.models import Role
from tests.quality._build import PASSWORD, SYSTEM, add_certificate, add_run, build_lab


def test_trace_reverse_and_audit_show(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'lims.sqlite3'}"
    monkeypatch.setenv("LIMS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LIMS_DATABASE_URL", url)
    db = Database(url)
    upgrade(db.engine)
    lab = build_lab(db, [Role.TECHNICIAN, Role.AUDITOR])
    with db.write(actor=SYSTEM, reason="fixture") as s:
        run = add_run(s, lab, date(2026, 2, 1), ["RM-CLI"], serial="S9")
        add_certificate(s, run)
    db.dispose()
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n", encoding="utf-8")
    runner = CliRunner()
    auth = ["--user", "auditor", "--password-file", str(pw)]
    out = runner.invoke(app, ["trace", "reverse", "RM-CLI", *auth])
    assert out.exit_code == 0, out.output
    assert "1 run(s), 1 certificate(s) used RM-CLI" in out.output
    csv_path = tmp_path / "audit.csv"
    out = runner.invoke(app, ["audit", "show", *auth, "--record", "runs:1", "--csv", str(csv_path)])
    assert out.exit_code == 0, out.output
    lines = csv_path.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("id,occurred_at,actor")
    assert len(lines) == 2
    assert ",create,runs,1," in lines[1]
    # the technician may not review the audit trail
    tech = ["--user", "technician", "--password-file", str(pw)]
    out = runner.invoke(app, ["audit", "show", *tech])
    assert out.exit_code != 0
    assert "permission denied" in str(out.exception)
