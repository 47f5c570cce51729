"""The two forms in which releases before the result schema stored budgets (procedures'
``budget_record`` and the gas procedures' ``budget_json``), to test that they stay readable."""

from __future__ import annotations

import math
from typing import Any

from lims.calc import UncertaintyBudget
from lims.units import to_storage


def _q(v: Any) -> Any:
    if hasattr(v, "units"):
        magnitude, unit = to_storage(v)
        return {"value": magnitude, "unit": unit}
    return float(v)


def budget_record(budget: UncertaintyBudget) -> dict[str, Any]:
    """The first stored form (lines named ``name``, infinite ν as "inf", the value kept)."""
    return {
        "measurand": budget.measurand,
        "value": _q(budget.value),
        "lines": [
            {
                "name": ln.name,
                "type": ln.kind,
                "distribution": ln.distribution.value,
                "u": _q(ln.u),
                "sensitivity": _q(ln.sensitivity),
                "contribution": _q(ln.contribution),
                "dof": "inf" if math.isinf(ln.dof) else ln.dof,
                "note": ln.note,
            }
            for ln in budget.lines
        ],
        "combined": _q(budget.combined),
        "dof_eff": "inf" if math.isinf(budget.dof_eff) else budget.dof_eff,
        "k": budget.k,
        "expanded": _q(budget.expanded),
        "coverage": budget.coverage_statement,
    }


def budget_json(budget: UncertaintyBudget) -> dict[str, Any]:
    """The second stored form (lines named ``component``, infinite ν as None, p kept)."""
    return {
        "measurand": budget.measurand,
        "lines": [
            {
                "component": ln.name,
                "type": ln.kind,
                "distribution": ln.distribution.value,
                "u": _q(ln.u),
                "sensitivity": _q(ln.sensitivity),
                "contribution": _q(ln.contribution),
                "dof": None if math.isinf(ln.dof) else ln.dof,
                "note": ln.note,
            }
            for ln in budget.lines
        ],
        "combined": _q(budget.combined),
        "dof_eff": None if math.isinf(budget.dof_eff) else budget.dof_eff,
        "k": budget.k,
        "p": budget.p,
        "expanded": _q(budget.expanded),
        "coverage": budget.coverage_statement,
    }
