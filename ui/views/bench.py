"""The bench view: choose an item and a bench, preflight checklist, run with a live plot,
step progress, operator prompts, pause/resume/abort and the results as they come."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from lims.engine.events import (
    ResultRecorded,
)
from lims.models.enums import RunStatus
from lims.quality.permissions import Permission, can
from lims.services.work_orders import InterruptedRun, interrupted_runs, status_board
from ui.context import AppContext
from ui.i18n import tr
from ui.paths import bench_files
from ui.prompt_panel import PromptPanel
from ui.results_table import OverallResultBanner, ResultLine, ResultsTable
from ui.views.bench_run import DRAIN_INTERVAL_MS, SHORTCUTS, BenchRunMixin, status_text
from ui.widgets import GREEN, RED, MessageLine

if TYPE_CHECKING:  # the bench machinery is imported on a worker thread at first use
    from ui.bench_session import BenchPlan, BenchSession
    from ui.live_plot import LivePlot


def _bench_names(paths: list[Path]) -> list[tuple[str, str]]:
    """(bench name, file) of each bench file; a file that cannot be read keeps its file name."""
    from lims.services.benches import list_benches

    return [(b.name, str(b.path)) for b in list_benches(paths)]


class BenchView(BenchRunMixin, QWidget):
    """Run a procedure on a bench for a work-order item."""

    #: Emitted when interrupted runs of the user are found (offered for recovery).
    recovery_offered = Signal(int)
    #: Emitted with the number of the certificate drafted from the finished run.
    drafted = Signal(str)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("bench_view")
        self.plan: BenchPlan | None = None
        self.auto_keys: frozenset[str] = frozenset()
        self.session: BenchSession | None = None
        self.results: list[ResultRecorded] = []
        self.lines: list[ResultLine] = []
        self.status: RunStatus | None = None
        self.status_reason = ""
        self.drafted_run: int | None = None
        self.leaving = False
        #: Asks the operator a yes/no question (replaced in tests).
        self.confirm: Callable[[str, str], bool] = self._ask

        self.item = QComboBox()
        self.item.setObjectName("bench_item")
        self.item.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.item.setMinimumContentsLength(36)
        self.item.currentIndexChanged.connect(self._choice_changed)
        self.bench = QComboBox()
        self.bench.setObjectName("bench_file")
        self.bench.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.bench.currentIndexChanged.connect(self._choice_changed)
        self.auto = QCheckBox()
        self.refresh_button = QPushButton()
        self.refresh_button.clicked.connect(self.refresh)
        self.check_button = QPushButton()
        self.check_button.clicked.connect(self.preflight)
        self.start_button = QPushButton()
        self.start_button.clicked.connect(lambda: self.start_run())
        self.pause_button = QPushButton()
        self.pause_button.clicked.connect(self.pause)
        self.resume_button = QPushButton()
        self.resume_button.clicked.connect(self.resume)
        self.abort_button = QPushButton()
        self.abort_button.setObjectName("abort")
        self.abort_button.clicked.connect(self.abort)
        self.draft_button = QPushButton()
        self.draft_button.setObjectName("draft")
        self.draft_button.clicked.connect(self.draft_certificate)
        self.shortcuts: dict[str, QAction] = {}
        for key, slot in (
            ("preflight", self.preflight),
            ("start", lambda: self.start_run()),
            ("pause", self._pause_or_resume),
            ("abort", self.abort),
        ):
            action = QAction(self)
            action.setShortcut(QKeySequence(SHORTCUTS[key]))
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            action.triggered.connect(slot)
            self.addAction(action)
            self.shortcuts[key] = action
        top = QHBoxLayout()
        self.item_label, self.bench_label = QLabel(), QLabel()
        top.addWidget(self.item_label)
        top.addWidget(self.item, 3)
        top.addWidget(self.bench_label)
        top.addWidget(self.bench, 1)
        top.addWidget(self.auto)
        top.addWidget(self.refresh_button)
        controls = QHBoxLayout()
        for b in (
            self.check_button,
            self.start_button,
            self.pause_button,
            self.resume_button,
            self.abort_button,
            self.draft_button,
        ):
            controls.addWidget(b)
        controls.addStretch(1)
        self.state_label = QLabel()
        self.state_label.setObjectName("run_state")
        controls.addWidget(self.state_label)

        self.checks_box = QGroupBox()
        self.checks = QListWidget()
        self.checks.setWordWrap(True)
        #: The frozen plan as ``lims run --plan`` prints it: parameters with their sources.
        self.plan_lines = QListWidget()
        self.plan_lines.setObjectName("plan_lines")
        self.plan_lines.setWordWrap(True)
        self.plan_lines.setMinimumHeight(24)  # the window may still be made small
        cv = QVBoxLayout(self.checks_box)
        cv.addWidget(self.checks, 1)
        cv.addWidget(self.plan_lines, 1)
        self.steps_box = QGroupBox()
        self.steps = QListWidget()
        self.progress = QProgressBar()
        sv = QVBoxLayout(self.steps_box)
        sv.addWidget(self.steps)
        sv.addWidget(self.progress)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.addWidget(self.checks_box, 1)
        lv.addWidget(self.steps_box, 1)

        self._live: LivePlot | None = None  # built at first use (pyqtgraph)
        self.plot_placeholder = QGroupBox()
        self.results_box = QGroupBox()
        self.banner = OverallResultBanner()
        self.results_table = ResultsTable()
        rl = QVBoxLayout(self.results_box)
        rl.addWidget(self.banner)
        rl.addWidget(self.results_table, 1)
        right = QSplitter()
        right.setObjectName("bench_plot_split")
        right.setOrientation(Qt.Orientation.Vertical)
        right.addWidget(self.plot_placeholder)
        self.right_split = right
        right.addWidget(self.results_box)

        split = QSplitter()
        split.setObjectName("bench_split")
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([420, 860])
        self.message = MessageLine()
        self.interrupted: list[InterruptedRun] = []
        self.recovery_box = QGroupBox()
        self.recovery_box.setObjectName("recovery")
        self.recovery_box.setStyleSheet("QGroupBox { background: #fff3c4; }")
        self.recovery_label = QLabel()
        self.recovery_label.setWordWrap(True)
        self.recovery_runs = QComboBox()
        self.recover_button = QPushButton()
        self.recover_button.clicked.connect(self.recover)
        self.later_button = QPushButton()
        self.later_button.clicked.connect(self.recovery_box.hide)
        recovery = QHBoxLayout(self.recovery_box)
        recovery.addWidget(self.recovery_label, 1)
        recovery.addWidget(self.recovery_runs)
        recovery.addWidget(self.recover_button)
        recovery.addWidget(self.later_button)
        self.recovery_box.hide()
        self.prompt_panel = PromptPanel(self._answer)
        layout = QVBoxLayout(self)
        layout.addWidget(self.recovery_box)
        layout.addLayout(top)
        layout.addLayout(controls)
        layout.addWidget(self.prompt_panel)
        layout.addWidget(split, 1)
        layout.addWidget(self.message)

        self.timer = QTimer(self)
        self.timer.setInterval(DRAIN_INTERVAL_MS)
        self.timer.timeout.connect(self.drain)
        self._update_buttons()
        self.retranslate()

    @property
    def readings(self) -> int:
        """How many readings the live plot has received in this run."""
        return self._live.readings if self._live is not None else 0

    @property
    def curves(self) -> list[str]:
        """The quantities plotted in this run."""
        return list(self._live.curves) if self._live is not None else []

    @property
    def live(self) -> LivePlot:
        """The live plot (created when first needed: plotting loads at first use)."""
        if self._live is None:
            from ui.live_plot import LivePlot

            self._live = LivePlot()
            self.right_split.replaceWidget(0, self._live)
            self.plot_placeholder.deleteLater()
        return self._live

    def retranslate(self) -> None:
        """Set every text in the current language."""
        self.item_label.setText(tr("bench.item"))
        self.bench_label.setText(tr("bench.bench"))
        self.auto.setText(tr("bench.auto"))
        self.refresh_button.setText(tr("common.refresh"))
        for key, button in (
            ("preflight", self.check_button),
            ("start", self.start_button),
            ("pause", self.pause_button),
            ("abort", self.abort_button),
        ):
            button.setText(f"{tr(f'bench.{key}')} ({SHORTCUTS[key]})")
        self.resume_button.setText(f"{tr('bench.resume')} ({SHORTCUTS['pause']})")
        self.draft_button.setText(tr("bench.draft"))
        self.checks_box.setTitle(tr("bench.checklist"))
        self.steps_box.setTitle(tr("bench.steps"))
        self.results_box.setTitle(tr("bench.results"))
        if self._live is not None:
            self._live.retranslate()
        else:
            self.plot_placeholder.setTitle(tr("bench.readings"))
        self.recovery_box.setTitle(tr("bench.recovery"))
        self.recovery_label.setText(tr("bench.recovery_text"))
        self.recover_button.setText(tr("bench.recover"))
        self.later_button.setText(tr("bench.later"))
        self.prompt_panel.retranslate()
        self._show_state()
        self._show_results()
        self._update_buttons()

    # -- items -------------------------------------------------------------------------
    def refresh(self, *, benches: bool = True) -> None:
        """Reload the work-order items, interrupted runs and (unless told not to, as at
        login, when the bench is not shown yet) the benches' names, on a worker thread."""
        db, actor = self.ctx.db, self.ctx.actor
        busy = self.session is not None and self.session.running
        can_run = can(actor, Permission.RUN_PROCEDURE)
        files = bench_files() if benches else []

        def load() -> tuple[list[tuple[str, int]], list[InterruptedRun], list[tuple[str, str]]]:
            with db.read() as s:
                items = [
                    (
                        f"{wo.number} #{it.item_id} · {it.description} · {it.model} "
                        f"{it.serial_number} · {it.procedure_id}",
                        it.item_id,
                    )
                    for wo in status_board(s, actor)
                    for it in wo.items
                ]
                runs = [] if busy or not can_run else interrupted_runs(s, actor)
            return items, runs, _bench_names(files)

        self.ctx.runner.submit(load, self._loaded, lambda e: self.message.error(str(e)))

    def _loaded(
        self, result: tuple[list[tuple[str, int]], list[InterruptedRun], list[tuple[str, str]]]
    ) -> None:
        items, runs, benches = result
        self._items_loaded(items)
        self._benches_loaded(benches)
        self.interrupted = runs
        self.recovery_runs.clear()
        for r in runs:
            step = r.last_completed_step or "—"
            self.recovery_runs.addItem(
                f"#{r.run_id} {r.procedure_id} · {r.bench_name} · {status_text(r.status)} · "
                f"{tr('bench.last_step')}: {step}",
                r.run_id,
            )
        self.recovery_box.setVisible(bool(runs))
        if runs:
            self.recovery_offered.emit(len(runs))

    def _benches_loaded(self, benches: list[tuple[str, str]]) -> None:
        chosen = self.bench.currentData()
        self.bench.blockSignals(True)
        known = {self.bench.itemData(i) for i in range(self.bench.count())}
        for name, path in benches:
            if path not in known:
                self.bench.addItem(name, path)
                self.bench.setItemData(self.bench.count() - 1, path, Qt.ItemDataRole.ToolTipRole)
        i = self.bench.findData(chosen)
        if i >= 0:
            self.bench.setCurrentIndex(i)
        self.bench.blockSignals(False)

    def recover(self) -> None:
        """Prepare the chosen interrupted run for resumption (preflight again)."""
        run_id = self.recovery_runs.currentData()
        run = next((r for r in self.interrupted if r.run_id == run_id), None)
        if run is None:
            return
        db, actor, today = self.ctx.db, self.ctx.actor, self.ctx.today()
        chosen = self.bench.currentData()
        files = [str(p) for p in bench_files()]

        def work() -> tuple[BenchPlan, frozenset[str]]:
            from lims.services.benches import bench_file_named
            from ui.bench_session import plan_resume

            named = bench_file_named((Path(f) for f in files), run.bench_name)
            path = str(named) if named is not None else chosen
            if path is None:
                raise ValueError(f"no bench file named {run.bench_name!r}")
            return plan_resume(db, actor, run, Path(path), today), _auto_keys(Path(path))

        self.ctx.runner.submit(work, lambda r: self._recovery_planned(r, run), self._plan_failed)

    def _recovery_planned(
        self, result: tuple[BenchPlan, frozenset[str]], run: InterruptedRun
    ) -> None:
        plan = result[0]
        self.item.blockSignals(True)
        self.bench.blockSignals(True)
        self.select_item(plan.item_id)
        self.select_bench(str(plan.bench_path))
        self.item.blockSignals(False)
        self.bench.blockSignals(False)
        self._planned(result)
        names = [name for name, _title in plan.steps]
        done = names.index(run.last_completed_step) + 1 if run.last_completed_step in names else 0
        for row in range(done):
            self._mark_step(row, "✔")
        self.progress.setValue(done)
        self.recovery_box.hide()

    def _items_loaded(self, items: list[tuple[str, int]]) -> None:
        current = self.item.currentData()
        self.item.blockSignals(True)
        self.item.clear()
        for label, item_id in items:
            self.item.addItem(label, item_id)
            self.item.setItemData(self.item.count() - 1, label, Qt.ItemDataRole.ToolTipRole)
        if current is not None:
            self.select_item(int(current))
        self.item.blockSignals(False)
        if self.item.currentData() != current:
            self._choice_changed()

    def select_item(self, item_id: int) -> None:
        """Choose the work-order item with this id."""
        i = self.item.findData(item_id)
        if i >= 0:
            self.item.setCurrentIndex(i)

    def select_bench(self, name: str) -> None:
        """Choose a bench by its name, its file name or its file's path."""
        for i in range(self.bench.count()):
            path = str(self.bench.itemData(i))
            if name in (self.bench.itemText(i), path, Path(path).name):
                self.bench.setCurrentIndex(i)
                return

    def _choice_changed(self, _index: int = 0) -> None:
        """Another item or bench: forget the plan, the results and the finished run."""
        if self.session is not None and self.session.running:
            return  # the combos are disabled during a run
        self.plan = None
        self.session = None
        self.status = None
        self.status_reason = ""
        self.results.clear()
        self.lines.clear()
        self.checks.clear()
        self.plan_lines.clear()
        self.steps.clear()
        self.progress.setValue(0)
        self.prompt_panel.clear()
        self.message.clear_message()
        if self._live is not None:
            self._live.reset(None, None, None, 20)
        self._show_state()
        self._show_results()
        self._update_buttons()

    # -- preflight ---------------------------------------------------------------------
    def preflight(self) -> None:
        """Prepare the run and check the rules (on a worker thread)."""
        if self.session is not None and self.session.running:
            return
        item_id, bench = self.item.currentData(), self.bench.currentData()
        if item_id is None or bench is None:
            self.message.error(tr("bench.choose"))
            return
        db, actor, today = self.ctx.db, self.ctx.actor, self.ctx.today()
        self.message.info(tr("common.loading"))

        def work() -> tuple[BenchPlan, frozenset[str]]:
            from ui.bench_session import plan_run

            path = Path(bench)
            return plan_run(db, actor, int(item_id), path, today), _auto_keys(path)

        self.ctx.runner.submit(work, self._planned, self._plan_failed)

    def _planned(self, result: tuple[BenchPlan, frozenset[str]]) -> None:
        plan, self.auto_keys = result
        self.plan = plan
        self.session = None
        self.status = None
        self.results.clear()
        self.lines.clear()
        self._show_results()
        self._show_state()
        resumed = f" · {tr('bench.resuming')} #{plan.resume_run_id}" if plan.resume_run_id else ""
        self.message.info(
            f"{plan.procedure_id} · {plan.procedure_title} · {plan.bench_name}{resumed}"
        )
        from lims.services.planning.describe import describe_plan  # loaded by the worker already

        self.checks.clear()
        self.plan_lines.clear()
        described = describe_plan(plan.planned)
        for text in (*described.heading, *(r.line for r in described.parameters)):
            self.plan_lines.addItem(text)
        for text in described.resources:
            self.plan_lines.addItem(text)
        for c in plan.checks:
            mark = "✔" if c.ok else "✘"
            line = QListWidgetItem(f"{mark} {c.what}" + ("" if c.ok else f" — {c.reason}"))
            line.setBackground(GREEN if c.ok else RED)
            line.setToolTip(line.text())
            self.checks.addItem(line)
        self.steps.clear()
        for _name, title in plan.steps:
            self.steps.addItem(f"○ {title.replace('percent_FS', '%FS')}")
        self.progress.setRange(0, len(plan.steps))
        self.progress.setValue(0)
        self.live.reset(plan.plot_unit, plan.plot_range, plan.band_halfwidth, plan.band_samples)
        self.auto.setEnabled(plan.simulated)
        if not plan.simulated:
            self.auto.setChecked(False)
        self._update_buttons()

    def _plan_failed(self, exc: Exception) -> None:
        self.plan = None
        self.message.error(str(exc))
        self._update_buttons()


def _auto_keys(bench_path: Path) -> frozenset[str]:
    """The prompts a simulated bench answers itself (its file's ``[auto]`` table)."""
    from lims.services.benches import auto_answered

    return auto_answered(bench_path)
