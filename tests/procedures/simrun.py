"""Run a procedure on an in-process simulated bench (shared by the procedure tests)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from drivers.bench import load_bench, open_instruments
from drivers.sim import SimulatedBench
from lims.db import Database
from lims.engine import (
    Event,
    Procedure,
    PromptRequested,
    RunEngine,
    RunRequest,
    bench_auto_answerer,
)
from lims.models import Reading, Result, Run, RunStatus
from lims.security import PasswordPolicy
from lims.services.demo import seed_demo
from lims.units import from_storage

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "benches"


def derive_bench(
    tmp: Path, example: str, patch: Mapping[tuple[str, str], str], name: str = "bench"
) -> Path:
    """A temp bench file: the example bench with values replaced.

    ``patch`` maps (section, key) to the new TOML value text; section "" is the top level,
    e.g. ``{("", "time_scale"): "600", ("instruments.meter.sim", "noise_sd"): '"0.1 %"'}``.
    A key absent from its section is added.
    """
    lines = (EXAMPLES / f"{example}.toml").read_text("utf-8").splitlines()
    todo = dict(patch)
    out: list[str] = []
    section = ""

    def flush(sec: str) -> None:
        for (s, k), v in list(todo.items()):
            if s == sec:
                out.append(f"{k} = {v}")
                del todo[(s, k)]

    for line in lines:
        header = re.match(r"^\s*\[+([^\]]+)\]+\s*$", line)
        if header:
            flush(section)
            section = header[1].strip()
            out.append(line)
            continue
        m = re.match(r'^\s*("?[^=\s"]+"?)\s*=', line)
        if m and (section, m[1].strip('"')) in todo:
            key = m[1].strip('"')
            out.append(f"{m[1]} = {todo.pop((section, key))}")
            continue
        out.append(line)
    flush(section)
    if todo:
        raise KeyError(f"sections not found in {example}: {sorted(todo)}")
    path = tmp / f"{name}.toml"
    path.write_text("\n".join(out) + "\n", "utf-8")
    return path


def seed(db: Database) -> None:
    """The demo lab (technicians authorized for every procedure)."""
    from datetime import date

    with db.write(actor="test-setup") as s:
        seed_demo(s, PasswordPolicy(), date.today())


def sqlite_demo_lab(tmp: Path) -> Iterator[Database]:
    """A migrated SQLite database holding the demo lab (for fixtures)."""
    from lims.db.migrate import upgrade

    db = Database(f"sqlite:///{tmp / 'lims.sqlite3'}")
    upgrade(db.engine)
    seed(db)
    try:
        yield db
    finally:
        db.dispose()


@dataclass
class RunOutcome:
    """What a finished run left in the database, quantities rebuilt with their units."""

    status: RunStatus | None
    reason: str
    run_id: int
    results: dict[tuple[str, str], dict[str, Any]]
    verdicts: dict[tuple[str, str], str]
    budgets: dict[tuple[str, str], dict[str, Any]]
    readings: list[tuple[str, str, Any, str]]
    prompts: list[PromptRequested] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    #: (prompt key, simulated seconds just before and just after the answer was formed)
    answered: list[tuple[str, float, float]] = field(default_factory=list)

    def q(self, point: str, item: str, key: str) -> Any:
        v = self.results[(point, item)][key]
        return from_storage(v["value"], v["unit"])

    def of(self, point: str, quantity: str) -> list[Any]:
        return [v for tp, qn, v, _ in self.readings if tp == point and qn == quantity]


def run_procedure(
    db: Database,
    procedure: Procedure,
    bench_path: Path,
    *,
    parameters: Mapping[str, str] | None = None,
    answers: Mapping[str, Any] | None = None,
    standards: tuple[str, ...] = (),
    materials: tuple[str, ...] = (),
    timeout_s: float = 60.0,
) -> RunOutcome:
    """Serve the bench, bind role slots by role, run with the bench's [auto] answers
    (``answers`` first: prompt key → answer or list of answers given in turn)."""
    bench = load_bench(bench_path)
    prompts: list[PromptRequested] = []
    messages: list[str] = []
    answered: list[tuple[str, float, float]] = []
    given: dict[str, int] = {}

    def record(event: Event) -> None:
        if isinstance(event, PromptRequested):
            prompts.append(event)
        text = getattr(event, "text", None)
        if isinstance(text, str) and type(event).__name__ == "Message":
            messages.append(text)

    with SimulatedBench(bench) as sim:
        instruments = open_instruments(bench, sim.addresses)
        try:
            by_role = {bench.instruments[n].role: d for n, d in instruments.items()}
            bound = {slot: by_role[role] for slot, role in procedure.roles.items()}
            auto = bench_auto_answerer(bench.auto, sim)

            def answer(prompt: PromptRequested) -> Any:
                before = sim.clock.now()
                value = _answer(prompt)
                answered.append((prompt.key, before, sim.clock.now()))
                return value

            def _answer(prompt: PromptRequested) -> Any:
                if answers and prompt.key in answers:
                    seq = answers[prompt.key]
                    if not isinstance(seq, list):
                        return seq
                    i = given.get(prompt.key, 0)
                    given[prompt.key] = i + 1
                    if i < len(seq) and seq[i] is not None:
                        return seq[i]
                return auto(prompt)

            request = RunRequest(
                procedure=procedure,
                instruments=bound,
                operator="zhang",
                bench_name=bench.name,
                simulated=True,
                time_scale=bench.time_scale,
                parameters=dict(parameters or {}),
                standards=standards,
                reference_materials=materials,
                auto_answer=answer,
            )
            handle = RunEngine(db).start(request, subscribers=[record])
            status = handle.wait(timeout_s)
            if status is None:
                handle.abort()
                handle.wait(10)
                raise AssertionError(
                    f"run did not finish in time; prompts {[p.key for p in prompts]}, "
                    f"messages {messages}"
                )
        finally:
            for d in instruments.values():
                d.close()
    with db.read() as s:
        run = s.get(Run, handle.run_id)
        assert run is not None
        results = {}
        verdicts = {}
        budgets = {}
        for r in s.scalars(select(Result).where(Result.run_id == run.id)):
            results[(r.test_point, r.item)] = dict(r.values)
            verdicts[(r.test_point, r.item)] = r.verdict.value
            budgets[(r.test_point, r.item)] = dict(r.budget or {})
        readings = [
            (r.test_point, r.quantity, from_storage(r.magnitude, r.unit), r.source)
            for r in s.scalars(
                select(Reading).where(Reading.run_id == run.id).order_by(Reading.seq)
            )
        ]
        return RunOutcome(
            run.status,
            run.status_reason,
            run.id,
            results,
            verdicts,
            budgets,
            readings,
            prompts,
            messages,
            answered,
        )
