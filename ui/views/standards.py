"""Standards and reference materials: due dates coloured, certificate history, the
intermediate-check control chart, out-of-service actions, reference-material stock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
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

from lims.db import Database
from lims.models.users import User
from lims.quality.due import due_list
from lims.quality.errors import QualityError
from lims.quality.materials import get_material
from lims.quality.standards import (
    ControlChart,
    calibration_history,
    control_chart,
    get_standard,
    return_to_service,
    take_out_of_service,
)
from ui.context import AppContext
from ui.dialogs import ReasonDialog
from ui.i18n import tr
from ui.widgets import MessageLine, due_colour, fill_table, short_unit

if TYPE_CHECKING:
    from ui.control_chart import ControlChartWidget

#: A horizon long enough to list every standard and material with its due date.
_ALL_DAYS = 365 * 100


@dataclass(frozen=True)
class StandardRow:
    """One standard in the table."""

    tag: str
    name_zh: str
    name_en: str
    status: str
    certificate_due: date | None  # None: a member has no certificate
    check_due: date | None
    days_left: int | None  # to the earliest due date; None when a certificate is missing


@dataclass(frozen=True)
class MaterialRow:
    """One reference-material unit in stock."""

    tag: str
    gbw_number: str
    name: str
    value: str
    lot: str
    remaining: str
    status: str
    expires_on: date
    days_left: int


@dataclass(frozen=True)
class CertificateRow:
    """One certificate of a standard's member."""

    number: str
    issuer: str
    equipment: str
    calibrated_on: date
    valid_until: date
    revision: int


@dataclass(frozen=True)
class StandardDetail:
    """Everything the detail panel shows."""

    tag: str
    name_zh: str
    name_en: str
    status: str
    status_reason: str
    measurand: str
    range_text: str
    uncertainty_text: str
    history: list[CertificateRow]
    charts: list[ControlChart] = field(default_factory=list)
    chart_problems: list[str] = field(default_factory=list)


def load_overview(
    db: Database, actor: User, today: date
) -> tuple[list[StandardRow], list[MaterialRow]]:
    """Standards with their next due dates and the reference materials in stock."""
    with db.read() as s:
        items = due_list(s, actor, today, within_days=_ALL_DAYS)
        cert_due: dict[str, date | None] = {}
        check_due: dict[str, date] = {}
        missing: set[str] = set()
        material_tags: list[str] = []
        for it in items:
            if it.kind == "standard_certificate":
                prev = cert_due.get(it.tag)
                cert_due[it.tag] = it.due_on if prev is None else min(prev, it.due_on)
            elif it.kind == "no_certificate":
                missing.add(it.tag)
            elif it.kind == "intermediate_check":
                check_due[it.tag] = it.due_on
            elif it.kind == "reference_material":
                material_tags.append(it.tag)
        standards: list[StandardRow] = []
        for tag in sorted(set(cert_due) | missing | set(check_due)):
            std = get_standard(s, tag)
            cd = None if tag in missing else cert_due.get(tag)
            dues = [d for d in (cd, check_due.get(tag)) if d is not None]
            days = None if tag in missing or not dues else (min(dues) - today).days
            standards.append(
                StandardRow(
                    tag, std.name_zh, std.name_en, std.status.value, cd, check_due.get(tag), days
                )
            )
        materials: list[MaterialRow] = []
        for tag in sorted(material_tags):
            rm = get_material(s, tag)
            unit = short_unit(rm.unit)
            remaining = (
                f"{rm.remaining:g} {short_unit(rm.remaining_unit)}".strip()
                if rm.remaining is not None
                else ""
            )
            materials.append(
                MaterialRow(
                    rm.tag,
                    rm.gbw_number,
                    rm.name,
                    f"{rm.certified_value:g} ± {rm.expanded_uncertainty:g} {unit} "
                    f"(k={rm.coverage_factor:g})",
                    " / ".join(x for x in (rm.lot, rm.cylinder_number) if x),
                    remaining,
                    rm.status.value,
                    rm.expires_on,
                    (rm.expires_on - today).days,
                )
            )
    return standards, materials


def load_detail(db: Database, actor: User, tag: str) -> StandardDetail:
    """A standard's details, certificate history and control charts."""
    with db.read() as s:
        std = get_standard(s, tag)
        history = [
            CertificateRow(
                c.number,
                c.issuer,
                c.equipment.asset_tag or c.equipment.serial_number,
                c.calibrated_on,
                c.valid_until,
                c.revision,
            )
            for c in calibration_history(s, actor, tag)
        ]
        quantities = sorted({c.quantity for c in std.checks if c.measured is not None})
        charts: list[ControlChart] = []
        problems: list[str] = []
        for q in quantities:
            try:
                charts.append(control_chart(s, actor, tag, q))
            except QualityError as exc:
                problems.append(str(exc))
        return StandardDetail(
            std.tag,
            std.name_zh,
            std.name_en,
            std.status.value,
            std.status_reason,
            std.measurand,
            std.range_text,
            std.uncertainty_text,
            history,
            charts,
            problems,
        )


class StandardsView(QWidget):
    """The standards table with detail, and the reference-material stock."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("standards_view")
        self.standards: list[StandardRow] = []
        self.materials: list[MaterialRow] = []
        self.detail: StandardDetail | None = None
        self.reason_dialog: ReasonDialog | None = None

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
        self.out_button.clicked.connect(lambda: self.ask_status_change(out=True))
        self.back_button = QPushButton()
        self.back_button.clicked.connect(lambda: self.ask_status_change(out=False))
        self.message = MessageLine()
        buttons = QHBoxLayout()
        for b in (self.refresh_button, self.out_button, self.back_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.addWidget(self.table)
        lv.addLayout(buttons)
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
        self.inner.addTab(self.materials_table, "")

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
        self.history_box.setTitle(tr("std.history"))
        self.chart_box.setTitle(tr("std.chart"))
        self._show_standards()
        self._show_materials()
        self._show_detail()

    # -- loading -----------------------------------------------------------------------
    def refresh(self) -> None:
        """Reload the tables on a worker thread."""
        db, actor, today = self.ctx.db, self.ctx.actor, self.ctx.today()
        self.ctx.runner.submit(lambda: load_overview(db, actor, today), self._loaded, self._failed)

    def _loaded(self, result: tuple[list[StandardRow], list[MaterialRow]]) -> None:
        selected = self.selected_tag()
        self.standards, self.materials = result
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
            colour = due_colour(r.days_left)
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
        for i, m in enumerate(self.materials):
            colour = due_colour(m.days_left)
            for c in (7, 8):
                self._cell(self.materials_table, i, c).setBackground(colour)

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
            self._cell(self.history, i, 4).setBackground(due_colour((c.valid_until - today).days))
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
