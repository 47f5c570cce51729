"""Accounts (administrator: add, deactivate, unlock) and authorizations (quality manager:
grant, withdraw), through the same services as ``lims users``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QPushButton,
    QTableWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from lims.models.enums import Role
from lims.quality.accounts import add_user, authorize, deactivate_user, unlock_user
from lims.quality.permissions import Permission, can
from lims.services.lab_register import (
    AuthorizationRow,
    UserRow,
    list_authorizations,
    list_users,
    withdraw_authorization,
)
from lims.services.work_orders import procedure_choices
from ui.access import gate_button, role_text
from ui.context import AppContext
from ui.dialogs import ReasonDialog
from ui.forms import Field, FormDialog, FormError, parse_day
from ui.i18n import tr
from ui.widgets import AMBER, GREEN, RED, MessageLine, fill_table


@dataclass(frozen=True)
class Staff:
    """What the view lists (each part only for those who may see it)."""

    users: list[UserRow]
    authorizations: list[AuthorizationRow]
    procedures: list[str]


def _table() -> QTableWidget:
    t = QTableWidget()
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    t.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    return t


def _selected_row(table: QTableWidget) -> int | None:
    model = table.selectionModel()
    rows = model.selectedRows() if model is not None else []
    return rows[0].row() if rows else None


class UsersView(QWidget):
    """Accounts | authorizations."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("users_view")
        self.staff = Staff([], [], [])
        self.dialog: FormDialog | ReasonDialog | None = None
        self.inner = QTabWidget()
        self.users_table = _table()
        self.users_table.setObjectName("users_table")
        self.add_button = QPushButton()
        self.add_button.setObjectName("add_user")
        self.add_button.clicked.connect(self.ask_add)
        self.deactivate_button = QPushButton()
        self.deactivate_button.clicked.connect(lambda: self.ask_account_change(unlock=False))
        self.unlock_button = QPushButton()
        self.unlock_button.clicked.connect(lambda: self.ask_account_change(unlock=True))
        page = QWidget()
        pv = QVBoxLayout(page)
        pv.addWidget(self.users_table, 1)
        row = QHBoxLayout()
        for b in (self.add_button, self.deactivate_button, self.unlock_button):
            row.addWidget(b)
        row.addStretch(1)
        pv.addLayout(row)
        self.inner.addTab(page, "")
        self.auth_table = _table()
        self.auth_table.setObjectName("authorizations_table")
        self.grant_button = QPushButton()
        self.grant_button.setObjectName("grant")
        self.grant_button.clicked.connect(self.ask_grant)
        self.withdraw_button = QPushButton()
        self.withdraw_button.setObjectName("withdraw")
        self.withdraw_button.clicked.connect(self.ask_withdraw)
        page2 = QWidget()
        av = QVBoxLayout(page2)
        av.addWidget(self.auth_table, 1)
        row2 = QHBoxLayout()
        for b in (self.grant_button, self.withdraw_button):
            row2.addWidget(b)
        row2.addStretch(1)
        av.addLayout(row2)
        self.inner.addTab(page2, "")
        self.message = MessageLine()
        layout = QVBoxLayout(self)
        layout.addWidget(self.inner, 1)
        layout.addWidget(self.message)
        self.retranslate()

    def retranslate(self) -> None:
        """Set every text in the current language."""
        self.inner.setTabText(0, tr("users.accounts"))
        self.inner.setTabText(1, tr("users.authorizations"))
        self.add_button.setText(tr("users.add"))
        self.deactivate_button.setText(tr("users.deactivate"))
        self.unlock_button.setText(tr("users.unlock"))
        self.grant_button.setText(tr("users.grant"))
        self.withdraw_button.setText(tr("users.withdraw"))
        self._show()

    def refresh(self) -> None:
        """Reload on a worker thread (accounts and authorizations as permitted)."""
        user = self.ctx.user
        for b in (self.add_button, self.deactivate_button, self.unlock_button):
            gate_button(b, user, Permission.MANAGE_USERS)
        for b in (self.grant_button, self.withdraw_button):
            gate_button(b, user, Permission.MANAGE_AUTHORIZATIONS)
        db, actor = self.ctx.db, self.ctx.actor

        def load() -> Staff:
            with db.read() as s:
                auths = (
                    list_authorizations(s, actor)
                    if can(actor, Permission.MANAGE_AUTHORIZATIONS)
                    else []
                )
                return Staff(list_users(s, actor), auths, procedure_choices(s, actor))

        self.ctx.runner.submit(load, self._loaded, lambda e: self.message.error(str(e)))

    def _loaded(self, staff: Staff) -> None:
        self.staff = staff
        self._show()

    def _show(self) -> None:
        today = self.ctx.today()
        fill_table(
            self.users_table,
            [
                tr(k)
                for k in (
                    "login.username",
                    "users.name",
                    "users.roles",
                    "std.col.status",
                    "users.failures",
                    "users.password_changed",
                    "users.valid_until",
                )
            ],
            [
                [
                    u.username,
                    f"{u.full_name} {u.full_name_en}".strip(),
                    ", ".join(role_text(r) for r in u.roles),
                    tr(
                        "users.locked"
                        if u.locked_at
                        else "users.active"
                        if u.active
                        else "users.deactivated"
                    ),
                    u.failed_logins,
                    f"{u.password_changed_at:%Y-%m-%d}",
                    u.valid_until.isoformat() if u.valid_until else "—",
                ]
                for u in self.staff.users
            ],
        )
        for i, u in enumerate(self.staff.users):
            cell = self.users_table.item(i, 3)
            if cell is not None:
                cell.setBackground(RED if u.locked_at else GREEN if u.active else AMBER)
        fill_table(
            self.auth_table,
            [
                tr(k)
                for k in (
                    "login.username",
                    "wo.procedure",
                    "users.competence",
                    "users.from",
                    "users.until",
                    "std.col.status",
                )
            ],
            [
                [
                    f"{a.username} ({a.full_name})",
                    a.procedure_id,
                    a.competence_certificate,
                    a.valid_from.isoformat(),
                    a.valid_until.isoformat(),
                    tr("users.withdrawn") + f": {a.revoked_reason}"
                    if a.revoked_at
                    else tr("users.valid" if a.valid_on(today) else "users.not_valid"),
                ]
                for a in self.staff.authorizations
            ],
        )
        for i, a in enumerate(self.staff.authorizations):
            cell = self.auth_table.item(i, 5)
            if cell is not None:
                cell.setBackground(GREEN if a.valid_on(today) else RED)

    # -- accounts ----------------------------------------------------------------------
    def ask_add(self) -> None:
        """Open the new-account form (administrator)."""
        ctx = self.ctx
        roles = [(role_text(r), r) for r in Role]
        fields = [
            Field("username", "login.username"),
            Field("full_name", "users.name_zh"),
            Field("full_name_en", "users.name_en", required=False),
            Field("roles", "users.roles", "multi", roles),
            Field("password", "passwd.new", "password"),
            Field("confirm", "passwd.confirm", "password"),
            Field("valid_until", "users.valid_until", "date", required=False),
        ]

        def work(v: dict[str, Any]) -> str:
            if v["password"] != v["confirm"]:
                raise FormError("confirm", tr("passwd.mismatch"))
            until = parse_day(v, "valid_until")
            with ctx.db.write(actor=ctx.actor, reason="account created") as s:
                add_user(
                    s,
                    ctx.actor,
                    v["username"],
                    v["full_name"],
                    v["password"],
                    [Role(r) for r in v["roles"]],
                    ctx.policy,
                    full_name_en=v["full_name_en"],
                    valid_until=until,
                )
            return str(v["username"])

        self.dialog = FormDialog(ctx, tr("users.add"), fields, work, self._changed, self)
        self.dialog.open()

    def selected_user(self) -> UserRow | None:
        """The account selected in the table."""
        row = _selected_row(self.users_table)
        return self.staff.users[row] if row is not None and row < len(self.staff.users) else None

    def ask_account_change(self, *, unlock: bool) -> None:
        """Deactivate or unlock the selected account, with a reason."""
        chosen = self.selected_user()
        if chosen is None:
            self.message.error(tr("users.select"))
            return
        ctx, username = self.ctx, chosen.username
        title = tr("users.unlock" if unlock else "users.deactivate")
        change = unlock_user if unlock else deactivate_user

        def run(reason: str, dlg: ReasonDialog) -> None:
            def work() -> str:
                with ctx.db.write(actor=ctx.actor, reason=reason) as s:
                    change(s, ctx.actor, username)
                return username

            def done(name: str) -> None:
                dlg.succeeded()
                self._changed(name)

            ctx.runner.submit(work, done, lambda exc: dlg.refused(str(exc)))

        self.dialog = ReasonDialog(title, f"{title}: {username}", run, self)
        self.dialog.open()

    # -- authorizations ----------------------------------------------------------------
    def ask_grant(self) -> None:
        """Open the authorization form (quality manager)."""
        ctx = self.ctx
        technicians = [
            (f"{u.username} ({u.full_name})", u.username)
            for u in self.staff.users
            if u.active and Role.TECHNICIAN in u.roles
        ]
        today = ctx.today()
        fields = [
            Field("username", "login.username", "combo", technicians),
            Field("procedure", "wo.procedure", "combo", [(p, p) for p in self.staff.procedures]),
            Field("valid_from", "users.from", "date", default=today.isoformat()),
            Field(
                "valid_until",
                "users.until",
                "date",
                default=date(today.year + 1, today.month, 1).isoformat(),
            ),
            Field("competence", "users.competence", required=False),
        ]

        def work(v: dict[str, Any]) -> str:
            start, end = parse_day(v, "valid_from"), parse_day(v, "valid_until")
            assert start is not None
            assert end is not None
            with ctx.db.write(actor=ctx.actor, reason="authorization granted") as s:
                authorize(
                    s,
                    ctx.actor,
                    v["username"],
                    v["procedure"],
                    start,
                    end,
                    competence_certificate=v["competence"],
                )
            return f"{v['username']} · {v['procedure']}"

        self.dialog = FormDialog(ctx, tr("users.grant"), fields, work, self._changed, self)
        self.dialog.open()

    def ask_withdraw(self) -> None:
        """Withdraw the selected authorization, with a reason."""
        row = _selected_row(self.auth_table)
        if row is None or row >= len(self.staff.authorizations):
            self.message.error(tr("users.select"))
            return
        a = self.staff.authorizations[row]
        ctx = self.ctx

        def run(reason: str, dlg: ReasonDialog) -> None:
            def work() -> str:
                with ctx.db.write(actor=ctx.actor, reason=reason) as s:
                    withdraw_authorization(s, ctx.actor, a.id, reason)
                return f"{a.username} · {a.procedure_id}"

            def done(name: str) -> None:
                dlg.succeeded()
                self._changed(name)

            ctx.runner.submit(work, done, lambda exc: dlg.refused(str(exc)))

        title = tr("users.withdraw")
        self.dialog = ReasonDialog(title, f"{title}: {a.username} · {a.procedure_id}", run, self)
        self.dialog.open()

    def _changed(self, what: object) -> None:
        self.message.info(f"{tr('users.saved')}: {what}")
        self.refresh()
