"""The bench view: choose an item and a bench, preflight checklist, run with a live plot,
step progress, operator prompts, pause/resume/abort and the results as they come."""

from __future__ import annotations

import gc
import queue
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from lims.engine.events import (
    Event,
    Message,
    PromptRequested,
    ResultRecorded,
    StateChanged,
    StepFinished,
    StepStarted,
)
from lims.models.enums import RunStatus
from lims.quality.permissions import Permission, can
from lims.services.work_orders import InterruptedRun, interrupted_runs, status_board
from lims.units import UnitParseError, display_quantity, parse_quantity
from ui.context import AppContext
from ui.i18n import tr
from ui.paths import bench_files
from ui.readings import PlotPoint
from ui.widgets import GREEN, RED, MessageLine, fill_table, short_unit

if TYPE_CHECKING:  # the bench machinery is imported on a worker thread at first use
    from ui.bench_session import BenchPlan, BenchSession
    from ui.live_plot import LivePlot

#: How often the run's events are drawn (10 Hz), and the most work one tick may do.
DRAIN_INTERVAL_MS = 100
DRAIN_BUDGET_S = 0.015


#: Background of a result's verdict cell.
_VERDICT_COLOURS = {"pass": GREEN, "fail": RED}


def _show_value(v: Any) -> str:
    if isinstance(v, dict) and set(v) >= {"value", "unit"}:
        return f"{v['value']:.6g} {short_unit(v['unit'])}"
    if hasattr(v, "magnitude"):
        return display_quantity(v)
    return str(v)


class PromptDialog(QDialog):
    """An operator prompt: confirm, or enter a value (with its unit checked before sending)."""

    def __init__(self, prompt: PromptRequested, session: BenchSession, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("prompt_dialog")
        self.prompt = prompt
        self.session = session
        self.setWindowTitle(tr("bench.prompt"))
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"{prompt.text_zh}\n{prompt.text_en}"))
        self.value = QLineEdit()
        if prompt.kind != "confirm":
            if prompt.unit:
                self.value.setPlaceholderText(f"… {prompt.unit}")
            layout.addWidget(self.value)
        self.message = MessageLine()
        if prompt.error:
            self.message.error(prompt.error)
        layout.addWidget(self.message)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText(tr("common.ok"))
        buttons.accepted.connect(self.submit)
        layout.addWidget(buttons)

    def submit(self) -> None:
        """Check a value's unit inline, then answer the prompt."""
        p = self.prompt
        answer: Any = True
        if p.kind != "confirm":
            text = self.value.text().strip()
            if not text:
                self.message.error(tr("bench.value_required"))
                return
            if p.kind == "value" and p.unit:
                try:
                    parse_quantity(text, p.unit)
                except UnitParseError as exc:
                    self.message.error(str(exc))
                    return
            answer = text
        self.session.answer(p.prompt_id, answer)
        self.accept()


class BenchView(QWidget):
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
        self.session: BenchSession | None = None
        self.prompt_dialog: PromptDialog | None = None
        self.results: list[ResultRecorded] = []
        self.status: RunStatus | None = None
        self.status_reason = ""

        self.item = QComboBox()
        self.item.setObjectName("bench_item")
        self.bench = QComboBox()
        for path in bench_files():
            self.bench.addItem(path.name, str(path))
        self.auto = QCheckBox()
        self.check_button = QPushButton()
        self.check_button.clicked.connect(self.preflight)
        self.start_button = QPushButton()
        self.start_button.clicked.connect(self.start_run)
        self.pause_button = QPushButton()
        self.pause_button.clicked.connect(self.pause)
        self.resume_button = QPushButton()
        self.resume_button.clicked.connect(self.resume)
        self.abort_button = QPushButton()
        self.abort_button.clicked.connect(self.abort)
        self.draft_button = QPushButton()
        self.draft_button.setObjectName("draft")
        self.draft_button.clicked.connect(self.draft_certificate)
        self.drafted_run: int | None = None
        top = QHBoxLayout()
        self.item_label, self.bench_label = QLabel(), QLabel()
        for w in (self.item_label, self.item, self.bench_label, self.bench, self.auto):
            top.addWidget(w)
        top.addStretch(1)
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
        controls.addWidget(self.state_label)

        self.checks_box = QGroupBox()
        self.checks = QListWidget()
        QVBoxLayout(self.checks_box).addWidget(self.checks)
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
        self.results_table = QTableWidget()
        self.results_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        QVBoxLayout(self.results_box).addWidget(self.results_table)
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
        rl = QHBoxLayout(self.recovery_box)
        rl.addWidget(self.recovery_label, 1)
        rl.addWidget(self.recovery_runs)
        rl.addWidget(self.recover_button)
        rl.addWidget(self.later_button)
        self.recovery_box.hide()
        layout = QVBoxLayout(self)
        layout.addWidget(self.recovery_box)
        layout.addLayout(top)
        layout.addLayout(controls)
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
        self.check_button.setText(tr("bench.preflight"))
        self.start_button.setText(tr("bench.start"))
        self.pause_button.setText(tr("bench.pause"))
        self.resume_button.setText(tr("bench.resume"))
        self.abort_button.setText(tr("bench.abort"))
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
        self._show_results()

    # -- items -------------------------------------------------------------------------
    def refresh(self) -> None:
        """Reload the work-order items on a worker thread."""
        db, actor = self.ctx.db, self.ctx.actor

        busy = self.session is not None and self.session.running
        can_run = can(actor, Permission.RUN_PROCEDURE)

        def load() -> tuple[list[tuple[str, int]], list[InterruptedRun]]:
            with db.read() as s:
                items = [
                    (f"{wo.number} #{it.item_id} {it.description} ({it.procedure_id})", it.item_id)
                    for wo in status_board(s, actor)
                    for it in wo.items
                ]
                runs = [] if busy or not can_run else interrupted_runs(s, actor)
            return items, runs

        self.ctx.runner.submit(load, self._loaded, lambda e: self.message.error(str(e)))

    def _loaded(self, result: tuple[list[tuple[str, int]], list[InterruptedRun]]) -> None:
        items, runs = result
        self._items_loaded(items)
        self.interrupted = runs
        self.recovery_runs.clear()
        for r in runs:
            step = r.last_completed_step or "—"
            self.recovery_runs.addItem(
                f"#{r.run_id} {r.procedure_id} · {r.bench_name} · {r.status.value} · {step}",
                r.run_id,
            )
        self.recovery_box.setVisible(bool(runs))
        if runs:
            self.recovery_offered.emit(len(runs))

    def recover(self) -> None:
        """Prepare the chosen interrupted run for resumption (preflight again)."""
        run_id = self.recovery_runs.currentData()
        run = next((r for r in self.interrupted if r.run_id == run_id), None)
        if run is None:
            return
        db, actor, today = self.ctx.db, self.ctx.actor, self.ctx.today()
        chosen = self.bench.currentData()
        files = [str(p) for p in bench_files()]

        def work() -> BenchPlan:
            from drivers.bench import load_bench
            from ui.bench_session import plan_resume

            path = next((f for f in files if load_bench(Path(f)).name == run.bench_name), chosen)
            if path is None:
                raise ValueError(f"no bench file named {run.bench_name!r}")
            return plan_resume(db, actor, run, Path(path), today)

        self.ctx.runner.submit(work, self._recovery_planned, self._plan_failed)

    def _recovery_planned(self, plan: BenchPlan) -> None:
        self.select_item(plan.item_id)
        self.select_bench(plan.bench_path.name)
        self._planned(plan)
        self.recovery_box.hide()

    def _items_loaded(self, items: list[tuple[str, int]]) -> None:
        current = self.item.currentData()
        self.item.clear()
        for label, item_id in items:
            self.item.addItem(label, item_id)
        if current is not None:
            self.select_item(int(current))

    def select_item(self, item_id: int) -> None:
        """Choose the work-order item with this id."""
        i = self.item.findData(item_id)
        if i >= 0:
            self.item.setCurrentIndex(i)

    def select_bench(self, name: str) -> None:
        """Choose the bench file called ``name``."""
        i = self.bench.findText(name)
        if i >= 0:
            self.bench.setCurrentIndex(i)

    # -- preflight ---------------------------------------------------------------------
    def preflight(self) -> None:
        """Prepare the run and check the rules (on a worker thread)."""
        item_id, bench = self.item.currentData(), self.bench.currentData()
        if item_id is None or bench is None:
            self.message.error(tr("bench.choose"))
            return
        db, actor, today = self.ctx.db, self.ctx.actor, self.ctx.today()
        self.message.info(tr("common.loading"))

        def work() -> BenchPlan:
            from ui.bench_session import plan_run

            return plan_run(db, actor, int(item_id), Path(bench), today)

        self.ctx.runner.submit(work, self._planned, self._plan_failed)

    def _planned(self, plan: BenchPlan) -> None:
        self.plan = plan
        resumed = f" · {tr('bench.resuming')} #{plan.resume_run_id}" if plan.resume_run_id else ""
        self.message.info(
            f"{plan.procedure_id} · {plan.procedure_title} · {plan.bench_name}{resumed}"
        )
        self.checks.clear()
        for c in plan.checks:
            mark = "✔" if c.ok else "✘"
            line = QListWidgetItem(f"{mark} {c.what}" + ("" if c.ok else f" — {c.reason}"))
            line.setBackground(GREEN if c.ok else RED)
            line.setToolTip(line.text())  # a long line is cut at the list's edge
            self.checks.addItem(line)
        self.steps.clear()
        for name, title in plan.steps:
            self.steps.addItem(f"○ {title.replace('percent_FS', '%FS')} ({name})")
        self.progress.setRange(0, len(plan.steps))
        self.progress.setValue(0)
        self.live.reset(plan.plot_unit, plan.plot_range, plan.band_halfwidth, plan.band_samples)
        self.auto.setEnabled(plan.simulated)
        self._update_buttons()

    def _plan_failed(self, exc: Exception) -> None:
        self.plan = None
        self.message.error(str(exc))
        self._update_buttons()

    # -- running -----------------------------------------------------------------------
    def start_run(self, time_scale: float | None = None) -> None:
        """Start the planned run (only when every preflight check passed)."""
        if self.plan is None or not self.plan.ready:
            self.message.error(tr("bench.not_ready"))
            return
        self.results.clear()
        self._show_results()
        self.live.reset(
            self.plan.plot_unit,
            self.plan.plot_range,
            self.plan.band_halfwidth,
            self.plan.band_samples,
        )
        from ui.bench_session import BenchSession  # loaded already by the preflight

        gc.freeze()  # what the preflight loaded stays: no full collection walks it mid-run

        self.session = BenchSession(
            self.ctx.db,
            self.plan,
            self.ctx.actor.username,
            auto=self.auto.isChecked(),
            time_scale=time_scale or None,
            run_date=self.ctx.today(),
        )
        self.session.start()
        self.timer.start()
        self._update_buttons()

    def drain(self) -> None:
        """Take the events that arrived since the last tick and draw them.

        At most :data:`DRAIN_BUDGET_S` of work per tick: what is left waits for the next
        tick, so a burst of readings never holds the GUI thread.
        """
        session = self.session
        if session is None:
            return
        deadline = time.perf_counter() + DRAIN_BUDGET_S
        while time.perf_counter() < deadline:
            try:
                ev = session.events.get_nowait()
            except queue.Empty:
                break
            if isinstance(ev, PlotPoint):
                self.live.add(ev)
            else:
                self._on_event(ev)
        if self._live is not None:
            self._live.redraw()
        if not session.running and session.events.empty():
            self.timer.stop()
            self._update_buttons()

    def _on_event(self, ev: Event | BaseException) -> None:
        if isinstance(ev, BaseException):
            self.message.error(str(ev))
        elif isinstance(ev, StepStarted):
            self._mark_step(ev.index - 1, "▶")
        elif isinstance(ev, StepFinished):
            self._mark_step(ev.index - 1, "✔")
            self.progress.setValue(ev.index)
        elif isinstance(ev, ResultRecorded):
            self.results.append(ev)
            self._show_results()
        elif isinstance(ev, StateChanged):
            self.status = ev.new
            self.status_reason = ev.reason
            self.state_label.setText(f"{tr('std.col.status')}: {ev.new.value} {ev.reason}")
            if ev.new in (RunStatus.REFUSED, RunStatus.FAILED):
                self.message.error(f"{ev.new.value}: {ev.reason}")
            self._update_buttons()
        elif isinstance(ev, PromptRequested):
            assert self.session is not None
            self.prompt_dialog = PromptDialog(ev, self.session, self)
            self.prompt_dialog.open()
        elif isinstance(ev, Message) and ev.level != "info":
            self.message.error(ev.text)

    def _mark_step(self, row: int, mark: str) -> None:
        item = self.steps.item(row)
        if item is not None:
            item.setText(mark + item.text()[1:])
            if mark == "✔":
                item.setBackground(GREEN)
            else:
                item.setBackground(QColor("#fff3c4"))

    def _show_results(self) -> None:
        # The verdict before the values: the values are long, the verdict must stay in view.
        fill_table(
            self.results_table,
            [
                tr("bench.col.point"),
                tr("bench.col.item"),
                tr("bench.col.verdict"),
                tr("bench.col.values"),
            ],
            [
                [
                    r.test_point,
                    r.item,
                    r.verdict,
                    "; ".join(f"{k}={_show_value(v)}" for k, v in r.values.items()),
                ]
                for r in self.results
            ],
        )
        for row, r in enumerate(self.results):
            cell = self.results_table.item(row, 2)
            if r.verdict in _VERDICT_COLOURS:
                cell.setBackground(_VERDICT_COLOURS[r.verdict])
            values = self.results_table.item(row, 3)
            values.setToolTip(values.text().replace("; ", "\n"))

    def _update_buttons(self) -> None:
        running = self.session is not None and self.session.running
        self.start_button.setEnabled(self.plan is not None and self.plan.ready and not running)
        self.check_button.setEnabled(not running)
        self.pause_button.setEnabled(running and self.status is RunStatus.RUNNING)
        self.resume_button.setEnabled(running and self.status is RunStatus.PAUSED)
        self.abort_button.setEnabled(running)
        self.draft_button.setEnabled(
            not running
            and self.status is RunStatus.COMPLETED
            and self.finished_run_id is not None
            and self.finished_run_id != self.drafted_run
            and self.ctx.user is not None
            and can(self.ctx.user, Permission.SIGN_PERFORMED)
        )

    @property
    def finished_run_id(self) -> int | None:
        """The id of the run this view last watched, once it has ended."""
        session = self.session
        if session is None or session.running or session.handle is None:
            return None
        return session.handle.run_id

    def draft_certificate(self) -> None:
        """Draft the certificate of the completed run (worker thread)."""
        run_id = self.finished_run_id
        if run_id is None or self.status is not RunStatus.COMPLETED:
            return
        db, actor, today = self.ctx.db, self.ctx.actor, self.ctx.today()
        self.draft_button.setEnabled(False)

        def work() -> str:
            from lims.services.certificates import draft_certificate

            return draft_certificate(db, actor, run_id, today=today).number

        def done(number: str) -> None:
            self.drafted_run = run_id
            self.message.info(f"{tr('bench.drafted')}: {number}")
            self._update_buttons()
            self.drafted.emit(number)

        def failed(exc: Exception) -> None:
            self.message.error(str(exc))
            self._update_buttons()

        self.ctx.runner.submit(work, done, failed)

    def pause(self) -> None:
        """Ask the run to hold at its next safe point."""
        if self.session is not None:
            self.session.pause()

    def resume(self) -> None:
        """Continue the paused run."""
        if self.session is not None:
            self.session.resume()

    def abort(self) -> None:
        """Abort the run at once."""
        if self.session is not None:
            self.session.abort()

    def shutdown(self) -> None:
        """Abort a run still going and wait for its thread (the window is closing)."""
        if self.session is not None and self.session.running:
            self.session.abort()
            self.session.join(30)
