"""The login dialog and the change-password dialog; both check through the services."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from lims.models.users import User
from lims.quality.accounts import change_password, login
from lims.security import AuthenticationError
from lims.services.reauth import password_expired, renew_password
from ui.context import AppContext
from ui.i18n import tr
from ui.widgets import MessageLine


class LoginDialog(QDialog):
    """User name and password; the service's refusal (e.g. the lockout) is shown as is."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("login")
        self.user: User | None = None
        self.title = QLabel()
        self.title.setStyleSheet("font-size: 16pt; font-weight: bold;")
        self.title.setWordWrap(True)
        self.username = QLineEdit()
        self.username.setObjectName("username")
        self.password = QLineEdit()
        self.password.setObjectName("password")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.message = MessageLine()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.try_login)
        self.buttons.rejected.connect(self.reject)
        self.form = QFormLayout()
        self.username_label, self.password_label = QLabel(), QLabel()
        self.form.addRow(self.username_label, self.username)
        self.form.addRow(self.password_label, self.password)
        # Shown when the password has expired: the new one, twice (then logged in with it).
        self.new_password = QLineEdit()
        self.new_password.setObjectName("new_password")
        self.confirm_password = QLineEdit()
        self.confirm_password.setObjectName("confirm_password")
        self.new_label, self.confirm_label = QLabel(), QLabel()
        for w in (self.new_password, self.confirm_password):
            w.setEchoMode(QLineEdit.EchoMode.Password)
        self.form.addRow(self.new_label, self.new_password)
        self.form.addRow(self.confirm_label, self.confirm_password)
        self.renewing = False
        self._show_renewal(False)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addLayout(self.form)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(460)
        self.retranslate()

    def retranslate(self) -> None:
        """Set every text in the current language."""
        self.setWindowTitle(f"{tr('app.title')} · {tr('login.title')}")
        self.title.setText(tr("app.title"))
        self.username_label.setText(tr("login.username"))
        self.password_label.setText(tr("passwd.old") if self.renewing else tr("login.password"))
        self.new_label.setText(tr("passwd.new"))
        self.confirm_label.setText(tr("passwd.confirm"))
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText(tr("login.button"))
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setText(tr("login.cancel"))

    def _show_renewal(self, on: bool) -> None:
        self.renewing = on
        for w in (self.new_password, self.confirm_password, self.new_label, self.confirm_label):
            w.setVisible(on)
        self.username.setReadOnly(on)
        if hasattr(self, "buttons"):
            self.retranslate()
            self.adjustSize()

    def try_login(self) -> None:
        """Check the credentials on a worker thread; accept on success.

        When the password has expired the dialog asks for a new one (twice) and logs in
        with it once it is changed.
        """
        username, password = self.username.text().strip(), self.password.text()
        if not username or not password:
            self.message.error(tr("login.empty"))
            return
        if self.renewing:
            self._renew(username, password)
            return
        self.message.info(tr("login.busy"))
        self.buttons.setEnabled(False)
        db, policy = self.ctx.db, self.ctx.policy
        self.ctx.runner.submit(
            lambda: login(db, username, password, policy),
            self._logged_in,
            lambda exc: self._refused(exc, password),
        )

    def _logged_in(self, user: User) -> None:
        self.buttons.setEnabled(True)
        self.user = user
        self.ctx.user = user
        self.password.clear()
        self.accept()

    def _refused(self, exc: Exception, password: str = "") -> None:
        self.buttons.setEnabled(True)
        self.message.error(str(exc))
        if not password or not isinstance(exc, AuthenticationError):
            self.password.clear()
            return
        db, policy, username = self.ctx.db, self.ctx.policy, self.username.text().strip()
        self.ctx.runner.submit(
            lambda: password_expired(db, username, password, policy),
            self._expiry_known,
            lambda _exc: self.password.clear(),
        )

    def _expiry_known(self, expired: bool) -> None:
        if not expired:
            self.password.clear()
            return
        self._show_renewal(True)
        self.message.error(tr("login.expired"))
        self.new_password.setFocus()

    def _renew(self, username: str, old: str) -> None:
        new, again = self.new_password.text(), self.confirm_password.text()
        if not new:
            self.message.error(tr("passwd.new"))
            return
        if new != again:
            self.message.error(tr("passwd.mismatch"))
            return
        db, policy = self.ctx.db, self.ctx.policy
        self.buttons.setEnabled(False)
        self.message.info(tr("login.busy"))

        def failed(exc: Exception) -> None:
            self.buttons.setEnabled(True)
            self.new_password.clear()
            self.confirm_password.clear()
            self.message.error(str(exc))

        def done(user: User) -> None:
            self._show_renewal(False)
            for w in (self.new_password, self.confirm_password):
                w.clear()
            self._logged_in(user)

        self.ctx.runner.submit(lambda: renew_password(db, username, old, new, policy), done, failed)


class ChangePasswordDialog(QDialog):
    """Change one's own password (current, new, confirmation)."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("change_password")
        self.old = QLineEdit()
        self.new = QLineEdit()
        self.confirm = QLineEdit()
        for w in (self.old, self.new, self.confirm):
            w.setEchoMode(QLineEdit.EchoMode.Password)
        self.message = MessageLine()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        self.form = QFormLayout()
        for w, key in (
            (self.old, "passwd.old"),
            (self.new, "passwd.new"),
            (self.confirm, "passwd.confirm"),
        ):
            self.form.addRow(QLabel(tr(key)), w)
        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self.setWindowTitle(tr("passwd.title"))

    def submit(self) -> None:
        """Refuse a mismatch inline; otherwise change the password through the service."""
        if self.new.text() != self.confirm.text():
            self.message.error(tr("passwd.mismatch"))
            return
        ctx, user = self.ctx, self.ctx.actor
        old, new, username = self.old.text(), self.new.text(), user.username

        def work() -> None:
            with ctx.db.write(actor=user, reason="password change") as s:
                change_password(s, username, old, new, ctx.policy)

        self.buttons.setEnabled(False)
        ctx.runner.submit(work, self._done, self._refused)

    def _done(self, _result: object) -> None:
        self.buttons.setEnabled(True)
        self.message.info(tr("passwd.done"))
        self.accept()

    def _refused(self, exc: Exception) -> None:
        self.buttons.setEnabled(True)
        self.message.error(str(exc))
