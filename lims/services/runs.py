"""Running a planned run to its end: the service the command line and the demo share.

:func:`execute_run` plans (or, to resume, re-plans) the run through
:mod:`lims.services.planning`, connects the bench, checks the preflight list, starts or resumes the
engine and lets a *watcher* follow it (a progress bar, a JSON stream, a test). Nothing here
knows a procedure's parameters; the front ends only choose how to watch and answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select

from drivers.bench import load_bench
from drivers.errors import BenchFileError
from lims.db import Database
from lims.engine import (
    Event,
    PromptRequested,
    RunEngine,
    RunHandle,
    RunRequest,
    bench_auto_answerer,
)
from lims.models import Result, Run, RunStatus
from lims.results import ResultRecord
from lims.results_legacy import LEGACY_TABLE_NOTE, record_of
from lims.services.planning.bench import BenchServer, open_bench
from lims.services.planning.context import PlanError
from lims.services.planning.preflight import CheckLine, preflight
from lims.services.planning.service import (
    DeviationRequest,
    PlannedRun,
    PlanRequest,
    plan_run,
    replan_run,
)

__all__ = [
    "EXIT_CODES",
    "PreflightRefusedError",
    "RunOutcome",
    "RunWatcher",
    "SilentWatcher",
    "collect_results",
    "execute_run",
    "outcome_json",
    "result_json",
]

log = logging.getLogger(__name__)

#: Exit status of ``lims run`` for each way a run ends.
EXIT_CODES: dict[RunStatus, int] = {
    RunStatus.COMPLETED: 0,
    RunStatus.ABORTED: 10,
    RunStatus.FAILED: 11,
    RunStatus.REFUSED: 12,
    RunStatus.PAUSED: 13,
}


class PreflightRefusedError(PlanError):
    """The bench or the instrument on it does not fit the item: no run was created."""

    def __init__(self, lines: Sequence[CheckLine]) -> None:
        failing = [f"{ln.what}: {ln.reason}" for ln in lines if ln.blocks and not ln.ok]
        super().__init__("预检未通过 preflight refused: " + "; ".join(failing))
        self.lines = list(lines)


class RunWatcher(Protocol):
    """Follows a run: gets its events, may answer prompts, waits for its end."""

    paused_reason: str

    def on_event(self, event: Event) -> None:
        """Called on the run's threads for every event."""
        ...

    def answerer(self, prompt: PromptRequested) -> Any:
        """An answer to a prompt, or None to wait for a person."""
        ...

    def watch(self, handle: RunHandle, total: int) -> None:
        """Return when the run has ended (or paused for an instrument error)."""
        ...


class SilentWatcher:
    """A watcher without a display: keeps the events, waits for the end, and aborts the
    run at a prompt nobody answers automatically (as a command without a terminal must)."""

    def __init__(self) -> None:
        self.paused_reason = ""
        self.events: list[Event] = []
        self.unanswered: list[PromptRequested] = []
        self._handle: RunHandle | None = None

    def on_event(self, event: Event) -> None:
        """Keep the event."""
        self.events.append(event)

    def answerer(self, prompt: PromptRequested) -> Any:
        """No person is here: note the prompt and abort the run."""
        self.unanswered.append(prompt)
        if self._handle is not None:
            self._handle.abort()
        return None

    def watch(self, handle: RunHandle, total: int) -> None:
        """Wait for the run's end."""
        self._handle = handle
        if self.unanswered:
            handle.abort()
        handle.wait()


@dataclass
class RunOutcome:
    """How a run ended, as the command reports it."""

    run_id: int
    status: RunStatus
    reason: str
    results: list[ResultRecord] = field(default_factory=list)
    plan_sha256: str = ""

    @property
    def exit_code(self) -> int:
        """The exit status for this outcome (see :data:`EXIT_CODES`)."""
        return EXIT_CODES.get(self.status, 11)


def collect_results(db: Database, run_id: int) -> list[ResultRecord]:
    """The run's results as typed records, in the order they were recorded."""
    with db.read() as s:
        rows = s.scalars(
            select(Result)
            .where(Result.run_id == run_id, Result.item != LEGACY_TABLE_NOTE)
            .order_by(Result.id)
        )
        return [record_of(r) for r in rows]


def _q(v: Any) -> Any:
    from lims.units import display_unit

    if v is None:
        return None
    if hasattr(v, "units"):
        return {"value": float(v.magnitude), "unit": display_unit(v) or "1"}
    return v


def result_json(r: ResultRecord) -> dict[str, Any]:
    """A result as ``lims run --json`` prints it: every quantity with its unit."""
    return {
        "test_point": r.point.key,
        "label": {"zh": r.point.label.zh, "en": r.point.label.en},
        "item": r.characteristic.value,
        "form": r.form.value,
        "value": _q(r.value),
        "reference": _q(r.reference),
        "indication": _q(r.indication),
        "limit": None
        if r.limit is None
        else {"value": _q(r.limit.value), "kind": r.limit.kind.value, "text": r.limit.text()},
        "U": None
        if r.uncertainty is None
        else {
            "value": _q(r.uncertainty.expanded),
            "k": r.uncertainty.k,
            "p": r.uncertainty.coverage_probability,
        },
        "verdict": r.verdict.value,
        "decision_rule": r.decision_rule,
        "flags": [f.value for f in r.flags],
        "extras": {e.key: _q(e.value) for e in r.extras},
    }


def outcome_json(outcome: RunOutcome) -> dict[str, Any]:
    """What ``lims run --json`` prints for a finished run (every quantity as value + unit)."""
    return {
        "run_id": outcome.run_id,
        "status": outcome.status.value,
        "reason": outcome.reason,
        "plan_sha256": outcome.plan_sha256,
        "results": [result_json(r) for r in outcome.results],
    }


def execute_run(
    db: Database,
    *,
    bench_path: Path,
    operator: str,
    item_id: int | None = None,
    procedure_id: str | None = None,
    resume_run: int | None = None,
    auto: bool = False,
    values: Mapping[str, str] | None = None,
    materials: Mapping[str, str] | None = None,
    deviations: Sequence[DeviationRequest] = (),
    watcher: RunWatcher,
    on_plan: Callable[[PlannedRun, list[CheckLine]], None] | None = None,
    on_simulator: Callable[[Any], None] | None = None,
    auto_override: Callable[[PromptRequested], Any] | None = None,
    serve: BenchServer | None = None,
    pacing: float = 0.0,
    run_date: date | None = None,
    plan_only: bool = False,
) -> RunOutcome | None:
    """Plan, connect, preflight, run (or resume) and watch a run to its end.

    With ``plan_only`` it stops after ``on_plan`` has seen the plan and the preflight
    list (returns None; nothing is written but the procedure's registration).
    The operator must already be authenticated. An impossible plan or a bench that does
    not fit raises :class:`PlanError` (:class:`PreflightRefusedError`) with nothing written;
    an engine refusal of the request raises :class:`EngineError`.
    """
    if auto:
        try:
            simulated = load_bench(bench_path).simulated
        except BenchFileError as exc:
            raise PlanError(str(exc)) from None
        if not simulated:
            raise PlanError(
                f"{bench_path.name}: --auto answers prompts only on a simulated bench; "
                "this is a real bench"
            )
    clock_start: datetime | None = None
    if resume_run is not None:
        with db.read() as s:
            run = s.get(Run, resume_run)
            if run is None:
                raise PlanError(f"no run {resume_run}")
            if run.provenance.get("clock_start"):
                clock_start = datetime.fromisoformat(run.provenance["clock_start"])
            if run.operator.username != operator:
                raise PlanError(
                    f"run {resume_run} belongs to operator {run.operator.username!r}; "
                    "resume it as that operator"
                )
        planned, changes = replan_run(db, resume_run, bench_path)
        if changes:
            raise PlanError(
                f"run {resume_run} cannot be resumed: its plan changed since it started — "
                + "; ".join(changes[:8])
                + (f"; … {len(changes) - 8} more" if len(changes) > 8 else "")
            )
    else:
        if item_id is None:
            raise PlanError("--item is required")
        planned = plan_run(
            db,
            PlanRequest(
                item_id=item_id,
                bench_path=bench_path,
                operator=operator,
                procedure_id=procedure_id,
                values=dict(values or {}),
                materials=dict(materials or {}),
                deviations=tuple(deviations),
            ),
        )
    with open_bench(planned.bench, serve=serve, pacing=pacing, clock_start=clock_start) as opened:
        lines = preflight(db, planned, run_date or date.today(), opened.instruments)
        if on_plan is not None:
            on_plan(planned, lines)
        if plan_only:
            return None
        if any(ln.blocks and not ln.ok for ln in lines):
            raise PreflightRefusedError(lines)
        instruments = opened.bind(planned)
        if opened.simulator is not None and on_simulator is not None:
            on_simulator(opened.simulator)
        answer = watcher.answerer
        if auto:
            from_bench = bench_auto_answerer(planned.bench.auto, opened.simulator)

            def answer(prompt: PromptRequested) -> Any:
                if auto_override is not None:
                    given = auto_override(prompt)
                    if given is not None:
                        return given
                value = from_bench(prompt)
                return value if value is not None else watcher.answerer(prompt)

        engine = RunEngine(db)
        if resume_run is None:
            request = RunRequest.from_plan(
                planned.plan,
                planned.procedure,
                instruments,
                clock=opened.clock,
                auto_answer=answer,
                run_date=run_date,
                simulator=opened.simulator,
            )
            handle = engine.start(request, subscribers=[watcher.on_event])
        else:
            handle = engine.resume(
                resume_run,
                instruments,
                procedure=planned.procedure,
                plan=planned.plan,
                auto_answer=answer,
                clock=opened.clock,
                run_date=run_date,
                subscribers=[watcher.on_event],
                simulator=opened.simulator,
            )
        watcher.watch(handle, len(planned.plan.steps))
        if watcher.paused_reason:
            handle.detach()  # it stays paused for `lims run resume`; this process lets go
            handle.wait(30)
            return RunOutcome(
                handle.run_id, RunStatus.PAUSED, watcher.paused_reason, [], planned.plan.sha256
            )
        status = handle.final_status or RunStatus.FAILED
        return RunOutcome(
            handle.run_id,
            status,
            handle.final_reason,
            collect_results(db, handle.run_id),
            planned.plan.sha256,
        )
