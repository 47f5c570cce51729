"""Comparisons: proficiency tests, inter-laboratory and in-house device comparisons, each
round's assigned value and every participant's En, z and ζ with its assessment."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from lims.db import Database
from lims.models.users import User
from lims.quality.comparisons import list_rounds, round_results
from ui.context import AppContext
from ui.widgets import AMBER, GREEN, RED, MessageLine, fill_table

ROUND_HEADERS = ("编号 No.", "日期 Date", "类型 Kind", "计划 Scheme", "轮次 Round",
                 "被测量 Measurand", "指定值 Assigned", "本室结论 Own assessment")  # fmt: skip
RESULT_HEADERS = ("参加者 Participant", "本室 Own", "结果 Value", "U (k)", "En", "z", "ζ",
                  "结论 Assessment", "事件 Incident")  # fmt: skip
_COLOURS = {"satisfactory": GREEN, "questionable": AMBER, "unsatisfactory": RED}
_KINDS = {
    "proficiency_test": "能力验证 PT",
    "interlaboratory": "实验室间比对 ILC",
    "internal": "内部比对 in-house",
}


@dataclass(frozen=True)
class RoundRow:
    """One round with its results, ready to show."""

    id: int
    cells: tuple[object, ...]
    results: tuple[tuple[object, ...], ...]
    assessments: tuple[str, ...]


def _f(x: float | None) -> str:
    return "—" if x is None else f"{x:+.2f}"


def load_rounds(db: Database, actor: User) -> list[RoundRow]:
    """Every round, newest first, with its scored results."""
    out = []
    with db.read() as s:
        for rnd in list_rounds(s, actor):
            _, rows = round_results(s, actor, rnd.id)
            own = [r.assessment for r in rows if r.own_lab or rnd.kind == "internal"]
            results = tuple(
                (
                    r.device_tag or r.participant,
                    "★" if r.own_lab else "",
                    f"{r.value:.6g}",
                    "—"
                    if r.expanded_uncertainty is None
                    else f"{r.expanded_uncertainty:.3g} ({r.k:g})",
                    _f(r.en),
                    _f(r.z),
                    _f(r.zeta),
                    r.assessment,
                    r.incident_id or "",
                )
                for r in rows
            )
            out.append(
                RoundRow(
                    rnd.id,
                    (
                        rnd.id,
                        rnd.performed_on,
                        _KINDS.get(rnd.kind, rnd.kind),
                        rnd.scheme,
                        rnd.round_code,
                        f"{rnd.measurand} [{rnd.unit}]",
                        f"{rnd.assigned_value:.6g} (u {rnd.assigned_u:.3g}, {rnd.assigned_method})",
                        ", ".join(own) or "—",
                    ),
                    results,
                    tuple(r.assessment for r in rows),
                )
            )
    return out


class ComparisonsView(QWidget):
    """Comparison rounds and the selected round's scores."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("comparisons_view")
        self.rounds: list[RoundRow] = []
        self.refresh_button = QPushButton("刷新 Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        self.table = QTableWidget()
        self.table.setObjectName("rounds_table")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.itemSelectionChanged.connect(self._selected)
        self.results = QTableWidget()
        self.results.setObjectName("results_table")
        self.results.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.legend = QLabel(
            "|En| ≤ 1、|z|,|ζ| ≤ 2 满意 satisfactory；2 < |z|,|ζ| < 3 可疑 questionable；"
            "其余不满意并开启纠正措施事件 otherwise unsatisfactory, an incident is opened"
        )
        self.legend.setWordWrap(True)
        self.message = MessageLine()
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(self.results)
        layout = QVBoxLayout(self)
        layout.addWidget(self.refresh_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(split, 1)
        layout.addWidget(self.legend)
        layout.addWidget(self.message)

    def refresh(self) -> None:
        """Reload on a worker thread."""
        db, actor = self.ctx.db, self.ctx.actor
        self.ctx.runner.submit(lambda: load_rounds(db, actor), self._loaded, self._failed)

    def _loaded(self, rounds: list[RoundRow]) -> None:
        self.rounds = rounds
        fill_table(self.table, ROUND_HEADERS, [r.cells for r in rounds])
        self.table.resizeColumnsToContents()
        if rounds:
            self.table.selectRow(0)

    def _failed(self, exc: Exception) -> None:
        self.message.error(str(exc))

    def _selected(self) -> None:
        model = self.table.selectionModel()
        rows = model.selectedRows() if model else []
        if not rows:
            return
        rnd = self.rounds[rows[0].row()]
        fill_table(self.results, RESULT_HEADERS, rnd.results)
        for r, assessment in enumerate(rnd.assessments):
            item = self.results.item(r, 7)
            if item is not None and assessment in _COLOURS:
                item.setBackground(QColor(_COLOURS[assessment]))
        self.results.resizeColumnsToContents()
