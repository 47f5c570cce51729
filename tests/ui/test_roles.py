"""Each role's home page and what it may open: tabs a role may not use are disabled with
the reason in a tooltip, home counts refresh; the administrator's account tasks, the
quality manager's authorizations, and an expired password renewed at the login."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox, QLineEdit
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from lims.db import Database
from lims.db.types import utcnow
from lims.models import Authorization, User
from lims.quality.accounts import login
from lims.services.demo import DEMO_ADMIN, DEMO_USERS
from lims.services.home import HomeTopic
from tests.ui.conftest import log_in, settle
from ui.app import LimsApp
from ui.forms import FormDialog
from ui.i18n import STRINGS
from ui.main_window import MainWindow

USERS = {u.username: u for u in DEMO_USERS}
ADMIN, _ADMIN_NAME, ADMIN_PASSWORD = DEMO_ADMIN

#: What each demo account may open (from the brief's roles, not from the code): the rest
#: of the tabs are disabled with a reason.
#: Every role reads the lab's records.
READ = {"home", "work_orders", "history", "standards", "regulation", "records"}
OPEN_TABS = {
    "zhang": READ | {"bench", "review"},
    "li": READ | {"bench", "review"},
    "wang": READ | {"review"},
    "chen": READ | {"quality", "audit", "users"},
    "zhao": READ | {"audit"},
    ADMIN: READ | {"audit", "users"},
}

#: What each role's home counts (a few that say what the role is about).
HOME_TOPICS = {
    "zhang": {HomeTopic.MY_ITEMS, HomeTopic.INTERRUPTED_RUNS, HomeTopic.AWAITING_SIGNATURE},
    "wang": {HomeTopic.AWAITING_SIGNATURE},
    "chen": {
        HomeTopic.STANDARDS_DUE,
        HomeTopic.MATERIALS_LOW,
        HomeTopic.TABLES_TO_RELEASE,
        HomeTopic.OPEN_IMPACTS,
        HomeTopic.FAILED_CHECKS,
    },
    "zhao": {HomeTopic.AUDIT_EVENTS, HomeTopic.CERTIFICATES_ISSUED},
    ADMIN: {HomeTopic.ACTIVE_USERS, HomeTopic.LOCKED_USERS},
}


def _password(username: str) -> str:
    return ADMIN_PASSWORD if username == ADMIN else USERS[username].password


def _open(qtbot: QtBot, gui: LimsApp, username: str) -> MainWindow:
    window = log_in(qtbot, gui, username, _password(username))
    assert isinstance(window, MainWindow)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show_view("home")
    settle(qtbot, gui.runner, timeout=60_000)
    return window


def test_each_role_home_and_tabs(
    qtbot: QtBot, gui: LimsApp, demo_db: Database, screenshot_dir: Path
) -> None:
    for username, allowed in OPEN_TABS.items():
        window = _open(qtbot, gui, username)
        keys = {key for key, view in window.by_key.items()}
        for key in keys:
            index = window.tabs.indexOf(window.by_key[key])
            assert window.tabs.isTabEnabled(index) == (key in allowed), (username, key)
            tip = window.tabs.tabToolTip(index)
            if key not in allowed:
                assert tip.startswith(" ".join(STRINGS["access.needs"])), (username, key, tip)
            else:
                assert tip == ""
        home = window.home
        topics = {c.topic for c in home.counts}
        assert HOME_TOPICS.get(username, set()) <= topics, (username, topics)
        assert set(home.tiles) == topics
        qtbot.wait(50)
        window.grab().save(str(screenshot_dir / f"home_{username}.png"))
        # a tile leads to where the work is done
        first = home.counts[0].topic
        home.tiles[first].click()
        assert window.tabs.currentWidget() is not home
        window.log_out()
        qtbot.waitUntil(lambda: gui.window is None)


def test_home_counts_refresh_after_work(qtbot: QtBot, gui: LimsApp, demo_db: Database) -> None:
    window = _open(qtbot, gui, ADMIN)
    before = window.home.count(HomeTopic.LOCKED_USERS)
    assert before == 0
    with demo_db.write(actor="system:test", reason="lock") as s:
        s.scalars(select(User).where(User.username == "zhao")).one().locked_at = utcnow()
    window.home.refresh_button.click()
    settle(qtbot, gui.runner)
    assert window.home.count(HomeTopic.LOCKED_USERS) == 1
    assert "#b00020" in window.home.tiles[HomeTopic.LOCKED_USERS].styleSheet()  # urgent


def _fill(dialog: FormDialog, **values: object) -> None:
    for key, value in values.items():
        dialog.set_value(key, value)


def test_administrator_adds_deactivates_and_unlocks(
    qtbot: QtBot, gui: LimsApp, demo_db: Database, screenshot_dir: Path
) -> None:
    window = _open(qtbot, gui, ADMIN)
    window.show_view("users")
    settle(qtbot, gui.runner)
    view = window.users
    names = [u.username for u in view.staff.users]
    assert {"zhang", "chen", ADMIN} <= set(names)
    view.ask_add()
    dlg = view.dialog
    assert isinstance(dlg, FormDialog)
    _fill(
        dlg,
        username="sun",
        full_name="孙强",
        roles=["technician"],
        password="Lab#Bench-2026x",
        confirm="Lab#Bench-2027x",
    )
    dlg.submit()
    settle(qtbot, gui.runner)
    assert dlg.isVisible()  # the confirmation differs: refused inline
    assert dlg.message.is_error
    dlg.set_value("password", "Lab#Bench-2026x")  # cleared after the refusal
    dlg.set_value("confirm", "Lab#Bench-2026x")
    dlg.grab().save(str(screenshot_dir / "task_add_user.png"))
    dlg.submit()
    settle(qtbot, gui.runner)
    assert not dlg.isVisible(), dlg.message.text()
    assert login(demo_db, "sun", "Lab#Bench-2026x", gui.ctx.policy).username == "sun"
    settle(qtbot, gui.runner)
    row = [u.username for u in view.staff.users].index("sun")
    view.users_table.selectRow(row)
    view.ask_account_change(unlock=False)
    reason = view.dialog
    reason.reason.setText("left the lab")  # type: ignore[union-attr]
    reason.submit()  # type: ignore[union-attr]
    settle(qtbot, gui.runner)
    with demo_db.read() as s:
        assert not s.scalars(select(User).where(User.username == "sun")).one().active
    window.grab().save(str(screenshot_dir / "task_users.png"))


def test_quality_manager_grants_and_withdraws_an_authorization(
    qtbot: QtBot, gui: LimsApp, demo_db: Database
) -> None:
    window = _open(qtbot, gui, "chen")
    window.show_view("users")
    settle(qtbot, gui.runner)
    view = window.users
    assert not view.add_button.isEnabled()  # accounts are the administrator's
    assert view.add_button.toolTip()
    view.inner.setCurrentIndex(1)
    before = len(view.staff.authorizations)
    view.ask_grant()
    dlg = view.dialog
    assert isinstance(dlg, FormDialog)
    _fill(dlg, username="zhang", procedure="jjg635", competence="JL-2026-77")
    dlg.submit()
    settle(qtbot, gui.runner)
    assert not dlg.isVisible(), dlg.message.text()
    assert len(view.staff.authorizations) == before + 1
    new = next(a for a in view.staff.authorizations if a.competence_certificate == "JL-2026-77")
    view.auth_table.selectRow(view.staff.authorizations.index(new))
    view.ask_withdraw()
    view.dialog.reason.setText("competence to be renewed")  # type: ignore[union-attr]
    view.dialog.submit()  # type: ignore[union-attr]
    settle(qtbot, gui.runner)
    with demo_db.read() as s:
        auth = s.get(Authorization, new.id)
        assert auth is not None
        assert auth.revoked_reason == "competence to be renewed"


def test_expired_password_is_changed_at_login(
    qtbot: QtBot, gui: LimsApp, demo_db: Database, screenshot_dir: Path
) -> None:
    with demo_db.write(actor="system:test", reason="age") as s:
        user = s.scalars(select(User).where(User.username == "chen")).one()
        user.password_changed_at = utcnow() - timedelta(days=gui.ctx.policy.max_age_days + 5)
    dlg = gui.start()
    qtbot.addWidget(dlg)
    dlg.username.setText("chen")
    dlg.password.setText(USERS["chen"].password)
    ok = dlg.buttons.button(QDialogButtonBox.StandardButton.Ok)
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    settle(qtbot, gui.runner)
    assert gui.window is None
    assert dlg.renewing
    assert dlg.new_password.isVisible()
    assert dlg.message.text() == " ".join(STRINGS["login.expired"])
    dlg.grab().save(str(screenshot_dir / "task_expired_password.png"))
    dlg.new_password.setText("Renewed#2026-cj")
    dlg.confirm_password.setText("Renewed#2026-cj")
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: gui.window is not None, timeout=15_000)
    assert login(demo_db, "chen", "Renewed#2026-cj", gui.ctx.policy).username == "chen"
    assert isinstance(dlg.password, QLineEdit)
