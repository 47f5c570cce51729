"""The regulation-tables view: versions with unverified counts, values with the marks,
comparison of two versions and the release by the quality manager (refused inline for
unverified values and a missing reason, audited when done)."""

from __future__ import annotations

from pathlib import Path

from pytestqt.qtbot import QtBot
from sqlalchemy import select

from lims.db import Database
from lims.engine import discover_procedures, load_regulation_table, register_procedure
from lims.models import AuditEvent, ReleaseStatus
from lims.models import RegulationTable as TableRow
from lims.quality.accounts import login
from lims.security import PasswordPolicy
from lims.services.demo import DEMO_USERS
from procedures.jjg635 import Jjg635
from tests.lims.test_regulation_tables import JJG635, SHIPPED, _unverified_in, _verified_copy
from tests.ui.conftest import log_in, settle
from ui.app import LimsApp
from ui.i18n import Lang
from ui.main_window import MainWindow
from ui.views.regulation import RegulationView
from ui.widgets import AMBER, GREEN

CHEN = next(u for u in DEMO_USERS if u.username == "chen")
ZHANG = next(u for u in DEMO_USERS if u.username == "zhang")


def _open(qtbot: QtBot, gui: LimsApp, who: object) -> RegulationView:
    window = log_in(qtbot, gui, who.username, who.password)  # type: ignore[attr-defined]
    assert isinstance(window, MainWindow)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.tabs.setCurrentWidget(window.regulation)  # a view loads when first shown
    settle(qtbot, gui.runner, timeout=60_000)
    return window.regulation


def _column(view: RegulationView, table: str, column: int) -> list[str]:
    t = getattr(view, table)
    return [t.item(r, column).text() for r in range(t.rowCount())]


def test_values_compare_and_release(
    qtbot: QtBot, gui: LimsApp, demo_db: Database, tmp_path: Path, screenshot_dir: Path
) -> None:
    chen = login(demo_db, CHEN.username, CHEN.password, PasswordPolicy())
    view = _open(qtbot, gui, CHEN)
    assert view.release_button.isEnabled()
    assert sorted(v.procedure_id for v in view.versions) == discover_procedures().ids()
    expected = _unverified_in(JJG635.read_text(encoding="utf-8"))

    view.select("jjg635", SHIPPED)
    settle(qtbot, gui.runner)
    assert view.current is not None, (view.message.text(), view.selected())
    assert view.current.version == SHIPPED
    marked = [
        view.values.item(r, 0).text()
        for r in range(view.values.rowCount())
        if view.values.item(r, 2).text()
    ]
    assert set(marked) == expected
    row = _column(view, "values", 0).index("limits.mpe")
    assert view.values.item(row, 1).text() == "2 %FS"
    assert view.values.item(row, 0).background().color() == AMBER
    i = next(k for k, v in enumerate(view.versions) if v.procedure_id == "jjg635")
    assert view.table.item(i, 3).text() == str(len(expected))

    # The shipped draft cannot be released: refused inline, nothing written.
    view.ask_release()
    dlg = view.reason_dialog
    assert dlg is not None
    dlg.submit()
    assert dlg.message.is_error
    assert gui.runner.pending == 0
    dlg.set_value("reason", "checked against JJG 635-2011")
    dlg.set_value("password", CHEN.password)
    dlg.submit()
    settle(qtbot, gui.runner)
    assert dlg.isVisible()
    assert "unverified" in dlg.message.text()
    assert "limits.mpe" in dlg.message.text()
    dlg.reject()
    with demo_db.read() as s:
        assert s.scalars(select(TableRow).where(TableRow.procedure_id == "jjg635")).first() is None

    # A checked version arrives (stored as a run would store it), compared, then released.
    with demo_db.write(actor=chen, reason="new table version") as s:
        register_procedure(s, Jjg635(load_regulation_table(_verified_copy(tmp_path))))
    view.refresh()
    settle(qtbot, gui.runner)
    view.select("jjg635", "2026.2")
    settle(qtbot, gui.runner)
    view.old_version.setCurrentText(SHIPPED)
    view.new_version.setCurrentText("2026.2")
    view.compare_button.click()
    settle(qtbot, gui.runner)
    keys = _column(view, "diff", 0)
    assert set(keys) == expected
    mpe = keys.index("limits.mpe")
    assert view.diff.item(mpe, 1).text() == "2 %FS (未核实 unverified)"
    assert view.diff.item(mpe, 2).text() == "1.5 %FS"
    assert view.diff.item(mpe, 3).text() == "数值改变 value changed"
    view.window().grab().save(str(screenshot_dir / "regulation_compare.png"))

    view.ask_release()
    dlg = view.reason_dialog
    assert dlg is not None
    dlg.set_value("reason", "核对 JJG 635-2011 表1 checked against Table 1")
    dlg.set_value("password", "not-the-password")
    dlg.submit()
    settle(qtbot, gui.runner)
    assert dlg.isVisible()  # the e-signature needs the password: refused, nothing released
    assert dlg.message.is_error
    assert not next(v for v in view.versions if v.version == "2026.2").released
    dlg.set_value("password", CHEN.password)
    dlg.grab().save(str(screenshot_dir / "task_release_table.png"))
    dlg.submit()
    settle(qtbot, gui.runner)
    assert not dlg.isVisible(), dlg.message.text()
    assert not view.message.is_error, view.message.text()
    settle(qtbot, gui.runner)
    released = next(v for v in view.versions if v.version == "2026.2")
    assert released.released
    assert released.released_by == "chen"
    k = view.versions.index(released)
    assert view.table.item(k, 2).background().color() == GREEN
    with demo_db.read() as s:
        row_db = s.scalars(select(TableRow).where(TableRow.version == "2026.2")).one()
        assert row_db.status is ReleaseStatus.RELEASED
        event = s.scalars(
            select(AuditEvent).where(
                AuditEvent.table_name == "regulation_tables",
                AuditEvent.record_id == str(row_db.id),
                AuditEvent.action == "update",
            )
        ).one()
        assert event.actor == "chen"
        assert event.reason == "核对 JJG 635-2011 表1 checked against Table 1"
    view.window().grab().save(str(screenshot_dir / "regulation.png"))
    view.window().switch_language(Lang.EN)  # type: ignore[attr-defined]
    view.window().grab().save(str(screenshot_dir / "regulation_english.png"))


def test_technician_sees_tables_but_cannot_release(qtbot: QtBot, gui: LimsApp) -> None:
    view = _open(qtbot, gui, ZHANG)
    settle(qtbot, gui.runner)
    assert view.versions
    assert not view.release_button.isEnabled()
