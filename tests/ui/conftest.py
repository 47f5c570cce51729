"""GUI tests: the demo lab on a temporary SQLite database, driven with pytest-qt."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from pytestqt.qtbot import QtBot

import lims.security
from lims.config import Settings, sqlite_url_for
from lims.db import Database
from lims.services.demo import DEMO_ADMIN, DEMO_LAB, seed_demo
from lims.services.lab import initialize, open_database, policy_from

#: The day of the tests: the demo's dates are relative to it. It is the real date because
#: the interrupted-run test starts the ``lims run`` command, which runs on the real date.
TODAY = date.today()


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        lims.security, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


@pytest.fixture
def lab_settings(tmp_path: Path) -> Settings:
    """Settings of a demo lab in a temporary data directory (SQLite)."""
    return Settings(data_dir=tmp_path / "data", database_url=sqlite_url_for(tmp_path / "data"))


@pytest.fixture
def demo_db(lab_settings: Settings) -> Iterator[Database]:
    """The demo lab's own benches, seeded as of :data:`TODAY` (the views' tests count its
    work orders, standards and materials; the on-site order is left out)."""
    db = open_database(lab_settings)
    initialize(db, lab_settings, DEMO_LAB, *DEMO_ADMIN)
    with db.write(actor="system:demo", reason="demo lab seed") as s:
        seed_demo(s, policy_from(lab_settings), TODAY, onsite=False)
    try:
        yield db
    finally:
        db.dispose()


@pytest.fixture(scope="session")
def screenshot_dir(artifacts_dir: Path) -> Path:
    """Where the views' screenshots go (printed so a person can find them).

    ``artifacts/screenshots`` unless ``LIMS_SCREENSHOT_DIR`` names another folder (so that
    two test runs at once do not overwrite each other's pictures).
    """
    chosen = os.environ.get("LIMS_SCREENSHOT_DIR")
    folder = Path(chosen) if chosen else artifacts_dir / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {folder}")
    return folder


def settle(qtbot: QtBot, runner: object, timeout: int = 15_000) -> None:
    """Wait until every service call submitted to ``runner`` has delivered its result."""
    qtbot.waitUntil(lambda: runner.pending == 0, timeout=timeout)  # type: ignore[attr-defined]


@pytest.fixture
def gui(qapp: object, demo_db: Database, lab_settings: Settings) -> Iterator[object]:
    """A :class:`ui.app.LimsApp` on the demo lab (Qt application with the bundled font)."""
    from ui.app import LimsApp, qt_application
    from ui.i18n import Lang, set_language

    qt_application()
    set_language(Lang.BILINGUAL)
    app = LimsApp(demo_db, lab_settings, today=lambda: TODAY)
    try:
        yield app
    finally:
        if app.window is not None:
            app.window.bench.confirm = lambda _title, _text: True  # a run left going pauses
        if app.login_dialog is not None:
            app.login_dialog.close()
        app.shutdown()  # windows deleted while Qt runs (see LimsApp.shutdown)
        set_language(Lang.BILINGUAL)


def log_in(qtbot: QtBot, app: object, username: str, password: str) -> object:
    """Log in through the dialog and return the main window, its views loaded."""
    from PySide6.QtWidgets import QDialogButtonBox

    from ui.app import LimsApp

    assert isinstance(app, LimsApp)
    dlg = app.start()
    qtbot.addWidget(dlg)
    dlg.username.setText(username)
    dlg.password.setText(password)
    qtbot.mouseClick(dlg.buttons.button(QDialogButtonBox.StandardButton.Ok), _left_button())
    qtbot.waitUntil(lambda: app.window is not None, timeout=15_000)
    settle(qtbot, app.runner)
    return app.window


def _left_button() -> object:
    from PySide6.QtCore import Qt

    return Qt.MouseButton.LeftButton
