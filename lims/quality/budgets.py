"""Uncertainty budgets stored with a run's results: read them (one reader for every
stored form) and cross-check each GUM result with a Monte Carlo propagation.

The procedures store a budget beside each result (``Result.budget``) in one of two
forms written by ``procedures.common.budget_record`` and ``procedures.jjg635.gas.
budget_json``; :func:`read_budget` understands both and is the only place that does.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.calc.mcm import DEFAULT_SEED, GumMcmComparison, McmInput, compare_with_gum
from lims.calc.uncertainty import BUDGET_HEADERS, Distribution
from lims.models.runs import Result, Run
from lims.models.users import User
from lims.quality.errors import NotFoundError, QualityError
from lims.quality.permissions import Permission, require
from lims.results import StoredBudget as SchemaBudget
from lims.results_legacy import record_of
from lims.units import UnitParseError

__all__ = [
    "BUDGET_HEADERS",
    "BudgetCrossCheck",
    "RunBudget",
    "StoredBudgetLine",
    "cross_check",
    "mcm_inputs",
    "read_budget",
    "stored_budgets",
]


@dataclass(frozen=True)
class StoredBudgetLine:
    """One component of a stored budget."""

    name: str
    kind: str
    distribution: Distribution
    u: Any
    sensitivity: Any
    contribution: Any
    """|c·u| in the measurand's unit."""
    dof: float
    note: str


@dataclass(frozen=True)
class RunBudget:
    """A result's stored budget, typed: its lines, u_c, ν_eff, k, p and U."""

    result_id: int
    test_point: str
    item: str
    measurand: str
    value: Any | None
    """The measurand's estimate (None when the stored form did not keep it)."""
    lines: tuple[StoredBudgetLine, ...]
    combined: Any
    dof_eff: float
    k: float
    p: float | None
    """Coverage probability k was chosen for; None for a fixed k."""
    expanded: Any
    coverage: str

    def rows(self, digits: int = 3) -> list[tuple[str, ...]]:
        """Display rows matching :data:`BUDGET_HEADERS`, then u_c (ν_eff) and U (k)."""
        out: list[tuple[str, ...]] = [
            (
                ln.name,
                ln.kind,
                ln.distribution.label,
                _fmt(ln.u, digits),
                _fmt(ln.sensitivity, digits),
                _fmt(ln.contribution, digits),
                _num(ln.dof, digits),
            )
            for ln in self.lines
        ]
        out.append(
            (
                "合成标准不确定度 u_c",
                "",
                "",
                "",
                "",
                _fmt(self.combined, digits),
                _num(self.dof_eff, digits),
            )
        )
        out.append(
            (f"扩展不确定度 U (k = {self.k:.3g})", "", "", "", "", _fmt(self.expanded, digits), "")
        )
        return out


def _num(x: float, digits: int) -> str:
    return "∞" if math.isinf(x) else f"{x:.{digits}g}"


def _fmt(q: Any, digits: int) -> str:
    if not hasattr(q, "units"):
        return _num(float(q), digits)
    return f"{_num(float(q.magnitude), digits)} {q.units:~P}".rstrip()


_P_IN_STATEMENT = re.compile(r"coverage probability ([0-9.]+) %")


def read_budget(
    record: Mapping[str, Any],
    *,
    result_id: int = 0,
    test_point: str = "",
    item: str = "",
    fallback_value: Any | None = None,
) -> RunBudget:
    """A stored budget (any stored form, read by :meth:`lims.results.StoredBudget.from_json`)
    with the result it belongs to."""
    where = f"budget of {test_point or 'result'} {item}".strip()
    try:
        stored = SchemaBudget.from_json(record)
        lines = tuple(
            StoredBudgetLine(
                name=ln.name,
                kind=ln.kind,
                distribution=Distribution(ln.distribution),
                u=ln.u,
                sensitivity=ln.sensitivity,
                contribution=ln.contribution,
                dof=ln.dof,
                note=ln.note,
            )
            for ln in stored.lines
        )
    except (KeyError, TypeError, ValueError, UnitParseError) as exc:
        raise QualityError(f"{where}: not a stored budget ({exc})") from exc
    p = stored.p
    if p is None:
        found = _P_IN_STATEMENT.search(stored.coverage)
        p = float(found[1]) / 100 if found else None
    value = stored.value if "value" in record else fallback_value
    return RunBudget(
        result_id=result_id,
        test_point=test_point,
        item=item,
        measurand=stored.measurand,
        value=value,
        lines=lines,
        combined=stored.combined,
        dof_eff=stored.dof_eff,
        k=stored.k,
        p=p,
        expanded=stored.expanded,
        coverage=stored.coverage,
    )


def stored_budgets(
    session: Session, actor: User, run_id: int, *, point: str | None = None
) -> list[RunBudget]:
    """The budgets of a run's current results (corrected results replaced), in result order."""
    require(actor, Permission.VIEW_RECORDS)
    if session.get(Run, run_id) is None:
        raise NotFoundError(f"run {run_id} does not exist")
    results = list(
        session.scalars(select(Result).where(Result.run_id == run_id).order_by(Result.id))
    )
    corrected = {r.corrects_id for r in results if r.corrects_id is not None}
    out = []
    for r in results:
        if r.id in corrected or not r.budget:
            continue
        if point is not None and r.test_point != point:
            continue
        try:
            fallback = record_of(r).value
        except (ValueError, TypeError):
            fallback = None
        budget = read_budget(
            r.budget, result_id=r.id, test_point=r.test_point, item=r.item, fallback_value=fallback
        )
        if budget.value is not None and (
            not hasattr(budget.value, "units")
            or budget.value.dimensionality != budget.combined.dimensionality
        ):
            budget = replace(budget, value=None)
        out.append(budget)
    if point is not None and not out:
        raise NotFoundError(f"run {run_id} has no budget at test point {point!r}")
    return out


def mcm_inputs(budget: RunBudget) -> list[McmInput]:
    """The budget's lines as inputs of the linear model (contribution in the output unit)."""
    unit = budget.combined.units
    out = []
    for ln in budget.lines:
        scale = ln.contribution.to(unit).magnitude if hasattr(ln.contribution, "units") else 0.0
        out.append(McmInput(ln.name, ln.distribution, float(scale), ln.dof))
    return out


@dataclass(frozen=True)
class BudgetCrossCheck:
    """A stored budget and its Monte Carlo cross-check, in the measurand's unit."""

    budget: RunBudget
    comparison: GumMcmComparison
    unit: str

    @property
    def flagged(self) -> bool:
        """The GUM interval differs from the MCM one by more than JCGM 101's tolerance."""
        return not self.comparison.validated


def cross_check(budget: RunBudget, *, seed: int = DEFAULT_SEED) -> BudgetCrossCheck:
    """Propagate the budget by adaptive MCM and compare with its GUM interval (JCGM 101 §8)."""
    unit = budget.combined.units
    y = float(budget.value.to(unit).magnitude) if budget.value is not None else 0.0
    comparison = compare_with_gum(
        y,
        float(budget.combined.magnitude),
        budget.k,
        mcm_inputs(budget),
        p=budget.p,
        seed=seed,
    )
    return BudgetCrossCheck(budget, comparison, f"{unit:~P}")
