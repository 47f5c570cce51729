"""Running a planned procedure from the bench view: start, the run's events drawn at
10 Hz within a time budget, prompts handed to the prompt panel, pause/resume, Abort and
closing confirmed (closing pauses), the overall verdict, drafting the certificate.

:class:`BenchRunMixin` is mixed into :class:`ui.views.bench.BenchView`, which owns the
widgets it uses.
"""

from __future__ import annotations

import gc
import queue
import time
from typing import TYPE_CHECKING

from PySide6.QtGui import QColor
from PySide6.QtWidgets import QMessageBox

from lims.engine.events import (
    Event,
    Message,
    PromptRequested,
    ReadingsCommitted,
    ResultRecorded,
    StateChanged,
    StepFinished,
    StepStarted,
)
from lims.models.enums import RunStatus
from lims.quality.permissions import Permission, can
from ui.i18n import engine_text, tr
from ui.readings import PlotPoint
from ui.results_table import line_from_record, overall
from ui.widgets import GREEN, WidgetMixin

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import ClassVar

    from PySide6.QtCore import QTimer, Signal
    from PySide6.QtWidgets import (
        QCheckBox,
        QComboBox,
        QLabel,
        QListWidget,
        QProgressBar,
        QPushButton,
    )

    from ui.bench_session import BenchPlan, BenchSession
    from ui.context import AppContext
    from ui.live_plot import LivePlot
    from ui.prompt_panel import PromptPanel
    from ui.results_table import OverallResultBanner, ResultLine, ResultsTable
    from ui.widgets import MessageLine

#: How often the run's events are drawn (10 Hz), and the most work one tick may do.
DRAIN_INTERVAL_MS = 100
DRAIN_BUDGET_S = 0.015

#: Run states after which nothing more happens.
FINAL = (RunStatus.COMPLETED, RunStatus.ABORTED, RunStatus.FAILED, RunStatus.REFUSED)
#: Keyboard shortcuts of the run's controls.
SHORTCUTS = {"preflight": "F5", "start": "F6", "pause": "F7", "abort": "F8"}


def status_text(status: RunStatus) -> str:
    """A run state in words."""
    return tr(f"run.status.{status.value}")


class BenchRunMixin(WidgetMixin):
    """The running part of the bench view (see the module docstring)."""

    # What the bench view provides: its context, the run's state and its widgets.
    ctx: AppContext
    plan: BenchPlan | None
    auto_keys: frozenset[str]
    session: BenchSession | None
    results: list[ResultRecorded]
    lines: list[ResultLine]
    status: RunStatus | None
    status_reason: str
    drafted_run: int | None
    leaving: bool
    confirm: Callable[[str, str], bool]
    drafted: ClassVar[Signal]
    item: QComboBox
    bench: QComboBox
    auto: QCheckBox
    refresh_button: QPushButton
    check_button: QPushButton
    start_button: QPushButton
    pause_button: QPushButton
    resume_button: QPushButton
    abort_button: QPushButton
    draft_button: QPushButton
    state_label: QLabel
    steps: QListWidget
    progress: QProgressBar
    banner: OverallResultBanner
    results_table: ResultsTable
    prompt_panel: PromptPanel
    message: MessageLine
    timer: QTimer
    _live: LivePlot | None

    if TYPE_CHECKING:

        @property
        def live(self) -> LivePlot:
            """The live plot (created when first needed)."""

    # -- running -----------------------------------------------------------------------
    def start_run(self, time_scale: float | None = None) -> None:
        """Start the planned run (only when every preflight check passed)."""
        if self.session is not None and self.session.running:
            return
        if self.plan is None or not self.plan.ready:
            self.message.error(tr("bench.not_ready"))
            return
        self.results.clear()
        self.lines.clear()
        self._show_results()
        self.live.reset(
            self.plan.plot_unit,
            self.plan.plot_range,
            self.plan.band_halfwidth,
            self.plan.band_samples,
        )
        from ui.bench_session import BenchSession  # loaded already by the preflight

        gc.freeze()  # what the preflight loaded stays: no full collection walks it mid-run

        self.leaving = False
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
                self._run_moved_on()
                self.live.add(ev)
            else:
                self._on_event(ev)
        if self._live is not None:
            self._live.redraw()
        if not session.running and session.events.empty():
            self.timer.stop()
            self.prompt_panel.clear()
            self._update_buttons()

    def _run_moved_on(self) -> None:
        """The run went on: a prompt still shown was answered already (automatically)."""
        if self.prompt_panel.prompt is not None:
            self.prompt_panel.clear()

    def _on_event(self, ev: Event | BaseException) -> None:
        if isinstance(ev, BaseException):
            self.message.error(str(ev))
        elif isinstance(ev, StepStarted):
            self._run_moved_on()
            self._mark_step(ev.index - 1, "▶")
        elif isinstance(ev, StepFinished):
            self._run_moved_on()
            self._mark_step(ev.index - 1, "✔")
            self.progress.setValue(ev.index)
        elif isinstance(ev, ResultRecorded):
            self._run_moved_on()
            self.results.append(ev)
            self.lines.append(line_from_record(ev.record))
            self._show_results()
        elif isinstance(ev, StateChanged):
            self.status = ev.new
            self.status_reason = ev.reason
            if ev.new in FINAL:
                self.prompt_panel.clear()
            if ev.new in (RunStatus.REFUSED, RunStatus.FAILED):
                self.message.error(f"{status_text(ev.new)}: {ev.reason}")
            self._show_state()
            self._show_results()
            self._update_buttons()
        elif isinstance(ev, PromptRequested):
            answered_by_bench = (
                self.session is not None
                and self.session.auto
                and ev.key in self.auto_keys
                and not ev.error
            )
            if answered_by_bench:
                self.prompt_panel.clear()
            else:
                self.prompt_panel.show_prompt(ev)
        elif isinstance(ev, Message) and ev.level != "info":
            self.message.error(engine_text(ev.key, ev.text, dict(ev.params)))
        elif isinstance(ev, ReadingsCommitted):
            pass  # durable now; nothing to draw

    def _answer(self, prompt_id: int, value: object) -> None:
        if self.session is not None:
            self.session.answer(prompt_id, value)

    def _mark_step(self, row: int, mark: str) -> None:
        item = self.steps.item(row)
        if item is not None:
            item.setText(mark + item.text()[1:])
            if mark == "✔":
                item.setBackground(GREEN)
            else:
                item.setBackground(QColor("#fff3c4"))

    def _show_state(self) -> None:
        if self.status is None:
            self.state_label.setText("")
            return
        reason = f" — {self.status_reason}" if self.status_reason else ""
        self.state_label.setText(f"{tr('std.col.status')}: {status_text(self.status)}{reason}")
        self.state_label.setToolTip(self.state_label.text())

    def _show_results(self) -> None:
        self.results_table.show_lines(self.lines)
        finished = self.status in FINAL and self.lines
        self.banner.show_verdict(overall(self.lines) if finished else None)

    def _update_buttons(self) -> None:
        running = self.session is not None and self.session.running
        self.item.setEnabled(not running)
        self.bench.setEnabled(not running)
        self.refresh_button.setEnabled(not running)
        self.start_button.setEnabled(self.plan is not None and self.plan.ready and not running)
        self.check_button.setEnabled(not running)
        self.pause_button.setEnabled(running and self.status is RunStatus.RUNNING)
        self.resume_button.setEnabled(running and self.status is RunStatus.PAUSED)
        self.abort_button.setEnabled(running)
        user = self.ctx.user
        may_draft = user is not None and can(user, Permission.SIGN_PERFORMED)
        self.draft_button.setEnabled(
            not running
            and self.status is RunStatus.COMPLETED
            and self.finished_run_id is not None
            and self.finished_run_id != self.drafted_run
            and may_draft
        )
        self.draft_button.setToolTip("" if may_draft else tr("perm.sign_performed"))

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
        rule = self.ctx.settings.cmc_rule or None
        base_url = self.ctx.settings.verification_base_url
        self.draft_button.setEnabled(False)

        def work() -> str:
            from lims.services.certificates import draft_certificate

            return draft_certificate(
                db, actor, run_id, today=today, cmc_rule=rule, verification_base_url=base_url
            ).number

        def done(number: str) -> None:
            self.drafted_run = run_id
            self.message.info(f"{tr('bench.drafted')}: {number}")
            self._update_buttons()
            self.drafted.emit(number)

        def failed(exc: Exception) -> None:
            self.message.error(str(exc))
            self._update_buttons()

        self.ctx.runner.submit(work, done, failed)

    # -- control -----------------------------------------------------------------------
    def _ask(self, title: str, text: str) -> bool:
        box = QMessageBox(QMessageBox.Icon.Question, title, text, parent=self)
        yes = box.addButton(tr("common.yes"), QMessageBox.ButtonRole.YesRole)
        no = box.addButton(tr("common.no"), QMessageBox.ButtonRole.NoRole)
        box.setDefaultButton(no)
        box.setEscapeButton(no)
        box.exec()
        return box.clickedButton() is yes

    def _pause_or_resume(self) -> None:
        if self.status is RunStatus.PAUSED:
            self.resume()
        else:
            self.pause()

    def pause(self) -> None:
        """Ask the run to hold at its next safe point."""
        if self.session is not None and self.session.running:
            self.session.pause()

    def resume(self) -> None:
        """Continue the paused run."""
        if self.session is not None and self.session.running:
            self.session.resume()

    def abort(self) -> None:
        """Abort the run at once, after the operator confirms (data so far are kept)."""
        if self.session is None or not self.session.running:
            return
        if self.confirm(tr("bench.abort.title"), tr("bench.abort.text")):
            self.session.abort()

    def confirm_leave(self) -> bool:
        """May the window close (or the user log out)? During a run, ask; yes pauses it."""
        if self.session is None or not self.session.running or self.leaving:
            return True
        if not self.confirm(tr("bench.leave.title"), tr("bench.leave.text")):
            return False
        self.leaving = True
        self.session.pause()
        return True

    def shutdown(self) -> None:
        """The window is closing: a run still going is paused (resumable), never aborted."""
        if self.session is not None and self.session.running:
            self.session.pause()
            self.timer.stop()
