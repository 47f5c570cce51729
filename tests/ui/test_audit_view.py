"""The auditor's trail review: filters, records by their names (never ``table:id``), CSV
export, and verifying the chain with the same findings as ``lims audit verify``."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

from pytestqt.qtbot import QtBot
from sqlalchemy import text

from lims.audit_anchors import write_anchor
from lims.config import Settings
from lims.db import Database
from lims.services.demo import DEMO_USERS
from tests.ui.conftest import TODAY, log_in, settle
from ui.app import LimsApp
from ui.i18n import STRINGS
from ui.main_window import MainWindow

ZHAO = next(u for u in DEMO_USERS if u.username == "zhao")
ROOT = Path(__file__).resolve().parents[2]


def _column(table: object, column: int) -> list[str]:
    return [table.item(r, column).text() for r in range(table.rowCount())]  # type: ignore[attr-defined]


def test_trail_filter_csv_and_verify(
    qtbot: QtBot,
    gui: LimsApp,
    demo_db: Database,
    lab_settings: Settings,
    tmp_path: Path,
    screenshot_dir: Path,
) -> None:
    window = log_in(qtbot, gui, ZHAO.username, ZHAO.password)
    assert isinstance(window, MainWindow)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show_view("audit")
    settle(qtbot, gui.runner, timeout=60_000)
    view = window.audit
    assert view.page is not None
    everything = len(view.page.rows)
    assert everything > 20

    # the users table: records named by user name, never users:ID
    view.table_choice.setCurrentIndex(view.table_choice.findData("users"))
    view.search()
    settle(qtbot, gui.runner)
    records = _column(view.table, 4)
    assert "zhang (张伟)" in records
    assert not any(r.startswith("users:") for r in records)
    assert set(_column(view.table, 3)) == {" ".join(STRINGS["audit.table.users"])}

    # a record by its name, in any table
    view.table_choice.setCurrentIndex(0)
    view.record.setText("zhang")
    view.search()
    settle(qtbot, gui.runner)
    named = _column(view.table, 4)
    assert named
    assert all("zhang" in r for r in named)
    assert any("·" in r for r in named)  # authorizations: "zhang · jjg635"

    # a period in the future holds nothing; a bad date is refused inline
    view.record.clear()
    view.date_from.setText((TODAY.replace(year=TODAY.year + 1)).isoformat())
    view.search()
    settle(qtbot, gui.runner)
    assert view.table.rowCount() == 0
    view.date_from.setText("tomorrow")
    before = gui.runner.pending
    view.search()
    assert gui.runner.pending == before
    assert view.message.is_error
    view.date_from.clear()
    view.user.setText("system:demo")
    view.search()
    settle(qtbot, gui.runner)
    assert set(_column(view.table, 1)) == {"system:demo"}
    shown = view.table.rowCount()

    out = tmp_path / "trail.csv"
    view.export_csv(out)
    settle(qtbot, gui.runner)
    with out.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == shown
    assert {r["actor"] for r in rows} == {"system:demo"}
    assert all(
        not r["record"].startswith(f"{r['table_name']}:")
        or r["table_name"] not in ("users", "certificates", "measurement_standards")
        for r in rows
    )

    # never anchored, the trail cannot be confirmed (as `lims audit verify` says); anchored, intact
    view.verify()
    settle(qtbot, gui.runner, timeout=60_000)
    assert view.check is not None
    assert view.check.ok
    assert view.check.doubts
    assert " ".join(STRINGS["audit.cannot_confirm"]) in view.result.text()
    write_anchor(demo_db, lab_settings.anchor_file)
    view.verify()
    settle(qtbot, gui.runner, timeout=60_000)
    assert view.check is not None
    assert view.check.ok
    assert not view.check.doubts
    assert view.result.text().startswith(" ".join(STRINGS["audit.intact"]))
    window.grab().save(str(screenshot_dir / "task_audit_trail.png"))

    # someone edits the database behind the application's back
    with demo_db.engine.begin() as conn:
        conn.execute(text("UPDATE users SET full_name = 'forged' WHERE username = 'wang'"))
    view.verify()
    settle(qtbot, gui.runner, timeout=60_000)
    assert view.check is not None
    assert not view.check.ok
    found = sorted(str(p) for p in view.check.problems)
    window.grab().save(str(screenshot_dir / "task_audit_tampered.png"))
    env = {
        **os.environ,
        "LIMS_DATA_DIR": str(lab_settings.data_dir),
        "LIMS_DATABASE_URL": lab_settings.database_url,
        "COLUMNS": "400",
    }
    cli = subprocess.run(
        [sys.executable, "-m", "lims.cli.main", "audit", "verify"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 1
    said = sorted(
        line.removeprefix("TAMPERED ").strip()
        for line in cli.stderr.splitlines()
        if line.startswith("TAMPERED")
    )
    assert said == found
