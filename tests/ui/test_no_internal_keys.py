"""No internal key shows through: every view of every role, loaded with the demo lab's data,
in Chinese and in English, is read widget by widget and checked against the stored enum
values of lims.models.enums and the role names."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from lims.db import Database
from lims.services.demo import DEMO_ADMIN, DEMO_USERS
from tests.ui.conftest import log_in, settle
from tests.ui.visible_texts import internal_values, leaked_in_chinese, leaked_keys
from ui.app import LimsApp
from ui.i18n import Lang
from ui.main_window import MainWindow

USERS = {u.username: u.password for u in DEMO_USERS}
USERS[DEMO_ADMIN[0]] = DEMO_ADMIN[2]


def _inner_tabs(window: MainWindow) -> list[object]:
    from PySide6.QtWidgets import QTabWidget

    return [t for t in window.findChildren(QTabWidget) if t is not window.tabs]


def test_the_check_knows_the_keys() -> None:
    values = internal_values()
    assert {"not_stated", "out_of_service", "quality_manager", "technician", "pass"} <= values


def test_no_view_shows_an_internal_key(qtbot: QtBot, gui: LimsApp, demo_db: Database) -> None:
    for username in ("zhang", "chen", "zhao", DEMO_ADMIN[0]):
        window = log_in(qtbot, gui, username, USERS[username])
        assert isinstance(window, MainWindow)
        qtbot.addWidget(window)
        window.resize(1280, 800)
        for lang in (Lang.ZH, Lang.EN, Lang.BILINGUAL):
            window.switch_language(lang)
            for i in range(window.tabs.count()):
                if not window.tabs.isTabEnabled(i):
                    continue
                window.tabs.setCurrentIndex(i)
                settle(qtbot, gui.runner, timeout=60_000)
                if window.tabs.currentWidget() is window.standards:
                    window.standards.select("STD-GAS-001")
                    settle(qtbot, gui.runner)
                for inner in _inner_tabs(window):
                    if not inner.isVisibleTo(window):  # type: ignore[attr-defined]
                        continue
                    for j in range(inner.count()):  # type: ignore[attr-defined]
                        inner.setCurrentIndex(j)  # type: ignore[attr-defined]
                        qtbot.wait(10)
                        where = f"{username} {lang.value} tab {i} inner {j}"
                        check = leaked_in_chinese if lang is Lang.ZH else leaked_keys
                        assert check(window) == {}, where
                check = leaked_in_chinese if lang is Lang.ZH else leaked_keys
                assert check(window) == {}, f"{username} {lang.value} tab {i}"
        window.log_out()
        qtbot.waitUntil(lambda: gui.window is None)
