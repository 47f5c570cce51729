"""Run every demo work-order item's procedure on its simulated example bench.

Each run goes through the same path as ``lims run PROC --bench B --item ID --operator
zhang --auto``: the operator logs in, the bench file is served in-process by a
:class:`~drivers.sim.SimulatedBench`, the prompts are answered from the bench file's
``[auto]`` table and the run engine records readings and results
(:func:`lims.cli.run_cmd.execute_run`). One :class:`DemoRunSummary` per run says how it
ended, its overall verdict and its key figure; ``after_run`` is called with each summary
as soon as its run has ended (the place to issue the run's certificate).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from rich.progress import Progress
from rich.table import Table
from sqlalchemy import select

from lims.cli.common import CliError
from lims.cli.run_cmd import RunOutcome, execute_run
from lims.config import Settings
from lims.db import Database
from lims.models import Result, RunStatus, Verdict, WorkOrderItem
from lims.quality.accounts import login
from lims.services.demo import DEMO_USERS
from lims.services.lab import policy_from
from lims.units import display_unit, from_storage

__all__ = [
    "DEMO_BENCHES",
    "EXAMPLE_BENCHES",
    "DemoRunPlan",
    "DemoRunSummary",
    "OverallVerdict",
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
}

#: The demo technician who performs the runs.
DEMO_OPERATOR = "zhang"


class OverallVerdict(StrEnum):
    """The verdict of a whole run, from its results' verdicts."""

    PASS = "pass"
    FAIL = "fail"
    UNDETERMINED = "undetermined"
    CONDITIONAL_PASS = "conditional pass"
    CONDITIONAL_FAIL = "conditional fail"
    NO_STATEMENT = "calibration: no statement"
    NONE = "none: run not completed"

    @property
    def label(self) -> str:
        """Chinese first, English beside it."""
        return _VERDICT_ZH[self] + " " + self.value


_VERDICT_ZH = {
    OverallVerdict.PASS: "合格",
    OverallVerdict.FAIL: "不合格",
    OverallVerdict.UNDETERMINED: "待定",
    OverallVerdict.CONDITIONAL_PASS: "有条件合格",
    OverallVerdict.CONDITIONAL_FAIL: "有条件不合格",
    OverallVerdict.NO_STATEMENT: "校准：不作符合性声明",
    OverallVerdict.NONE: "无：运行未完成",
}

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
    verdict: OverallVerdict
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


def check_benches(benches: Path = EXAMPLE_BENCHES) -> None:
    """Raise :class:`CliError` naming the first demo bench file missing from ``benches``."""
    for procedure_id, name in DEMO_BENCHES.items():
        if not (benches / name).is_file():
            raise CliError(
                f"{benches / name}: bench file of demo procedure {procedure_id} not found"
            )


def demo_plan(db: Database, benches: Path = EXAMPLE_BENCHES) -> list[DemoRunPlan]:
    """The demo lab's work-order items, in order, each with its example bench file.

    Raises :class:`CliError` naming the first bench file that is missing.
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
    progress: Progress | None = None,
    time_scale: float | None = None,
    after_run: Callable[[DemoRunSummary], None] | None = None,
) -> list[DemoRunSummary]:
    """Run each demo item's procedure on its simulated bench, one after the other.

    ``operator`` logs in before each run as ``lims run`` does (``password``: the demo
    account's when None). ``progress`` shows an overall task and one task per run.
    ``time_scale`` overrides the bench files' (None: as the files say). ``after_run`` is
    called with each summary when its run has ended. Bad input (a missing bench file, a
    bench that does not fit its procedure) raises :class:`CliError`; a run that ends
    without completing is reported in its summary, and the next run still starts.
    """
    if password is None:
        password = next(u.password for u in DEMO_USERS if u.username == operator)
    plans = demo_plan(db, benches)
    overall = None
    if progress is not None:
        overall = progress.add_task("示范运行 Demo runs", total=len(plans))
    summaries: list[DemoRunSummary] = []
    for plan in plans:
        login(db, operator, password, policy_from(settings), purpose="run")
        started = time.perf_counter()
        outcome = execute_run(
            db,
            procedure_id=plan.procedure_id,
            bench_path=plan.bench,
            operator=operator,
            item_id=plan.item_id,
            auto=True,
            time_scale=time_scale,
            progress=progress,
            label=f"{plan.procedure_id} (item {plan.item_id})",
        )
        wall = time.perf_counter() - started
        summary = _summarize(db, plan, outcome, wall)
        summaries.append(summary)
        if overall is not None and progress is not None:
            progress.advance(overall)
        if after_run is not None:
            after_run(summary)
    return summaries


def _summarize(db: Database, plan: DemoRunPlan, outcome: RunOutcome, wall: float) -> DemoRunSummary:
    with db.read() as s:
        rows = [
            (r.test_point, r.item, dict(r.values), r.verdict)
            for r in s.scalars(select(Result).where(Result.run_id == outcome.run_id))
        ]
    completed = outcome.status == RunStatus.COMPLETED
    return DemoRunSummary(
        plan=plan,
        run_id=outcome.run_id,
        status=outcome.status,
        reason=outcome.reason,
        result_count=len(rows),
        verdict=overall_verdict([v for *_, v in rows]) if completed else OverallVerdict.NONE,
        key_figure=key_figure([(tp, item, values) for tp, item, values, _ in rows]),
        wall_s=wall,
        outcome=outcome,
    )


def overall_verdict(verdicts: Iterable[Verdict]) -> OverallVerdict:
    """A run's verdict: fail before undetermined before pass; results without a
    statement (a calibration, the regulation-table note) do not count."""
    found = set(verdicts) - {Verdict.NOT_STATED}
    for verdict, overall in (
        (Verdict.FAIL, OverallVerdict.FAIL),
        (Verdict.CONDITIONAL_FAIL, OverallVerdict.CONDITIONAL_FAIL),
        (Verdict.UNDETERMINED, OverallVerdict.UNDETERMINED),
        (Verdict.CONDITIONAL_PASS, OverallVerdict.CONDITIONAL_PASS),
        (Verdict.PASS, OverallVerdict.PASS),
    ):
        if verdict in found:
            return overall
    return OverallVerdict.NO_STATEMENT


#: Result values that are an error, tried in this order against the result's MPE.
_ERROR_KEYS = ("error_fs", "drift_fs", "error", "drift")
_UNCERTAINTY_KEYS = ("expanded_uncertainty", "U")


def _quantity(values: Mapping[str, Any], key: str) -> Any | None:
    v = values.get(key)
    if isinstance(v, dict) and set(v) == {"value", "unit"}:
        return from_storage(v["value"], v["unit"])
    return None


def _compatible(a: Any, b: Any) -> bool:
    return bool(a.dimensionality == b.dimensionality)


def _unit(q: Any) -> str:
    return display_unit(q)


def key_figure(results: Iterable[tuple[str, str, Mapping[str, Any]]]) -> str:
    """The run's key figure from its results ``(test point, item, stored values)``.

    With MPEs (a verification): the largest |error| / |MPE| and where it is, e.g.
    ``max |E|/MPE 0.52 (P50: 1.04 %FS, MPE ±2 %FS)``. Without (a calibration): the
    largest |error| with its expanded uncertainty, e.g. ``max |E| 0.44 µmol/mol (P80:
    U = 0.8 µmol/mol)``.
    """
    worst: tuple[float, str] | None = None
    largest: tuple[float, str] | None = None
    for point, _item, values in results:
        mpe = _quantity(values, "mpe")
        errors = [q for k in _ERROR_KEYS if (q := _quantity(values, k)) is not None]
        if mpe is not None and mpe.magnitude != 0:
            error = next((q for q in errors if _compatible(q, mpe)), None)
            if error is None:
                continue
            ratio = float(abs(error.to(mpe.units).magnitude) / abs(mpe.magnitude))
            text = (
                f"max |E|/MPE {ratio:.2f} ({point}: {error.magnitude:.3g} {_unit(error)}, "
                f"MPE ±{abs(mpe.magnitude):g} {_unit(mpe)})"
            )
            if worst is None or ratio > worst[0]:
                worst = (ratio, text)
        elif errors:
            plain = _quantity(values, "error")
            error = plain if plain is not None else errors[0]
            size = float(abs(error.magnitude))
            u = next(
                (q for k in _UNCERTAINTY_KEYS if (q := _quantity(values, k)) is not None), None
            )
            text = f"max |E| {size:.3g} {_unit(error)} ({point}"
            if u is not None and _compatible(u, error):
                text += f": U = {u.to(error.units).magnitude:.2g} {_unit(error)}"
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
            s.verdict.label,
            s.key_figure,
            f"{s.wall_s:.1f} s",
        )
    return table
