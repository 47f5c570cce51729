"""Calibration intervals: each analysed series with its proposal, the data, the fitted
drift and its prediction bound plotted against the limit; a quality manager accepts a
due date with a written reason (audited)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
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
from lims.models.users import User
from lims.quality.intervals import IntervalProposal, accept_interval, interval_report
from lims.quality.permissions import Permission, can
from ui.context import AppContext
from ui.widgets import MessageLine, drop_export_menu, fill_table

HEADERS = (
    "标识 Tag",
    "序列 Series",
    "单位 Unit",
    "限值 Limit (±)",
    "漂移/年 Drift/year",
    "现到期 Due now",
    "建议到期 Proposed due",
    "核查间隔 Check every (d)",
)


def _stamp(day: date) -> float:
    return datetime.combine(day, time(12), tzinfo=timezone.utc).timestamp()  # noqa: UP017


def load_proposals(db: Database, actor: User, tag: str | None) -> list[IntervalProposal]:
    """Proposals for one tag, or for every standard."""
    with db.read() as s:
        return interval_report(s, actor, tag=tag or None)


def accept(db: Database, actor: User, p: IntervalProposal, reason: str, today: date) -> date:
    """Accept a proposal's due date and check interval; returns the accepted date."""
    assert p.proposed_due is not None
    with db.write(actor=actor, reason=reason) as s:
        accept_interval(
            s,
            actor,
            p.tag,
            next_due=p.proposed_due,
            reason=reason,
            check_interval_days=p.check_interval_days if p.kind == "standard" else None,
            proposal=p,
            today=today,
        )
    return p.proposed_due


class IntervalsView(QWidget):
    """Interval proposals from the drift data, plotted, with acceptance."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("intervals_view")
        self.proposals: list[IntervalProposal] = []
        self.tag = QLineEdit()
        self.tag.setPlaceholderText("标识（空为全部标准）Tag (empty: every standard)")
        self.analyse_button = QPushButton("分析 Analyse")
        self.analyse_button.clicked.connect(self.refresh)
        top = QHBoxLayout()
        top.addWidget(self.tag, 1)
        top.addWidget(self.analyse_button)
        self.table = QTableWidget()
        self.table.setObjectName("intervals_table")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.itemSelectionChanged.connect(self._selected)
        self.plot = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem()})
        self.plot.setBackground("w")
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.plot.setMenuEnabled(False)
        self.plot.addLegend(offset=(10, 5), labelTextColor="#212121")
        drop_export_menu(self.plot)
        self.notes = QLabel()
        self.notes.setWordWrap(True)
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("批准理由 Reason for accepting (audited)")
        self.accept_button = QPushButton("批准建议到期日 Accept proposed due date")
        self.accept_button.clicked.connect(self.accept_selected)
        self.message = MessageLine()
        actions = QHBoxLayout()
        actions.addWidget(self.reason, 1)
        actions.addWidget(self.accept_button)
        right = QWidget()
        rv = QVBoxLayout(right)
        rv.addWidget(self.plot, 1)
        rv.addWidget(self.notes)
        rv.addLayout(actions)
        rv.addWidget(self.message)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(right)
        split.setSizes([260, 420])
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(split, 1)
        self._update_actions()

    def refresh(self) -> None:
        """Analyse on a worker thread."""
        db, actor, tag = self.ctx.db, self.ctx.actor, self.tag.text().strip()
        self.ctx.runner.submit(lambda: load_proposals(db, actor, tag), self._loaded, self._failed)

    def _loaded(self, proposals: list[IntervalProposal]) -> None:
        self.proposals = proposals
        rows = []
        for p in proposals:
            drift = f"{p.fit.slope_per_day * 365.25:+.4g}" if p.fit else "—"
            rows.append(
                (
                    p.tag,
                    p.series,
                    p.unit,
                    f"{p.limit:g}",
                    drift,
                    p.current_due or "—",
                    p.proposed_due or "—",
                    p.check_interval_days or "—",
                )
            )
        fill_table(self.table, HEADERS, rows)
        self.table.resizeColumnsToContents()
        self.message.info(f"{len(proposals)} 个序列 series analysed")
        if proposals:
            self.table.selectRow(0)
        self._update_actions()

    def _failed(self, exc: Exception) -> None:
        self.message.error(str(exc))

    def selected(self) -> IntervalProposal | None:
        """The proposal of the selected row."""
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return self.proposals[rows[0].row()] if rows else None

    def _selected(self) -> None:
        self.draw(self.selected())
        self._update_actions()

    def _update_actions(self) -> None:
        p = self.selected()
        allowed = self.ctx.user is not None and can(self.ctx.user, Permission.MANAGE_STANDARDS)
        self.accept_button.setEnabled(bool(allowed and p is not None and p.proposed_due))
        self.reason.setEnabled(allowed)

    def draw(self, p: IntervalProposal | None) -> None:
        """Plot the observations (with U), the fitted line, its bound and the limit."""
        self.plot.clear()
        if p is None or not p.points:
            self.notes.setText("")
            return
        xs = [_stamp(pt.when) for pt in p.points]
        ys = [pt.value for pt in p.points]
        self.plot.plot(xs, ys, pen=None, symbol="o", symbolBrush="#1565c0", name="数据 data")
        for x, pt in zip(xs, p.points, strict=True):
            if pt.expanded_uncertainty:
                u = pt.expanded_uncertainty
                self.plot.plot([x, x], [pt.value - u, pt.value + u], pen=pg.mkPen("#1565c0"))
        end = p.proposed_due or p.points[-1].when
        first = p.points[0].when
        if p.fit is not None:
            k = p.fit.bound_factor(p.reliability)
            span = max((end - first).days, 1)
            days = [first + timedelta(days=round(i * span / 60)) for i in range(61)]
            line, upper, lower = [], [], []
            for d in days:
                y, sd = p.fit.predict(d)
                line.append(y)
                upper.append(y + k * sd)
                lower.append(y - k * sd)
            dx = [_stamp(d) for d in days]
            self.plot.plot(dx, line, pen=pg.mkPen("#2e7d32", width=2), name="拟合 fit")
            bound = pg.mkPen("#ef8f00", width=1.5, style=Qt.PenStyle.DashLine)
            self.plot.plot(dx, upper, pen=bound, name=f"预测限 bound R={p.reliability:g}")
            self.plot.plot(dx, lower, pen=bound)
        limit_pen = pg.mkPen("#c62828", width=1.5)
        lo, hi = _stamp(first), _stamp(end)
        self.plot.plot([lo, hi], [p.limit, p.limit], pen=limit_pen, name="限值 limit")
        self.plot.plot([lo, hi], [-p.limit, -p.limit], pen=limit_pen)
        self.notes.setText(
            f"{p.tag} · {p.series}: "
            + (f"建议到期 proposed due {p.proposed_due}; " if p.proposed_due else "")
            + "; ".join(p.notes)
        )

    def accept_selected(self) -> None:
        """Accept the selected proposal with the reason typed (quality manager)."""
        p = self.selected()
        reason = self.reason.text().strip()
        if p is None or p.proposed_due is None:
            return
        if len(reason) < 5:
            self.message.error("请填写理由 write a reason (at least 5 characters)")
            return
        db, actor, today = self.ctx.db, self.ctx.actor, self.ctx.today()
        self.ctx.runner.submit(
            lambda: accept(db, actor, p, reason, today),
            lambda due: self.message.info(f"{p.tag}: 已批准 next due {due} accepted"),
            self._failed,
        )
