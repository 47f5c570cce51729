"""Run every demo work-order item's procedure on its simulated example bench.

Each run goes through the same path as ``lims run PROC --bench B --item ID --operator
zhang --auto``: the operator logs in, the run is planned from the item and the bench
(:mod:`lims.services.planning`), the simulated bench is served in-process on a virtual clock, the
prompts are answered from the bench file's ``[auto]`` table and the run engine records
readings and results (:func:`lims.services.runs.execute_run`). One
:class:`DemoRunSummary` per run says how it ended, its overall verdict and its key figure;
``after_run`` is called with each summary as soon as its run has ended (the place to issue
the run's certificate).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table
from sqlalchemy import select

from lims.config import Settings
from lims.db import Database
from lims.models import RunStatus, WorkOrderItem
from lims.quality.accounts import login
from lims.results import ResultRecord
from lims.services.demo import DEMO_USERS
from lims.services.demo_onsite import mark_demo_run_on_site
from lims.services.lab import policy_from
from lims.services.planning import PlanError
from lims.services.runs import RunOutcome, RunWatcher, SilentWatcher, execute_run
from lims.units import display_quantity
from lims.vocabulary import Verdict, worst_verdict

__all__ = [
    "DEMO_BENCHES",
    "EXAMPLE_BENCHES",
    "DemoRunPlan",
    "DemoRunSummary",
    "check_benches",
    "demo_plan",
    "key_figure",
    "overall_verdict",
    "run_demo_procedures",
    "summary_table",
]

#: Where the bench files shipped with the application live.
EXAMPLE_BENCHES = Path(__file__).resolve().parents[2] / "examples" / "benches"

#: The example bench file each demo procedure runs on.
DEMO_BENCHES: Mapping[str, str] = {
    "jjg635": "gas-analyzer.toml",
    "gas-analyzer-cal": "ch4-analyzer.toml",
    "jjg1037-gas-flowmeter": "gas-flowmeter.toml",
    "jjg1148-ac-pile": "ac-pile.toml",
    "jjg1149-dc-charger": "dc-charger.toml",
    "elemental-analyzer-cal": "elemental-analyzer.toml",
    # fuel laboratory
    "jjg672-bomb-calorimeter": "bomb-calorimeter.toml",
    "jjg1006-sulfur-analyzer": "sulfur-analyzer.toml",
    # on site (lims/services/demo_onsite.py)
    "jjg195-belt-scale": "belt-scale.toml",
    "hj75-co2-cems": "co2-cems.toml",
}

#: The demo technician who performs the runs.
DEMO_OPERATOR = "zhang"


_STATUS_ZH = {
    RunStatus.COMPLETED: "完成",
    RunStatus.ABORTED: "中止",
    RunStatus.FAILED: "失败",
    RunStatus.REFUSED: "拒绝",
    RunStatus.PAUSED: "暂停",
    RunStatus.QUEUED: "排队",
    RunStatus.RUNNING: "运行中",
}


@dataclass(frozen=True)
class DemoRunPlan:
    """One demo work-order item and the bench its procedure runs on."""

    item_id: int
    procedure_id: str
    work_order: str
    equipment: str
    bench: Path


@dataclass(frozen=True)
class DemoRunSummary:
    """How one demo run ended.

    ``outcome`` holds what ``lims run --json`` prints for the run
    (:func:`lims.cli.run_cmd.outcome_json`); ``run_id`` identifies the run for
    whatever follows it (review, certificate).
    """

    plan: DemoRunPlan
    run_id: int
    status: RunStatus
    reason: str
    result_count: int
    verdict: Verdict | None
    """The run's overall verdict (None: the run did not complete)."""
    key_figure: str
    wall_s: float
    outcome: RunOutcome

    @property
    def procedure_id(self) -> str:
        """The procedure run."""
        return self.plan.procedure_id

    @property
    def item_id(self) -> int:
        """The work-order item run."""
        return self.plan.item_id

    @property
    def verdict_label(self) -> str:
        """The overall verdict as shown in the summary, Chinese first."""
        if self.verdict is None:
            return "无：运行未完成 none: run not completed"
        return self.verdict.label


def check_benches(benches: Path = EXAMPLE_BENCHES) -> None:
    """Raise :class:`PlanError` naming the first demo bench file missing from ``benches``."""
    for procedure_id, name in DEMO_BENCHES.items():
        if not (benches / name).is_file():
            raise PlanError(
                f"{benches / name}: bench file of demo procedure {procedure_id} not found"
            )


def demo_plan(db: Database, benches: Path = EXAMPLE_BENCHES) -> list[DemoRunPlan]:
    """The demo lab's work-order items, in order, each with its example bench file.

    Raises :class:`PlanError` naming the first bench file that is missing.
    """
    check_benches(benches)
    out: list[DemoRunPlan] = []
    with db.read() as s:
        items = s.scalars(
            select(WorkOrderItem)
            .where(WorkOrderItem.procedure_id.in_(list(DEMO_BENCHES)))
            .order_by(WorkOrderItem.id)
        )
        for item in items:
            out.append(
                DemoRunPlan(
                    item_id=item.id,
                    procedure_id=item.procedure_id,
                    work_order=item.work_order.number,
                    equipment=item.equipment.description,
                    bench=benches / DEMO_BENCHES[item.procedure_id],
                )
            )
    return out


def run_demo_procedures(
    db: Database,
    settings: Settings,
    *,
    benches: Path = EXAMPLE_BENCHES,
    operator: str = DEMO_OPERATOR,
    password: str | None = None,
    watcher_for: Callable[[DemoRunPlan], RunWatcher] | None = None,
    after_run: Callable[[DemoRunSummary], None] | None = None,
    pacing: float = 0.0,
) -> list[DemoRunSummary]:
    """Run each demo item's procedure on its simulated bench, one after the other.

    ``operator`` logs in before each run as ``lims run`` does (``password``: the demo
    account's when None). ``watcher_for`` gives each run its watcher (a progress display;
    default: a silent one). ``after_run`` is called with each summary when its run has
    ended. Bad input (a missing bench file, a bench that does not fit its item) raises
    :class:`PlanError`; a run that ends without completing is reported in its summary,
    and the next run still starts.
    """
    if password is None:
        password = next(u.password for u in DEMO_USERS if u.username == operator)
    plans = demo_plan(db, benches)
    summaries: list[DemoRunSummary] = []
    for plan in plans:
        login(db, operator, password, policy_from(settings), purpose="run")
        started = time.perf_counter()
        watcher = watcher_for(plan) if watcher_for is not None else SilentWatcher()
        outcome = execute_run(
            db,
            bench_path=plan.bench,
            operator=operator,
            item_id=plan.item_id,
            procedure_id=plan.procedure_id,
            auto=True,
            watcher=watcher,
            pacing=pacing,
        )
        assert outcome is not None
        if outcome.status == RunStatus.COMPLETED:
            mark_demo_run_on_site(db, outcome.run_id, plan.item_id, operator)
        wall = time.perf_counter() - started
        summary = _summarize(plan, outcome, wall)
        summaries.append(summary)
        if after_run is not None:
            after_run(summary)
    return summaries


def _summarize(plan: DemoRunPlan, outcome: RunOutcome, wall: float) -> DemoRunSummary:
    completed = outcome.status == RunStatus.COMPLETED
    return DemoRunSummary(
        plan=plan,
        run_id=outcome.run_id,
        status=outcome.status,
        reason=outcome.reason,
        result_count=len(outcome.results),
        verdict=overall_verdict(r.verdict for r in outcome.results) if completed else None,
        key_figure=key_figure(outcome.results),
        wall_s=wall,
        outcome=outcome,
    )


def overall_verdict(verdicts: Iterable[Verdict]) -> Verdict:
    """A run's verdict: the worst of its results' (fail before undetermined before pass);
    NOT_STATED when no result states conformity (a calibration)."""
    return worst_verdict(verdicts)


def key_figure(results: Iterable[ResultRecord]) -> str:
    """The run's key figure from its results.

    With limits (a verification): the largest |value| / |limit| and where it is, e.g.
    ``max |E|/MPE 0.52 (50 %FS 点 50 %FS point: 1.04 %FS, MPE ±2 %FS)``. Without (a
    calibration): the largest |error| with its expanded uncertainty. Points are named by
    their bilingual label, never by their internal key.
    """
    worst: tuple[float, str] | None = None
    largest: tuple[float, str] | None = None
    for r in results:
        if r.limit is not None and r.verdict is not Verdict.NOT_STATED:
            if r.limit.value.magnitude == 0:
                continue
            ratio = float(abs(r.value.to(r.limit.value.units).magnitude)) / abs(
                float(r.limit.value.magnitude)
            )
            text = (
                f"max |E|/MPE {ratio:.2f} ({r.point.label.joined(' ')}: "
                f"{display_quantity(r.value, '.3g')}, "
                f"MPE {r.limit.text()})"
            )
            if worst is None or ratio > worst[0]:
                worst = (ratio, text)
        elif r.form.value in ("absolute", "relative", "fiducial"):
            size = float(abs(r.value.magnitude))
            text = f"max |E| {display_quantity(abs(r.value), '.3g')} ({r.point.label.joined(' ')}"
            if r.uncertainty is not None:
                text += f": U = {display_quantity(r.uncertainty.expanded, '.2g')}"
            text += ")"
            if largest is None or size > largest[0]:
                largest = (size, text)
    if worst is not None:
        return worst[1]
    if largest is not None:
        return largest[1]
    return "—"


def summary_table(summaries: Iterable[DemoRunSummary]) -> Table:
    """The per-procedure summary: procedure, item, run, status, results, verdict, key figure."""
    table = Table(title="示范运行结果 Demo run results", show_lines=False)
    table.add_column("程序 Procedure")
    table.add_column("委托项 Item")
    table.add_column("运行 Run", justify="right")
    table.add_column("状态 Status")
    table.add_column("结果数 Results", justify="right")
    table.add_column("结论 Verdict")
    table.add_column("关键数据 Key figure")
    table.add_column("用时 Wall", justify="right")
    for s in summaries:
        status = f"{_STATUS_ZH.get(s.status, '')} {s.status.value}".strip()
        if s.status != RunStatus.COMPLETED and s.reason:
            status += f": {s.reason}"
        table.add_row(
            s.procedure_id,
            f"{s.item_id} · {s.plan.work_order}",
            str(s.run_id),
            status,
            str(s.result_count),
            s.verdict_label,
            s.key_figure,
            f"{s.wall_s:.1f} s",
        )
    return table
