"""The review and approval queue: drafts waiting for each role, the PDF preview, signing
with the password entered again and the meaning shown, rejecting with a reason."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from lims.certificates.model import Meaning
from lims.db import Database
from lims.models.enums import CertificateStatus
from lims.models.users import User
from lims.quality.permissions import Permission, can
from ui.access import refusal
from ui.context import AppContext
from ui.dialogs import ReasonDialog
from ui.i18n import tr
from ui.pdf_preview import PdfPreview
from ui.results_table import verdict_text
from ui.widgets import AMBER, GREEN, MessageLine, fill_table

if TYPE_CHECKING:  # the certificate service (PDF, signing) loads on a worker thread
    from lims.services.certificates import CertificateInfo

#: The states in which a certificate waits for a signature.
OPEN = (CertificateStatus.DRAFT, CertificateStatus.PERFORMED, CertificateStatus.REVIEWED)


def status_text(status: CertificateStatus | str) -> str:
    """A certificate status in the current language."""
    try:
        return tr(f"cert.status.{CertificateStatus(status).value}")
    except (KeyError, ValueError):
        return str(status)


def meaning_text(meaning: Meaning) -> str:
    """A signature's meaning as a role (检定员 performed …)."""
    return tr(f"meaning.{meaning.value}")


def may_sign(user: User, info: CertificateInfo) -> bool:
    """Whether ``user`` may give the signature ``info`` waits for."""
    from lims.services.certificates import SIGN_PERMISSION

    meaning = info.next_meaning
    return (
        meaning is not None
        and can(user, SIGN_PERMISSION[meaning])
        and user.username not in {s.username for s in info.signatures}
    )


def load_queue(db: Database, user: User) -> list[CertificateInfo]:
    """Every certificate waiting for a signature, oldest first."""
    from lims.services.certificates import certificate_info, list_pending

    return [certificate_info(db, user, n) for n in list_pending(db, user, OPEN)]


@dataclass(frozen=True)
class Selected:
    """A certificate and its current PDF."""

    info: CertificateInfo
    pdf: bytes


def load_selected(db: Database, user: User, number: str) -> Selected:
    """A certificate's record and PDF."""
    from lims.services.certificates import certificate_info, certificate_pdf

    return Selected(certificate_info(db, user, number), certificate_pdf(db, user, number))


class SignDialog(QDialog):
    """Sign one certificate: who, the meaning in words, the password entered again."""

    signed = Signal(object)

    def __init__(
        self, ctx: AppContext, info: CertificateInfo, meaning: Meaning, parent: QWidget
    ) -> None:
        super().__init__(parent)
        self.setObjectName("sign_dialog")
        self.ctx = ctx
        self.info = info
        self.meaning = meaning
        self.setWindowTitle(tr("sign.title"))
        user = ctx.actor
        self.meaning_label = QLabel(
            f"<b>{meaning_text(meaning)}</b> — {tr(f'meaning.{meaning.value}.text')}"
        )
        self.meaning_label.setWordWrap(True)
        self.password = QLineEdit()
        self.password.setObjectName("sign_password")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.message = MessageLine()
        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        certificate = QLabel(f"{info.number} · {info.customer}")
        certificate.setWordWrap(True)
        form.addRow(tr("sign.certificate"), certificate)
        form.addRow(tr("sign.signer"), QLabel(f"{user.full_name} ({user.username})"))
        form.addRow(tr("sign.meaning"), self.meaning_label)
        form.addRow(tr("sign.password"), self.password)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText(tr("sign.button"))
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setText(tr("common.cancel"))
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        # wrapped labels need their height for the width: let the layout size the dialog
        layout.setSizeConstraint(QLayout.SizeConstraint.SetMinimumSize)
        self.setMinimumWidth(680)

    def submit(self) -> None:
        """Sign through the service on a worker thread; a refusal is shown here."""
        password = self.password.text()
        if not password:
            self.message.error(tr("sign.password_required"))
            return
        ctx, number, meaning = self.ctx, self.info.number, self.meaning
        username = ctx.actor.username
        self.buttons.setEnabled(False)
        self.message.info(tr("sign.busy"))

        def work() -> CertificateInfo:
            from lims.services.certificates import sign_certificate

            return sign_certificate(
                ctx.db,
                number,
                username,
                password,
                meaning,
                ctx.policy,
                archive_dir=ctx.settings.archive_dir,
                anchor_file=ctx.settings.anchor_file,
                anchor_copies=ctx.settings.anchor_copies,
                tsa_url=ctx.settings.tsa_url,
                verification_base_url=ctx.settings.verification_base_url,
            )

        ctx.runner.submit(work, self._done, self._refused)

    def _done(self, info: CertificateInfo) -> None:
        self.buttons.setEnabled(True)
        self.password.clear()
        self.signed.emit(info)
        self.accept()

    def _refused(self, exc: Exception) -> None:
        self.buttons.setEnabled(True)
        self.password.clear()
        self.message.error(str(exc))


class ReviewView(QWidget):
    """The queue | the selected certificate's preview, signatures and actions."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("review_view")
        self.queue: list[CertificateInfo] = []
        self.shown: list[CertificateInfo] = []
        self.selected: Selected | None = None
        self.sign_dialog: SignDialog | None = None
        self.reason_dialog: ReasonDialog | None = None
        #: A certificate to select once the queue has loaded (e.g. one just drafted).
        self.pending_select: str | None = None

        self.mine = QCheckBox()
        self.mine.setChecked(True)
        self.mine.toggled.connect(self._show_queue)
        self.refresh_button = QPushButton()
        self.refresh_button.clicked.connect(self.refresh)
        self.table = QTableWidget()
        self.table.setObjectName("review_queue")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.itemSelectionChanged.connect(self._selected)
        self.sign_button = QPushButton()
        self.sign_button.setObjectName("sign")
        self.sign_button.clicked.connect(self.ask_sign)
        self.reject_button = QPushButton()
        self.reject_button.setObjectName("reject")
        self.reject_button.clicked.connect(self.ask_reject)
        self.message = MessageLine()
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.signatures_box = QGroupBox()
        self.signatures = QTableWidget()
        self.signatures.setObjectName("review_signatures")
        self.signatures.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        QVBoxLayout(self.signatures_box).addWidget(self.signatures)
        top = QHBoxLayout()
        top.addWidget(self.mine)
        top.addStretch(1)
        top.addWidget(self.refresh_button)
        actions = QHBoxLayout()
        actions.addWidget(self.sign_button)
        actions.addWidget(self.reject_button)
        actions.addStretch(1)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.addLayout(top)
        lv.addWidget(self.table, 2)
        lv.addWidget(self.info)
        lv.addWidget(self.signatures_box, 1)
        lv.addLayout(actions)
        lv.addWidget(self.message)
        self.preview_box = QGroupBox()
        self.preview = PdfPreview()
        QVBoxLayout(self.preview_box).addWidget(self.preview)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.setObjectName("review_split")
        split.addWidget(left)
        split.addWidget(self.preview_box)
        split.setSizes([560, 720])
        QVBoxLayout(self).addWidget(split)
        self._update_buttons()
        self.retranslate()

    # -- texts -------------------------------------------------------------------------
    def retranslate(self) -> None:
        """Set every text in the current language and redraw the tables."""
        self.mine.setText(tr("review.mine"))
        self.refresh_button.setText(tr("common.refresh"))
        self.sign_button.setText(tr("review.sign"))
        self.reject_button.setText(tr("review.reject"))
        self.signatures_box.setTitle(tr("review.signatures"))
        self.preview_box.setTitle(tr("review.preview"))
        self._show_queue()
        self._show_selected()

    # -- the queue ---------------------------------------------------------------------
    def refresh(self) -> None:
        """Reload the queue on a worker thread."""
        db, user = self.ctx.db, self.ctx.actor
        self.ctx.runner.submit(lambda: load_queue(db, user), self._loaded, self._failed)

    def _loaded(self, queue: list[CertificateInfo]) -> None:
        keep = self.selected.info.number if self.selected is not None else None
        if self.pending_select is not None:
            keep, self.pending_select = self.pending_select, None
        self.queue = queue
        self._show_queue()
        if keep is not None and not self.select(keep):
            self.selected = None
            self._show_selected()

    def _failed(self, exc: Exception) -> None:
        self.message.error(str(exc))

    def _show_queue(self) -> None:
        user = self.ctx.user
        self.shown = [
            c
            for c in self.queue
            if not self.mine.isChecked() or (user is not None and may_sign(user, c))
        ]
        headers = [
            tr(k)
            for k in (
                "cert.col.number",
                "cert.col.customer",
                "cert.col.instrument",
                "cert.col.serial",
                "cert.col.status",
                "cert.col.waits",
                "cert.col.verdict",
            )
        ]
        rows = [
            [
                c.number,
                c.customer,
                c.instrument,
                c.serial_number,
                status_text(c.status),
                meaning_text(c.next_meaning) if c.next_meaning else "",
                verdict_text(c.overall_verdict),
            ]
            for c in self.shown
        ]
        self.table.blockSignals(True)
        fill_table(self.table, headers, rows)
        self.table.blockSignals(False)
        for i, c in enumerate(self.shown):
            item = self.table.item(i, 5)
            if item is not None and user is not None:
                item.setBackground(GREEN if may_sign(user, c) else AMBER)
        if not self.shown:
            self.info.setText(tr("review.empty"))
        elif self.selected is None:
            self.info.setText(f"{len(self.shown)} {tr('review.waiting')}")

    def select(self, number: str) -> bool:
        """Select the certificate ``number`` if it is in the list shown."""
        for i, c in enumerate(self.shown):
            if c.number == number:
                self.table.selectRow(i)
                return True
        return False

    def _selected(self) -> None:
        model = self.table.selectionModel()
        rows = model.selectedRows() if model is not None else []
        if not rows or rows[0].row() >= len(self.shown):
            return
        number = self.shown[rows[0].row()].number
        db, user = self.ctx.db, self.ctx.actor
        self.ctx.runner.submit(
            lambda: load_selected(db, user, number), self._selected_loaded, self._failed
        )

    def _selected_loaded(self, selected: Selected) -> None:
        self.selected = selected
        self.preview.show_pdf(selected.pdf)
        self._show_selected()

    def _show_selected(self) -> None:
        s = self.selected
        self._update_buttons()
        if s is None:
            fill_table(self.signatures, [], [])
            self.preview.show_pdf(None)
            return
        c = s.info
        waits = (
            f" · {tr('cert.col.waits')}: {meaning_text(c.next_meaning)}" if c.next_meaning else ""
        )
        simulated = f" · {tr('history.simulated')}" if c.simulated else ""
        self.info.setText(
            f"<b>{c.number}</b> · {tr(f'cert.type.{c.type.value}')} · {status_text(c.status)}"
            f"{waits}{simulated}<br>{c.customer} · {c.instrument} · {c.serial_number}"
        )
        fill_table(
            self.signatures,
            [tr("cert.col.meaning"), tr("cert.col.signer"), tr("cert.col.signed_at")],
            [
                [
                    meaning_text(g.meaning),
                    f"{g.printed_name} ({g.username})",
                    f"{g.signed_at:%Y-%m-%d %H:%M:%S}",
                ]
                for g in c.signatures
            ],
        )

    def _update_buttons(self) -> None:
        user, s = self.ctx.user, self.selected
        signable = user is not None and s is not None and may_sign(user, s.info)
        self.sign_button.setEnabled(signable)
        can_reject = user is not None and (
            can(user, Permission.SIGN_REVIEWED) or can(user, Permission.SIGN_APPROVED)
        )
        self.reject_button.setEnabled(bool(can_reject and s is not None and s.info.status in OPEN))
        reason = refusal(user, (Permission.SIGN_REVIEWED, Permission.SIGN_APPROVED))
        self.reject_button.setToolTip(reason or "")
        if user is not None and s is not None and not signable:
            self.sign_button.setToolTip(tr("review.cannot_sign"))
        else:
            self.sign_button.setToolTip("")

    # -- actions -----------------------------------------------------------------------
    def ask_sign(self) -> None:
        """Open the signature dialog for the selected certificate."""
        s = self.selected
        if s is None or s.info.next_meaning is None:
            self.message.error(tr("review.select"))
            return
        if not may_sign(self.ctx.actor, s.info):
            self.message.error(tr("review.cannot_sign"))
            return
        self.sign_dialog = SignDialog(self.ctx, s.info, s.info.next_meaning, self)
        self.sign_dialog.signed.connect(self._signed)
        self.sign_dialog.open()

    def _signed(self, info: CertificateInfo) -> None:
        self.message.info(f"{tr('review.signed')}: {info.number} · {status_text(info.status)}")
        self.selected = None
        self._show_selected()
        self.refresh()

    def ask_reject(self) -> None:
        """Ask for the reason, then send the selected draft back."""
        s = self.selected
        if s is None:
            self.message.error(tr("review.select"))
            return
        number = s.info.number
        title = tr("review.reject.title")
        self.reason_dialog = ReasonDialog(
            title,
            f"{title}: {number}",
            lambda reason, dlg: self._reject(number, reason, dlg),
            self,
        )
        self.reason_dialog.open()

    def _reject(self, number: str, reason: str, dlg: ReasonDialog) -> None:
        db, user = self.ctx.db, self.ctx.actor

        def done(info: CertificateInfo) -> None:
            dlg.succeeded()
            self.message.info(f"{tr('review.rejected')}: {info.number}")
            self.selected = None
            self._show_selected()
            self.refresh()

        def work() -> CertificateInfo:
            from lims.services.certificates import reject_certificate

            return reject_certificate(db, user, number, reason)

        self.ctx.runner.submit(
            work,
            done,
            lambda exc: dlg.refused(str(exc)),
        )
