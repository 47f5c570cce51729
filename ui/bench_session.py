"""Preparing and running a procedure on a bench for the GUI, off the GUI thread.

:func:`plan_run` (called on a worker thread) loads the bench file and the procedure of a
work-order item, derives the run parameters and checks the engine's rules for the
preflight list. :class:`BenchSession` opens the bench (serving a simulated one
in-process), starts the run engine on its own thread and queues the run's events; the
GUI drains the queue on a timer, so the GUI thread never waits for an instrument.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import inspect
import os
import queue
import re
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from pint import DimensionalityError

from drivers.bench import BenchConfig, load_bench, open_instruments
from lims.calc.errors import from_fiducial
from lims.cli.run_cmd import bench_parameters, default_standards
from lims.db import Database
from lims.engine import (
    Event,
    Procedure,
    ReadingTaken,
    RunEngine,
    RunHandle,
    RunRequest,
    bench_auto_answerer,
    discover_procedures,
)
from lims.engine.engine import ENVIRONMENT_ROLE, with_stored_release
from lims.engine.rules import (
    check_environment,
    check_operator,
    check_reference_material,
    check_regulation_table,
    check_standard,
    read_environment,
)
from lims.models import WorkOrderItem
from lims.models.enums import RunStatus
from lims.models.users import User
from lims.quality.permissions import Permission, require
from lims.services.work_orders import InterruptedRun
from lims.units import ureg
from ui.readings import PlotPoint, plot_value
from ui.sim_process import SimProcess


@dataclass(frozen=True)
class CheckLine:
    """One line of the preflight checklist."""

    what: str
    ok: bool
    reason: str = ""


@dataclass(frozen=True)
class BenchPlan:
    """A run ready to start: what will run where, and the preflight checklist."""

    item_id: int
    procedure_id: str
    procedure_title: str
    bench_path: Path
    bench_name: str
    simulated: bool
    parameters: dict[str, str]
    standards: list[str]
    materials: list[str]
    steps: list[tuple[str, str]]
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


def _procedure(cls: type[Procedure], raw: Mapping[str, str]) -> Procedure:
    if "parameters" in inspect.signature(cls.__init__).parameters:
        return cls(None, parameters=dict(raw))  # type: ignore[call-arg]
    return cls(None)


def _materials(parameters: Mapping[str, str]) -> list[str]:
    """Reference-material tags named by gas parameters (``"RM-CO2-0400 @ 400 µmol/mol"``)."""
    tags = []
    for key, value in parameters.items():
        if key == "zero_gas" or key.startswith("gas_"):
            m = re.match(r"\s*([^@;\s]+)\s*@", value)
            if m:
                tags.append(m[1])
    return list(dict.fromkeys(tags))


def _environment_line(bench: BenchConfig, table: Any, roles: Mapping[str, str]) -> CheckLine:
    """Read the bench's environment monitor now and check it against the table's limits.

    The engine checks the environment again when the run starts (and records it); this
    line tells the operator beforehand. Called on a worker thread (it talks to the monitor).
    """
    what = "环境条件 environment"
    limits = table.environment
    if not limits:
        return CheckLine(f"{what}: 规程无要求 no limits in the table", True)
    monitors = [n for n, c in bench.instruments.items() if c.role == ENVIRONMENT_ROLE]
    if ENVIRONMENT_ROLE not in roles.values() or len(monitors) != 1:
        return CheckLine(what, False, "无环境监测仪 no environment monitor is bound")
    name = monitors[0]
    only_monitor = dataclasses.replace(bench, instruments={name: bench.instruments[name]})
    try:
        with bench_instruments(only_monitor) as (opened, _sim):
            values = read_environment(opened[name], limits)
    except Exception as exc:  # shown on the checklist: the run cannot start without it
        return CheckLine(what, False, f"环境读取失败 environment not readable: {exc}")
    fails = check_environment(values, limits)
    shown = ", ".join(f"{k} {v:.3g~P}" for k, v in values.items() if v is not None)
    return CheckLine(f"{what} {shown}", not fails, "; ".join(f.reason for f in fails))


def _preflight(
    db: Database,
    actor: User,
    procedure_id: str,
    table: Any,
    bench: BenchConfig,
    standards: list[str],
    materials: list[str],
    today: date,
    roles: Mapping[str, str],
) -> list[CheckLine]:
    """The engine's rule checks for a run, one line each (the environment read now)."""
    checks: list[CheckLine] = []
    with db.read() as s:
        for tag in standards:
            fails = check_standard(s, tag, today)
            checks.append(
                CheckLine(f"计量标准 standard {tag}", not fails, "; ".join(f.reason for f in fails))
            )
        for tag in materials:
            fails = check_reference_material(s, tag, today)
            checks.append(
                CheckLine(
                    f"标准物质 reference material {tag}",
                    not fails,
                    "; ".join(f.reason for f in fails),
                )
            )
        fails = check_operator(s, actor.username, procedure_id, today)
        checks.append(
            CheckLine(
                f"授权 authorization {actor.username}",
                not fails,
                "; ".join(f.reason for f in fails),
            )
        )
    fails = check_regulation_table(table, simulated=bench.simulated, practice=False)
    checks.append(
        CheckLine(
            f"规程表 regulation table {table.version}",
            not fails,
            "; ".join(f.reason for f in fails),
        )
    )
    checks.append(_environment_line(bench, table, roles))
    return checks


def plan_run(db: Database, actor: User, item_id: int, bench_path: Path, today: date) -> BenchPlan:
    """Prepare a run of ``item_id``'s procedure on ``bench_path`` and check the rules."""
    require(actor, Permission.RUN_PROCEDURE)
    bench = load_bench(bench_path)
    registry = discover_procedures()
    with db.read() as s:
        item = s.get(WorkOrderItem, item_id)
        if item is None:
            raise ValueError(f"work-order item {item_id} does not exist")
        procedure_id = item.procedure_id
        eq = item.equipment
        span = None
        if eq.range_max is not None and eq.range_unit:
            span = ureg.Quantity(eq.range_max - (eq.range_min or 0.0), eq.range_unit)
        s.expunge(item)
        cls = registry.get(procedure_id)
        table = with_stored_release(s, _procedure(cls, {}).table)
        setup = plot_setup(table, eq)
    params = bench_parameters(db, cls, table, bench, item, span)
    proc = _procedure(cls, params)
    standards = default_standards(db, bench)
    materials = _materials(params)
    checks = _preflight(
        db, actor, procedure_id, table, bench, standards, materials, today, proc.roles
    )
    return BenchPlan(
        item_id=item_id,
        procedure_id=procedure_id,
        procedure_title=f"{cls.title_zh} {cls.title_en}",
        bench_path=bench_path,
        bench_name=bench.name,
        simulated=bench.simulated,
        parameters=params,
        standards=standards,
        materials=materials,
        steps=[(st.name, st.title) for st in proc.steps()],
        checks=checks,
        plot_unit=setup.unit,
        plot_range=setup.range,
        band_halfwidth=setup.band_halfwidth,
        band_samples=setup.band_samples,
    )


def plan_resume(
    db: Database, actor: User, run: InterruptedRun, bench_path: Path, today: date
) -> BenchPlan:
    """Prepare to continue an interrupted run on ``bench_path`` and check the rules again."""
    require(actor, Permission.RUN_PROCEDURE)
    bench = load_bench(bench_path)
    cls = discover_procedures().get(run.procedure_id)
    proc = _procedure(cls, run.parameters)
    setup = PlotSetup()
    with db.read() as s:
        table = with_stored_release(s, proc.table)
        item = s.get(WorkOrderItem, run.item_id) if run.item_id is not None else None
        if item is not None:
            setup = plot_setup(table, item.equipment)
    checks = _preflight(
        db, actor, run.procedure_id, table, bench, run.standards, run.materials, today, proc.roles
    )
    names = [st.name for st in proc.steps()]
    if run.last_completed_step is not None and run.last_completed_step not in names:
        raise ValueError(
            f"run {run.run_id}: its last completed step {run.last_completed_step!r} is not a "
            f"step of procedure {run.procedure_id}"
        )
    return BenchPlan(
        item_id=run.item_id or 0,
        procedure_id=run.procedure_id,
        procedure_title=f"{cls.title_zh} {cls.title_en}",
        bench_path=bench_path,
        bench_name=bench.name,
        simulated=bench.simulated,
        parameters=dict(run.parameters),
        standards=list(run.standards),
        materials=list(run.materials),
        steps=[(st.name, st.title) for st in proc.steps()],
        checks=checks,
        plot_unit=setup.unit,
        plot_range=setup.range,
        band_halfwidth=setup.band_halfwidth,
        band_samples=setup.band_samples,
        resume_run_id=run.run_id,
    )


@contextmanager
def bench_instruments(bench: BenchConfig) -> Iterator[tuple[dict[str, Any], Any]]:
    """Connect the bench's instruments; a simulated bench is served by a child process."""
    sim: SimProcess | None = None
    if bench.simulated:
        sim = SimProcess(Path(bench.path), bench.time_scale).start()
    try:
        opened = dict(open_instruments(bench, sim.addresses if sim else None))
        try:
            yield opened, sim
        finally:
            for inst in opened.values():
                with contextlib.suppress(Exception):  # best effort: the run has ended
                    inst.close()
    finally:
        if sim is not None:
            sim.stop()


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
            bench: BenchConfig = load_bench(self.plan.bench_path)
            if self.time_scale is not None:
                bench = dataclasses.replace(bench, time_scale=self.time_scale)
            cls = discover_procedures().get(self.plan.procedure_id)
            proc = _procedure(cls, self.plan.parameters)
            with bench_instruments(bench) as (opened, sim):
                instruments: dict[str, Any] = {}
                for slot, role in proc.roles.items():
                    names = [
                        n for n, c in bench.instruments.items() if c.role == role and n in opened
                    ]
                    if len(names) != 1:
                        raise ValueError(
                            f"{bench.name}: needs one {role!r} instrument for {slot!r}"
                        )
                    instruments[slot] = opened[names[0]]
                auto = (
                    bench_auto_answerer(bench.auto, sim) if self.auto and bench.simulated else None
                )
                request = RunRequest(
                    procedure=proc,
                    instruments=instruments,
                    operator=self.operator,
                    bench_name=bench.name,
                    simulated=bench.simulated,
                    time_scale=bench.time_scale,
                    bench_sha256=hashlib.sha256(self.plan.bench_path.read_bytes()).hexdigest(),
                    parameters=self.plan.parameters,
                    standards=self.plan.standards,
                    reference_materials=self.plan.materials,
                    work_order_item_id=self.plan.item_id,
                    auto_answer=auto,
                    run_date=self.run_date,
                )
                engine = RunEngine(self.db)
                if self.plan.resume_run_id is not None:
                    self.handle = engine.resume(
                        self.plan.resume_run_id,
                        instruments,
                        procedure=proc,
                        auto_answer=auto,
                        time_scale=bench.time_scale,
                        run_date=self.run_date,
                        subscribers=[self._publish],
                    )
                else:
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
        """Queue an event for the GUI; a reading goes as a plot point in the plot's unit."""
        if isinstance(ev, ReadingTaken):
            y = plot_value(ev.value, self.plan.plot_unit)
            if y is not None:
                self.events.put(PlotPoint(ev.quantity, ev.seq, y))
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
