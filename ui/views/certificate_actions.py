"""Acting on a certificate found in the history: amend (a new certificate that supersedes
it), revoke, redraft after a rejection, export the PDF or the DCC, print.

:class:`CertificateActionsMixin` is mixed into :class:`ui.views.history.HistoryView`,
which owns the widgets and the selected certificate (``detail``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog

from ui.dialogs import ReasonDialog
from ui.i18n import tr
from ui.widgets import WidgetMixin

if TYPE_CHECKING:
    from PySide6.QtPrintSupport import QPrinter
    from PySide6.QtWidgets import QComboBox, QLineEdit

    from lims.services.certificates import CertificateInfo
    from ui.context import AppContext
    from ui.views.history import HistoryDetail
    from ui.widgets import MessageLine


class CertificateActionsMixin(WidgetMixin):
    """The certificate actions of the history view (see the module docstring)."""

    # What the history view provides: its context, the search form, the selection.
    ctx: AppContext
    number: QLineEdit
    customer: QLineEdit
    serial: QLineEdit
    date_from: QLineEdit
    date_to: QLineEdit
    status: QComboBox
    message: MessageLine
    detail: HistoryDetail | None
    select_after: str | None
    reason_dialog: ReasonDialog | None
    printed_pages: int
    _showing_count: bool

    if TYPE_CHECKING:

        def search(self) -> None:
            """Search with the form's criteria."""

        def _failed(self, exc: Exception) -> None:
            """Show why a worker's task failed."""

    def _show_new(self, number: str) -> None:
        """Search for the certificate just made (an amendment, a redraft) and select it."""
        for field in (self.customer, self.serial, self.date_from, self.date_to):
            field.clear()
        self.status.setCurrentIndex(0)
        self.number.setText(number)
        self.select_after = number
        self.search()

    # -- amend, revoke, redraft, export, print -----------------------------------------
    def ask_change(self, kind: str) -> None:
        """Amend (a new certificate that supersedes) or revoke the selected one, with a reason."""
        d = self.detail
        if d is None:
            return
        number, db, user, today = d.number, self.ctx.db, self.ctx.actor, self.ctx.today()
        base_url = self.ctx.settings.verification_base_url

        def run(reason: str, dlg: ReasonDialog) -> None:
            def work() -> CertificateInfo:
                from lims.services.certificates import amend_certificate, revoke_certificate

                if kind == "amend":
                    return amend_certificate(
                        db, user, number, reason, today=today, verification_base_url=base_url
                    )
                return revoke_certificate(db, user, number, reason)

            def done(info: CertificateInfo) -> None:
                dlg.succeeded()
                self.message.info(f"{tr(f'history.{kind}d')}: {info.number}")
                self._showing_count = False
                self._show_new(info.number)

            self.ctx.runner.submit(work, done, lambda exc: dlg.refused(str(exc)))

        title = tr(f"history.{kind}")
        self.reason_dialog = ReasonDialog(title, f"{title}: {number}", run, self)
        self.reason_dialog.open()

    def redraft(self) -> None:
        """Draft the rejected certificate's run again (a new number; worker thread)."""
        d = self.detail
        if d is None:
            return
        run_id, db, user, today = d.info.run_id, self.ctx.db, self.ctx.actor, self.ctx.today()
        rule = self.ctx.settings.cmc_rule or None
        base_url = self.ctx.settings.verification_base_url

        def work() -> CertificateInfo:
            from lims.services.certificates import draft_certificate

            return draft_certificate(
                db, user, run_id, today=today, cmc_rule=rule, verification_base_url=base_url
            )

        def done(info: CertificateInfo) -> None:
            self.message.info(f"{tr('bench.drafted')}: {info.number}")
            self._show_new(info.number)

        self.ctx.runner.submit(work, done, self._failed)

    def ask_export(self, kind: str) -> None:
        """Choose where to write the selected certificate's PDF or DCC."""
        d = self.detail
        if d is None:
            return
        suffix = "pdf" if kind == "pdf" else "xml"
        name, _filter = QFileDialog.getSaveFileName(
            self, tr(f"history.export_{kind}"), f"{d.number}.{suffix}", f"*.{suffix}"
        )
        if name:
            self.export(kind, Path(name))

    def export(self, kind: str, path: Path) -> None:
        """Write the selected certificate's recorded PDF or DCC to ``path`` (worker thread)."""
        d = self.detail
        if d is None:
            return
        db, user, number = self.ctx.db, self.ctx.actor, d.number

        def work() -> Path:
            from lims.services.certificates import certificate_dcc, certificate_pdf

            data = (certificate_pdf if kind == "pdf" else certificate_dcc)(db, user, number)
            try:
                path.write_bytes(data)
            except OSError as exc:
                raise ValueError(f"{path}: {exc.strerror}") from exc
            return path

        self.ctx.runner.submit(
            work, lambda p: self.message.info(f"{tr('history.exported')}: {p}"), self._failed
        )

    def ask_print(self) -> None:
        """Print the selected certificate's PDF (the printer chosen in Qt's dialog)."""
        from PySide6.QtPrintSupport import QPrintDialog, QPrinter

        printer = QPrinter(QPrinter.PrinterMode.HighResolution)
        dialog = QPrintDialog(printer, self)
        if dialog.exec() == QPrintDialog.DialogCode.Accepted:
            self.print_to(printer)

    def print_to(self, printer: QPrinter) -> None:
        """Fetch the PDF (worker thread), then print it on ``printer``."""
        d = self.detail
        if d is None:
            return
        db, user, number = self.ctx.db, self.ctx.actor, d.number

        def work() -> bytes:
            from lims.services.certificates import certificate_pdf

            return certificate_pdf(db, user, number)

        def done(data: bytes) -> None:
            from ui.printing import print_pdf

            try:
                pages = print_pdf(data, printer)
            except ValueError as exc:
                self.message.error(str(exc))
                return
            self.printed_pages = pages
            self.message.info(f"{tr('history.printed')}: {number} ({pages})")

        self.ctx.runner.submit(work, done, self._failed)
