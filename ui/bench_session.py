"""Preparing and running a procedure on a bench for the GUI, off the GUI thread.

:func:`plan_run` (called on a worker thread) loads the bench file and the procedure of a
work-order item, derives the run parameters and checks the engine's rules for the
preflight list. :class:`BenchSession` opens the bench (serving a simulated one
in-process), starts the run engine on its own thread and queues the run's events; the
GUI drains the queue on a timer, so the GUI thread never waits for an instrument.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import queue
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from drivers.bench import BenchConfig, load_bench
from lims.cli.run_cmd import bench_instruments, bench_parameters, default_standards
from lims.db import Database
from lims.engine import (
    Event,
    Procedure,
    RunEngine,
    RunHandle,
    RunRequest,
    bench_auto_answerer,
    discover_procedures,
)
from lims.engine.rules import (
    check_operator,
    check_reference_material,
    check_regulation_table,
    check_standard,
)
from lims.models import WorkOrderItem
from lims.models.enums import RunStatus
from lims.models.users import User
from lims.quality.permissions import Permission, require
from lims.services.work_orders import InterruptedRun
from lims.units import ureg


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
    #: Set when this plan continues an interrupted run.
    resume_run_id: int | None = None

    @property
    def ready(self) -> bool:
        """True when every preflight check passed."""
        return all(c.ok for c in self.checks)


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


def _preflight(
    db: Database,
    actor: User,
    procedure_id: str,
    table: Any,
    bench: BenchConfig,
    standards: list[str],
    materials: list[str],
    today: date,
) -> list[CheckLine]:
    """The engine's rule checks for a run, one line each (environment: checked at start)."""
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
        plot_unit = eq.range_unit
        span = None
        if eq.range_max is not None and eq.range_unit:
            span = ureg.Quantity(eq.range_max - (eq.range_min or 0.0), eq.range_unit)
        s.expunge(item)
    cls = registry.get(procedure_id)
    table = _procedure(cls, {}).table
    params = bench_parameters(db, cls, table, bench, item, span)
    proc = _procedure(cls, params)
    standards = default_standards(db, bench)
    materials = _materials(params)
    checks = _preflight(db, actor, procedure_id, table, bench, standards, materials, today)
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
        plot_unit=plot_unit,
    )


def plan_resume(
    db: Database, actor: User, run: InterruptedRun, bench_path: Path, today: date
) -> BenchPlan:
    """Prepare to continue an interrupted run on ``bench_path`` and check the rules again."""
    require(actor, Permission.RUN_PROCEDURE)
    bench = load_bench(bench_path)
    cls = discover_procedures().get(run.procedure_id)
    proc = _procedure(cls, run.parameters)
    plot_unit = None
    if run.item_id is not None:
        with db.read() as s:
            item = s.get(WorkOrderItem, run.item_id)
            plot_unit = item.equipment.range_unit if item is not None else None
    checks = _preflight(
        db, actor, run.procedure_id, proc.table, bench, run.standards, run.materials, today
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
        plot_unit=plot_unit,
        resume_run_id=run.run_id,
    )


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
        self.events: queue.SimpleQueue[Event | BaseException] = queue.SimpleQueue()
        self.handle: RunHandle | None = None
        self.final_status: RunStatus | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-session", daemon=True)

    def start(self) -> None:
        """Open the bench and start the run on the session's thread."""
        self._thread.start()

    def _run(self) -> None:
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
                        subscribers=[self.events.put],
                    )
                else:
                    self.handle = engine.start(request, subscribers=[self.events.put])
                self._started.set()
                while (status := self.handle.wait(0.1)) is None:
                    pass
                self.final_status = status
        except BaseException as exc:  # reported to the GUI, which shows it
            self.events.put(exc)
        finally:
            self._started.set()

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
