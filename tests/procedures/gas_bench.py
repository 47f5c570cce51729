"""Gas-analyzer benches for the procedure tests: example benches with injected physics,
runs through ``lims run``'s engine path, and what the run left in the database."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from lims.db import Database
from lims.db.migrate import upgrade
from lims.models import Reading, Result, Run, RunStatus
from lims.results import ResultRecord
from lims.results_legacy import record_of
from lims.security import PasswordPolicy
from lims.services.demo import seed_demo
from lims.services.runs import SilentWatcher, execute_run
from lims.units import from_storage
from tests.procedures.records import field

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "benches"


def derive(tmp: Path, example: str, patch: Mapping[tuple[str, str], str], name: str) -> Path:
    """The example bench with ``(section, key) → TOML value`` replaced (section "" = top)."""
    todo = dict(patch)
    out: list[str] = []
    section = ""
    for line in (EXAMPLES / f"{example}.toml").read_text("utf-8").splitlines():
        header = re.match(r"^\s*\[+([^\]]+)\]+", line)
        if header:
            section = header[1].strip()
        m = re.match(r'^\s*"?([^=\s"]+)"?\s*=', line)
        if not header and m and (section, m[1]) in todo:
            out.append(f"{m[1]} = {todo.pop((section, m[1]))}")
        else:
            out.append(line)
    assert not todo, f"not found in {example}: {sorted(todo)}"
    path = tmp / f"{name}.toml"
    path.write_text("\n".join(out) + "\n", "utf-8")
    return path


def analyzer_bench(
    tmp: Path,
    example: str,
    name: str,
    *,
    time_scale: float,
    **physics: str,
) -> Path:
    """``example`` with the analyzer's physics replaced (values as TOML strings' content)."""
    patch = {("", "time_scale"): f"{time_scale:g}"}
    patch.update({("instruments.analyzer.sim", k): f'"{v}"' for k, v in physics.items()})
    return derive(tmp, example, patch, name)


def demo_lab(url: str) -> Database:
    """A migrated database at ``url`` holding the demo lab."""
    db = Database(url)
    upgrade(db.engine)
    with db.write(actor="test-setup") as s:
        seed_demo(s, PasswordPolicy(), date.today())
    return db


@dataclass
class Stored:
    """A finished run as stored: results by (test point, item), readings in order."""

    run_id: int
    status: RunStatus
    reason: str
    results: dict[tuple[str, str], ResultRecord]
    verdicts: dict[tuple[str, str], str]
    rules: dict[tuple[str, str], str | None]
    readings: list[tuple[int, str, str, Any, datetime]]

    def q(self, point: str, item: str, key: str) -> Any:
        """A result value by the test's name for it (see :func:`records.field`)."""
        return field(self.results[(point, item)], key)

    def values(self, point: str, quantity: str) -> list[Any]:
        """Reading values of a test point and quantity, in order."""
        return [v for _, tp, qn, v, _ in self.readings if tp == point and qn == quantity]

    def times(self, point: str, quantity: str) -> list[datetime]:
        """When those readings were taken (UTC)."""
        return [t for _, tp, qn, _, t in self.readings if tp == point and qn == quantity]


def load(db: Database, run_id: int) -> Stored:
    """What run ``run_id`` left in the database."""
    with db.read() as s:
        run = s.get(Run, run_id)
        assert run is not None
        results, verdicts, rules = {}, {}, {}
        for r in s.scalars(select(Result).where(Result.run_id == run_id)):
            results[(r.test_point, r.item)] = record_of(r)
            verdicts[(r.test_point, r.item)] = r.verdict.value
            rules[(r.test_point, r.item)] = r.decision_rule
        readings = [
            (r.seq, r.test_point, r.quantity, from_storage(r.magnitude, r.unit), r.taken_at)
            for r in s.scalars(
                select(Reading).where(Reading.run_id == run_id).order_by(Reading.seq)
            )
        ]
        return Stored(run_id, run.status, run.status_reason, results, verdicts, rules, readings)


def run(
    db: Database,
    procedure: str,
    bench: Path,
    item: int,
    params: Mapping[str, str] | None = None,
    answers: Callable[[Any], Any] | None = None,
) -> tuple[Stored, Any]:
    """Run ``procedure`` for work-order ``item`` on ``bench`` with the bench's [auto] answers
    (``answers`` asked first), planned like ``lims run``; returns what was stored and the
    simulator's clock."""
    seen: list[Any] = []
    outcome = execute_run(
        db,
        procedure_id=procedure,
        bench_path=bench,
        operator="zhang",
        item_id=item,
        auto=True,
        values=params,
        watcher=SilentWatcher(),
        on_simulator=seen.append,
        auto_override=answers,
    )
    assert outcome is not None
    return load(db, outcome.run_id), seen[0].clock
