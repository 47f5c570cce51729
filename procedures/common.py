"""Helpers shared by the procedures: decisions, budgets as stored data, sources.

Nothing here computes a measurement result of its own: the numbers come from
:mod:`lims.calc`; this module only turns them into the form a result row stores.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lims.calc import Decision, UncertaintyBudget, get_rule
from lims.calc import Verdict as CalcVerdict
from lims.engine import RegulationTable
from lims.models.enums import Verdict
from lims.units import to_storage

__all__ = [
    "budget_record",
    "combined_sha256",
    "decision_values",
    "parse_decision_rule",
    "quantity_record",
    "record_verdict",
    "unverified_used",
    "worst",
]


def quantity_record(q: Any) -> dict[str, Any]:
    """A Quantity as stored data: ``{"value": magnitude, "unit": canonical unit}``."""
    magnitude, unit = to_storage(q)
    return {"value": magnitude, "unit": unit}


def _number(x: float) -> float | str:
    return "inf" if math.isinf(x) else x


def budget_record(budget: UncertaintyBudget) -> dict[str, Any]:
    """An uncertainty budget as JSON-safe data (every quantity with its unit)."""
    return {
        "measurand": budget.measurand,
        "value": quantity_record(budget.value),
        "lines": [
            {
                "name": ln.name,
                "type": ln.kind,
                "distribution": ln.distribution.value,
                "u": quantity_record(ln.u),
                "sensitivity": quantity_record(ln.sensitivity)
                if hasattr(ln.sensitivity, "units")
                else float(ln.sensitivity),
                "contribution": quantity_record(ln.contribution),
                "dof": _number(ln.dof),
                "note": ln.note,
            }
            for ln in budget.lines
        ],
        "combined": quantity_record(budget.combined),
        "dof_eff": _number(budget.dof_eff),
        "k": budget.k,
        "expanded": quantity_record(budget.expanded),
        "coverage": budget.coverage_statement,
    }


def record_verdict(v: CalcVerdict) -> Verdict:
    """The stored verdict for a calculated one."""
    return Verdict(v.value)


def worst(verdicts: Iterable[Verdict]) -> Verdict:
    """The overall verdict of several: fail before undetermined before pass."""
    order = [
        Verdict.FAIL,
        Verdict.CONDITIONAL_FAIL,
        Verdict.UNDETERMINED,
        Verdict.CONDITIONAL_PASS,
        Verdict.PASS,
        Verdict.NOT_STATED,
    ]
    found = set(verdicts)
    for v in order:
        if v in found:
            return v
    return Verdict.NOT_STATED


def decision_values(decision: Decision) -> dict[str, Any]:
    """Result values describing a decision (verdict text bilingual)."""
    return {
        "verdict": decision.verdict.value,
        "verdict_text": decision.verdict.label,
        "decision_rule_text": decision.rule.name,
    }


def parse_decision_rule(raw: str | None, *, calibration: bool) -> str | None:
    """Validate an agreed decision-rule id; calibrations accept only ILAC G8 rules."""
    if raw is None or not raw.strip():
        return None
    rule = get_rule(raw.strip())  # CalcError (a ValueError) lists the known ids
    if calibration and not rule.id.startswith("ILAC-G8"):
        raise ValueError(
            f"parameter 'decision_rule': {rule.id} is a verification rule; a calibration "
            "conformity statement uses an ILAC G8 rule"
        )
    return rule.id


def unverified_used(table: RegulationTable, keys: Iterable[str]) -> list[str]:
    """Which of the table keys a result relies on are still marked unverified."""
    marked = set(table.unverified_keys())
    return sorted(k for k in keys if k in marked)


def combined_sha256(*paths: Path) -> str:
    """SHA-256 over several source files (a procedure and the shared modules it runs)."""
    h = hashlib.sha256()
    for p in paths:
        data = p.read_bytes()
        h.update(str(len(data)).encode())
        h.update(data)
    return h.hexdigest()
