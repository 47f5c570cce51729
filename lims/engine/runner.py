"""Executing one run on its worker thread (see :mod:`lims.engine.engine` for the states)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from drivers.errors import InstrumentError
from lims.db import Database
from lims.db.types import utcnow
from lims.engine.clock import RunClock
from lims.engine.context import AutoAnswerer, RecordedReading, RunControl, StepContext
from lims.engine.errors import EngineError, ResumeError, RunAborted, RunDetached, RunStopped
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
from lims.engine.handle import RunHandle
from lims.engine.io_record import exchange_item
from lims.engine.lease import RunLeaseKeeper
from lims.engine.provenance import build_provenance, quantity_json
from lims.engine.regulation import RegulationTable
from lims.engine.rules import (
    ENVIRONMENT_READERS,
    RuleFailure,
    check_environment,
    check_equipment,
    check_operator,
    check_reference_material,
    check_regulation_table,
    check_standard,
    overridden_keys,
    read_environment,
)
from lims.engine.sdk import Procedure, Step
from lims.engine.writer import ReadingWriter
from lims.messages import bilingual
from lims.models import Equipment, Result, Run, RunResource, RunStatus
from lims.models.equipment import MeasurementStandard

__all__ = ["ENVIRONMENT_ROLE", "FINAL_STATES", "RESUMABLE_STATES", "RunSetup", "Runner"]

log = logging.getLogger(__name__)

FINAL_STATES = frozenset(
    {RunStatus.COMPLETED, RunStatus.ABORTED, RunStatus.FAILED, RunStatus.REFUSED}
)
#: States from which a run is resumed (RUNNING: its process died).
RESUMABLE_STATES = frozenset(
    {RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.PAUSED, RunStatus.FAILED, RunStatus.REFUSED}
)
ENVIRONMENT_ROLE = "environment_monitor"

_ACTIVE_LOCK = threading.Lock()
#: runs whose worker thread is alive in this process, by database and run id
_ACTIVE_RUNS: set[tuple[str, int]] = set()


@dataclass
class RunSetup:
    """Everything the runner needs, from a start or a resume."""

    run_id: int
    procedure: Procedure
    instruments: Mapping[str, Any]
    operator: str
    simulated: bool
    practice: bool
    bench_name: str
    clock: RunClock
    parameters: Mapping[str, Any]
    standards: Sequence[str]
    materials: Sequence[str]
    equipment: Sequence[str]
    auto_answer: AutoAnswerer | None
    run_date: date
    lease: RunLeaseKeeper
    first_step: int = 0
    earlier: Sequence[RecordedReading] = ()
    next_seq: int = 1
    next_io_seq: int = 1
    resumed: bool = False
    subscribers: Iterable[Callable[[Event], None]] = field(default_factory=tuple)
    simulator: Any | None = None


class Runner:
    """Executes one run on its worker thread."""

    def __init__(self, db: Database, setup: RunSetup) -> None:
        self.db = db
        self.setup = setup
        self.run_id = setup.run_id
        self.procedure = setup.procedure
        self.table: RegulationTable = setup.procedure.table
        self.instruments = dict(setup.instruments)
        self.operator = setup.operator
        self.today = setup.run_date
        self.steps: list[Step] = list(setup.procedure.steps())
        self.valid: list[RecordedReading] = list(setup.earlier)
        self.next_seq = setup.next_seq
        self.next_io_seq = setup.next_io_seq
        self.bus = EventBus()
        for sub in setup.subscribers:
            self.bus.subscribe(sub)
        self.control = RunControl(setup.run_id, self.bus, setup.clock)
        self.control.on_hold = self._on_hold
        self.writer = ReadingWriter(db, setup.run_id, setup.operator, on_commit=self._committed)
        self.handle = RunHandle(setup.run_id, self.bus, self.control)
        self.environment: dict[str, Any] = {}
        self.env_slot = next(
            (
                s
                for s, r in setup.procedure.roles.items()
                if r == ENVIRONMENT_ROLE and s in setup.instruments
            ),
            None,
        )
        self._io_lock = threading.Lock()
        self._recording_io = False
        self._active_key = (db.engine.url.render_as_string(hide_password=True), setup.run_id)

    # ---------------------------------------------------------------- plumbing

    def _committed(self, last_seq: int, count: int) -> None:
        self.bus.publish(ReadingsCommitted(self.run_id, last_seq, count))

    def _on_hold(self, holding: bool, why: str) -> None:
        self._set_status(
            RunStatus.PAUSED if holding else RunStatus.RUNNING, why or bilingual("run.resumed")
        )

    def _take_seq(self) -> int:
        seq = self.next_seq
        self.next_seq += 1
        return seq

    def _on_exchange(self, exchange: Any) -> None:
        """A driver's I/O observer: queue the exchange as part of the run's raw data."""
        if not self._recording_io:
            return
        with self._io_lock:
            seq = self.next_io_seq
            self.next_io_seq += 1
        try:
            self.writer.put(exchange_item(seq, exchange))
        except EngineError:
            log.exception("run %s: instrument exchange %s not recorded", self.run_id, seq)

    def _observe_io(self) -> None:
        for inst in self.instruments.values():
            add = getattr(inst, "add_io_observer", None)
            if callable(add):
                add(self._on_exchange)

    def _set_status(self, new: RunStatus, reason: str, **provenance: Any) -> None:
        why = reason or f"run {self.run_id}: {new.value}"
        with self.db.write(actor=self.operator, reason=why) as s:
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
        log.info("run %s: %s → %s %s", self.run_id, old.value, new.value, reason)
        self.bus.publish(StateChanged(self.run_id, old, new, reason))

    def _safe_all(self) -> None:
        for slot, inst in self.instruments.items():
            try:
                inst.safe_state()
            except Exception as exc:  # keep going: every instrument must get its call
                self.bus.publish(
                    Message(
                        self.run_id,
                        bilingual("run.safe_state_failed", slot=slot, error=exc),
                        "error",
                        key="run.safe_state_failed",
                        params=(("error", str(exc)), ("slot", slot)),
                    )
                )

    # ---------------------------------------------------------------- rules

    def _failures(
        self,
        standards: Sequence[str],
        materials: Sequence[str],
        equipment: Sequence[str],
        uses: Sequence[str],
        *,
        environment: bool,
        table: bool,
    ) -> list[RuleFailure]:
        found: list[RuleFailure] = []
        with self.db.read() as s:
            found += check_operator(s, self.operator, self.procedure.id, self.today)
            if uses:  # a step names tags: standards, equipment or reference materials
                std_tags = set(
                    s.scalars(
                        select(MeasurementStandard.tag).where(MeasurementStandard.tag.in_(uses))
                    )
                )
                eq_tags = set(
                    s.scalars(select(Equipment.asset_tag).where(Equipment.asset_tag.in_(uses)))
                )
                standards = [*standards, *(t for t in uses if t in std_tags)]
                equipment = [*equipment, *(t for t in uses if t in eq_tags - std_tags)]
                materials = [*materials, *(t for t in uses if t not in std_tags | eq_tags)]
            plan = self.procedure.run_plan
            for tag in dict.fromkeys(standards):
                planned = plan.uses_for(tag) if plan is not None else ()
                found += check_standard(s, tag, self.today, planned)
            for tag in dict.fromkeys(equipment):
                found += check_equipment(s, tag, self.today)
            for tag in dict.fromkeys(materials):
                found += check_reference_material(s, tag, self.today)
            skip = overridden_keys(s, self.run_id)
        if table:
            found += check_regulation_table(
                self.table, simulated=self.setup.simulated, practice=self.setup.practice
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
        reason = bilingual("run.refused", where=where, failures="; ".join(str(f) for f in failures))
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
        """Start the worker thread (the lease is already held)."""
        with _ACTIVE_LOCK:
            if self._active_key in _ACTIVE_RUNS:
                self.setup.lease.release("already running in this process")
                raise ResumeError(f"run {self.run_id} is already running in this process")
            _ACTIVE_RUNS.add(self._active_key)
        thread = threading.Thread(target=self._main, name=f"run-{self.run_id}", daemon=True)
        self.handle._thread = thread
        self.setup.lease.start_renewing()
        thread.start()
        return self.handle

    def _main(self) -> None:
        try:
            self._execute()
        finally:
            self.setup.lease.release(
                self.handle.final_status.value if self.handle.final_status else "ended"
            )
            with _ACTIVE_LOCK:
                _ACTIVE_RUNS.discard(self._active_key)

    def _execute(self) -> None:
        final: tuple[RunStatus, str] | None = None
        writer_started = False
        setup = self.setup
        try:
            failures = self._failures(
                setup.standards,
                setup.materials,
                setup.equipment,
                (),
                environment=True,
                table=True,
            )
            if failures:
                self._refuse(failures, "before start")
                return
            self.writer.start()
            writer_started = True
            self._observe_io()
            self._recording_io = True
            self._begin()
            total = len(self.steps)
            for idx in range(setup.first_step, total):
                step = self.steps[idx]
                self.control.checkpoint()  # a step boundary is a safe point
                if self.control.stop_event.is_set():
                    raise RunStopped
                if setup.lease.lost.is_set():
                    raise EngineError(bilingual("run.lease_lost"))
                if step.uses or step.check_environment:
                    failures = self._failures(
                        (), (), (), step.uses, environment=step.check_environment, table=False
                    )
                    if failures:
                        self._refuse(failures, f"before step {step.name}")
                        return
                self._run_step(idx, step)
            final = (RunStatus.COMPLETED, f"all {total} steps completed")
        except RunAborted:
            final = (RunStatus.ABORTED, bilingual("run.aborted"))
        except RunStopped:
            final = (RunStatus.ABORTED, bilingual("run.stopped"))
        except RunDetached:
            final = None  # stays paused, to be resumed
        except Exception as exc:
            log.exception("run %s failed", self.run_id)
            final = (
                RunStatus.FAILED,
                bilingual("run.failed", error=f"{type(exc).__name__}: {exc}"),
            )
        finally:
            self._safe_all()
            self._recording_io = False
            if writer_started:
                try:
                    self.writer.flush()
                except EngineError as exc:
                    final = (RunStatus.FAILED, bilingual("run.failed", error=exc))
                self.writer.close()
            if final is not None:
                self._set_status(*final)
            with self.db.read() as s:
                run = s.get(Run, self.run_id)
                assert run is not None
                self.handle.final_status = run.status
                self.handle.final_reason = run.status_reason

    def _begin(self) -> None:
        setup = self.setup
        reason = f"run {self.run_id} {'resumed' if setup.resumed else 'started'}: provenance"
        with self.db.write(actor=self.operator, reason=reason) as s:
            run = s.get(Run, self.run_id)
            assert run is not None
            snapshot = build_provenance(
                s,
                procedure=self.procedure,
                table=self.table,
                instruments=self.instruments,
                standards=setup.standards,
                reference_materials=setup.materials,
                operator=self.operator,
                environment=self.environment,
                simulated=setup.simulated,
                practice=setup.practice,
                bench_name=setup.bench_name,
                time_scale=getattr(setup.clock, "time_scale", 0.0),
                equipment=setup.equipment,
            )
            snapshot["equipment"] = list(setup.equipment)
            snapshot["plan_sha256"] = run.plan_sha256
            snapshot["bench_sha256"] = run.bench_sha256
            snapshot["clock"] = "virtual" if setup.clock.virtual else "real"
            if setup.clock.virtual:
                zero = setup.clock.timestamp() - timedelta(seconds=setup.clock.now())
                snapshot["clock_start"] = zero.isoformat()
            prov = dict(run.provenance)
            if "procedure" in prov:  # resumed: keep the first snapshot, log this one
                prov["resumes"] = [
                    *prov.get("resumes", []),
                    {
                        "at": utcnow().isoformat(),
                        "from_step": self.steps[setup.first_step].name
                        if setup.first_step < len(self.steps)
                        else None,
                        "clock_s": setup.clock.now(),
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
            self._record_resources(s, snapshot)
        self._set_status(
            RunStatus.RUNNING, bilingual("run.resumed") if setup.resumed else "started"
        )

    def _record_resources(self, s: Any, snapshot: Mapping[str, Any]) -> None:
        existing = {
            (k, t)
            for k, t in s.execute(
                select(RunResource.kind, RunResource.tag).where(RunResource.run_id == self.run_id)
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
                    else ", ".join(c["certificate_number"] or "" for c in e.get("certificates", []))
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
        for tag in self.setup.equipment:
            if ("equipment", tag) in existing:
                continue
            eq = s.scalars(select(Equipment).where(Equipment.asset_tag == tag)).one()
            certs = sorted(eq.certificates, key=lambda c: (c.issued_on, c.id))
            s.add(
                RunResource(
                    run_id=self.run_id,
                    kind="equipment",
                    resource_id=eq.id,
                    tag=tag,
                    certificate_number=(certs[-1].number if certs else "")[:100],
                )
            )

    def _run_step(self, idx: int, step: Step) -> None:
        attempt = 0
        while True:
            attempt += 1
            first_seq = self.next_seq
            started = utcnow()
            clock_start = self.control.now()
            ctx = StepContext(
                run_id=self.run_id,
                step=step.name,
                table=self.table,
                parameters=self.setup.parameters,
                simulated=self.setup.simulated,
                instruments=self.instruments,
                control=self.control,
                writer=self.writer,
                seq=self._take_seq,
                earlier=self.valid,
                auto_answer=self.setup.auto_answer,
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
        procedure = f"{self.procedure.id} {self.procedure.version}"
        reason = bilingual("step.done", step=step.name) + (
            f"; {len(ctx.results)} result(s) recorded by procedure {procedure}"
            if ctx.results
            else ""
        )
        with self.db.write(actor=self.operator, reason=reason) as s:
            for pending in ctx.results:
                rec = pending.record
                s.add(
                    Result(
                        run_id=self.run_id,
                        item=rec.characteristic.value,
                        test_point=rec.point.key,
                        values=rec.to_json(),
                        verdict=rec.verdict,
                        decision_rule=rec.decision_rule,
                        first_seq=rec.first_seq,
                        last_seq=rec.last_seq,
                        budget=rec.budget.to_json() if rec.budget is not None else {},
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
                    "clock_start_s": clock_start,
                    "clock_end_s": self.control.now(),
                    "sim_snapshot": self._snapshot(),
                    "last_io_seq": self.next_io_seq - 1,
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
        for pending in ctx.results:
            rec = pending.record
            self.bus.publish(
                ResultRecorded(
                    self.run_id, rec.point.key, rec.characteristic.value, rec, rec.verdict.value
                )
            )
        self.bus.publish(StepFinished(self.run_id, step.name, idx + 1, len(self.steps)))

    def _snapshot(self) -> Any:
        """The simulated bench's state at this step boundary (None on a real bench)."""
        sim = self.setup.simulator
        if sim is None or not self.setup.clock.virtual:
            return None
        try:
            return sim.snapshot()
        except Exception:  # a resume then starts the simulator fresh at the stored time
            log.exception("run %s: simulator snapshot failed", self.run_id)
            return None

    def _hold_for_error(self, step: Step, exc: InstrumentError) -> None:
        reason = bilingual("run.instrument_error", step=step.name, error=exc)
        self._safe_all()
        self.control.pause_event.set()
        self._set_status(RunStatus.PAUSED, reason)
        while self.control.pause_event.is_set():
            if self.control.abort_event.wait(self.control.SLICE_S):
                raise RunAborted
            if self.control.detach_event.is_set():
                raise RunDetached
        if self.control.abort_event.is_set():
            raise RunAborted
        if self.control.stop_event.is_set():
            raise RunStopped
        self._set_status(RunStatus.RUNNING, bilingual("run.resumed_repeat", step=step.name))
