"""Uncertainty budgets of a run: each stored budget (component, distribution, u, c,
contribution, ν; ν_eff, k, U) and, on request, its Monte Carlo cross-check (JCGM 101)."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from lims.db import Database
from lims.models.users import User
from lims.quality.budgets import (
    BUDGET_HEADERS,
    BudgetCrossCheck,
    RunBudget,
    cross_check,
    stored_budgets,
)
from ui.context import AppContext
from ui.widgets import MessageLine, fill_table


def load_budgets(db: Database, actor: User, run_id: int) -> list[RunBudget]:
    """The run's stored budgets."""
    with db.read() as s:
        return stored_budgets(s, actor, run_id)


def check_text(check: BudgetCrossCheck) -> str:
    """The cross-check in two lines."""
    c, m, unit = check.comparison, check.comparison.mcm, check.unit
    verdict = "一致 validated" if c.validated else "差异超出容差 differs beyond δ"
    return (
        f"MCM {m.trials} 次 trials（seed {m.seed}, {m.seconds * 1000:.0f} ms）: "
        f"[{m.low:.6g}, {m.high:.6g}] {unit} @ {m.p * 100:.2f} %；"
        f"GUM [{c.gum_low:.6g}, {c.gum_high:.6g}] {unit}\n"
        f"d_low = {c.d_low:.3g}, d_high = {c.d_high:.3g}, δ = {c.delta:.3g} {unit}: {verdict}"
    )


class BudgetView(QWidget):
    """Pick a run and a test point: the budget table and its MCM cross-check."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("budget_view")
        self.budgets: list[RunBudget] = []
        self.run = QSpinBox()
        self.run.setRange(1, 2_000_000_000)
        self.run.setPrefix("运行 Run ")
        self.load_button = QPushButton("读取 Load")
        self.load_button.clicked.connect(self.refresh)
        self.point = QComboBox()
        self.point.currentIndexChanged.connect(self._show)
        self.mcm_button = QPushButton("蒙特卡洛核验 MCM cross-check")
        self.mcm_button.clicked.connect(self.run_mcm)
        top = QHBoxLayout()
        for w in (self.run, self.load_button, self.point, self.mcm_button):
            top.addWidget(w)
        top.addStretch(1)
        self.title = QLabel()
        self.table = QTableWidget()
        self.table.setObjectName("budget_table")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.coverage = QLabel()
        self.coverage.setWordWrap(True)
        self.mcm = QLabel()
        self.mcm.setWordWrap(True)
        self.message = MessageLine()
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.title)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.coverage)
        layout.addWidget(self.mcm)
        layout.addWidget(self.message)

    def show_run(self, run_id: int) -> None:
        """Load the budgets of ``run_id``."""
        self.run.setValue(run_id)
        self.refresh()

    def refresh(self) -> None:
        """Load the chosen run's budgets on a worker thread."""
        db, actor, run_id = self.ctx.db, self.ctx.actor, self.run.value()
        self.ctx.runner.submit(lambda: load_budgets(db, actor, run_id), self._loaded, self._failed)

    def _loaded(self, budgets: list[RunBudget]) -> None:
        self.budgets = budgets
        self.point.blockSignals(True)
        self.point.clear()
        for b in budgets:
            self.point.addItem(f"{b.test_point} · {b.item}")
        self.point.blockSignals(False)
        if not budgets:
            self.message.info(f"运行 {self.run.value()} 无不确定度评定 no stored budget")
        self._show()

    def _failed(self, exc: Exception) -> None:
        self.message.error(str(exc))

    def current(self) -> RunBudget | None:
        """The budget of the chosen test point."""
        i = self.point.currentIndex()
        return self.budgets[i] if 0 <= i < len(self.budgets) else None

    def _show(self) -> None:
        b = self.current()
        self.mcm.setText("")
        if b is None:
            fill_table(self.table, BUDGET_HEADERS, [])
            self.title.setText("")
            self.coverage.setText("")
            return
        self.title.setText(f"{b.test_point} · {b.item} · {b.measurand}")
        fill_table(self.table, BUDGET_HEADERS, b.rows())
        self.table.resizeColumnsToContents()
        self.coverage.setText(b.coverage)

    def run_mcm(self) -> None:
        """Cross-check the chosen budget by adaptive MCM on a worker thread."""
        b = self.current()
        if b is None:
            return
        self.mcm.setText("计算中 computing …")
        self.ctx.runner.submit(
            lambda: cross_check(b), lambda c: self.mcm.setText(check_text(c)), self._failed
        )
