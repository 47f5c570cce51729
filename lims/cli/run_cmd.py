"""``lims run``: run a procedure headless on a bench, resume a run, show its plan or its
instrument I/O record.

::

    lims run jjg635 --bench examples/benches/gas-analyzer.toml --item 1 --operator zhang \\
        --password-file pw.txt --auto --json
    lims run jjg635 --bench examples/benches/gas-analyzer.toml --item 1 --operator zhang --plan
    lims run resume 12 --bench examples/benches/gas-analyzer.toml --operator zhang --auto
    lims run io 12 --csv

Everything a run uses is planned by :mod:`lims.services.planning` from the lab's records; this
command only shows the plan, watches the run and answers prompts.
"""

from __future__ import annotations

import json
import queue
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from lims.calc.mcm import DEFAULT_SEED
from lims.cli.budget_cmd import show_budgets
from lims.cli.common import CliError, database, read_password, settings
from lims.engine import (
    EngineError,
    Event,
    Message,
    PromptRequested,
    ReadingsCommitted,
    RunHandle,
    StateChanged,
    StepFinished,
    StepStarted,
)
from lims.engine.lease import LeaseHeldError
from lims.models import RunStatus
from lims.quality.accounts import login
from lims.services.lab import policy_from
from lims.services.planning import PlanError
from lims.services.planning.describe import describe_plan
from lims.services.planning.preflight import CheckLine
from lims.services.planning.service import BenchUnfitError, DeviationRequest, PlannedRun
from lims.services.runs import PreflightRefusedError, RunOutcome, execute_run, outcome_json
from lims.units import display_quantity

__all__ = ["HELP", "RichWatcher", "print_plan", "run_command"]

HELP = """Run PROCEDURE headless on a bench for a work-order ITEM, resume a run, or show one.

\b
  lims run PROCEDURE --bench BENCH.toml --item ITEM --operator USER [--auto] [--json]
  lims run PROCEDURE --bench BENCH.toml --item ITEM --operator USER --plan
  lims run resume RUN_ID --bench BENCH.toml --operator USER [--auto] [--json]
  lims run io RUN_ID [--csv] [-o FILE]
  lims run budget RUN_ID --user USER [--point P] [--no-mcm]

\b
Where each run parameter comes from (shown by --plan, stored with the run):
  item      the work-order item's registered data: range (qmin/qmax, span), accuracy
            class, nameplate values (resolution, K-factor, rated power, tariff, …)
  table     the released regulation table (limits, ratios, the method's defaults)
  bench     the bench file: which cylinder on which port, which lot (\\[materials])
  register  the lab's register: reference materials' certificates, standards' U
  operator  --param NAME=VALUE, only for what the item does not state
  override  --deviation NAME=VALUE with --qm USER --reason TEXT: a quality manager's
            recorded deviation from the item (printed on the certificate)
The bench must fit: one instrument per role, the instrument under test is the item
(model, serial), standards and materials valid, each standard used inside the calibrated
range its certificate in force states — else it is refused before any run.
Simulated benches run on a virtual clock from the run day's midnight (same seed, same
results); --pace N plays N simulated seconds per wall second.

\b
Exit status:
   0  completed / 完成
  10  aborted / 中止 (stopped or aborted by the operator)
  11  failed / 失败 (an error in the procedure or the database)
  12  refused / 拒绝 (preflight or a rule check failed: bench, instrument, standard,
      material, operator, environment, table)
  13  paused / 暂停 (instrument error: fix it, then `lims run resume RUN_ID`)
   2  bad input (option, bench file, parameter, login); 3 database unreachable
"""

_err = Console(stderr=True, soft_wrap=True)


class RichWatcher:
    """Watches a run from the main thread: progress, prompts, JSON stream (a
    :class:`~lims.services.runs.RunWatcher`)."""

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
        """Follow the run to its end (or a pause for an instrument error)."""
        if self.stream is not None:
            self.stream({"run_id": handle.run_id})
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


def _pairs(items: list[str], option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for text in items:
        if "=" not in text:
            raise CliError(f"{option} {text!r}: expected NAME=VALUE")
        k, v = text.split("=", 1)
        if not k.strip() or not v.strip():
            raise CliError(f"{option} {text!r}: expected NAME=VALUE")
        out[k.strip()] = v.strip()
    return out


def print_plan(planned: PlannedRun, lines: list[CheckLine], console: Console) -> None:
    """The plan and the preflight checklist, as ``lims run --plan`` shows them."""
    described = describe_plan(planned)
    for text in described.heading:
        console.print(Text(text))
    table = Table(title="参数 Parameters", show_lines=False)
    for col in ("name", "value", "source", "from"):
        table.add_column(col)
    for row in described.parameters:
        table.add_row(row.name, Text(row.value), row.source, Text(row.origin))
    console.print(table)
    for text in described.resources:
        console.print(Text(text))
    for ln in lines:
        mark = "✓" if ln.ok else "✗"
        console.print(Text(f"  {mark} {ln.what}" + (f" — {ln.reason}" if ln.reason else "")))


def run_command(
    procedure: Annotated[
        str,
        typer.Argument(
            help="Procedure id (e.g. jjg635), or 'resume' / 'io' / 'budget' with a run id."
        ),
    ],
    run_id: Annotated[
        int | None, typer.Argument(help="With 'resume', 'io' or 'budget': the id of the run.")
    ] = None,
    bench: Annotated[Path, typer.Option("--bench", help="Bench file (TOML).")] = Path(),
    item: Annotated[int | None, typer.Option("--item", help="Work-order item id.")] = None,
    operator: Annotated[str, typer.Option("--operator", "--user", help="Your user name.")] = "",
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
    show_plan: Annotated[
        bool, typer.Option("--plan", help="Print the plan and the preflight list; run nothing.")
    ] = False,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="NAME=VALUE for a parameter the item does not state."),
    ] = None,
    material: Annotated[
        list[str] | None,
        typer.Option("--material", help="PURPOSE=TAG: the reference-material lot on the bench."),
    ] = None,
    deviation: Annotated[
        list[str] | None,
        typer.Option(
            "--deviation", help="NAME=VALUE contradicting the item (needs --qm, --reason)."
        ),
    ] = None,
    qm: Annotated[str, typer.Option("--qm", help="Quality manager recording the deviations.")] = "",
    qm_password_file: Annotated[
        Path | None, typer.Option("--qm-password-file", help="The quality manager's password file.")
    ] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why the item is deviated from.")] = "",
    pace: Annotated[
        float,
        typer.Option(
            "--pace",
            help="Simulated bench: simulated seconds per wall second (0: as fast as possible).",
        ),
    ] = 0.0,
    csv_out: Annotated[
        bool, typer.Option("--csv", help="With 'io': CSV instead of a table.")
    ] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="With 'io': write to this file.")
    ] = None,
    point: Annotated[
        str | None, typer.Option("--point", help="With 'budget': only this test point.")
    ] = None,
    mcm: Annotated[
        bool,
        typer.Option(
            "--mcm/--no-mcm", help="With 'budget': cross-check with a Monte Carlo propagation."
        ),
    ] = True,
    seed: Annotated[
        int, typer.Option("--seed", help="With 'budget': seed of the Monte Carlo numbers.")
    ] = DEFAULT_SEED,
) -> None:
    """Run PROCEDURE headless on a bench for a work-order ITEM, or resume a run."""
    if procedure in ("io", "budget") and run_id is None:
        raise CliError(f"lims run {procedure} RUN_ID: the run id is missing")
    if procedure == "io" and run_id is not None:
        _io(run_id, csv_out, output)
        return
    if procedure == "budget" and run_id is not None:
        if not operator:
            raise CliError("lims run budget RUN_ID: --user is required")
        show_budgets(run_id, operator, password_file, point=point, mcm=mcm, seed=seed)
        return
    if not operator:
        raise CliError("--operator is required")
    if not pace >= 0 or pace == float("inf"):
        raise CliError(f"--pace {pace}: give a finite number ≥ 0")
    if bench == Path():
        raise CliError("--bench is required")
    resume = procedure == "resume"
    if resume and run_id is None:
        raise CliError("lims run resume RUN_ID: the run id is missing")
    if not resume and run_id is not None:
        raise CliError(f"unexpected argument {run_id} (did you mean 'lims run resume {run_id}'?)")
    values = _pairs(param or [], "--param")
    materials = _pairs(material or [], "--material")
    deviations_asked = _pairs(deviation or [], "--deviation")
    s = settings()
    password = read_password(password_file)
    db = database(s)
    try:
        login(db, operator, password, policy_from(s), purpose="run")
        deviations: list[DeviationRequest] = []
        if deviations_asked:
            if not qm or not reason.strip():
                raise CliError("--deviation needs --qm USER and --reason TEXT")
            qm_password = read_password(qm_password_file, prompt=f"Password of {qm} / 密码: ")
            login(db, qm, qm_password, policy_from(s), purpose="record a deviation")
            deviations = [DeviationRequest(k, v, reason, qm) for k, v in deviations_asked.items()]
        outcome = _execute(
            db,
            procedure=None if resume else procedure,
            bench=bench,
            operator=operator,
            item=item,
            resume_run=run_id if resume else None,
            auto=auto,
            values=values,
            materials=materials,
            deviations=deviations,
            json_stream=json_stream,
            show_plan=show_plan,
            pace=pace,
        )
    finally:
        db.dispose()
    if outcome is None:
        return
    summary = outcome_json(outcome)
    if as_json or json_stream:
        out = {"final": summary} if json_stream else summary
        sys.stdout.write(json.dumps(out, ensure_ascii=False, indent=None if json_stream else 2))
        sys.stdout.write("\n")
    else:
        _print_summary(outcome)
    if outcome.exit_code:
        _err.print(
            Text(f"run {outcome.run_id} {outcome.status.value}: {outcome.reason}", style="red")
        )
        raise typer.Exit(outcome.exit_code)


def _execute(
    db: Any,
    *,
    procedure: str | None,
    bench: Path,
    operator: str,
    item: int | None,
    resume_run: int | None,
    auto: bool,
    values: dict[str, str],
    materials: dict[str, str],
    deviations: list[DeviationRequest],
    json_stream: bool,
    show_plan: bool,
    pace: float,
) -> RunOutcome | None:
    def emit(obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
        sys.stdout.flush()

    def on_plan(planned: PlannedRun, lines: list[CheckLine]) -> None:
        if show_plan:
            print_plan(planned, lines, Console(soft_wrap=True))
            return
        failing = [ln for ln in lines if not ln.ok]
        for ln in failing:
            _err.print(Text(f"✗ {ln.what}: {ln.reason}", style="yellow"))

    watcher = RichWatcher(
        auto=None,
        stream=emit if json_stream else None,
        interactive=sys.stdin.isatty() and not auto,
        show_progress=not json_stream,
    )
    try:
        return execute_run(
            db,
            bench_path=bench,
            operator=operator,
            item_id=item,
            procedure_id=procedure,
            resume_run=resume_run,
            auto=auto,
            values=values,
            materials=materials,
            deviations=deviations,
            watcher=watcher,
            on_plan=on_plan,
            plan_only=show_plan,
            pacing=pace,
        )
    except LeaseHeldError as exc:
        raise CliError(str(exc), exit_code=12) from None
    except PlanError as exc:
        refused = isinstance(exc, PreflightRefusedError | BenchUnfitError)
        raise CliError(str(exc), exit_code=12 if refused else 2) from None
    except (EngineError, ValueError) as exc:
        raise CliError(str(exc)) from None


def _io(run_id: int, as_csv: bool, output: Path | None) -> None:
    from lims.engine.io_record import io_rows, rows_csv
    from lims.models import Run

    db = database(settings())
    try:
        with db.read() as s:
            if s.get(Run, run_id) is None:
                raise CliError(f"no run {run_id}")
            rows = list(io_rows(s, run_id))
    finally:
        db.dispose()
    if as_csv or output is not None:
        text = rows_csv(rows)
        if output is not None:
            output.write_text(text, "utf-8")
            _err.print(Text(f"{len(rows)} exchanges of run {run_id} written to {output}"))
        else:
            sys.stdout.write(text)
        return
    out = Console(soft_wrap=True)
    for r in rows:
        err = f"  ✗ {r.error}" if r.error else ""
        out.print(
            Text(
                f"{r.seq:>6} {r.at.isoformat(timespec='milliseconds')} {r.instrument:<12} "
                f"{r.operation:<6} → {r.sent!r} ← {r.received!r} {r.duration_s * 1000:.1f} ms{err}"
            )
        )


def _print_summary(outcome: RunOutcome) -> None:
    out = Console(soft_wrap=True)
    out.print(Text(f"run {outcome.run_id}: {outcome.status.value}"))
    for r in outcome.results:
        shown = f"{display_quantity(r.value, '.4g')}"
        if r.reference is not None and r.indication is not None:
            shown = (
                f"ref {display_quantity(r.reference, '.6g')}, ind "
                f"{display_quantity(r.indication, '.6g')}, {shown}"
            )
        if r.limit is not None:
            shown += f", limit {r.limit.text()}"
        if r.uncertainty is not None:
            shown += (
                f", U = {display_quantity(r.uncertainty.expanded, '.2g')} "
                f"(k = {r.uncertainty.k:.2f})"
            )
        out.print(
            Text(
                f"  {r.point.label.en:<14} {r.characteristic.value:<18} {shown}  → "
                f"{r.verdict.zh} {r.verdict.en}"
            )
        )


run_command.__doc__ = HELP


app = typer.Typer()  # ``run`` is a command of the root
app.command("run", help=HELP)(run_command)
