"""The certificate-history view: searching by customer, serial number, date range and
status, and the supersession chain of an amended certificate (verified as superseded)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from pytestqt.qtbot import QtBot

from lims.certificates.model import Meaning
from lims.db import Database
from lims.models.enums import CertificateStatus, Verdict
from lims.quality.accounts import login
from lims.security import PasswordPolicy
from lims.services.certificates import amend_certificate, draft_certificate, sign_certificate
from lims.services.demo import DEMO_USERS
from tests.certificate_service.builder import Point, make_gas_run
from tests.ui.conftest import TODAY, log_in, settle
from tests.ui.test_bench_view import _co2_item
from ui.app import LimsApp
from ui.main_window import MainWindow
from ui.views.history import HistoryView

USERS = {u.username: u for u in DEMO_USERS}
SIGNERS = (("zhang", Meaning.PERFORMED), ("li", Meaning.REVIEWED), ("wang", Meaning.APPROVED))


def _sign_all(db: Database, number: str) -> None:
    for username, meaning in SIGNERS:
        sign_certificate(db, number, username, USERS[username].password, meaning, PasswordPolicy())


def _issued_and_amended(db: Database) -> tuple[str, str]:
    """An issued certificate of the demo's CO2 analyzer, then its issued amendment."""
    run_id = make_gas_run(db, _co2_item(db), [Point("P20", 400.0, 5.0, 9.9, Verdict.PASS)])
    zhang = login(db, "zhang", USERS["zhang"].password, PasswordPolicy())
    original = draft_certificate(db, zhang, run_id, today=TODAY).number
    _sign_all(db, original)
    wang = login(db, "wang", USERS["wang"].password, PasswordPolicy())
    amendment = amend_certificate(db, wang, original, "地址更正 address corrected", today=TODAY)
    _sign_all(db, amendment.number)
    return original, amendment.number


def _search(qtbot: QtBot, gui: LimsApp, view: HistoryView, **fields: object) -> list[str]:
    for w in (view.number, view.customer, view.serial, view.date_from, view.date_to):
        w.setText("")
    view.status.setCurrentIndex(0)
    for name, value in fields.items():
        if name == "status":
            view.status.setCurrentIndex(view.status.findData(value))
        else:
            getattr(view, name).setText(str(value))
    view.search_button.click()
    settle(qtbot, gui.runner, timeout=60_000)
    assert not view.message.is_error, view.message.text()
    return [h.number for h in view.hits]


def test_search_criteria_and_supersession_chain(
    qtbot: QtBot, gui: LimsApp, demo_db: Database, screenshot_dir: Path
) -> None:
    original, amendment = _issued_and_amended(demo_db)
    window = log_in(qtbot, gui, "zhao", USERS["zhao"].password)
    assert isinstance(window, MainWindow)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.tabs.setCurrentWidget(window.history)
    settle(qtbot, gui.runner, timeout=60_000)
    view = window.history
    both = {original, amendment}

    assert set(_search(qtbot, gui, view, customer="green source")) == both  # part of the name
    assert _search(qtbot, gui, view, customer="无此委托方 nobody") == []
    assert set(_search(qtbot, gui, view, serial="CA2000-0001")) == both
    assert _search(qtbot, gui, view, serial="CA2000-9999") == []
    assert _search(qtbot, gui, view, status=CertificateStatus.ISSUED) == [amendment]
    assert _search(qtbot, gui, view, status=CertificateStatus.SUPERSEDED) == [original]
    utc_today = datetime.now(UTC).date()  # issue dates are UTC days
    day = timedelta(days=1)
    around = {"date_from": utc_today - day, "date_to": utc_today + day}
    assert set(_search(qtbot, gui, view, **around)) == both
    assert _search(qtbot, gui, view, date_from=utc_today + 2 * day) == []

    # The "to" date before the "from" date: refused inline, nothing searched.
    view.date_from.setText((utc_today + day).isoformat())
    view.date_to.setText((utc_today - day).isoformat())
    view.search()
    assert gui.runner.pending == 0
    assert view.message.is_error
    assert view.date_to.styleSheet()

    # The superseded original: its chain leads to the amendment, and it no longer verifies.
    assert _search(qtbot, gui, view, serial="CA2000-0001")
    assert view.select(original)
    settle(qtbot, gui.runner, timeout=60_000)
    detail = view.detail
    assert detail is not None, view.message.text()
    assert detail.info.status is CertificateStatus.SUPERSEDED
    assert detail.info.superseded_by == amendment
    assert [c.number for c in detail.chain] == [original, amendment]
    assert view.chain.rowCount() == 2
    assert {view.chain.item(r, 0).text() for r in range(2)} == both
    view.verify_button.click()
    settle(qtbot, gui.runner, timeout=120_000)
    result = view.verification
    assert result is not None
    assert not result.ok
    assert any("superseded" in p for p in result.problems), result.problems
    qtbot.wait(50)
    window.grab().save(str(screenshot_dir / "history_supersession.png"))
