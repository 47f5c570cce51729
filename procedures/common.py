"""Helpers shared by the procedures: decision rules, unverified table keys, sources.

Nothing here computes a measurement result of its own: the numbers come from
:mod:`lims.calc`; results are recorded as :class:`lims.results.ResultRecord`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from lims.calc import get_rule
from lims.engine import RegulationTable

__all__ = ["combined_sha256", "parse_decision_rule", "unverified_used"]


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
