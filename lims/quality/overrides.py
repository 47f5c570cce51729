"""A quality manager's override of a failed pre-run rule, reachable from the command line
and the desktop application: the failed rules of a run and the overrides granted."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.db import Database
from lims.engine.errors import EngineError
from lims.engine.rules import grant_override
from lims.models.runs import RuleOverride, Run
from lims.models.users import User
from lims.quality.errors import NotFoundError, QualityError
from lims.quality.permissions import Permission, require

__all__ = ["RunRule", "grant_run_override", "run_rules"]


@dataclass(frozen=True)
class RunRule:
    """A rule that failed before a run, and who overrode it (if anyone)."""

    key: str
    detail: str
    overridden_by: str | None
    reason: str


def run_rules(session: Session, actor: User, run_id: int) -> list[RunRule]:
    """The rules that failed for a run, with their overrides."""
    require(actor, Permission.VIEW_RECORDS)
    run = session.get(Run, run_id)
    if run is None:
        raise NotFoundError(f"run {run_id} does not exist")
    failures = run.provenance.get("rule_failures", {}) or {}
    overrides = {
        o.rule: o
        for o in session.scalars(select(RuleOverride).where(RuleOverride.run_id == run_id))
    }
    out = []
    for key in sorted(set(failures) | set(overrides)):
        o = overrides.get(key)
        by = None
        if o is not None:
            user = session.get(User, o.quality_manager_id)
            by = user.username if user else str(o.quality_manager_id)
        out.append(
            RunRule(key, str(failures.get(key, o.detail if o else "")), by, o.reason if o else "")
        )
    return out


def grant_run_override(db: Database, actor: User, run_id: int, key: str, reason: str) -> int:
    """Override rule ``key`` for one run as the logged-in quality manager (written reason,
    audited, printed on the certificate). Returns the override's id."""
    require(actor, Permission.RECORD_FINDING)
    try:
        return grant_override(db, run_id, key, reason, actor.username)
    except EngineError as exc:
        raise QualityError(str(exc)) from exc
