"""The run engine: runs a procedure's steps on a worker thread, free of Qt.

States: ``queued → running ⇄ paused → completed / aborted / failed``, and ``refused``
when a rule check fails (before the run or before a step that uses the rule).

* **pause** holds at the next safe point (an instrument call, a wait, a prompt) and is
  resumable in place; **stop** finishes the current step, then ends the run as
  *aborted (stopped by operator)* with everything measured kept; **abort** cancels the
  current wait or prompt at once (a driver call in progress finishes within its
  timeout), brings every instrument to ``safe_state()`` and ends the run as *aborted*.
* An :class:`~drivers.errors.InstrumentError` (timeout, protocol error, ...) in a step
  brings the instruments to their safe state and **pauses** the run with the message;
  :meth:`RunHandle.resume` retries that step from its beginning. Readings of the failed
  attempt stay in the database (nothing is ever deleted) but only the readings of the
  attempt that completed count for the step.
* Every instrument's ``safe_state()`` runs in a ``finally`` whatever ends the run.
* At every step boundary the engine waits until the writer has committed all the step's
  readings, then commits, in one transaction, the step's results, the step's reading range
  (``provenance["steps"]``) and ``Run.last_completed_step``.
* **One owner per run.** Starting or resuming takes the run's lease in the database
  (:mod:`lims.engine.lease`); a second process is refused with who holds it.
* **The plan is frozen with the run.** A run started from a :class:`~lims.services.planning.RunPlan`
  stores its canonical JSON and SHA-256 and its exact regulation table;
  :meth:`RunEngine.resume` continues only under an identical plan, under that table.

Usage::

    planned = plan_run(db, PlanRequest(item_id=1, bench_path=..., operator="zhang"))
    handle = RunEngine(db).start(RunRequest.from_plan(planned, instruments, clock=clock))
    status = handle.wait()
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lims.db import Database
from lims.engine.clock import RunClock, ScaledClock
from lims.engine.context import AutoAnswerer, RecordedReading
from lims.engine.errors import EngineError, ResumeError
from lims.engine.events import Event
from lims.engine.handle import RunHandle
from lims.engine.journal import seal_journal
from lims.engine.lease import RunLeaseKeeper
from lims.engine.regulation import RegulationTable, Release, parse_regulation_table
from lims.engine.runner import (
    ENVIRONMENT_ROLE,
    FINAL_STATES,
    RESUMABLE_STATES,
    Runner,
    RunSetup,
)
from lims.engine.sdk import Procedure, ProcedureRegistry, discover_procedures
from lims.models import (
    InstrumentExchange,
    ProcedureVersion,
    Reading,
    ReleaseStatus,
    Run,
    RunStatus,
    User,
)
from lims.models import (
    Procedure as ProcedureRow,
)
from lims.models import (
    RegulationTable as RegulationTableRow,
)
from lims.services.work_order_status import run_started
from lims.units import from_storage

if TYPE_CHECKING:
    from lims.services.planning.model import RunPlan

__all__ = [
    "ENVIRONMENT_ROLE",
    "FINAL_STATES",
    "RESUMABLE_STATES",
    "RunEngine",
    "RunHandle",
    "RunRequest",
    "bench_auto_answerer",
    "register_procedure",
    "table_row_id",
    "with_stored_release",
]


@dataclass
class RunRequest:
    """Everything needed to start a run.

    ``instruments`` maps the procedure's role slots to connected drivers (or fakes). With a
    ``plan`` (how the command line, the desktop app and the demo start runs) the parameters,
    standards, materials and equipment are the plan's and the plan is stored with the run;
    without one (engine tests) they are given here. ``clock`` is the run's clock (a
    simulator's virtual clock on a simulated bench); None: wall time × ``time_scale``.
    """

    procedure: Procedure
    instruments: Mapping[str, Any]
    operator: str
    bench_name: str
    simulated: bool
    time_scale: float = 1.0
    practice: bool = False
    bench_sha256: str = ""
    parameters: Mapping[str, str] = field(default_factory=dict)
    standards: Sequence[str] = ()
    reference_materials: Sequence[str] = ()
    equipment: Sequence[str] = ()
    work_order_item_id: int | None = None
    auto_answer: AutoAnswerer | None = None
    run_date: date | None = None
    plan: RunPlan | None = None
    clock: RunClock | None = None
    #: A simulated bench (``snapshot()``/``restore()``): its state is kept at each step
    #: boundary so that a resumed run continues exactly as an uninterrupted one would.
    simulator: Any | None = None

    @classmethod
    def from_plan(
        cls,
        plan: RunPlan,
        procedure: Procedure,
        instruments: Mapping[str, Any],
        *,
        clock: RunClock | None = None,
        auto_answer: AutoAnswerer | None = None,
        run_date: date | None = None,
        practice: bool = False,
        simulator: Any | None = None,
    ) -> RunRequest:
        """The request that runs ``plan`` (with its procedure bound to it)."""
        return cls(
            procedure=procedure,
            instruments=instruments,
            operator=plan.operator,
            bench_name=plan.bench_name,
            simulated=plan.simulated,
            practice=practice,
            bench_sha256=plan.bench_sha256,
            parameters=plan.parameter_texts,
            standards=plan.standard_tags,
            reference_materials=plan.material_tags,
            equipment=plan.equipment_tags,
            work_order_item_id=plan.item.item_id,
            auto_answer=auto_answer,
            run_date=run_date,
            plan=plan,
            clock=clock,
            simulator=simulator,
        )


def register_procedure(session: Session, procedure: Procedure) -> int:
    """Ensure the procedure, its regulation table and this source version are stored.

    Returns the ProcedureVersion id. A table version whose content changed is refused:
    a changed table needs a new version.
    """
    table = procedure.table
    if session.get(ProcedureRow, procedure.id) is None:
        session.add(
            ProcedureRow(
                id=procedure.id,
                title_zh=procedure.title_zh,
                title_en=procedure.title_en,
                kind=procedure.kind,
                regulation=procedure.regulation,
            )
        )
        session.flush()
    row = session.scalars(
        select(RegulationTableRow).where(
            RegulationTableRow.procedure_id == procedure.id,
            RegulationTableRow.version == table.version,
        )
    ).one_or_none()
    if row is None:
        released_by = None
        if table.release.released_by:
            released_by = session.scalars(
                select(User.id).where(User.username == table.release.released_by)
            ).one_or_none()
        row = RegulationTableRow(
            procedure_id=procedure.id,
            version=table.version,
            sha256=table.sha256,
            content=table.content,
            source=table.source,
            has_unverified=table.has_unverified,
            status=ReleaseStatus.RELEASED if table.release.released else ReleaseStatus.DRAFT,
            released_by_id=released_by,
            released_at=table.release.released_at,
            release_reason=table.release.reason,
        )
        session.add(row)
        session.flush()
    elif row.sha256 != table.sha256:
        raise EngineError(
            f"regulation table {procedure.id} version {table.version} differs from the one "
            "stored under that version: give the changed table a new version"
        )
    source_sha = procedure.source_sha256()
    pv = session.scalars(
        select(ProcedureVersion).where(
            ProcedureVersion.procedure_id == procedure.id,
            ProcedureVersion.version == procedure.version,
            ProcedureVersion.source_sha256 == source_sha,
        )
    ).one_or_none()
    if pv is None:
        pv = ProcedureVersion(
            procedure_id=procedure.id,
            version=procedure.version,
            source_sha256=source_sha,
            regulation_table_id=row.id,
        )
        session.add(pv)
        session.flush()
    return pv.id


def with_stored_release(session: Session, table: RegulationTable) -> RegulationTable:
    """``table`` carrying the release a quality manager recorded in the database, if any.

    A table file ships as a draft; its release is a decision of the lab, stored on the
    table's row (same procedure, version and SHA-256). The file's own release wins when
    it already says released.
    """
    if table.release.released:
        return table
    row = session.scalars(
        select(RegulationTableRow).where(
            RegulationTableRow.procedure_id == table.procedure,
            RegulationTableRow.version == table.version,
            RegulationTableRow.sha256 == table.sha256,
        )
    ).one_or_none()
    if row is None or row.status is not ReleaseStatus.RELEASED:
        return table
    by = session.get(User, row.released_by_id) if row.released_by_id is not None else None
    release = Release("released", by.username if by else None, row.released_at, row.release_reason)
    return dataclasses.replace(table, release=release)


def bench_auto_answerer(auto: Mapping[str, Any], simulator: Any | None = None) -> AutoAnswerer:
    """Answer prompts from a simulated bench file's ``[auto]`` table.

    ``auto`` is ``BenchConfig.auto`` (prompt key → AutoAnswer); ``peek`` answers read
    what the simulator shows a human, ``act`` answers perform the action and confirm.
    Prompts without an entry are left for a person (returns None).
    """

    def answer(prompt: Any) -> str | bool | float | None:
        spec = auto.get(prompt.key)
        if spec is None:
            return None
        if spec.literal is not None:
            return spec.literal  # type: ignore[no-any-return]
        if simulator is None:
            raise EngineError(f"prompt {prompt.key!r}: automatic answer needs the simulator")
        if spec.peek is not None:
            q = simulator.peek(*spec.peek)
            return f"{q.magnitude!r} {q.units:D}" if hasattr(q, "units") else str(q)
        inst, action, kwargs = spec.act
        simulator.act(inst, action, **kwargs)
        return True

    return answer


def table_row_id(session: Session, table: RegulationTable) -> int:
    """The id of the stored row of ``table`` (registered by :func:`register_procedure`)."""
    return int(
        session.scalars(
            select(RegulationTableRow.id).where(
                RegulationTableRow.procedure_id == table.procedure,
                RegulationTableRow.version == table.version,
            )
        ).one()
    )


class RunEngine:
    """Starts and resumes runs of the procedures in a registry."""

    def __init__(self, db: Database, registry: ProcedureRegistry | None = None) -> None:
        self.db = db
        self._registry = registry

    @property
    def registry(self) -> ProcedureRegistry:
        """The procedures known to this engine (discovered on first use)."""
        if self._registry is None:
            self._registry = discover_procedures()
        return self._registry

    def start(
        self, request: RunRequest, subscribers: Iterable[Callable[[Event], None]] = ()
    ) -> RunHandle:
        """Create the run (queued) with its lease, then check the rules and run it on a
        worker thread.

        Bad input (parameters, missing instruments, unknown operator) raises ValueError or
        EngineError and writes nothing.
        """
        proc = request.procedure
        params = proc.parse_parameters(dict(request.parameters))
        missing = [slot for slot in proc.roles if slot not in request.instruments]
        if missing:
            raise EngineError(
                f"procedure {proc.id} needs instruments for roles {', '.join(missing)}"
            )
        plan = request.plan
        reason = (
            f"run created from plan {plan.sha256[:12]} for item {plan.item.item_id}"
            if plan is not None
            else f"run created for procedure {proc.id} on {request.bench_name}"
        )
        with self.db.write(actor=request.operator, reason=reason) as s:
            user = s.scalars(select(User).where(User.username == request.operator)).one_or_none()
            if user is None:
                raise EngineError(f"unknown operator {request.operator!r}")
            pv_id = register_procedure(s, proc)
            proc.table = with_stored_release(s, proc.table)
            run = Run(
                procedure_version_id=pv_id,
                work_order_item_id=request.work_order_item_id,
                operator_id=user.id,
                bench_name=request.bench_name,
                bench_sha256=request.bench_sha256,
                simulated=request.simulated,
                practice=request.practice,
                status=RunStatus.QUEUED,
                parameters=dict(request.parameters),
                plan=plan.to_json() if plan is not None else {},
                plan_sha256=plan.sha256 if plan is not None else "",
                regulation_table_id=table_row_id(s, proc.table),
                provenance={
                    "request": {
                        "standards": list(request.standards),
                        "reference_materials": list(request.reference_materials),
                        "equipment": list(request.equipment),
                        "time_scale": request.time_scale,
                    }
                },
            )
            s.add(run)
            s.flush()
            run_id = run.id
            run_started(s, request.work_order_item_id)
        lease = RunLeaseKeeper(self.db, run_id, request.operator)
        lease.acquire("start")
        setup = RunSetup(
            run_id=run_id,
            procedure=proc,
            instruments=request.instruments,
            operator=request.operator,
            simulated=request.simulated,
            practice=request.practice,
            bench_name=request.bench_name,
            clock=request.clock or ScaledClock(request.time_scale),
            parameters=params,
            standards=request.standards,
            materials=request.reference_materials,
            equipment=request.equipment,
            auto_answer=request.auto_answer,
            run_date=request.run_date or date.today(),
            lease=lease,
            subscribers=tuple(subscribers),
            simulator=request.simulator,
        )
        return Runner(self.db, setup).start()

    def resume(
        self,
        run_id: int,
        instruments: Mapping[str, Any],
        *,
        procedure: Procedure | None = None,
        plan: RunPlan | None = None,
        auto_answer: AutoAnswerer | None = None,
        time_scale: float | None = None,
        clock: RunClock | None = None,
        run_date: date | None = None,
        subscribers: Iterable[Callable[[Event], None]] = (),
        simulator: Any | None = None,
    ) -> RunHandle:
        """Continue a run from the step after its last completed step, with its readings.

        The run's lease is taken first (:class:`~lims.engine.lease.LeaseHeldError` if another
        process executes it). The procedure source must be the one the run started with and
        the run continues under its own regulation table, whatever was released since. A run
        started from a plan continues only with ``plan`` identical to its stored one
        (:func:`lims.services.planning.replan_run` rebuilds it). The rules are checked again.
        """
        with self.db.read() as s:
            run = s.get(Run, run_id)
            if run is None:
                raise ResumeError(f"no run {run_id}")
            if run.status not in RESUMABLE_STATES:
                raise ResumeError(f"run {run_id} is {run.status.value}: it cannot be resumed")
            operator = run.operator.username
        lease = RunLeaseKeeper(self.db, run_id, operator)
        lease.acquire("resume")
        try:
            setup = self._resume_setup(
                run_id,
                instruments,
                procedure=procedure,
                plan=plan,
                auto_answer=auto_answer,
                time_scale=time_scale,
                clock=clock,
                run_date=run_date,
                subscribers=subscribers,
                lease=lease,
                simulator=simulator,
            )
        except BaseException:
            lease.release("resume refused")
            raise
        return Runner(self.db, setup).start()

    def _resume_setup(
        self,
        run_id: int,
        instruments: Mapping[str, Any],
        *,
        procedure: Procedure | None,
        plan: RunPlan | None,
        auto_answer: AutoAnswerer | None,
        time_scale: float | None,
        clock: RunClock | None,
        run_date: date | None,
        subscribers: Iterable[Callable[[Event], None]],
        lease: RunLeaseKeeper,
        simulator: Any | None,
    ) -> RunSetup:
        # acknowledged readings the crashed process had journaled join the chain first
        seal_journal(self.db, run_id, "system:run-engine")
        with self.db.read() as s:
            run = s.get(Run, run_id)
            assert run is not None
            if run.status not in RESUMABLE_STATES:  # it ended while we took the lease
                raise ResumeError(f"run {run_id} is {run.status.value}: it cannot be resumed")
            pv = run.procedure_version
            table_row = s.get(RegulationTableRow, run.regulation_table_id or pv.regulation_table_id)
            assert table_row is not None
            table = parse_regulation_table(
                table_row.content, f"{table_row.procedure_id} {table_row.version} (stored)"
            )
            if table.sha256 != table_row.sha256:
                raise ResumeError(
                    f"run {run_id}: the stored regulation table {table_row.version} does not "
                    "match its hash: it was changed outside the application"
                )
            if table_row.status is ReleaseStatus.RELEASED and not table.release.released:
                table = dataclasses.replace(
                    table, release=Release("released", None, table_row.released_at, None)
                )
            if run.plan_sha256:
                if plan is None:
                    raise ResumeError(f"run {run_id} was planned: resume it with its rebuilt plan")
                if plan.sha256 != run.plan_sha256:
                    raise ResumeError(
                        f"run {run_id}: the rebuilt plan differs from the plan the run started "
                        "with; it cannot be resumed"
                    )
            cls = type(procedure) if procedure is not None else self.registry.get(pv.procedure_id)
            proc = cls(table, plan) if plan is not None else cls(table)
            if proc.id != pv.procedure_id or proc.version != pv.version:
                raise ResumeError(
                    f"run {run_id} used {pv.procedure_id} {pv.version}, not {proc.id} "
                    f"{proc.version}"
                )
            if proc.source_sha256() != pv.source_sha256:
                raise ResumeError(
                    f"run {run_id}: the source of procedure {proc.id} changed since the run "
                    "started; it cannot be resumed with different code"
                )
            missing = [slot for slot in proc.roles if slot not in instruments]
            if missing:
                raise ResumeError(f"resume needs instruments for roles {', '.join(missing)}")
            steps = [st.name for st in proc.steps()]
            if run.last_completed_step and run.last_completed_step not in steps:
                raise ResumeError(
                    f"run {run_id}: its last completed step {run.last_completed_step!r} is not "
                    f"a step of procedure {proc.id}"
                )
            first = steps.index(run.last_completed_step) + 1 if run.last_completed_step else 0
            done = run.provenance.get("steps", {})
            ranges = [
                (int(v["first_seq"]), int(v["last_seq"]))
                for k, v in done.items()
                if k in steps[:first]
            ]
            earlier = [
                RecordedReading(
                    r.seq,
                    r.step,
                    r.test_point,
                    r.quantity,
                    from_storage(r.magnitude, r.unit),
                    r.taken_at,
                    r.source,
                )
                for r in s.scalars(
                    select(Reading).where(Reading.run_id == run_id).order_by(Reading.seq)
                )
                if any(lo <= r.seq <= hi for lo, hi in ranges)
            ]
            last_seq = s.scalar(select(func.max(Reading.seq)).where(Reading.run_id == run_id))
            last_io = s.scalar(
                select(func.max(InstrumentExchange.seq)).where(InstrumentExchange.run_id == run_id)
            )
            request = run.provenance.get("request", {})
            operator = run.operator.username
            params = proc.parse_parameters(dict(run.parameters))
            run_clock = clock or ScaledClock(time_scale or float(request.get("time_scale", 1.0)))
            if run_clock.virtual and run.last_completed_step:
                # continue at the simulated time the last completed step ended, with the
                # simulated instruments as they were then
                last = done[run.last_completed_step]
                run_clock.set(float(last.get("clock_end_s", 0.0)))
                if simulator is not None and last.get("sim_snapshot"):
                    simulator.restore(last["sim_snapshot"])
            return RunSetup(
                run_id=run_id,
                procedure=proc,
                instruments=instruments,
                operator=operator,
                simulated=run.simulated,
                practice=run.practice,
                bench_name=run.bench_name,
                clock=run_clock,
                parameters=params,
                standards=request.get("standards", []),
                materials=request.get("reference_materials", []),
                equipment=request.get("equipment", []),
                auto_answer=auto_answer,
                run_date=run_date or date.today(),
                lease=lease,
                first_step=first,
                earlier=earlier,
                next_seq=(last_seq or 0) + 1,
                next_io_seq=(last_io or 0) + 1,
                resumed=True,
                subscribers=tuple(subscribers),
                simulator=simulator,
            )
