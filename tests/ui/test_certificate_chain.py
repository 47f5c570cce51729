"""The whole chain in the desktop application: a gas-analyzer run on the simulated bench
(bench view) → draft → performed (zhang) → reviewed (li) → approved (wang) in the review
queue, each signing with the password entered again → issued in the history view, where
the auditor verifies it, reads its audit trail and its supersession chain."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox
from pytestqt.qtbot import QtBot

from lims.certificates.model import Meaning
from lims.db import Database
from lims.models.enums import CertificateStatus, RunStatus
from lims.services.demo import DEMO_USERS
from lims.services.home import HomeTopic
from tests.ui.conftest import log_in, settle
from tests.ui.test_bench_view import FAST, _co2_item
from ui.app import LimsApp
from ui.i18n import STRINGS, Lang
from ui.main_window import MainWindow
from ui.views.review import ReviewView, SignDialog

USERS = {u.username: u for u in DEMO_USERS}


def detail_pages(pdf: Path) -> int:
    """Pages of a PDF, counted by Qt PDF."""
    from PySide6.QtPdf import QPdfDocument

    doc = QPdfDocument()
    doc.load(str(pdf))
    return int(doc.pageCount())


def _switch_user(qtbot: QtBot, gui: LimsApp, window: MainWindow, username: str) -> MainWindow:
    """Log out and log in as ``username`` through the login dialog."""
    window.log_out()
    dlg = gui.login_dialog
    assert dlg is not None
    qtbot.waitUntil(lambda: gui.window is None)
    dlg.username.setText(username)
    dlg.password.setText(USERS[username].password)
    qtbot.mouseClick(
        dlg.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton
    )
    qtbot.waitUntil(lambda: gui.window is not None, timeout=15_000)
    settle(qtbot, gui.runner)
    new = gui.window
    assert isinstance(new, MainWindow)
    qtbot.addWidget(new)
    new.resize(1280, 800)
    return new


def _open_review(qtbot: QtBot, gui: LimsApp, window: MainWindow, number: str) -> ReviewView:
    window.tabs.setCurrentWidget(window.review)
    settle(qtbot, gui.runner, timeout=60_000)
    view = window.review
    assert view.select(number), [c.number for c in view.shown]
    settle(qtbot, gui.runner, timeout=60_000)
    assert view.selected is not None
    assert view.selected.info.number == number
    return view


def _sign(
    qtbot: QtBot, gui: LimsApp, view: ReviewView, meaning: Meaning, password: str, shots: Path
) -> None:
    assert view.sign_button.isEnabled()
    view.sign_button.click()
    dlg = view.sign_dialog
    assert isinstance(dlg, SignDialog)
    assert dlg.meaning is meaning
    assert meaning.value in dlg.meaning_label.text()  # the meaning is shown before signing
    dlg.grab().save(str(shots / f"sign_{meaning.value}.png"))
    dlg.password.setText(password)
    dlg.submit()
    settle(qtbot, gui.runner, timeout=120_000)
    assert not dlg.isVisible(), dlg.message.text()
    settle(qtbot, gui.runner, timeout=60_000)


def test_bench_run_to_issued_certificate_with_three_signatures(
    qtbot: QtBot, gui: LimsApp, demo_db: Database, screenshot_dir: Path, tmp_path: Path
) -> None:
    # 1. zhang runs item 1 (jjg635) on the simulated gas-analyzer bench.
    window = log_in(qtbot, gui, "zhang", USERS["zhang"].password)
    assert isinstance(window, MainWindow)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.tabs.setCurrentWidget(window.bench)
    settle(qtbot, gui.runner)  # the bench loads its benches when first shown
    bench = window.bench
    item = _co2_item(demo_db)
    bench.select_item(item)
    bench.select_bench("gas-analyzer.toml")
    bench.preflight()
    settle(qtbot, gui.runner, timeout=60_000)
    assert bench.plan is not None
    assert bench.plan.ready
    assert not bench.draft_button.isEnabled()  # nothing to certify yet
    bench.auto.setChecked(True)
    bench.start_run(time_scale=FAST)
    deadline = time.monotonic() + 240
    while bench.session is not None and (bench.session.running or not bench.session.events.empty()):
        assert time.monotonic() < deadline, "the run did not finish in time"
        qtbot.wait(20)
    bench.drain()
    assert bench.status is RunStatus.COMPLETED, bench.status_reason

    # 2. The draft goes to the review queue, where zhang signs as performed.
    assert bench.draft_button.isEnabled()
    bench.draft_button.click()
    settle(qtbot, gui.runner, timeout=120_000)
    assert window.tabs.currentWidget() is window.review
    review = window.review
    settle(qtbot, gui.runner, timeout=60_000)
    assert review.selected is not None
    number = review.selected.info.number
    assert review.selected.info.status is CertificateStatus.DRAFT
    assert review.selected.info.next_meaning is Meaning.PERFORMED
    assert review.preview.page_count >= 1
    assert not bench.draft_button.isEnabled()  # one certificate per run

    # li sends the first draft back; zhang redrafts the run from the history (a new number).
    rejected = number
    window = _switch_user(qtbot, gui, window, "li")
    review = _open_review(qtbot, gui, window, rejected)
    review.reject_button.click()
    assert review.reason_dialog is not None
    review.reason_dialog.reason.setText("环境温度记录缺失 the room temperature is not recorded")
    review.reason_dialog.submit()
    settle(qtbot, gui.runner, timeout=60_000)
    window = _switch_user(qtbot, gui, window, "zhang")
    window.show_view("home")
    settle(qtbot, gui.runner)
    assert window.home.count(HomeTopic.REJECTED_DRAFTS) == 1
    window.show_view("history")
    settle(qtbot, gui.runner, timeout=60_000)
    history = window.history
    history.number.setText(rejected)
    history.search()
    settle(qtbot, gui.runner)
    assert history.select(rejected)
    settle(qtbot, gui.runner)
    assert history.redraft_button.isEnabled()
    assert not history.amend_button.isEnabled()  # a technician does not amend
    history.redraft_button.click()
    settle(qtbot, gui.runner, timeout=120_000)
    assert history.detail is not None
    number = history.detail.number
    assert number != rejected
    assert history.detail.info.status is CertificateStatus.DRAFT
    window.show_view("review")
    settle(qtbot, gui.runner, timeout=60_000)
    review = window.review
    assert review.select(number)
    settle(qtbot, gui.runner, timeout=60_000)

    review.sign_button.click()  # a wrong password is refused inline, nothing signed
    dlg = review.sign_dialog
    assert isinstance(dlg, SignDialog)
    dlg.submit()
    assert dlg.message.is_error  # no password: not even sent
    dlg.password.setText("not-my-password")
    dlg.submit()
    settle(qtbot, gui.runner, timeout=60_000)
    assert dlg.isVisible()
    assert "refused" in dlg.message.text()
    dlg.reject()
    review.refresh()
    settle(qtbot, gui.runner)
    assert review.select(number)
    settle(qtbot, gui.runner)
    assert review.selected is not None
    assert review.selected.info.status is CertificateStatus.DRAFT
    qtbot.wait(1000)  # the PDF view renders its pages on a thread of its own
    window.grab().save(str(screenshot_dir / "review_queue.png"))
    _sign(qtbot, gui, review, Meaning.PERFORMED, USERS["zhang"].password, screenshot_dir)
    assert [c.number for c in review.shown] == []  # nothing left for zhang
    review.mine.setChecked(False)  # every draft, with the role it waits for
    waiting = {c.number: c.next_meaning for c in review.shown}
    assert waiting == {number: Meaning.REVIEWED}

    # 3. li reviews, 4. wang approves (each sees it only when it is their turn).
    window = _switch_user(qtbot, gui, window, "li")
    window.show_view("home")
    settle(qtbot, gui.runner)
    assert window.home.count(HomeTopic.AWAITING_SIGNATURE) == 1
    window.grab().save(str(screenshot_dir / "home_li_waiting.png"))
    review = _open_review(qtbot, gui, window, number)
    _sign(qtbot, gui, review, Meaning.REVIEWED, USERS["li"].password, screenshot_dir)
    window = _switch_user(qtbot, gui, window, "wang")
    window.show_view("home")
    settle(qtbot, gui.runner)
    assert window.home.count(HomeTopic.AWAITING_SIGNATURE) == 1
    window.grab().save(str(screenshot_dir / "home_wang_waiting.png"))
    review = _open_review(qtbot, gui, window, number)
    assert review.selected is not None
    assert review.selected.info.next_meaning is Meaning.APPROVED
    _sign(qtbot, gui, review, Meaning.APPROVED, USERS["wang"].password, screenshot_dir)

    # 5. The auditor finds it issued in the history view and verifies it.
    window = _switch_user(qtbot, gui, window, "zhao")
    window.tabs.setCurrentWidget(window.history)
    settle(qtbot, gui.runner, timeout=60_000)
    history = window.history
    history.date_from.setText("2026-13-01")  # a bad date: refused inline, nothing searched
    history.search()
    assert gui.runner.pending == 0
    assert history.message.is_error
    assert history.date_from.styleSheet()
    history.date_from.setText("")
    history.number.setText(number)
    history.search_button.click()
    settle(qtbot, gui.runner, timeout=60_000)
    assert [h.number for h in history.hits] == [number]
    assert history.hits[0].status is CertificateStatus.ISSUED
    assert history.select(number)
    settle(qtbot, gui.runner, timeout=60_000)
    detail = history.detail
    assert detail is not None, history.message.text()
    info = detail.info
    assert info.status is CertificateStatus.ISSUED
    assert [(s.meaning, s.username) for s in info.signatures] == [
        (Meaning.PERFORMED, "zhang"),
        (Meaning.REVIEWED, "li"),
        (Meaning.APPROVED, "wang"),
    ]
    assert [c.number for c in detail.chain] == [number]
    actors = {e.actor for e in detail.trail}
    assert {"zhang", "li", "wang"} <= actors
    assert any(e.action == "certificate.sign_refused" for e in detail.trail)
    history.verify_button.click()
    settle(qtbot, gui.runner, timeout=120_000)
    result = history.verification
    assert result is not None
    assert result.ok, result.summary()
    assert result.report is not None
    assert [s.signer_user_id for s in result.report.signatures] == ["zhang", "li", "wang"]
    assert "VALID" in history.verify_result.text()
    history.open_button.click()
    settle(qtbot, gui.runner, timeout=60_000)
    assert history.pdf_dialog is not None
    assert history.pdf_dialog.preview.page_count >= 1
    history.pdf_dialog.close()
    window.grab().save(str(screenshot_dir / "history.png"))
    window.switch_language(Lang.EN)
    assert history.message.text() == f"1 {STRINGS['history.found'][1]}"  # not left in Chinese
    window.grab().save(str(screenshot_dir / "history_english.png"))
    assert not window.tabs.isTabEnabled(window.tabs.indexOf(window.review))  # read-only role
    assert not history.amend_button.isEnabled()
    assert history.amend_button.toolTip()

    # 6. Export and print (anyone who may read records), then wang amends it.
    history.export("pdf", tmp_path / "issued.pdf")
    history.export("dcc", tmp_path / "issued.xml")
    settle(qtbot, gui.runner, timeout=60_000)
    assert (tmp_path / "issued.pdf").read_bytes().startswith(b"%PDF")
    assert b"digitalCalibrationCertificate" in (tmp_path / "issued.xml").read_bytes()
    from PySide6.QtPrintSupport import QPrinter

    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    printer.setOutputFileName(str(tmp_path / "printed.pdf"))
    history.print_to(printer)
    settle(qtbot, gui.runner, timeout=60_000)
    assert history.printed_pages == detail_pages(tmp_path / "issued.pdf") >= 1
    assert (tmp_path / "printed.pdf").read_bytes().startswith(b"%PDF")
    window = _switch_user(qtbot, gui, window, "wang")
    window.show_view("history")
    settle(qtbot, gui.runner, timeout=60_000)
    history = window.history
    history.number.setText(number)
    history.search()
    settle(qtbot, gui.runner)
    assert history.select(number)
    settle(qtbot, gui.runner)
    assert history.amend_button.isEnabled()
    assert not history.revoke_button.isEnabled()  # revoking is the quality manager's
    history.ask_change("amend")
    assert history.reason_dialog is not None
    history.reason_dialog.reason.setText("客户地址更正 customer's address corrected")
    history.reason_dialog.submit()
    settle(qtbot, gui.runner, timeout=120_000)
    assert history.detail is not None
    amendment = history.detail.info
    assert amendment.number != number
    assert amendment.replaces == number
    assert amendment.status is CertificateStatus.DRAFT
    window.grab().save(str(screenshot_dir / "task_amend.png"))
