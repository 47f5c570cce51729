"""Run a procedure on an in-process simulated bench (shared by the procedure tests)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from lims.db import Database
from lims.engine import Event, PromptRequested
from lims.models import Reading, Result, Run, RunStatus, WorkOrderItem
from lims.results import ResultRecord
from lims.results_legacy import record_of
from lims.security import PasswordPolicy
from lims.services.demo import seed_demo
from lims.services.runs import SilentWatcher, execute_run
from lims.units import from_storage
from tests.procedures.records import field as result_field

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
    results: dict[tuple[str, str], ResultRecord]
    verdicts: dict[tuple[str, str], str]
    budgets: dict[tuple[str, str], dict[str, Any]]
    readings: list[tuple[str, str, Any, str]]
    prompts: list[PromptRequested] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    #: (prompt key, simulated seconds just before and just after the answer was formed)
    answered: list[tuple[str, float, float]] = field(default_factory=list)

    def q(self, point: str, item: str, key: str) -> Any:
        """A result value by the test's name for it (see :func:`records.field`)."""
        return result_field(self.results[(point, item)], key)

    def of(self, point: str, quantity: str) -> list[Any]:
        return [v for tp, qn, v, _ in self.readings if tp == point and qn == quantity]


class _Watcher(SilentWatcher):
    def __init__(self, record: Any) -> None:
        super().__init__()
        self._record = record

    def on_event(self, event: Event) -> None:
        super().on_event(event)
        self._record(event)


def item_of(db: Database, procedure_id: str) -> int:
    """The demo lab's work-order item for ``procedure_id``."""
    with db.read() as s:
        items = s.scalars(
            select(WorkOrderItem.id).where(WorkOrderItem.procedure_id == procedure_id)
        ).all()
        assert len(items) == 1, (procedure_id, items)
        return int(items[0])


def set_item(db: Database, procedure_id: str, **specs: str) -> int:
    """Register nameplate data on the demo item of ``procedure_id`` (an audited change)."""
    item_id = item_of(db, procedure_id)
    with db.write(actor="test-setup", reason="item data for the test") as s:
        item = s.get(WorkOrderItem, item_id)
        assert item is not None
        item.equipment.specs = {**item.equipment.specs, **specs}
    return item_id


def run_procedure(
    db: Database,
    procedure: Any,
    bench_path: Path,
    *,
    parameters: Mapping[str, str] | None = None,
    item: Mapping[str, str] | None = None,
    answers: Mapping[str, Any] | None = None,
    timeout_s: float = 60.0,
) -> RunOutcome:
    """Plan and run ``procedure`` (an id or an instance) for the demo lab's item on
    ``bench_path``, as ``lims run`` does, with the bench's [auto] answers (``answers``
    first: prompt key → answer or list of answers given in turn). ``item`` registers
    nameplate data on the item; ``parameters`` are what an operator types for values the
    item does not state."""
    procedure_id = procedure if isinstance(procedure, str) else procedure.id
    item_id = set_item(db, procedure_id, **dict(item or {}))
    prompts: list[PromptRequested] = []
    messages: list[str] = []
    answered: list[tuple[str, float, float]] = []
    given: dict[str, int] = {}
    sims: list[Any] = []

    def record(event: Event) -> None:
        if isinstance(event, PromptRequested):
            prompts.append(event)
        text = getattr(event, "text", None)
        if isinstance(text, str) and type(event).__name__ == "Message":
            messages.append(text)

    def first(prompt: PromptRequested) -> Any:
        clock = sims[0].clock
        before = clock.now()
        value = None
        if answers and prompt.key in answers:
            seq = answers[prompt.key]
            if not isinstance(seq, list):
                value = seq
            else:
                i = given.get(prompt.key, 0)
                given[prompt.key] = i + 1
                value = seq[i] if i < len(seq) else None
        answered.append((prompt.key, before, clock.now()))
        return value

    outcome = execute_run(
        db,
        bench_path=bench_path,
        operator="zhang",
        item_id=item_id,
        procedure_id=procedure_id,
        auto=True,
        values=dict(parameters or {}),
        watcher=_Watcher(record),
        on_simulator=sims.append,
        auto_override=first,
    )
    assert outcome is not None
    with db.read() as s:
        run = s.get(Run, outcome.run_id)
        assert run is not None
        results = {}
        verdicts = {}
        budgets = {}
        for r in s.scalars(select(Result).where(Result.run_id == run.id)):
            results[(r.test_point, r.item)] = record_of(r)
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
