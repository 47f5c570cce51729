"""Standards and reference materials: due dates coloured, certificate history, the
intermediate-check control chart, out-of-service actions, reference-material stock."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from lims.quality.permissions import Permission
from lims.quality.standards import return_to_service, take_out_of_service
from ui.access import gate, refusal
from ui.context import AppContext
from ui.dialogs import ReasonDialog
from ui.forms import FormDialog
from ui.i18n import tr
from ui.views import standards_tasks as tasks
from ui.views.standards_data import (
    MaterialRow,
    Overview,
    StandardDetail,
    StandardRow,
    load_detail,
    load_overview,
)
from ui.widgets import AMBER, RED, MessageLine, due_colour, fill_table, short_unit

if TYPE_CHECKING:
    from ui.control_chart import ControlChartWidget


class StandardsView(QWidget):
    """The standards table with detail, and the reference-material stock."""

    #: Emitted with the id of the impact assessment a finding opened.
    impact_opened = Signal(int)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("standards_view")
        self.standards: list[StandardRow] = []
        self.materials: list[MaterialRow] = []
        self.detail: StandardDetail | None = None
        self.reason_dialog: ReasonDialog | None = None
        self.dialog: FormDialog | None = None
        self.equipment: list[tuple[str, str]] = []

        self.inner = QTabWidget()
        # Standards page: table | detail
        self.table = QTableWidget()
        self.table.setObjectName("standards_table")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.itemSelectionChanged.connect(self._selected)
        self.refresh_button = QPushButton()
        self.refresh_button.clicked.connect(self.refresh)
        self.out_button = QPushButton()
        self.out_button.setObjectName("out_of_service")
        self.out_button.clicked.connect(self.ask_finding)
        self.back_button = QPushButton()
        self.back_button.clicked.connect(lambda: self.ask_status_change(out=False))
        self.register_button = QPushButton()
        self.register_button.setObjectName("register_standard")
        self.register_button.clicked.connect(self.ask_register)
        self.certificate_button = QPushButton()
        self.certificate_button.setObjectName("new_certificate")
        self.certificate_button.clicked.connect(self.ask_certificate)
        self.check_button = QPushButton()
        self.check_button.setObjectName("intermediate_check")
        self.check_button.clicked.connect(self.ask_check)
        self.message = MessageLine()
        buttons = QHBoxLayout()
        for b in (self.refresh_button, self.register_button, self.certificate_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons2 = QHBoxLayout()
        for b in (self.check_button, self.out_button, self.back_button):
            buttons2.addWidget(b)
        buttons2.addStretch(1)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.addWidget(self.table)
        lv.addLayout(buttons)
        lv.addLayout(buttons2)
        lv.addWidget(self.message)

        self.info = QLabel()
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.history_box = QGroupBox()
        self.history = QTableWidget()
        self.history.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        hv = QVBoxLayout(self.history_box)
        hv.addWidget(self.history)
        self.chart_box = QGroupBox()
        self.chart_choice = QComboBox()
        self.chart_choice.currentIndexChanged.connect(self._chart_chosen)
        self._chart: ControlChartWidget | None = None  # built at first use (pyqtgraph)
        self.chart_message = QLabel()
        self.chart_message.setWordWrap(True)
        cv = QVBoxLayout(self.chart_box)
        cv.addWidget(self.chart_choice)
        self.chart_layout = cv
        cv.addWidget(self.chart_message)
        right = QWidget()
        rv = QVBoxLayout(right)
        rv.addWidget(self.info)
        rv.addWidget(self.history_box, 1)
        rv.addWidget(self.chart_box, 2)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.setObjectName("standards_split")
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        split.setSizes([640, 640])
        self.inner.addTab(split, "")

        self.materials_table = QTableWidget()
        self.materials_table.setObjectName("materials_table")
        self.materials_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.materials_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.materials_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.materials_warning = QLabel()
        self.materials_warning.setObjectName("materials_warning")
        self.materials_warning.setWordWrap(True)
        self.receive_button = QPushButton()
        self.receive_button.setObjectName("receive_material")
        self.receive_button.clicked.connect(self.ask_receive)
        self.open_button = QPushButton()
        self.open_button.clicked.connect(lambda: self.ask_material("open"))
        self.consume_button = QPushButton()
        self.consume_button.setObjectName("consume")
        self.consume_button.clicked.connect(lambda: self.ask_material("consume"))
        self.dispose_button = QPushButton()
        self.dispose_button.clicked.connect(lambda: self.ask_material("dispose"))
        self.materials_message = MessageLine()
        page = QWidget()
        mv = QVBoxLayout(page)
        mv.addWidget(self.materials_warning)
        mv.addWidget(self.materials_table, 1)
        row = QHBoxLayout()
        for b in (self.receive_button, self.open_button, self.consume_button, self.dispose_button):
            row.addWidget(b)
        row.addStretch(1)
        mv.addLayout(row)
        mv.addWidget(self.materials_message)
        self.inner.addTab(page, "")

        layout = QVBoxLayout(self)
        layout.addWidget(self.inner)
        self.retranslate()

    @property
    def chart(self) -> ControlChartWidget:
        """The control chart (created when first needed: plotting loads at first use)."""
        if self._chart is None:
            from ui.control_chart import ControlChartWidget

            self._chart = ControlChartWidget()
            self.chart_layout.insertWidget(1, self._chart, 1)
        return self._chart

    # -- texts -------------------------------------------------------------------------
    def retranslate(self) -> None:
        """Set every text in the current language and redraw the tables."""
        self.inner.setTabText(0, tr("std.standards"))
        self.inner.setTabText(1, tr("std.materials"))
        self.refresh_button.setText(tr("common.refresh"))
        self.out_button.setText(tr("std.out"))
        self.back_button.setText(tr("std.back"))
        self.register_button.setText(tr("std.register"))
        self.certificate_button.setText(tr("std.new_certificate"))
        self.check_button.setText(tr("std.check"))
        self.receive_button.setText(tr("rm.receive"))
        self.open_button.setText(tr("rm.open"))
        self.consume_button.setText(tr("rm.consume"))
        self.dispose_button.setText(tr("rm.dispose"))
        self.history_box.setTitle(tr("std.history"))
        self.chart_box.setTitle(tr("std.chart"))
        self._show_standards()
        self._show_materials()
        self._show_detail()

    # -- loading -----------------------------------------------------------------------
    def _gate(self) -> None:
        user = self.ctx.user
        manage = refusal(user, (Permission.MANAGE_STANDARDS,))
        for b in (self.register_button, self.certificate_button, self.back_button):
            gate(b, manage)
        gate(self.check_button, refusal(user, (Permission.RECORD_INTERMEDIATE_CHECK,)))
        gate(self.out_button, refusal(user, (Permission.RECORD_FINDING,)))
        gate(self.receive_button, refusal(user, (Permission.MANAGE_REFERENCE_MATERIALS,)))
        gate(self.dispose_button, refusal(user, (Permission.MANAGE_REFERENCE_MATERIALS,)))
        for b in (self.open_button, self.consume_button):
            gate(b, refusal(user, (Permission.USE_REFERENCE_MATERIALS,)))

    def refresh(self) -> None:
        """Reload the tables on a worker thread."""
        self._gate()
        db, actor, today = self.ctx.db, self.ctx.actor, self.ctx.today()
        self.ctx.runner.submit(lambda: load_overview(db, actor, today), self._loaded, self._failed)

    def _loaded(self, result: Overview) -> None:
        selected = self.selected_tag()
        self.standards, self.materials = result.standards, result.materials
        self.equipment = result.equipment
        self._show_standards()
        self._show_materials()
        if selected is not None:
            self.select(selected)

    def _failed(self, exc: Exception) -> None:
        self.message.error(str(exc))

    @staticmethod
    def _cell(table: QTableWidget, row: int, column: int) -> QTableWidgetItem:
        item = table.item(row, column)
        assert item is not None  # fill_table sets every cell
        return item

    def _status_text(self, status: str) -> str:
        key = f"status.{status}"
        try:
            return tr(key)
        except KeyError:
            return status

    def _show_standards(self) -> None:
        headers = [
            tr(k)
            for k in (
                "std.col.tag",
                "std.col.status",
                "std.col.due_cert",
                "std.col.due_check",
                "std.col.days",
                "std.col.name",
            )
        ]
        rows = [
            [
                r.tag,
                self._status_text(r.status),
                r.certificate_due.isoformat() if r.certificate_due else "—",
                r.check_due.isoformat() if r.check_due else "—",
                "—" if r.days_left is None else r.days_left,
                f"{r.name_zh} {r.name_en}",
            ]
            for r in self.standards
        ]
        self.table.blockSignals(True)
        fill_table(self.table, headers, rows)
        self.table.blockSignals(False)
        for i, r in enumerate(self.standards):
            colour = due_colour(r.days_left, self.ctx.settings.due_warning_days)
            for c in (2, 3, 4):
                self._cell(self.table, i, c).setBackground(colour)

    def _show_materials(self) -> None:
        headers = [
            tr(k)
            for k in (
                "std.col.tag",
                "rm.col.gbw",
                "std.col.name",
                "rm.col.value",
                "rm.col.lot",
                "rm.col.remaining",
                "std.col.status",
                "rm.col.expires",
                "std.col.days",
            )
        ]
        rows = [
            [
                m.tag,
                m.gbw_number,
                m.name,
                m.value,
                m.lot,
                m.remaining,
                self._status_text(m.status),
                m.expires_on.isoformat(),
                m.days_left,
            ]
            for m in self.materials
        ]
        fill_table(self.materials_table, headers, rows)
        settings = self.ctx.settings
        for i, m in enumerate(self.materials):
            colour = due_colour(m.days_left, settings.due_warning_days)
            for c in (7, 8):
                self._cell(self.materials_table, i, c).setBackground(colour)
            if m.low(settings.low_stock_percent):
                self._cell(self.materials_table, i, 5).setBackground(AMBER)
        expired = [m.tag for m in self.materials if m.days_left < 0]
        soon = [m.tag for m in self.materials if 0 <= m.days_left <= settings.due_warning_days]
        low = [m.tag for m in self.materials if m.low(settings.low_stock_percent)]
        warnings = []
        if expired:
            warnings.append(f"{tr('home.materials_expired')}: {', '.join(expired)}")
        if soon:
            warnings.append(
                f"{tr('rm.expiring')} {settings.due_warning_days} {tr('rm.days')}: "
                f"{', '.join(soon)}"
            )
        if low:
            warnings.append(f"{tr('home.materials_low')}: {', '.join(low)}")
        self.materials_warning.setText("\n".join(warnings))
        self.materials_warning.setStyleSheet(
            f"background: {(RED if expired else AMBER).name()}; padding: 4px;" if warnings else ""
        )
        self.materials_warning.setVisible(bool(warnings))

    # -- selection and detail ----------------------------------------------------------
    def selected_tag(self) -> str | None:
        """The tag of the selected standard, if any."""
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows or rows[0].row() >= len(self.standards):
            return None
        return self.standards[rows[0].row()].tag

    def select(self, tag: str) -> None:
        """Select the standard ``tag`` (its detail then loads)."""
        for i, r in enumerate(self.standards):
            if r.tag == tag:
                self.table.selectRow(i)
                return

    def _selected(self) -> None:
        tag = self.selected_tag()
        if tag is None:
            return
        db, actor = self.ctx.db, self.ctx.actor
        self.ctx.runner.submit(
            lambda: load_detail(db, actor, tag), self._detail_loaded, self._failed
        )

    def _detail_loaded(self, detail: StandardDetail) -> None:
        self.detail = detail
        self._show_detail()

    def _show_detail(self) -> None:
        d = self.detail
        if d is None:
            self.info.setText(tr("std.select"))
            fill_table(self.history, [], [])
            if self._chart is not None:
                self._chart.show_chart(None)
            return
        reason = f" — {d.status_reason}" if d.status_reason else ""
        self.info.setText(
            f"<b>{d.tag}</b> {d.name_zh} {d.name_en}<br>"
            f"{tr('std.col.status')}: {self._status_text(d.status)}{reason}<br>"
            f"{d.measurand} · {d.range_text} · {d.uncertainty_text}"
        )
        fill_table(
            self.history,
            [
                tr(k)
                for k in (
                    "std.col.number",
                    "std.col.issuer",
                    "std.col.tag",
                    "std.col.calibrated",
                    "std.col.valid",
                    "std.col.revision",
                )
            ],
            [
                [
                    c.number,
                    c.issuer,
                    c.equipment,
                    c.calibrated_on.isoformat(),
                    c.valid_until.isoformat(),
                    c.revision,
                ]
                for c in d.history
            ],
        )
        today = self.ctx.today()
        for i, c in enumerate(d.history):
            days = (c.valid_until - today).days
            self._cell(self.history, i, 4).setBackground(
                due_colour(days, self.ctx.settings.due_warning_days)
            )
        self.chart_choice.blockSignals(True)
        self.chart_choice.clear()
        for ch in d.charts:
            self.chart_choice.addItem(f"{ch.quantity} ({short_unit(ch.unit)})")
        self.chart_choice.blockSignals(False)
        self.chart.show_chart(d.charts[0] if d.charts else None)
        self.chart_message.setText(
            "\n".join(d.chart_problems) if d.chart_problems or d.charts else tr("std.chart.none")
        )

    def _chart_chosen(self, index: int) -> None:
        if self.detail is not None and 0 <= index < len(self.detail.charts):
            self.chart.show_chart(self.detail.charts[index])

    # -- tasks -------------------------------------------------------------------------
    def _open(self, dialog: FormDialog) -> FormDialog:
        self.dialog = dialog
        dialog.open()
        return dialog

    def _saved(self, what: object) -> None:
        self.message.info(f"{tr('users.saved')}: {what}")
        self.refresh()
        self._selected()

    def ask_register(self) -> FormDialog:
        """Register a new measurement standard with its equipment."""
        return self._open(tasks.register_standard_dialog(self.ctx, self._saved, self))

    def ask_certificate(self) -> FormDialog:
        """Record a new external certificate of one of the lab's pieces of equipment."""
        dialog = tasks.external_certificate_dialog(self.ctx, self.equipment, self._saved, self)
        tag = self.selected_tag()
        std = next((r for r in self.standards if r.tag == tag), None)
        if std is not None and self.detail is not None and self.detail.history:
            dialog.set_value("equipment", self.detail.history[-1].equipment)
        return self._open(dialog)

    def ask_check(self) -> FormDialog | None:
        """Enter an intermediate check of the selected standard."""
        tag = self.selected_tag()
        if tag is None:
            self.message.error(tr("std.select"))
            return None

        def done(passed: bool) -> None:
            self._saved(f"{tag} · {tr('std.check_passed' if passed else 'std.check_failed')}")

        return self._open(tasks.intermediate_check_dialog(self.ctx, tag, done, self))

    def ask_finding(self) -> FormDialog | None:
        """Out of tolerance: out of service, and an impact assessment of what it affects."""
        tag = self.selected_tag()
        if tag is None:
            self.message.error(tr("std.select"))
            return None

        def done(impact_id: int) -> None:
            self._saved(f"{tag} · {tr('std.impact_opened')}")
            self.impact_opened.emit(impact_id)

        return self._open(tasks.finding_dialog(self.ctx, tag, done, self))

    def ask_receive(self) -> FormDialog:
        """Record a received reference material."""
        return self._open(tasks.receive_material_dialog(self.ctx, self._material_saved, self))

    def selected_material(self) -> MaterialRow | None:
        """The reference material selected in the stock table."""
        model = self.materials_table.selectionModel()
        rows = model.selectedRows() if model is not None else []
        if not rows or rows[0].row() >= len(self.materials):
            return None
        return self.materials[rows[0].row()]

    def select_material(self, tag: str) -> None:
        """Select the reference material ``tag`` in the stock table."""
        for i, m in enumerate(self.materials):
            if m.tag == tag:
                self.materials_table.selectRow(i)
                return

    def ask_material(self, action: str) -> FormDialog | None:
        """Open, consume or dispose of the selected reference material."""
        m = self.selected_material()
        if m is None:
            self.materials_message.error(tr("rm.select"))
            return None
        make: Any = {
            "open": tasks.open_dialog,
            "consume": tasks.consume_dialog,
            "dispose": tasks.dispose_dialog,
        }[action]
        return self._open(make(self.ctx, m.tag, self._material_saved, self))

    def _material_saved(self, what: object) -> None:
        self.materials_message.info(f"{tr('users.saved')}: {what}")
        self.refresh()

    # -- out of service / back in service ----------------------------------------------
    def ask_status_change(self, *, out: bool) -> None:
        """Open the reason dialog for taking the selected standard out of / back into service."""
        tag = self.selected_tag()
        if tag is None:
            self.message.error(tr("std.select"))
            return
        title = tr("std.out.title" if out else "std.back.title")
        self.reason_dialog = ReasonDialog(
            title,
            f"{title}: {tag}",
            lambda reason, dlg: self._change_status(tag, out, reason, dlg),
            self,
        )
        self.reason_dialog.open()

    def _change_status(self, tag: str, out: bool, reason: str, dlg: ReasonDialog) -> None:
        db, actor, today = self.ctx.db, self.ctx.actor, self.ctx.today()

        def work() -> None:
            with db.write(actor=actor, reason=reason) as s:
                if out:
                    take_out_of_service(s, actor, tag, reason)
                else:
                    return_to_service(s, actor, tag, reason, today)

        def done(_result: object) -> None:
            dlg.succeeded()
            self.message.info(f"{tr('std.changed')}: {tag}")
            self.refresh()
            self._selected()

        self.ctx.runner.submit(work, done, lambda exc: dlg.refused(str(exc)))
