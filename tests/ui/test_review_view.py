"""The review queue: what each role sees, and sending a draft back with a reason."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from lims.db import Database
from lims.models.enums import CertificateStatus, Verdict
from lims.quality.accounts import login
from lims.security import PasswordPolicy
from lims.services.certificates import certificate_info, draft_certificate
from lims.services.demo import DEMO_USERS
from tests.certificate_service.builder import Point, make_gas_run
from tests.ui.conftest import TODAY, log_in, settle
from tests.ui.test_bench_view import _co2_item
from ui.app import LimsApp
from ui.main_window import MainWindow
from ui.views.review import meaning_text

USERS = {u.username: u for u in DEMO_USERS}


def _draft(db: Database) -> str:
    run_id = make_gas_run(
        db,
        _co2_item(db),
        [
            Point("P20", 400.0, 5.0, 9.9, Verdict.PASS),
            Point("P50", 1000.0, 8.0, 12.0, Verdict.PASS),
        ],
    )
    zhang = login(db, "zhang", USERS["zhang"].password, PasswordPolicy())
    return draft_certificate(db, zhang, run_id, today=TODAY).number


def test_approver_sees_the_draft_waiting_for_another_role_and_rejects_it(
    qtbot: QtBot, gui: LimsApp, demo_db: Database
) -> None:
    number = _draft(demo_db)
    window = log_in(qtbot, gui, "wang", USERS["wang"].password)
    assert isinstance(window, MainWindow)
    qtbot.addWidget(window)
    window.tabs.setCurrentWidget(window.review)
    settle(qtbot, gui.runner)
    view = window.review
    assert view.shown == []  # nothing waits for an approver yet
    view.mine.setChecked(False)
    assert [c.number for c in view.shown] == [number]
    assert view.table.item(0, 5).text() == meaning_text(view.shown[0].next_meaning)  # type: ignore[arg-type, union-attr]
    assert view.select(number)
    settle(qtbot, gui.runner)
    assert view.preview.page_count >= 1
    assert not view.sign_button.isEnabled()  # it waits for the performed signature
    assert view.reject_button.isEnabled()

    view.reject_button.click()
    dlg = view.reason_dialog
    assert dlg is not None
    dlg.submit()
    assert dlg.message.is_error  # no reason: refused inline, nothing sent
    assert gui.runner.pending == 0
    wang = login(demo_db, "wang", USERS["wang"].password, PasswordPolicy())
    assert certificate_info(demo_db, wang, number).status is CertificateStatus.DRAFT
    dlg.reason.setText("P50 的环境记录缺失 environment record missing at P50")
    dlg.submit()
    settle(qtbot, gui.runner)
    assert not dlg.isVisible()
    info = certificate_info(demo_db, wang, number)
    assert info.status is CertificateStatus.REJECTED
    assert info.status_reason == "P50 的环境记录缺失 environment record missing at P50"
    assert view.queue == []
