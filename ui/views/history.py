"""Certificate history for auditors: search by number, customer, serial, dates and status;
open the PDF, verify it, read its audit trail and its supersession chain."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from lims.db import Database
from lims.models.enums import CertificateStatus
from lims.models.users import User
from lims.quality.permissions import Permission, can, require
from ui.access import gate, refusal
from ui.context import AppContext
from ui.dialogs import ReasonDialog
from ui.i18n import tr, vocabulary_text
from ui.pdf_preview import PdfDialog
from ui.results_table import verdict_text
from ui.views.certificate_actions import CertificateActionsMixin
from ui.views.review import meaning_text, status_text
from ui.widgets import AMBER, GREEN, RED, MessageLine, fill_table

if TYPE_CHECKING:  # the certificate services (PDF, signatures) load on worker threads
    from lims.quality.certificate_search import CertificateHit
    from lims.services.certificate_trail import TrailEntry
    from lims.services.certificates import CertificateInfo, FileVerification

_ERROR_STYLE = "border: 2px solid #b00020;"


@dataclass(frozen=True)
class Criteria:
    """What the search form asks for (already checked)."""

    number: str | None = None
    customer: str | None = None
    serial: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    status: CertificateStatus | None = None


@dataclass(frozen=True)
class HistoryDetail:
    """One certificate with its chain and (for those who may review it) its audit trail."""

    chain: list[CertificateInfo]
    number: str
    trail: list[TrailEntry] = field(default_factory=list)
    may_review_audit: bool = False

    @property
    def info(self) -> CertificateInfo:
        """The certificate itself (from the chain)."""
        return next(c for c in self.chain if c.number == self.number)


def search(db: Database, viewer: User, c: Criteria) -> list[CertificateHit]:
    """The certificates matching ``c``, newest first."""
    from lims.quality.certificate_search import search_certificates

    require(viewer, Permission.VIEW_RECORDS)
    with db.read() as s:
        return search_certificates(
            s,
            number=c.number,
            customer=c.customer,
            serial=c.serial,
            date_from=c.date_from,
            date_to=c.date_to,
            status=c.status,
        )


def load_detail(db: Database, viewer: User, number: str) -> HistoryDetail:
    """A certificate's supersession chain and, when permitted, its audit trail."""
    from lims.services.certificate_trail import certificate_trail, supersession_chain

    chain = supersession_chain(db, viewer, number)
    audit = can(viewer, Permission.REVIEW_AUDIT)
    trail = certificate_trail(db, viewer, number) if audit else []
    return HistoryDetail(chain, number, trail, audit)


def verify_issued(db: Database, viewer: User, number: str) -> FileVerification:
    """Verify the recorded PDF of ``number`` offline (signatures, CA, records)."""
    from lims.services.certificates import certificate_pdf, verify_certificate_file

    return verify_certificate_file(db, certificate_pdf(db, viewer, number), f"{number}.pdf")


class HistoryView(CertificateActionsMixin, QWidget):
    """Search form and results | the selected certificate's chain, trail and checks."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("history_view")
        self.hits: list[CertificateHit] = []
        self.detail: HistoryDetail | None = None
        self.verification: FileVerification | None = None
        self.pdf_dialog: PdfDialog | None = None
        self._showing_count = False
        #: A certificate to select once the next search has answered (a new amendment).
        self.select_after: str | None = None
        self.printed_pages = 0

        self.number = QLineEdit()
        self.customer = QLineEdit()
        self.serial = QLineEdit()
        self.date_from = QLineEdit()
        self.date_to = QLineEdit()
        for w in (self.date_from, self.date_to):
            w.setPlaceholderText("YYYY-MM-DD")
        self.status = QComboBox()
        self.status.addItem("", None)
        for st in CertificateStatus:
            self.status.addItem("", st)
        self.search_button = QPushButton()
        self.search_button.setObjectName("search")
        self.search_button.clicked.connect(self.search)
        for line in (self.number, self.customer, self.serial, self.date_from, self.date_to):
            line.returnPressed.connect(self.search)
        self.labels = {key: QLabel() for key in ("number", "customer", "serial", "from", "to")}
        self.labels["status"] = QLabel()
        form = QGridLayout()
        fields: list[tuple[str, QWidget]] = [
            ("number", self.number),
            ("customer", self.customer),
            ("serial", self.serial),
            ("from", self.date_from),
            ("to", self.date_to),
            ("status", self.status),
        ]
        # Two label-field pairs a row: the bilingual labels are long, the fields stay usable.
        for i, (key, widget) in enumerate(fields):
            form.addWidget(self.labels[key], i // 2, (i % 2) * 2)
            form.addWidget(widget, i // 2, (i % 2) * 2 + 1)
            widget.setMinimumWidth(widget.fontMetrics().horizontalAdvance("YYYY-MM-DD") + 24)
        form.addWidget(self.search_button, 0, 4, 3, 1)
        for column in (1, 3):
            form.setColumnStretch(column, 1)
        self.message = MessageLine()
        self.table = QTableWidget()
        self.table.setObjectName("history_results")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.itemSelectionChanged.connect(self._selected)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.addLayout(form)
        lv.addWidget(self.message)
        lv.addWidget(self.table, 1)

        self.info = QLabel()
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_button = QPushButton()
        self.open_button.clicked.connect(self.open_pdf)
        self.verify_button = QPushButton()
        self.verify_button.setObjectName("verify")
        self.verify_button.clicked.connect(self.verify)
        self.verify_file_button = QPushButton()
        self.verify_file_button.clicked.connect(self.ask_verify_file)
        self.verify_result = QLabel()
        self.verify_result.setWordWrap(True)
        self.verify_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QHBoxLayout()
        for b in (self.open_button, self.verify_button, self.verify_file_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        self.amend_button = QPushButton()
        self.amend_button.setObjectName("amend")
        self.amend_button.clicked.connect(lambda: self.ask_change("amend"))
        self.revoke_button = QPushButton()
        self.revoke_button.setObjectName("revoke")
        self.revoke_button.clicked.connect(lambda: self.ask_change("revoke"))
        self.redraft_button = QPushButton()
        self.redraft_button.setObjectName("redraft")
        self.redraft_button.clicked.connect(self.redraft)
        self.export_pdf_button = QPushButton()
        self.export_pdf_button.clicked.connect(lambda: self.ask_export("pdf"))
        self.export_dcc_button = QPushButton()
        self.export_dcc_button.clicked.connect(lambda: self.ask_export("dcc"))
        self.print_button = QPushButton()
        self.print_button.clicked.connect(self.ask_print)
        actions = QHBoxLayout()
        for b in (
            self.amend_button,
            self.revoke_button,
            self.redraft_button,
            self.export_pdf_button,
            self.export_dcc_button,
            self.print_button,
        ):
            actions.addWidget(b)
        actions.addStretch(1)
        self.reason_dialog: ReasonDialog | None = None
        self.chain_box = QGroupBox()
        self.chain = QTableWidget()
        self.chain.setObjectName("history_chain")
        self.chain.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        QVBoxLayout(self.chain_box).addWidget(self.chain)
        self.trail_box = QGroupBox()
        self.trail = QTableWidget()
        self.trail.setObjectName("history_trail")
        self.trail.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.trail_message = QLabel()
        tv = QVBoxLayout(self.trail_box)
        tv.addWidget(self.trail)
        tv.addWidget(self.trail_message)
        right = QWidget()
        rv = QVBoxLayout(right)
        rv.addWidget(self.info)
        rv.addLayout(buttons)
        rv.addLayout(actions)
        rv.addWidget(self.verify_result)
        rv.addWidget(self.chain_box, 1)
        rv.addWidget(self.trail_box, 2)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.setObjectName("history_split")
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([640, 640])
        QVBoxLayout(self).addWidget(split)
        self._update_buttons()
        self.retranslate()

    # -- texts -------------------------------------------------------------------------
    def retranslate(self) -> None:
        """Set every text in the current language and redraw the tables."""
        for key, label in self.labels.items():
            label.setText(tr(f"history.{key}"))
        self.status.setItemText(0, tr("history.any"))
        for i in range(1, self.status.count()):
            self.status.setItemText(i, status_text(self.status.itemData(i)))
        self.search_button.setText(tr("history.search"))
        self.open_button.setText(tr("history.open_pdf"))
        self.verify_button.setText(tr("history.verify"))
        self.verify_file_button.setText(tr("history.verify_file"))
        self.amend_button.setText(tr("history.amend"))
        self.revoke_button.setText(tr("history.revoke"))
        self.redraft_button.setText(tr("history.redraft"))
        self.export_pdf_button.setText(tr("history.export_pdf"))
        self.export_dcc_button.setText(tr("history.export_dcc"))
        self.print_button.setText(tr("history.print"))
        self.chain_box.setTitle(tr("history.chain"))
        self.trail_box.setTitle(tr("history.trail"))
        self._show_hits()
        self._show_detail()
        self._show_verification()
        if self._showing_count:  # the count of hits follows the language too
            self.message.info(f"{len(self.hits)} {tr('history.found')}")

    # -- search ------------------------------------------------------------------------
    def refresh(self) -> None:
        """Search again with the criteria in the form."""
        self.search()

    def criteria(self) -> Criteria | None:
        """The form's criteria, or None after marking each bad field (nothing searched)."""
        bad = False
        self._showing_count = False  # the message line now says what is wrong, if anything
        dates: list[date | None] = []
        for w in (self.date_from, self.date_to):
            text = w.text().strip()
            try:
                dates.append(date.fromisoformat(text) if text else None)
                w.setStyleSheet("")
            except ValueError:
                dates.append(None)
                w.setStyleSheet(_ERROR_STYLE)
                bad = True
        if bad:
            self.message.error(f"{tr('history.from')}/{tr('history.to')}: {tr('history.bad_date')}")
            return None
        if dates[0] is not None and dates[1] is not None and dates[1] < dates[0]:
            self.date_to.setStyleSheet(_ERROR_STYLE)
            self.message.error(
                f"{tr('history.to')} {dates[1].isoformat()} < {tr('history.from')} "
                f"{dates[0].isoformat()}"
            )
            return None

        def given(w: QLineEdit) -> str | None:
            return w.text().strip() or None

        return Criteria(
            number=given(self.number),
            customer=given(self.customer),
            serial=given(self.serial),
            date_from=dates[0],
            date_to=dates[1],
            status=self.status.currentData(),
        )

    def search(self) -> None:
        """Search on a worker thread (bad dates are refused inline first)."""
        c = self.criteria()
        if c is None:
            return
        self.message.clear_message()
        self._showing_count = False
        db, user = self.ctx.db, self.ctx.actor
        self.ctx.runner.submit(lambda: search(db, user, c), self._found, self._failed)

    def _found(self, hits: list[CertificateHit]) -> None:
        keep = self.detail.number if self.detail is not None else None
        if self.select_after is not None:
            keep, self.select_after = self.select_after, None
        self.hits = hits
        self._show_hits()
        self.message.info(f"{len(hits)} {tr('history.found')}")
        self._showing_count = True
        if keep is not None:
            self.select(keep)

    def _failed(self, exc: Exception) -> None:
        self._showing_count = False
        self.message.error(str(exc))

    def _show_hits(self) -> None:
        headers = [
            tr(k)
            for k in (
                "cert.col.number",
                "cert.col.type",
                "cert.col.status",
                "cert.col.customer",
                "cert.col.instrument",
                "cert.col.serial",
                "cert.col.date",
                "cert.col.valid",
            )
        ]
        rows = [
            [
                h.number,
                tr(f"cert.type.{h.type.value}"),
                status_text(h.status),
                h.customer,
                f"{h.instrument} {h.model}".strip(),
                h.serial_number,
                f"{h.dated:%Y-%m-%d}",
                h.valid_until.isoformat() if h.valid_until else "",
            ]
            for h in self.hits
        ]
        self.table.blockSignals(True)
        fill_table(self.table, headers, rows)
        self.table.blockSignals(False)

    def select(self, number: str) -> bool:
        """Select the certificate ``number`` among the results."""
        for i, h in enumerate(self.hits):
            if h.number == number:
                self.table.selectRow(i)
                return True
        return False

    # -- detail ------------------------------------------------------------------------
    def selected_number(self) -> str | None:
        """The number of the selected result, if any."""
        model = self.table.selectionModel()
        rows = model.selectedRows() if model is not None else []
        if not rows or rows[0].row() >= len(self.hits):
            return None
        return self.hits[rows[0].row()].number

    def _selected(self) -> None:
        number = self.selected_number()
        if number is None:
            return
        self.verification = None
        self._show_verification()
        db, user = self.ctx.db, self.ctx.actor
        self.ctx.runner.submit(
            lambda: load_detail(db, user, number), self._detail_loaded, self._failed
        )

    def _detail_loaded(self, detail: HistoryDetail) -> None:
        self.detail = detail
        self._show_detail()

    def _show_detail(self) -> None:
        d = self.detail
        self._update_buttons()
        if d is None:
            self.info.setText("")
            fill_table(self.chain, [], [])
            fill_table(self.trail, [], [])
            self.trail_message.setText("")
            return
        c = d.info
        signed = "; ".join(
            f"{meaning_text(s.meaning)} {s.printed_name} {s.signed_at:%Y-%m-%d %H:%M} UTC"
            for s in c.signatures
        )
        reason = f" — {c.status_reason}" if c.status_reason else ""
        simulated = f" · {tr('history.simulated')}" if c.simulated else ""
        self.info.setText(
            f"<b>{c.number}</b> · {tr(f'cert.type.{c.type.value}')} · "
            f"{status_text(c.status)}{reason}{simulated}<br>"
            f"{c.customer} · {c.instrument} · {c.serial_number} · "
            f"{verdict_text(c.overall_verdict)}<br>"
            f"{tr('review.signatures')}: {signed or '—'}"
        )
        fill_table(
            self.chain,
            [
                tr("cert.col.number"),
                tr("cert.col.status"),
                tr("cert.col.date"),
                tr("cert.col.reason"),
            ],
            [
                [
                    x.number,
                    status_text(x.status),
                    f"{(x.issued_at or x.created_at):%Y-%m-%d}",
                    x.amendment_reason or x.status_reason,
                ]
                for x in d.chain
            ],
        )
        for i, x in enumerate(d.chain):
            item = self.chain.item(i, 0)
            if item is not None and x.number == d.number:
                font = item.font()
                font.setBold(True)
                item.setFont(font)
        fill_table(
            self.trail,
            [
                tr(k)
                for k in (
                    "cert.col.when",
                    "cert.col.actor",
                    "cert.col.action",
                    "cert.col.record",
                    "cert.col.changes",
                    "cert.col.reason",
                )
            ],
            [
                [
                    f"{e.occurred_at:%Y-%m-%d %H:%M:%S}",
                    e.actor,
                    action_text(e.action),
                    _record_text(e.record, d.number),
                    changes_text(e.changes),
                    e.reason,
                ]
                for e in d.trail
            ],
        )
        self.trail_message.setText("" if d.may_review_audit else tr("history.no_audit"))

    def _update_buttons(self) -> None:
        d, user = self.detail, self.ctx.user
        has = d is not None
        self.open_button.setEnabled(has)
        self.verify_button.setEnabled(has)
        status = d.info.status if d is not None else None
        issued = status is CertificateStatus.ISSUED
        gate(
            self.amend_button,
            refusal(user, (Permission.SIGN_APPROVED, Permission.RECORD_FINDING)),
            enabled=issued,
        )
        gate(self.revoke_button, refusal(user, (Permission.RECORD_FINDING,)), enabled=issued)
        gate(
            self.redraft_button,
            refusal(user, (Permission.SIGN_PERFORMED,)),
            enabled=status is CertificateStatus.REJECTED,
        )
        for b in (self.export_pdf_button, self.print_button):
            b.setEnabled(has)
        self.export_dcc_button.setEnabled(issued or status is CertificateStatus.SUPERSEDED)

    # -- PDF and verification ----------------------------------------------------------
    def open_pdf(self) -> None:
        """Show the selected certificate's PDF in a window."""
        d = self.detail
        if d is None:
            return
        db, user, number = self.ctx.db, self.ctx.actor, d.number

        def show(data: bytes) -> None:
            self.pdf_dialog = PdfDialog(f"{number}.pdf", data, self)
            self.pdf_dialog.show()

        def work() -> bytes:
            from lims.services.certificates import certificate_pdf

            return certificate_pdf(db, user, number)

        self.ctx.runner.submit(work, show, self._failed)

    def verify(self) -> None:
        """Verify the selected certificate's recorded PDF (worker thread)."""
        d = self.detail
        if d is None:
            return
        db, user, number = self.ctx.db, self.ctx.actor, d.number
        self.ctx.runner.submit(
            lambda: verify_issued(db, user, number), self._verified, self._failed
        )

    def ask_verify_file(self) -> None:
        """Choose a PDF or DCC file and verify it."""
        name, _filter = QFileDialog.getOpenFileName(
            self, tr("history.verify_file"), "", "PDF / DCC (*.pdf *.xml);;* (*)"
        )
        if name:
            self.verify_file(Path(name))

    def verify_file(self, path: Path) -> None:
        """Verify the certificate file at ``path`` (worker thread)."""
        db = self.ctx.db

        def work() -> FileVerification:
            from lims.services.certificates import verify_certificate_file

            return verify_certificate_file(db, path.read_bytes(), path.name)

        self.ctx.runner.submit(work, self._verified, self._failed)

    def _verified(self, result: FileVerification) -> None:
        self.verification = result
        self._show_verification()

    def _show_verification(self) -> None:
        v = self.verification
        if v is None:
            self.verify_result.setText("")
            self.verify_result.setStyleSheet("")
            return
        head = tr("history.verified_ok" if v.ok else "history.verified_bad")
        self.verify_result.setText(f"{head}\n{v.summary()}")
        simulated = v.check is not None and v.check.verdict.value == "simulated"
        colour = AMBER if simulated else GREEN if v.ok else RED  # simulated: never valid
        self.verify_result.setStyleSheet(f"background: {colour.name()}; padding: 4px;")


def _record_text(record: str, number: str) -> str:
    """A trail entry's record by name: the certificate's number, or its signature."""
    table = record.partition(":")[0]
    if table == "certificates":
        return number
    return f"{number} · {tr('audit.table.' + table) if table == 'signatures' else record}"


def action_text(action: str) -> str:
    """An audit action in words (``create`` → 新建 created); unknown ones as recorded."""
    try:
        return tr(f"audit.action.{action}")
    except KeyError:
        return action


def changes_text(changes: dict[str, object]) -> str:
    """Recorded changes as ``field = old → new``; stored vocabulary values in words."""
    parts = []
    for key, value in changes.items():
        if isinstance(value, list) and len(value) == 2:
            parts.append(f"{key} = {_short(value[0])} → {_short(value[1])}")
        else:
            parts.append(f"{key} = {_short(value)}")
    return "; ".join(parts)


def _short(value: object) -> str:
    words = vocabulary_text(value) if isinstance(value, str) else None
    text = words if words is not None else str(value)
    return text if len(text) <= 40 else text[:12] + "…"
