"""Preparing and running a procedure on a bench for the GUI, off the GUI thread.

:func:`plan_run` (called on a worker thread) plans the run through :mod:`lims.services.planning`
— the same service the command line uses — connects the bench and checks the preflight
list. :class:`BenchSession` connects the bench again (serving a simulated one in a child
process), plans again (the run starts only under the plan the technician saw), starts the
run engine on its own thread and queues the run's events; the GUI drains the queue on a
timer, so the GUI thread never waits for an instrument.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pint import DimensionalityError

from lims.calc.errors import from_fiducial
from lims.db import Database
from lims.engine import Event, ReadingTaken, RunEngine, RunHandle, RunRequest, bench_auto_answerer
from lims.engine.sim_process import SimProcess
from lims.models import Run, WorkOrderItem
from lims.models.enums import RunStatus
from lims.models.users import User
from lims.quality.permissions import Permission, require
from lims.services.benches import BenchConfig
from lims.services.planning.bench import open_bench
from lims.services.planning.preflight import CheckLine, preflight
from lims.services.planning.service import PlannedRun, PlanRequest, replan_run
from lims.services.planning.service import plan_run as plan_from_records
from lims.services.work_orders import InterruptedRun
from lims.units import ureg
from ui.readings import PlotPoint, plot_point

__all__ = ["BenchPlan", "BenchSession", "CheckLine", "plan_resume", "plan_run"]


@dataclass(frozen=True)
class BenchPlan:
    """A run ready to start: its plan, the preflight checklist and what the plot needs."""

    planned: PlannedRun
    bench_path: Path
    checks: list[CheckLine] = field(default_factory=list)
    #: The unit of the item's range: readings of its dimension are plotted, in it.
    plot_unit: str | None = None
    #: The item's range in ``plot_unit`` (the plot's fixed vertical extent).
    plot_range: tuple[float, float] | None = None
    #: The stability band: half the allowed spread in ``plot_unit``, over how many samples.
    band_halfwidth: float | None = None
    band_samples: int = 20
    #: Set when this plan continues an interrupted run.
    resume_run_id: int | None = None

    @property
    def item_id(self) -> int:
        """The work-order item."""
        return self.planned.plan.item.item_id

    @property
    def procedure_id(self) -> str:
        """The procedure run."""
        return self.planned.plan.procedure_id

    @property
    def procedure_title(self) -> str:
        """The procedure's title, Chinese and English."""
        proc = self.planned.procedure
        return f"{proc.title_zh} {proc.title_en}"

    @property
    def bench_name(self) -> str:
        """The bench's name."""
        return self.planned.plan.bench_name

    @property
    def simulated(self) -> bool:
        """Whether the bench is simulated."""
        return self.planned.plan.simulated

    @property
    def parameters(self) -> dict[str, str]:
        """The plan's parameters as text."""
        return self.planned.plan.parameter_texts

    @property
    def standards(self) -> list[str]:
        """Standards used."""
        return list(self.planned.plan.standard_tags)

    @property
    def materials(self) -> list[str]:
        """Reference materials used."""
        return list(self.planned.plan.material_tags)

    @property
    def steps(self) -> list[tuple[str, str]]:
        """(name, title) of every step."""
        return [(n, t) for n, t in self.planned.plan.steps]

    @property
    def ready(self) -> bool:
        """True when every preflight check passed."""
        return all(c.ok for c in self.checks)


#: How much lower than the GUI the run's threads and the simulated bench are scheduled
#: (Linux "nice" increment): the bench's work waits a little, the window never does.
BACKGROUND_NICE = 5


def lower_thread_priority(increment: int = BACKGROUND_NICE) -> None:
    """Schedule the calling thread (and the threads it starts) below the GUI (Linux)."""
    if sys.platform != "linux":
        return
    tid = threading.get_native_id()
    with contextlib.suppress(OSError):  # not permitted: run at the normal priority
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + increment)


@dataclass(frozen=True)
class PlotSetup:
    """What the live plot needs from the item and the regulation table."""

    unit: str | None = None
    range: tuple[float, float] | None = None
    band_halfwidth: float | None = None
    band_samples: int = 20


def plot_setup(table: Any, eq: Any) -> PlotSetup:
    """The plot's unit and range from the item; the stability band from the table.

    The band is the table's ``stability_spread`` (absolute, or %FS of the item's span)
    over ``stability_window / sampling_interval`` samples; absent limits mean no band.
    """
    unit = eq.range_unit
    if unit is None or eq.range_max is None:
        return PlotSetup(unit)
    low = eq.range_min or 0.0
    span = ureg.Quantity(eq.range_max - low, unit)
    half: float | None = None
    samples = 20
    try:
        spread = table.limits["stability_spread"].value
        if spread.dimensionality == ureg.Quantity(1, "percent_FS").dimensionality:
            spread = from_fiducial(spread, span)
        half = float(spread.to(unit).magnitude) / 2
        window = table.limits["stability_window"].value
        interval = table.limits["sampling_interval"].value
        samples = max(2, round(float((window / interval).to("").magnitude)))
    except (KeyError, AttributeError, DimensionalityError):
        pass  # this table has no stability band in the plot's unit
    return PlotSetup(unit, (low, float(eq.range_max)), half, samples)


@contextmanager
def _serve_in_child(bench: BenchConfig, virtual: bool, start: datetime | None) -> Iterator[Any]:
    """Serve a simulated bench in a child process (its physics off the GUI's interpreter)."""
    sim = SimProcess(
        Path(bench.path), bench.time_scale, virtual_clock=virtual, clock_start=start
    ).start()
    try:
        yield sim
    finally:
        sim.stop()


def _plot(planned: PlannedRun, db: Database) -> PlotSetup:
    with db.read() as s:
        item = s.get(WorkOrderItem, planned.plan.item.item_id)
        if item is None:
            return PlotSetup()
        return plot_setup(planned.procedure.table, item.equipment)


def _bench_plan(
    db: Database, planned: PlannedRun, bench_path: Path, today: date, resume: int | None
) -> BenchPlan:
    """Connect the bench to read the instrument's identity and the environment, check."""
    with open_bench(planned.bench, serve=_serve_in_child) as opened:
        checks = preflight(db, planned, today, opened.instruments)
    setup = _plot(planned, db)
    return BenchPlan(
        planned=planned,
        bench_path=bench_path,
        checks=checks,
        plot_unit=setup.unit,
        plot_range=setup.range,
        band_halfwidth=setup.band_halfwidth,
        band_samples=setup.band_samples,
        resume_run_id=resume,
    )


def plan_run(db: Database, actor: User, item_id: int, bench_path: Path, today: date) -> BenchPlan:
    """Plan a run of ``item_id``'s procedure on ``bench_path`` and check the preflight list
    (on a worker thread). A bench that does not fit raises
    :class:`lims.services.planning.PlanError`."""
    require(actor, Permission.RUN_PROCEDURE)
    planned = plan_from_records(
        db, PlanRequest(item_id=item_id, bench_path=bench_path, operator=actor.username)
    )
    return _bench_plan(db, planned, bench_path, today, None)


def plan_resume(
    db: Database, actor: User, run: InterruptedRun, bench_path: Path, today: date
) -> BenchPlan:
    """Re-plan an interrupted run on ``bench_path``; refused when its plan changed."""
    require(actor, Permission.RUN_PROCEDURE)
    planned, changes = replan_run(db, run.run_id, bench_path)
    if changes:
        raise ValueError(
            f"run {run.run_id} cannot be resumed: its plan changed since it started — "
            + "; ".join(changes[:6])
        )
    return _bench_plan(db, planned, bench_path, today, run.run_id)


class BenchSession:
    """One run on a bench: its own thread opens the bench and watches the engine.

    Events land in :attr:`events` (a thread-safe queue) for the GUI to drain; the run is
    controlled through :meth:`pause`, :meth:`resume`, :meth:`abort` and :meth:`answer`.
    """

    def __init__(
        self,
        db: Database,
        plan: BenchPlan,
        operator: str,
        *,
        auto: bool = False,
        time_scale: float | None = None,
        run_date: date | None = None,
    ) -> None:
        self.db = db
        self.plan = plan
        self.operator = operator
        self.auto = auto
        self.time_scale = time_scale
        self.run_date = run_date
        self.events: queue.SimpleQueue[Event | PlotPoint | BaseException] = queue.SimpleQueue()
        self.handle: RunHandle | None = None
        self.final_status: RunStatus | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-session", daemon=True)

    def start(self) -> None:
        """Open the bench and start the run on the session's thread."""
        self._thread.start()

    def _run(self) -> None:
        lower_thread_priority()  # the engine's run and writer threads inherit it
        try:
            plan = self.plan
            if plan.resume_run_id is None:
                planned = plan_from_records(
                    self.db,
                    PlanRequest(
                        item_id=plan.item_id, bench_path=plan.bench_path, operator=self.operator
                    ),
                )
                if planned.plan.sha256 != plan.planned.plan.sha256:
                    raise ValueError(
                        "记录已变更 the lab's records changed since the preflight: run the "
                        "preflight again"
                    )
            else:
                planned = plan.planned
            pacing = (
                self.time_scale
                if self.time_scale is not None
                else planned.bench.time_scale
                if planned.bench.simulated
                else 0.0
            )
            clock_start = None
            if plan.resume_run_id is not None:
                with self.db.read() as s:
                    run = s.get(Run, plan.resume_run_id)
                    started = run.provenance.get("clock_start") if run is not None else None
                clock_start = datetime.fromisoformat(started) if started else None
            with open_bench(
                planned.bench, serve=_serve_in_child, pacing=pacing, clock_start=clock_start
            ) as opened:
                instruments = opened.bind(planned)
                auto = (
                    bench_auto_answerer(planned.bench.auto, opened.simulator)
                    if self.auto and planned.bench.simulated
                    else None
                )
                engine = RunEngine(self.db)
                if plan.resume_run_id is not None:
                    self.handle = engine.resume(
                        plan.resume_run_id,
                        instruments,
                        procedure=planned.procedure,
                        plan=planned.plan,
                        auto_answer=auto,
                        clock=opened.clock,
                        run_date=self.run_date,
                        subscribers=[self._publish],
                        simulator=opened.simulator,
                    )
                else:
                    request = RunRequest.from_plan(
                        planned.plan,
                        planned.procedure,
                        instruments,
                        clock=opened.clock,
                        auto_answer=auto,
                        run_date=self.run_date,
                        simulator=opened.simulator,
                    )
                    self.handle = engine.start(request, subscribers=[self._publish])
                self._started.set()
                while (status := self.handle.wait(0.1)) is None:
                    pass
                self.final_status = status
        except BaseException as exc:  # reported to the GUI, which shows it
            self.events.put(exc)
        finally:
            self._started.set()

    def _publish(self, ev: Event) -> None:
        """Queue an event for the GUI; a reading goes as a plot point on the axis of its
        kind of quantity, in its own unit (:func:`ui.readings.plot_point`)."""
        if isinstance(ev, ReadingTaken):
            p = plot_point(ev.quantity, ev.seq, ev.value, self.plan.plot_unit, ev.step)
            if p is not None:
                self.events.put(p)
            return
        self.events.put(ev)

    def wait_started(self, timeout_s: float = 30.0) -> bool:
        """Block until the run has a handle (or failed to start); for tests and shutdown."""
        return self._started.wait(timeout_s)

    def join(self, timeout_s: float | None = None) -> bool:
        """Wait for the session's thread; True when it has ended."""
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        """Whether the session's thread is still alive."""
        return self._thread.is_alive()

    def pause(self) -> None:
        """Hold at the next safe point."""
        if self.handle is not None:
            self.handle.pause()

    def resume(self) -> None:
        """Continue a paused run."""
        if self.handle is not None:
            self.handle.resume()

    def abort(self) -> None:
        """Abort at once (instruments to their safe state)."""
        if self.handle is not None:
            self.handle.abort()

    def answer(self, prompt_id: int, value: Any) -> None:
        """Answer an operator prompt."""
        if self.handle is not None:
            self.handle.answer(prompt_id, value)
