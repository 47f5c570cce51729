"""The uncertainty budgets a certificate prints as its annex, from the budgets stored with
the run's results (:func:`lims.quality.budgets.read_budget`, the one reader of every stored
form). ``lims certificate show --budget`` prints the same annex."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.certificates.model import BudgetAnnex, BudgetAnnexLine, ResultSection
from lims.certificates.numbers import quantity_text
from lims.models.runs import Result
from lims.quality.budgets import read_budget
from lims.quality.errors import QualityError
from lims.results import ResultRecord
from lims.results_legacy import LEGACY_TABLE_NOTE, record_of

__all__ = ["budget_annexes", "point_name", "run_budget_annexes"]


def point_name(rec: ResultRecord) -> str:
    """The test point as a result table names it: its label and nominal value."""
    label = rec.point.label
    text = label.zh if label.zh == label.en else f"{label.zh} {label.en}"
    if rec.point.nominal is not None:
        text = f"{text} {quantity_text(rec.point.nominal)}"
    return text


def _finite(x: float) -> float | None:
    return None if math.isinf(x) or math.isnan(x) else float(x)


def _value(x: Any) -> Any:
    return x if hasattr(x, "units") else float(x)


def budget_annexes(
    rows: Sequence[Result], records: Sequence[ResultRecord], sections: Sequence[ResultSection]
) -> tuple[BudgetAnnex, ...]:
    """One annex entry per result that stored a budget, in the order of the results."""
    keys = {s.key for s in sections}
    out = []
    for row, rec in zip(rows, records, strict=True):
        section = rec.characteristic.value
        if not row.budget or section not in keys:
            continue
        try:
            budget = read_budget(row.budget, result_id=row.id, test_point=row.test_point)
        except QualityError:
            continue
        if not budget.lines:
            continue
        out.append(
            BudgetAnnex(
                section=section,
                point=point_name(rec),
                measurand=budget.measurand or rec.characteristic.caption.en,
                value=budget.value,
                lines=tuple(
                    BudgetAnnexLine(
                        component=ln.name,
                        distribution=ln.distribution.label,
                        u=_value(ln.u),
                        sensitivity=_value(ln.sensitivity),
                        contribution=_value(ln.contribution),
                        dof=_finite(ln.dof),
                        value=ln.note,
                    )
                    for ln in budget.lines
                ),
                combined=budget.combined,
                dof_eff=_finite(budget.dof_eff),
                k=float(budget.k),
                expanded=budget.expanded,
            )
        )
    return tuple(out)


def run_budget_annexes(
    session: Session, run_id: int, sections: Sequence[ResultSection]
) -> tuple[BudgetAnnex, ...]:
    """The annex of a run's current results (corrected results replaced)."""
    rows = session.scalars(
        select(Result)
        .where(Result.run_id == run_id, Result.item != LEGACY_TABLE_NOTE)
        .order_by(Result.id)
    ).all()
    corrected = {r.corrects_id for r in rows if r.corrects_id is not None}
    current = [r for r in rows if r.id not in corrected]
    return budget_annexes(current, [record_of(r) for r in current], sections)
