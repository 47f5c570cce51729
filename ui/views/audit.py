"""The lab-wide audit trail: filters (user, period, table, record), records by their names,
CSV export, and verifying the chain and its anchors with the findings of
``lims audit verify``."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from lims.quality.permissions import Permission
from lims.services.audit_trail import (
    TrailCheck,
    TrailFilter,
    TrailPage,
    audited_tables,
    review_trail,
    verify_trail,
    write_trail_csv,
)
from ui.access import gate_button
from ui.context import AppContext
from ui.i18n import tr
from ui.views.history import action_text, changes_text
from ui.widgets import AMBER, GREEN, RED, MessageLine, fill_table

_ERROR_STYLE = "border: 2px solid #b00020;"


def table_text(table: str) -> str:
    """An audited table's name in words (``certificates`` → 证书 certificates)."""
    try:
        return tr(f"audit.table.{table}")
    except KeyError:
        return table


class AuditView(QWidget):
    """Filters | events | verification of the chain."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("audit_view")
        self.page: TrailPage | None = None
        self.check: TrailCheck | None = None
        self.user = QLineEdit()
        self.user.setObjectName("audit_user")
        self.date_from = QLineEdit()
        self.date_to = QLineEdit()
        for w in (self.date_from, self.date_to):
            w.setPlaceholderText("YYYY-MM-DD")
        self.table_choice = QComboBox()
        self.table_choice.setObjectName("audit_table")
        self.table_choice.addItem("", None)
        self.record = QLineEdit()
        self.record.setObjectName("audit_record")
        self.labels = {k: QLabel() for k in ("user", "from", "to", "table", "record")}
        self.search_button = QPushButton()
        self.search_button.setObjectName("audit_search")
        self.search_button.clicked.connect(self.search)
        self.csv_button = QPushButton()
        self.csv_button.setObjectName("audit_csv")
        self.csv_button.clicked.connect(self.ask_csv)
        self.verify_button = QPushButton()
        self.verify_button.setObjectName("audit_verify")
        self.verify_button.clicked.connect(self.verify)
        for line in (self.user, self.date_from, self.date_to, self.record):
            line.returnPressed.connect(self.search)
        form = QGridLayout()
        fields: list[tuple[str, QWidget]] = [
            ("user", self.user),
            ("table", self.table_choice),
            ("from", self.date_from),
            ("to", self.date_to),
            ("record", self.record),
        ]
        for i, (key, widget) in enumerate(fields):
            form.addWidget(self.labels[key], i // 2, (i % 2) * 2)
            form.addWidget(widget, i // 2, (i % 2) * 2 + 1)
        for column in (1, 3):
            form.setColumnStretch(column, 1)
        buttons = QHBoxLayout()
        for b in (self.search_button, self.csv_button, self.verify_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        self.message = MessageLine()
        self.result = QLabel()
        self.result.setObjectName("audit_result")
        self.result.setWordWrap(True)
        self.table = QTableWidget()
        self.table.setObjectName("audit_events")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.message)
        layout.addWidget(self.result)
        layout.addWidget(self.table, 1)
        self.retranslate()

    def retranslate(self) -> None:
        """Set every text in the current language."""
        for key, label in self.labels.items():
            label.setText(tr(f"audit.{key}"))
        self.record.setPlaceholderText(tr("audit.record_hint"))
        self.table_choice.setItemText(0, tr("history.any"))
        for i in range(1, self.table_choice.count()):
            self.table_choice.setItemText(i, table_text(self.table_choice.itemData(i)))
        self.search_button.setText(tr("history.search"))
        self.csv_button.setText(tr("audit.csv"))
        self.verify_button.setText(tr("audit.verify"))
        self._show_rows()
        self._show_check()

    def refresh(self) -> None:
        """Load the table choices and list with the filters given."""
        user = self.ctx.user
        allowed = gate_button(self.search_button, user, Permission.REVIEW_AUDIT)
        gate_button(self.verify_button, user, Permission.REVIEW_AUDIT)
        gate_button(self.csv_button, user, Permission.REVIEW_AUDIT)
        if not allowed:
            return
        db, actor = self.ctx.db, self.ctx.actor
        self.ctx.runner.submit(lambda: audited_tables(db, actor), self._tables_loaded, self._failed)
        self.search()

    def _tables_loaded(self, tables: list[str]) -> None:
        chosen = self.table_choice.currentData()
        self.table_choice.blockSignals(True)
        while self.table_choice.count() > 1:
            self.table_choice.removeItem(1)
        for t in tables:
            self.table_choice.addItem(table_text(t), t)
        i = self.table_choice.findData(chosen)
        self.table_choice.setCurrentIndex(max(i, 0))
        self.table_choice.blockSignals(False)

    def criteria(self) -> TrailFilter | None:
        """The filters in the form, or None after marking a bad date (nothing searched)."""
        days: list[date | None] = []
        for w in (self.date_from, self.date_to):
            text = w.text().strip()
            try:
                days.append(date.fromisoformat(text) if text else None)
                w.setStyleSheet("")
            except ValueError:
                w.setStyleSheet(_ERROR_STYLE)
                self.message.error(f"{tr('audit.from')}/{tr('audit.to')}: {tr('history.bad_date')}")
                return None
        start = datetime.combine(days[0], time.min, tzinfo=UTC) if days[0] else None
        # "to" is a day: the period includes it
        end = (
            datetime.combine(days[1] + timedelta(days=1), time.min, tzinfo=UTC) if days[1] else None
        )
        if start is not None and end is not None and end <= start:
            self.date_to.setStyleSheet(_ERROR_STYLE)
            self.message.error(f"{tr('audit.to')} < {tr('audit.from')}")
            return None
        return TrailFilter(
            user=self.user.text().strip() or None,
            start=start,
            end=end,
            table=self.table_choice.currentData(),
            record=self.record.text().strip() or None,
        )

    def search(self) -> None:
        """List the events matching the filters (worker thread)."""
        f = self.criteria()
        if f is None:
            return
        self.message.clear_message()
        db, actor = self.ctx.db, self.ctx.actor
        self.ctx.runner.submit(lambda: review_trail(db, actor, f), self._found, self._failed)

    def _found(self, page: TrailPage) -> None:
        self.page = page
        self._show_rows()

    def _failed(self, exc: Exception) -> None:
        self.message.error(str(exc))

    def _show_rows(self) -> None:
        rows = self.page.rows if self.page is not None else []
        fill_table(
            self.table,
            [
                tr(k)
                for k in (
                    "cert.col.when",
                    "cert.col.actor",
                    "cert.col.action",
                    "audit.col.table",
                    "cert.col.record",
                    "cert.col.changes",
                    "cert.col.reason",
                )
            ],
            [
                [
                    f"{r.occurred_at:%Y-%m-%d %H:%M:%S}",
                    r.actor,
                    action_text(r.action),
                    table_text(r.table_name),
                    r.record_name,
                    changes_text(r.changes),
                    r.reason,
                ]
                for r in rows
            ],
        )
        if self.page is not None:
            more = f" · {tr('audit.truncated')}" if self.page.truncated else ""
            self.message.info(f"{len(rows)} {tr('audit.found')}{more}")

    def ask_csv(self) -> None:
        """Choose a file and write the events listed as CSV."""
        name, _filter = QFileDialog.getSaveFileName(
            self, tr("audit.csv"), "audit-trail.csv", "CSV (*.csv)"
        )
        if name:
            self.export_csv(Path(name))

    def export_csv(self, path: Path) -> None:
        """Write the events listed to ``path`` (worker thread)."""
        rows = list(self.page.rows) if self.page is not None else []
        self.ctx.runner.submit(
            lambda: write_trail_csv(rows, path),
            lambda n: self.message.info(f"{n} {tr('audit.found')} → {path}"),
            self._failed,
        )

    def verify(self) -> None:
        """Walk the chain and check the anchors (worker thread)."""
        db, actor, settings = self.ctx.db, self.ctx.actor, self.ctx.settings
        self.result.setText(tr("audit.verifying"))
        self.ctx.runner.submit(
            lambda: verify_trail(db, actor, settings), self._verified, self._failed
        )

    def _verified(self, check: TrailCheck) -> None:
        self.check = check
        self._show_check()

    def _show_check(self) -> None:
        c = self.check
        if c is None:
            self.result.setText("")
            self.result.setStyleSheet("")
            return
        counts = (
            f"{tr('audit.checked')}: {c.events} {tr('audit.events')}, {c.records} "
            f"{tr('audit.records')}, {c.readings} {tr('audit.readings')}, {c.anchors} "
            f"{tr('audit.anchors')}"
        )
        if not c.ok:
            lines = "\n".join(f"{tr('audit.tampered')}: {p}" for p in c.problems)
            self.result.setText(f"{counts}\n{lines}")
            colour = RED
        elif c.doubts:
            lines = "\n".join(f"{tr('audit.cannot_confirm')}: {d}" for d in c.doubts)
            self.result.setText(f"{counts}\n{lines}")
            colour = AMBER
        else:
            self.result.setText(f"{tr('audit.intact')} · {counts}")
            colour = GREEN
        self.result.setStyleSheet(f"background: {colour.name()}; padding: 4px;")
