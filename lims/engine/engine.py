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
  (``provenance["steps"]``) and ``Run.last_completed_step``. :meth:`RunEngine.resume`
  restarts a crashed, paused, failed or refused run from the step after the last
  completed one, with the readings of the completed steps.

Usage::

    engine = RunEngine(db)
    handle = engine.start(RunRequest(procedure=Jjg635(), instruments={...},
                                     operator="zhang", bench_name="gas-1", simulated=True,
                                     time_scale=100, standards=["STD-GAS-001"],
                                     reference_materials=["RM-CO2-0400"]),
                          subscribers=[print])
    status = handle.wait()
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from drivers.errors import InstrumentError
from lims.db import Database
from lims.db.types import utcnow
from lims.engine.context import AutoAnswerer, RecordedReading, RunControl, StepContext
from lims.engine.errors import EngineError, ResumeError, RunAborted, RunStopped
from lims.engine.events import (
    Event,
    EventBus,
    Message,
    ReadingsCommitted,
    ResultRecorded,
    StateChanged,
    StepFinished,
    StepStarted,
)
from lims.engine.provenance import build_provenance, quantity_json
from lims.engine.regulation import RegulationTable, Release
from lims.engine.rules import (
    ENVIRONMENT_READERS,
    RuleFailure,
    check_environment,
    check_operator,
    check_reference_material,
    check_regulation_table,
    check_standard,
    overridden_keys,
    read_environment,
)
from lims.engine.sdk import Procedure, ProcedureRegistry, Step, discover_procedures
from lims.engine.writer import ReadingWriter
from lims.models import (
    Procedure as ProcedureRow,
)
from lims.models import (
    ProcedureVersion,
    Reading,
    ReleaseStatus,
    Result,
    Run,
    RunResource,
    RunStatus,
    User,
)
from lims.models import (
    RegulationTable as RegulationTableRow,
)
from lims.models.equipment import MeasurementStandard
from lims.units import from_storage

__all__ = [
    "FINAL_STATES",
    "RESUMABLE_STATES",
    "RunEngine",
    "RunHandle",
    "RunRequest",
    "bench_auto_answerer",
    "register_procedure",
    "with_stored_release",
]

FINAL_STATES = frozenset(
    {RunStatus.COMPLETED, RunStatus.ABORTED, RunStatus.FAILED, RunStatus.REFUSED}
)
#: States from which :meth:`RunEngine.resume` continues a run (RUNNING: it crashed).
RESUMABLE_STATES = frozenset(
    {RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.PAUSED, RunStatus.FAILED, RunStatus.REFUSED}
)
ENVIRONMENT_ROLE = "environment_monitor"

_ACTIVE_LOCK = threading.Lock()
_ACTIVE_RUNS: set[int] = set()  # runs whose worker thread is alive in this process


@dataclass
class RunRequest:
    """Everything needed to start a run.

    ``instruments`` maps the procedure's role slots to connected drivers (or fakes);
    ``parameters`` are raw texts as typed (validated by the procedure's declarations);
    ``standards`` and ``reference_materials`` are the tags in use, checked by the rules.
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
    work_order_item_id: int | None = None
    auto_answer: AutoAnswerer | None = None
    run_date: date | None = None


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


class RunHandle:
    """Control and observe one run from any thread."""

    def __init__(self, run_id: int, bus: EventBus, control: RunControl) -> None:
        self.run_id = run_id
        self.bus = bus
        self._control = control
        self._thread: threading.Thread | None = None
        self.final_status: RunStatus | None = None
        self.final_reason = ""

    def subscribe(self, subscriber: Callable[[Event], None]) -> Callable[[], None]:
        """Receive the run's events; returns an unsubscribe function."""
        return self.bus.subscribe(subscriber)

    def pause(self) -> None:
        """Hold at the next safe point."""
        self._control.request_pause()

    def resume(self) -> None:
        """Continue a paused run (after an instrument error: retry the step)."""
        self._control.request_resume()

    def stop(self) -> None:
        """Finish the current step, then end the run (aborted by operator; data kept)."""
        self._control.request_stop()

    def abort(self) -> None:
        """Abort at once; instruments go to their safe state."""
        self._control.request_abort()

    def answer(self, prompt_id: int, value: Any) -> None:
        """Answer a prompt."""
        self._control.answer(prompt_id, value)

    def wait(self, timeout_s: float | None = None) -> RunStatus | None:
        """Wait for the run's thread to end; the final status (None if still running)."""
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                return None
        return self.final_status


class _Runner:
    """Executes one run on its worker thread."""

    def __init__(
        self,
        db: Database,
        run_id: int,
        procedure: Procedure,
        instruments: Mapping[str, Any],
        *,
        operator: str,
        simulated: bool,
        practice: bool,
        bench_name: str,
        time_scale: float,
        parameters: Mapping[str, Any],
        standards: Sequence[str],
        reference_materials: Sequence[str],
        auto_answer: AutoAnswerer | None,
        run_date: date,
        first_step: int,
        earlier: Sequence[RecordedReading],
        next_seq: int,
        resumed: bool,
        subscribers: Iterable[Callable[[Event], None]],
    ) -> None:
        self.db = db
        self.run_id = run_id
        self.procedure = procedure
        self.table: RegulationTable = procedure.table
        self.instruments = dict(instruments)
        self.operator = operator
        self.simulated = simulated
        self.practice = practice
        self.bench_name = bench_name
        self.time_scale = time_scale
        self.parameters = parameters
        self.standards = list(standards)
        self.materials = list(reference_materials)
        self.auto_answer = auto_answer
        self.today = run_date
        self.steps: list[Step] = list(procedure.steps())
        self.first_step = first_step
        self.valid: list[RecordedReading] = list(earlier)
        self.next_seq = next_seq
        self.resumed = resumed
        self.bus = EventBus()
        for sub in subscribers:
            self.bus.subscribe(sub)
        self.control = RunControl(run_id, self.bus, time_scale)
        self.control.on_hold = self._on_hold
        self.writer = ReadingWriter(db, run_id, operator, on_commit=self._committed)
        self.handle = RunHandle(run_id, self.bus, self.control)
        self.environment: dict[str, Any] = {}
        self.env_slot = next(
            (s for s, r in procedure.roles.items() if r == ENVIRONMENT_ROLE and s in instruments),
            None,
        )

    # ---------------------------------------------------------------- plumbing

    def _committed(self, last_seq: int, count: int) -> None:
        self.bus.publish(ReadingsCommitted(self.run_id, last_seq, count))

    def _on_hold(self, holding: bool, why: str) -> None:
        self._set_status(RunStatus.PAUSED if holding else RunStatus.RUNNING, why)

    def _take_seq(self) -> int:
        seq = self.next_seq
        self.next_seq += 1
        return seq

    def _set_status(self, new: RunStatus, reason: str, **provenance: Any) -> None:
        with self.db.write(actor=self.operator, reason=reason or None) as s:
            run = s.get(Run, self.run_id)
            assert run is not None
            old = run.status
            run.status = new
            run.status_reason = reason
            if new == RunStatus.RUNNING and run.started_at is None:
                run.started_at = utcnow()
            run.ended_at = utcnow() if new in FINAL_STATES else None
            if provenance:
                run.provenance = {**run.provenance, **provenance}
        self.bus.publish(StateChanged(self.run_id, old, new, reason))

    def _safe_all(self) -> None:
        for slot, inst in self.instruments.items():
            try:
                inst.safe_state()
            except Exception as exc:  # keep going: every instrument must get its call
                self.bus.publish(
                    Message(
                        self.run_id, f"安全状态失败 safe_state of {slot} failed: {exc}", "error"
                    )
                )

    # ---------------------------------------------------------------- rules

    def _failures(
        self,
        standards: Sequence[str],
        materials: Sequence[str],
        uses: Sequence[str],
        *,
        environment: bool,
        table: bool,
    ) -> list[RuleFailure]:
        found: list[RuleFailure] = []
        with self.db.read() as s:
            found += check_operator(s, self.operator, self.procedure.id, self.today)
            if uses:  # a step names tags: find out which are standards
                std_tags = set(
                    s.scalars(
                        select(MeasurementStandard.tag).where(MeasurementStandard.tag.in_(uses))
                    )
                )
                standards = [*standards, *(t for t in uses if t in std_tags)]
                materials = [*materials, *(t for t in uses if t not in std_tags)]
            for tag in standards:
                found += check_standard(s, tag, self.today)
            for tag in materials:
                found += check_reference_material(s, tag, self.today)
            skip = overridden_keys(s, self.run_id)
        if table:
            found += check_regulation_table(
                self.table, simulated=self.simulated, practice=self.practice
            )
        if environment and self.table.environment:
            found += self._environment_failures()
        if environment:
            self._record_environment()
        return [f for f in found if f.key not in skip]

    def _record_environment(self) -> None:
        """Also record what the monitor offers beyond the table's limits (for the certificate)."""
        if self.env_slot is None:
            return
        monitor = self.instruments[self.env_slot]
        for name, method in ENVIRONMENT_READERS.items():
            reader = getattr(monitor, method, None)
            if name in self.environment or reader is None:
                continue
            try:
                self.environment[name] = reader()
            except InstrumentError:
                continue  # only the table's quantities are required

    def _environment_failures(self) -> list[RuleFailure]:
        if self.env_slot is None:
            return [RuleFailure("environment", "无环境监测仪 no environment monitor is bound")]
        try:
            values = read_environment(self.instruments[self.env_slot], self.table.environment)
        except InstrumentError as exc:
            return [RuleFailure("environment", f"环境读取失败 environment not readable: {exc}")]
        self.environment = values
        return check_environment(values, self.table.environment)

    def _refuse(self, failures: Sequence[RuleFailure], where: str) -> None:
        reason = f"拒绝运行 refused {where}: " + "; ".join(str(f) for f in failures)
        with self.db.read() as s:
            run = s.get(Run, self.run_id)
            assert run is not None
            previous = dict(run.provenance.get("rule_failures", {}))
        fresh: set[str] = set()
        for f in failures:  # several failures of one rule are reported together
            previous[f.key] = f"{previous[f.key]}; {f.reason}" if f.key in fresh else f.reason
            fresh.add(f.key)
        self._set_status(RunStatus.REFUSED, reason, rule_failures=previous)

    # ---------------------------------------------------------------- main

    def start(self) -> RunHandle:
        with _ACTIVE_LOCK:
            if self.run_id in _ACTIVE_RUNS:
                raise ResumeError(f"run {self.run_id} is already running in this process")
            _ACTIVE_RUNS.add(self.run_id)
        thread = threading.Thread(target=self._main, name=f"run-{self.run_id}", daemon=True)
        self.handle._thread = thread
        thread.start()
        return self.handle

    def _main(self) -> None:
        try:
            self._execute()
        finally:
            with _ACTIVE_LOCK:
                _ACTIVE_RUNS.discard(self.run_id)

    def _execute(self) -> None:
        final: tuple[RunStatus, str] | None = None
        writer_started = False
        try:
            failures = self._failures(
                self.standards, self.materials, (), environment=True, table=True
            )
            if failures:
                self._refuse(failures, "before start")
                return
            self._begin()
            self.writer.start()
            writer_started = True
            total = len(self.steps)
            for idx in range(self.first_step, total):
                step = self.steps[idx]
                self.control.checkpoint()  # a step boundary is a safe point
                if self.control.stop_event.is_set():
                    raise RunStopped
                if step.uses or step.check_environment:
                    failures = self._failures(
                        (), (), step.uses, environment=step.check_environment, table=False
                    )
                    if failures:
                        self._refuse(failures, f"before step {step.name}")
                        return
                self._run_step(idx, step)
            final = (RunStatus.COMPLETED, "")
        except RunAborted:
            final = (RunStatus.ABORTED, "中止 aborted by operator")
        except RunStopped:
            final = (
                RunStatus.ABORTED,
                "停止 stopped by operator at a step boundary; measured data kept",
            )
        except Exception as exc:
            final = (RunStatus.FAILED, f"运行失败 failed: {type(exc).__name__}: {exc}")
        finally:
            self._safe_all()
            if writer_started:
                try:
                    self.writer.flush()
                except EngineError as exc:
                    final = (RunStatus.FAILED, f"运行失败 failed: {exc}")
                self.writer.close()
            if final is not None:
                self._set_status(*final)
            with self.db.read() as s:
                run = s.get(Run, self.run_id)
                assert run is not None
                self.handle.final_status = run.status
                self.handle.final_reason = run.status_reason

    def _begin(self) -> None:
        with self.db.write(actor=self.operator) as s:
            run = s.get(Run, self.run_id)
            assert run is not None
            snapshot = build_provenance(
                s,
                procedure=self.procedure,
                table=self.table,
                instruments=self.instruments,
                standards=self.standards,
                reference_materials=self.materials,
                operator=self.operator,
                environment=self.environment,
                simulated=self.simulated,
                practice=self.practice,
                bench_name=self.bench_name,
                time_scale=self.time_scale,
            )
            prov = dict(run.provenance)
            if "procedure" in prov:  # resumed: keep the first snapshot, log this one
                prov["resumes"] = [
                    *prov.get("resumes", []),
                    {
                        "at": utcnow().isoformat(),
                        "from_step": self.steps[self.first_step].name
                        if self.first_step < len(self.steps)
                        else None,
                        "instruments": snapshot["instruments"],
                        "environment": snapshot["environment"],
                    },
                ]
            else:
                prov.update(snapshot)
                run.environment = {k: quantity_json(v) for k, v in self.environment.items()}
            with s.no_autoflush:
                overrides = overridden_keys(s, self.run_id)
            prov["overrides"] = sorted(overrides)
            run.provenance = prov
            existing = {
                (k, t)
                for k, t in s.execute(
                    select(RunResource.kind, RunResource.tag).where(
                        RunResource.run_id == self.run_id
                    )
                )
            }
            for kind, entries in (
                ("standard", snapshot["standards"]),
                ("reference_material", snapshot["reference_materials"]),
            ):
                for e in entries:
                    if (kind, e["tag"]) in existing:
                        continue
                    cert = (
                        e.get("certificate_number")
                        if kind == "reference_material"
                        else ", ".join(
                            c["certificate_number"] or "" for c in e.get("certificates", [])
                        )
                    )
                    s.add(
                        RunResource(
                            run_id=self.run_id,
                            kind=kind,
                            resource_id=e["id"],
                            tag=e["tag"],
                            certificate_number=(cert or "")[:100],
                        )
                    )
        self._set_status(RunStatus.RUNNING, "resumed" if self.resumed else "")

    def _run_step(self, idx: int, step: Step) -> None:
        attempt = 0
        while True:
            attempt += 1
            first_seq = self.next_seq
            started = utcnow()
            ctx = StepContext(
                run_id=self.run_id,
                step=step.name,
                table=self.table,
                parameters=self.parameters,
                simulated=self.simulated,
                instruments=self.instruments,
                control=self.control,
                writer=self.writer,
                seq=self._take_seq,
                earlier=self.valid,
                auto_answer=self.auto_answer,
            )
            self.bus.publish(
                StepStarted(self.run_id, step.name, step.title, idx + 1, len(self.steps), attempt)
            )
            try:
                step.run(ctx)
            except InstrumentError as exc:
                self._hold_for_error(step, exc)
                continue
            break
        self.writer.flush()
        with self.db.write(actor=self.operator) as s:
            for r in ctx.results:
                s.add(
                    Result(
                        run_id=self.run_id,
                        item=r.item,
                        test_point=r.test_point,
                        values=r.values,
                        verdict=r.verdict,
                        decision_rule=r.decision_rule,
                        first_seq=r.first_seq,
                        last_seq=r.last_seq,
                        budget=r.budget,
                    )
                )
            run = s.get(Run, self.run_id)
            assert run is not None
            prov = dict(run.provenance)
            prov["steps"] = {
                **prov.get("steps", {}),
                step.name: {
                    "first_seq": first_seq,
                    "last_seq": self.next_seq - 1,
                    "attempts": attempt,
                    "started_at": started.isoformat(),
                    "finished_at": utcnow().isoformat(),
                    "stability": ctx.stability,
                    "environment": (
                        {k: quantity_json(v) for k, v in self.environment.items()}
                        if step.check_environment
                        else {}
                    ),
                },
            }
            run.provenance = prov
            run.last_completed_step = step.name
        self.valid.extend(ctx.taken)
        for r in ctx.results:
            self.bus.publish(
                ResultRecorded(self.run_id, r.test_point, r.item, r.values, r.verdict.value)
            )
        self.bus.publish(StepFinished(self.run_id, step.name, idx + 1, len(self.steps)))

    def _hold_for_error(self, step: Step, exc: InstrumentError) -> None:
        reason = (
            f"仪器故障，已暂停 instrument error in step {step.name}: {exc}. "
            "Fix the instrument, then resume to repeat the step"
        )
        self._safe_all()
        self.control.pause_event.set()
        self._set_status(RunStatus.PAUSED, reason)
        while self.control.pause_event.is_set():
            if self.control.abort_event.wait(self.control.SLICE_S):
                raise RunAborted
        if self.control.abort_event.is_set():
            raise RunAborted
        if self.control.stop_event.is_set():
            raise RunStopped
        self._set_status(RunStatus.RUNNING, f"resumed: repeating step {step.name}")


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
        """Create the run (queued), then check the rules and run it on a worker thread.

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
        with self.db.write(actor=request.operator) as s:
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
                provenance={
                    "request": {
                        "standards": list(request.standards),
                        "reference_materials": list(request.reference_materials),
                        "time_scale": request.time_scale,
                    }
                },
            )
            s.add(run)
            s.flush()
            run_id = run.id
        runner = _Runner(
            self.db,
            run_id,
            proc,
            request.instruments,
            operator=request.operator,
            simulated=request.simulated,
            practice=request.practice,
            bench_name=request.bench_name,
            time_scale=request.time_scale,
            parameters=params,
            standards=request.standards,
            reference_materials=request.reference_materials,
            auto_answer=request.auto_answer,
            run_date=request.run_date or date.today(),
            first_step=0,
            earlier=(),
            next_seq=1,
            resumed=False,
            subscribers=subscribers,
        )
        return runner.start()

    def resume(
        self,
        run_id: int,
        instruments: Mapping[str, Any],
        *,
        procedure: Procedure | None = None,
        auto_answer: AutoAnswerer | None = None,
        time_scale: float | None = None,
        run_date: date | None = None,
        subscribers: Iterable[Callable[[Event], None]] = (),
    ) -> RunHandle:
        """Continue a run from the step after its last completed step, with its readings.

        The procedure source and regulation table must be exactly those the run started
        with (same SHA-256), else :class:`ResumeError`. The rules are checked again.
        """
        with self.db.read() as s:
            run = s.get(Run, run_id)
            if run is None:
                raise ResumeError(f"no run {run_id}")
            if run.status not in RESUMABLE_STATES:
                raise ResumeError(f"run {run_id} is {run.status.value}: it cannot be resumed")
            pv = run.procedure_version
            proc = procedure or self.registry.get(pv.procedure_id)(None)
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
            if proc.table.sha256 != pv.regulation_table.sha256:
                raise ResumeError(
                    f"run {run_id}: the regulation table changed since the run started "
                    f"(run: version {pv.regulation_table.version}, now: {proc.table.version} "
                    "with different content)"
                )
            proc.table = with_stored_release(s, proc.table)
            missing = [slot for slot in proc.roles if slot not in instruments]
            if missing:
                raise ResumeError(f"resume needs instruments for roles {', '.join(missing)}")
            steps = [st.name for st in proc.steps()]
            first = steps.index(run.last_completed_step) + 1 if run.last_completed_step else 0
            ranges = [
                (int(v["first_seq"]), int(v["last_seq"]))
                for k, v in run.provenance.get("steps", {}).items()
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
            last_seq = s.scalars(
                select(Reading.seq)
                .where(Reading.run_id == run_id)
                .order_by(Reading.seq.desc())
                .limit(1)
            ).one_or_none()
            request = run.provenance.get("request", {})
            operator = run.operator.username
            params = proc.parse_parameters(dict(run.parameters))
            simulated, practice, bench = run.simulated, run.practice, run.bench_name
        runner = _Runner(
            self.db,
            run_id,
            proc,
            instruments,
            operator=operator,
            simulated=simulated,
            practice=practice,
            bench_name=bench,
            time_scale=time_scale or float(request.get("time_scale", 1.0)),
            parameters=params,
            standards=request.get("standards", []),
            reference_materials=request.get("reference_materials", []),
            auto_answer=auto_answer,
            run_date=run_date or date.today(),
            first_step=first,
            earlier=earlier,
            next_seq=(last_seq or 0) + 1,
            resumed=True,
            subscribers=subscribers,
        )
        return runner.start()
