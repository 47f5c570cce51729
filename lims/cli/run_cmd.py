"""``lims run``: run a procedure headless on a bench, or resume an interrupted run.

::

    lims run jjg635 --bench examples/benches/gas-analyzer.toml --item 1 --operator zhang \\
        --password-file pw.txt --auto --json
    lims run resume 12 --bench examples/benches/gas-analyzer.toml --operator zhang --auto

A simulated bench file is served in-process (a :class:`~drivers.sim.SimulatedBench` is
started for the run). ``--auto`` answers the operator prompts from the bench file's
``[auto]`` table and is refused on a real bench.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import inspect
import json
import queue
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import select

from drivers.bench import BenchConfig, load_bench, open_instruments
from drivers.errors import BenchFileError, InstrumentError
from lims.cli.common import CliError, database, read_password, settings
from lims.db import Database
from lims.engine import (
    EngineError,
    Event,
    Message,
    Procedure,
    PromptRequested,
    ReadingsCommitted,
    RunEngine,
    RunHandle,
    RunRequest,
    StateChanged,
    StepFinished,
    StepStarted,
    bench_auto_answerer,
    discover_procedures,
)
from lims.engine.regulation import RegulationTable
from lims.models import ReferenceMaterial, Result, Run, RunStatus, WorkOrderItem
from lims.models.equipment import MeasurementStandard, StandardMember
from lims.quality.accounts import login
from lims.services.lab import policy_from
from lims.units import from_storage, ureg

__all__ = ["EXIT_CODES", "RunOutcome", "execute_run", "outcome_json", "run_command"]

#: Exit status of ``lims run`` for each way a run ends.
EXIT_CODES: dict[RunStatus, int] = {
    RunStatus.COMPLETED: 0,
    RunStatus.ABORTED: 10,
    RunStatus.FAILED: 11,
    RunStatus.REFUSED: 12,
    RunStatus.PAUSED: 13,
}

HELP = """Run PROCEDURE headless on a bench for a work-order ITEM, or resume a run.

\b
  lims run PROCEDURE --bench BENCH.toml --item ITEM --operator USER [--auto] [--json]
  lims run resume RUN_ID --bench BENCH.toml --operator USER [--auto] [--json]

\b
Exit status:
   0  completed / 完成
  10  aborted / 中止 (stopped or aborted by the operator)
  11  failed / 失败 (an error in the procedure or the database)
  12  refused / 拒绝 (a rule check failed: standard, material, operator, environment, table)
  13  paused / 暂停 (instrument error: fix it, then `lims run resume RUN_ID`)
   2  bad input (option, bench file, parameter, login); 3 database unreachable
"""

_err = Console(stderr=True, soft_wrap=True)


@dataclass
class RunOutcome:
    """How a run ended, as the command reports it."""

    run_id: int
    status: RunStatus
    reason: str
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """The exit status for this outcome (see :data:`EXIT_CODES`)."""
        return EXIT_CODES.get(self.status, 11)


# ----------------------------------------------------------------------- preparation


def _procedure(cls: type[Procedure], raw: Mapping[str, str]) -> Procedure:
    """Instantiate, passing the run's parameters to procedures that accept them."""
    if "parameters" in inspect.signature(cls.__init__).parameters:
        return cls(None, parameters=dict(raw))  # type: ignore[call-arg]
    return cls(None)


def _bind(procedure: Procedure, bench: BenchConfig, opened: Mapping[str, Any]) -> dict[str, Any]:
    """Map each role slot of the procedure to the bench instrument with that role."""
    out: dict[str, Any] = {}
    for slot, role in procedure.roles.items():
        names = [n for n, c in bench.instruments.items() if c.role == role and n in opened]
        if len(names) != 1:
            found = ", ".join(names) or "none"
            raise CliError(
                f"{Path(bench.path).name}: procedure {procedure.id} needs one {role!r} "
                f"instrument for role {slot!r} (found: {found})"
            )
        out[slot] = opened[names[0]]
    return out


def _register(db: Database, tags: list[str]) -> dict[str, tuple[Any, Any, float]]:
    """Certificate data (certified value, U, k) of the reference materials ``tags``."""
    out: dict[str, tuple[Any, Any, float]] = {}
    with db.read() as s:
        for rm in s.scalars(select(ReferenceMaterial).where(ReferenceMaterial.tag.in_(tags))):
            out[rm.tag] = (
                ureg.Quantity(rm.certified_value, rm.unit),
                ureg.Quantity(rm.expanded_uncertainty, rm.unit),
                float(rm.coverage_factor),
            )
    return out


def bench_parameters(
    db: Database,
    procedure_cls: type[Procedure],
    table: RegulationTable,
    bench: BenchConfig,
    item: WorkOrderItem | None,
    span_hint: Any | None,
) -> dict[str, str]:
    """Parameters the command derives for a procedure from the item and the bench.

    * ``span``: the full scale of the item's equipment (upper − lower range limit);
    * whatever the procedure's optional classmethod ``parameters_for_bench(table=, span=,
      cylinders=, register=)`` derives from the dilutor's cylinders ``(port, tag, zero)``
      and the register's certificate data ``tag → (value, U, k)`` (the gas procedures
      match the cylinders to their test points this way);
    * ``decision_rule``: the ILAC G8 rule agreed for the item (calibrations).
    """
    declared = {p.name for p in procedure_cls.parameters}
    out: dict[str, str] = {}
    if "span" in declared and span_hint is not None:
        out["span"] = f"{span_hint.magnitude:g} {span_hint.units:D}"
    if "decision_rule" in declared and item is not None and item.decision_rule:
        out["decision_rule"] = item.decision_rule
    hook = getattr(procedure_cls, "parameters_for_bench", None)
    dilutors = [c for c in bench.instruments.values() if c.role == "gas_dilutor"]
    if hook is not None and span_hint is not None and len(dilutors) == 1:
        cyl = [(c.port, c.id, c.zero) for c in dilutors[0].cylinders]
        register = _register(db, [c.id for c in dilutors[0].cylinders])
        try:
            out.update(hook(table=table, span=span_hint, cylinders=cyl, register=register))
        except ValueError as exc:
            raise CliError(f"{Path(bench.path).name}: {exc}") from None
    return out


def default_standards(db: Database, bench: BenchConfig) -> list[str]:
    """The lab's standards having a member in one of the roles the bench uses."""
    roles = {c.role for c in bench.instruments.values()}
    with db.read() as s:
        rows = s.execute(
            select(MeasurementStandard.tag, StandardMember.role).join(
                StandardMember, StandardMember.standard_id == MeasurementStandard.id
            )
        ).all()
    return sorted({tag for tag, role in rows if role in roles})


def _materials(parameters: Mapping[str, str]) -> list[str]:
    tags = []
    for key, value in parameters.items():
        if key == "zero_gas" or key.startswith("gas_"):
            m = re.match(r"\s*([^@;\s]+)\s*@", value)
            if m:
                tags.append(m[1])
    return list(dict.fromkeys(tags))


def _parse_params(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for text in items:
        if "=" not in text:
            raise CliError(f"--param {text!r}: expected NAME=VALUE")
        k, v = text.split("=", 1)
        out[k.strip()] = v.strip()
    return out


# ----------------------------------------------------------------------- running


@contextmanager
def bench_instruments(bench: BenchConfig) -> Iterator[tuple[dict[str, Any], Any]]:
    """Connect the bench's instruments (serving a simulated bench in-process)."""
    sim: Any = None
    if bench.simulated:
        from drivers.sim import SimulatedBench

        sim = SimulatedBench(bench).start()
    try:
        try:
            opened = dict(open_instruments(bench, sim.addresses if sim else None))
        except InstrumentError as exc:
            raise CliError(f"{Path(bench.path).name}: {exc}") from None
        try:
            yield opened, sim
        finally:
            for inst in opened.values():
                with contextlib.suppress(Exception):  # best effort: the run has ended
                    inst.close()
    finally:
        if sim is not None:
            sim.stop()


class _Driver:
    """Watches a run from the main thread: progress, prompts, JSON stream."""

    def __init__(
        self,
        *,
        auto: Callable[[Any], Any] | None,
        stream: Callable[[dict[str, Any]], None] | None,
        interactive: bool,
        show_progress: bool,
        progress: Progress | None = None,
        label: str = "",
    ) -> None:
        self.auto = auto
        self.stream = stream
        self.interactive = interactive
        self.human: queue.Queue[PromptRequested] = queue.Queue()
        self.events: queue.Queue[Event] = queue.Queue()
        self.show_progress = show_progress
        self.progress = progress
        self.prefix = f"{label} · " if label else ""
        self.paused_reason = ""

    def answerer(self, prompt: PromptRequested) -> Any:
        if self.auto is not None:
            answer = self.auto(prompt)
            if answer is not None:
                return answer
        self.human.put(prompt)
        return None

    def on_event(self, event: Event) -> None:
        if self.stream is not None:
            if isinstance(event, ReadingsCommitted):
                self.stream({"ack": event.last_seq, "count": event.count})
            elif isinstance(event, StepFinished):
                self.stream({"step_finished": event.step})
        self.events.put(event)

    def watch(self, handle: RunHandle, total: int) -> None:
        if self.progress is not None:
            self._watch(handle, total, self.progress)
            return
        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=_err,
            disable=not self.show_progress,
        )
        with progress:
            self._watch(handle, total, progress)

    def _watch(self, handle: RunHandle, total: int, progress: Progress) -> None:
        task = progress.add_task(f"{self.prefix}run {handle.run_id}", total=total)
        while handle.wait(0.05) is None:
            self._drain(progress, task)
            try:
                prompt = self.human.get_nowait()
            except queue.Empty:
                pass
            else:
                self._ask(handle, prompt, progress)
            if self.paused_reason:
                return
        self._drain(progress, task)
        if self.prefix:
            status = handle.final_status.value if handle.final_status else "ended"
            progress.update(task, description=f"{self.prefix}run {handle.run_id} {status}")

    def _drain(self, progress: Progress, task: Any) -> None:
        while True:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                return
            if isinstance(event, StepStarted):
                progress.update(task, description=f"{self.prefix}{event.step} {event.title}")
            elif isinstance(event, StepFinished):
                progress.update(task, completed=event.index)
            elif isinstance(event, Message) and event.level != "info":
                progress.console.print(f"[yellow]{event.text}[/yellow]", highlight=False)
            elif (
                isinstance(event, StateChanged)
                and event.new == RunStatus.PAUSED
                and "instrument error" in event.reason
            ):
                self.paused_reason = event.reason

    def _ask(self, handle: RunHandle, prompt: PromptRequested, progress: Progress) -> None:
        if not self.interactive:
            handle.abort()
            raise CliError(
                f"prompt {prompt.key!r} ({prompt.text_en}) needs an operator: no automatic "
                "answer in the bench file and no terminal"
            )
        if prompt.error:
            progress.console.print(f"[red]{prompt.error}[/red]", highlight=False)
        suffix = f" [{prompt.unit}]" if prompt.unit else " [yes]"
        progress.stop()
        answer = input(f"{prompt.text_zh} / {prompt.text_en}{suffix}: ")
        progress.start()
        handle.answer(prompt.prompt_id, answer)


def _quantity_json(v: Any) -> Any:
    if isinstance(v, dict) and set(v) == {"value", "unit"}:
        q = from_storage(v["value"], v["unit"])
        return {"value": v["value"], "unit": f"{q.units:~P}" or "1"}
    return v


def collect_results(db: Database, run_id: int) -> list[dict[str, Any]]:
    """The run's results (each quantity as value + unit)."""
    with db.read() as s:
        rows = list(s.scalars(select(Result).where(Result.run_id == run_id).order_by(Result.id)))
        return [
            {
                "test_point": r.test_point,
                "item": r.item,
                "values": {k: _quantity_json(v) for k, v in r.values.items()},
                "verdict": r.verdict.value,
                "decision_rule": r.decision_rule,
            }
            for r in rows
        ]


def execute_run(
    db: Database,
    *,
    procedure_id: str | None,
    bench_path: Path,
    operator: str,
    item_id: int | None = None,
    resume_run: int | None = None,
    auto: bool = False,
    params: Mapping[str, str] | None = None,
    standards: list[str] | None = None,
    materials: list[str] | None = None,
    stream: Callable[[dict[str, Any]], None] | None = None,
    interactive: bool = False,
    show_progress: bool = False,
    time_scale: float | None = None,
    on_simulator: Callable[[Any], None] | None = None,
    auto_override: Callable[[PromptRequested], Any] | None = None,
    progress: Progress | None = None,
    label: str = "",
) -> RunOutcome:
    """Start (or resume) a run on ``bench_path`` and watch it to the end.

    The operator must already be authenticated. Bad input raises :class:`CliError`.
    ``on_simulator`` is called with the started :class:`~drivers.sim.SimulatedBench`
    (its clock and hidden truth, for tests and demos); ``auto_override`` is asked before
    the bench file's automatic answers (None: not answered by it). ``progress``: a rich
    progress display of the caller's to add this run's task to (labelled ``label``),
    instead of one of its own.
    """
    try:
        bench = load_bench(bench_path)
    except BenchFileError as exc:
        raise CliError(str(exc)) from None
    if time_scale is not None and bench.simulated:
        # the simulator and the engine must share one time scale
        bench = dataclasses.replace(bench, time_scale=time_scale)
    if auto and not bench.simulated:
        raise CliError(
            f"{bench_path.name}: --auto answers prompts only on a simulated bench; "
            "this is a real bench"
        )
    registry = discover_procedures()
    bench_sha = hashlib.sha256(bench_path.read_bytes()).hexdigest()
    item: WorkOrderItem | None = None
    raw: dict[str, str] = {}
    if resume_run is not None:
        with db.read() as s:
            run = s.get(Run, resume_run)
            if run is None:
                raise CliError(f"no run {resume_run}")
            if run.operator.username != operator:
                raise CliError(
                    f"run {resume_run} belongs to operator {run.operator.username!r}; "
                    "resume it as that operator"
                )
            procedure_id = run.procedure_version.procedure_id
            raw = dict(run.parameters)
    assert procedure_id is not None
    try:
        cls = registry.get(procedure_id)
    except KeyError as exc:
        raise CliError(str(exc.args[0])) from None
    if resume_run is None:
        if item_id is None:
            raise CliError("--item is required")
        with db.read() as s:
            item = s.get(WorkOrderItem, item_id)
            if item is None:
                raise CliError(f"no work-order item {item_id}")
            if item.procedure_id != procedure_id:
                raise CliError(
                    f"work-order item {item_id} asks for procedure {item.procedure_id!r}, "
                    f"not {procedure_id!r}"
                )
            eq = item.equipment
            span = None
            if eq.range_max is not None and eq.range_unit:
                span = ureg.Quantity(eq.range_max - (eq.range_min or 0.0), eq.range_unit)
            s.expunge(item)
        table = _procedure(cls, {}).table
        raw = bench_parameters(db, cls, table, bench, item, span)
        raw.update(params or {})
    proc = _procedure(cls, raw)
    auto_answer: Callable[[PromptRequested], Any] | None = None
    with bench_instruments(bench) as (opened, sim):
        instruments = _bind(proc, bench, opened)
        if sim is not None and on_simulator is not None:
            on_simulator(sim)
        if auto:
            from_bench = bench_auto_answerer(bench.auto, sim)

            def auto_answer(prompt: PromptRequested) -> Any:
                if auto_override is not None:
                    answer = auto_override(prompt)
                    if answer is not None:
                        return answer
                return from_bench(prompt)

        watcher = _Driver(
            auto=auto_answer,
            stream=stream,
            interactive=interactive,
            show_progress=show_progress,
            progress=progress,
            label=label,
        )
        engine = RunEngine(db, registry)
        try:
            if resume_run is None:
                request = RunRequest(
                    procedure=proc,
                    instruments=instruments,
                    operator=operator,
                    bench_name=bench.name,
                    simulated=bench.simulated,
                    time_scale=time_scale or bench.time_scale,
                    bench_sha256=bench_sha,
                    parameters=raw,
                    standards=standards if standards is not None else default_standards(db, bench),
                    reference_materials=materials if materials is not None else _materials(raw),
                    work_order_item_id=item_id,
                    auto_answer=watcher.answerer,
                )
                handle = engine.start(request, subscribers=[watcher.on_event])
            else:
                handle = engine.resume(
                    resume_run,
                    instruments,
                    procedure=proc,
                    auto_answer=watcher.answerer,
                    time_scale=time_scale or bench.time_scale,
                    subscribers=[watcher.on_event],
                )
        except (EngineError, ValueError) as exc:
            raise CliError(str(exc)) from None
        if stream is not None:
            stream({"run_id": handle.run_id})
        watcher.watch(handle, len(proc.steps()))
        if watcher.paused_reason:
            return RunOutcome(handle.run_id, RunStatus.PAUSED, watcher.paused_reason)
        status = handle.final_status or RunStatus.FAILED
        return RunOutcome(
            handle.run_id, status, handle.final_reason, collect_results(db, handle.run_id)
        )


# ----------------------------------------------------------------------- command


def run_command(
    procedure: Annotated[
        str, typer.Argument(help="Procedure id (e.g. jjg635), or 'resume' to resume a run.")
    ],
    run_id: Annotated[
        int | None, typer.Argument(help="With 'resume': the id of the run to resume.")
    ] = None,
    bench: Annotated[Path, typer.Option("--bench", help="Bench file (TOML).")] = Path(),
    item: Annotated[int | None, typer.Option("--item", help="Work-order item id.")] = None,
    operator: Annotated[str, typer.Option("--operator", help="Your user name.")] = "",
    password_file: Annotated[
        Path | None, typer.Option("--password-file", help="File whose first line is your password.")
    ] = None,
    auto: Annotated[
        bool, typer.Option("--auto", help="Answer prompts from the bench file (simulated only).")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the run id and every result as JSON.")
    ] = False,
    json_stream: Annotated[
        bool,
        typer.Option(
            "--json-stream",
            help="Print JSON lines while running: run id, every acknowledged reading "
            "sequence number ({'ack': N}), finished steps.",
        ),
    ] = False,
    param: Annotated[
        list[str] | None, typer.Option("--param", help="Run parameter NAME=VALUE (repeatable).")
    ] = None,
    standard: Annotated[
        list[str] | None,
        typer.Option("--standard", help="Standard tag in use (repeatable; default: by role)."),
    ] = None,
    material: Annotated[
        list[str] | None,
        typer.Option("--material", help="Reference material tag in use (repeatable)."),
    ] = None,
) -> None:
    """Run PROCEDURE headless on a bench for a work-order ITEM, or resume a run."""
    if not operator:
        raise CliError("--operator is required")
    if bench == Path():
        raise CliError("--bench is required")
    resume = procedure == "resume"
    if resume and run_id is None:
        raise CliError("lims run resume RUN_ID: the run id is missing")
    if not resume and run_id is not None:
        raise CliError(f"unexpected argument {run_id} (did you mean 'lims run resume {run_id}'?)")
    s = settings()
    password = read_password(password_file)
    db = database(s)
    try:
        login(db, operator, password, policy_from(s), purpose="run")

        def emit(obj: dict[str, Any]) -> None:
            sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
            sys.stdout.flush()

        outcome = execute_run(
            db,
            procedure_id=None if resume else procedure,
            bench_path=bench,
            operator=operator,
            item_id=item,
            resume_run=run_id if resume else None,
            auto=auto,
            params=_parse_params(param or []),
            standards=standard,
            materials=material,
            stream=emit if json_stream else None,
            interactive=sys.stdin.isatty() and not auto,
            show_progress=not json_stream,
        )
    finally:
        db.dispose()
    summary = outcome_json(outcome)
    if as_json or json_stream:
        out = {"final": summary} if json_stream else summary
        sys.stdout.write(json.dumps(out, ensure_ascii=False, indent=None if json_stream else 2))
        sys.stdout.write("\n")
    else:
        _print_summary(summary)
    if outcome.exit_code:
        _err.print(
            f"[red]run {outcome.run_id} {outcome.status.value}:[/red] {outcome.reason}",
            highlight=False,
        )
        raise typer.Exit(outcome.exit_code)


def outcome_json(outcome: RunOutcome) -> dict[str, Any]:
    """What ``lims run --json`` prints for a finished run (every quantity as value + unit)."""
    return {
        "run_id": outcome.run_id,
        "status": outcome.status.value,
        "reason": outcome.reason,
        "results": outcome.results,
    }


def _fmt(v: Any) -> str:
    if isinstance(v, dict) and "value" in v and "unit" in v:
        return f"{v['value']:.4g} {v['unit']}"
    return str(v)


def _print_summary(summary: dict[str, Any]) -> None:
    out = Console(soft_wrap=True)
    out.print(f"run {summary['run_id']}: {summary['status']}", highlight=False)
    for r in summary["results"]:
        v = r["values"]
        keys = [
            k
            for k in ("reference", "indication", "error_fs", "error", "mpe", "t90", "drift_fs")
            if k in v
        ]
        shown = ", ".join(f"{k}={_fmt(v[k])}" for k in keys)
        u = v.get("expanded_uncertainty_fs") or v.get("expanded_uncertainty")
        if u is not None:
            shown += f", U={_fmt(u)} (k={v.get('k', 2):.2f})"
        out.print(
            f"  {r['test_point']:<12} {r['item']:<18} {shown}  → {r['verdict']}", highlight=False
        )


run_command.__doc__ = HELP
