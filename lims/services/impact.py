"""What a quality manager reviews after findings and refusals: the impact assessments
(the out-of-tolerance workflow of :mod:`lims.quality.oot`: affected runs and
certificates, decisions, customer notifications) listed newest first, and the runs a
failed rule refused, which a signed override may release."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.engine.rules import overridden_keys
from lims.models.enums import RunStatus
from lims.models.quality import ImpactAssessment
from lims.models.runs import Run
from lims.models.users import User
from lims.quality.oot import OotImpact, impact_of
from lims.quality.permissions import Permission, require


def list_impacts(session: Session, actor: User, *, open_only: bool = False) -> list[OotImpact]:
    """Impact assessments, newest first, each with its affected runs and certificates and
    the decisions and notifications recorded (:func:`lims.quality.oot.impact_of`)."""
    require(actor, Permission.RECORD_FINDING)
    query = select(ImpactAssessment.id).order_by(ImpactAssessment.id.desc())
    if open_only:
        query = query.where(ImpactAssessment.status == "open")
    return [impact_of(session, actor, impact_id) for impact_id in session.scalars(query)]


def undecided(impact: OotImpact) -> int:
    """Affected certificates without a decision yet."""
    return sum(1 for c in impact.certificates if c.disposition is None)


@dataclass(frozen=True)
class RefusedRun:
    """A run refused by a failed rule, with the rules a quality manager may override."""

    run_id: int
    procedure_id: str
    operator: str
    bench_name: str
    created_at: datetime
    failures: dict[str, str]
    overridden: frozenset[str]


def refused_runs(session: Session, actor: User) -> list[RefusedRun]:
    """Runs refused by a rule check (newest first): what an override could release."""
    require(actor, Permission.RECORD_FINDING)
    out = []
    for run in session.scalars(
        select(Run).where(Run.status == RunStatus.REFUSED).order_by(Run.id.desc()).limit(500)
    ):
        failures = {str(k): str(v) for k, v in run.provenance.get("rule_failures", {}).items()}
        if failures:
            out.append(
                RefusedRun(
                    run.id,
                    run.procedure_version.procedure_id,
                    run.operator.username,
                    run.bench_name,
                    run.created_at,
                    failures,
                    frozenset(overridden_keys(session, run.id)),
                )
            )
    return out
