"""Impact assessments after an out-of-tolerance finding (ISO/IEC 17025 6.4.9, 7.10):
the listing with every affected run and certificate, the disposition of each certificate
and the record of the customer's notification, and the runs a quality manager may
release from a failed rule with a signed override.

Dispositions and notifications are kept in the assessment's ``affected`` record (under
``dispositions``), so the audit trail shows each one as a change with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.engine.rules import overridden_keys
from lims.models.certificates import Certificate
from lims.models.enums import RunStatus
from lims.models.lab import Customer
from lims.models.quality import ImpactAssessment
from lims.models.runs import Run
from lims.models.users import User
from lims.quality.errors import NotFoundError, QualityError
from lims.quality.permissions import Permission, require


class Disposition(StrEnum):
    """What is done about one affected certificate."""

    NO_EFFECT = "no_effect"  # the error does not change the result or the conclusion
    AMEND = "amend"  # an amended certificate is issued
    REVOKE = "revoke"  # the certificate is withdrawn
    RETEST = "retest"  # the instrument is measured again


@dataclass(frozen=True)
class AffectedCertificate:
    """A certificate from a run that used the resource, with what was decided about it."""

    number: str
    status: str
    run_id: int
    customer: str
    via: tuple[str, ...]
    disposition: Disposition | None = None
    notified_on: date | None = None
    notification: str = ""


@dataclass(frozen=True)
class ImpactRow:
    """One impact assessment with what it affects."""

    id: int
    resource_tag: str
    resource_kind: str
    finding: str
    found_on: date
    since: date | None
    status: str
    opened_by: str
    conclusion: str
    runs: tuple[int, ...]
    certificates: tuple[AffectedCertificate, ...] = field(default=())

    @property
    def undecided(self) -> int:
        """Affected certificates without a disposition yet."""
        return sum(1 for c in self.certificates if c.disposition is None)


def _row(session: Session, record: ImpactAssessment) -> ImpactRow:
    affected = record.affected or {}
    decided = affected.get("dispositions", {})
    listed = affected.get("certificates", [])
    numbers = [str(c["number"]) for c in listed]
    current = {
        c.number: c
        for c in session.scalars(select(Certificate).where(Certificate.number.in_(numbers)))
    }
    customer_ids = {c.customer_id for c in current.values() if c.customer_id is not None}
    customers = {
        c.id: c.name for c in session.scalars(select(Customer).where(Customer.id.in_(customer_ids)))
    }
    certs = []
    for c in listed:
        number = str(c["number"])
        cert = current.get(number)
        d = decided.get(number, {})
        certs.append(
            AffectedCertificate(
                number,
                cert.status.value if cert is not None else "",
                int(c["run_id"]),
                customers.get(cert.customer_id or 0, "") if cert is not None else "",
                tuple(c.get("via", ())),
                Disposition(d["disposition"]) if d.get("disposition") else None,
                date.fromisoformat(d["notified_on"]) if d.get("notified_on") else None,
                str(d.get("notification", "")),
            )
        )
    opened_by = session.get(User, record.opened_by_id)
    return ImpactRow(
        record.id,
        record.resource_tag,
        record.resource_kind,
        record.finding,
        record.found_on,
        record.since,
        record.status,
        opened_by.username if opened_by is not None else "",
        record.conclusion,
        tuple(int(r) for r in affected.get("runs", [])),
        tuple(certs),
    )


def list_impacts(session: Session, actor: User, *, open_only: bool = False) -> list[ImpactRow]:
    """Impact assessments, newest first, with their affected runs and certificates."""
    require(actor, Permission.RECORD_FINDING)
    query = select(ImpactAssessment).order_by(ImpactAssessment.id.desc())
    if open_only:
        query = query.where(ImpactAssessment.status == "open")
    return [_row(session, r) for r in session.scalars(query)]


def record_disposition(
    session: Session,
    actor: User,
    impact_id: int,
    number: str,
    disposition: Disposition,
    *,
    notified_on: date | None = None,
    notification: str = "",
) -> ImpactRow:
    """Record what is done about one affected certificate and how its customer was told."""
    require(actor, Permission.RECORD_FINDING)
    record = session.get(ImpactAssessment, impact_id)
    if record is None:
        raise NotFoundError(f"impact record {impact_id} does not exist")
    if record.status != "open":
        raise QualityError(f"impact record {impact_id} is closed")
    affected = dict(record.affected or {})
    if number not in {str(c["number"]) for c in affected.get("certificates", [])}:
        raise QualityError(f"certificate {number} is not affected by impact record {impact_id}")
    if disposition is not Disposition.NO_EFFECT and notified_on is None:
        raise QualityError(
            "notified_on: 须记录通知客户的日期 a disposition that changes the certificate needs "
            "the date the customer was notified"
        )
    if notified_on is not None and not notification.strip():
        raise QualityError("notification: 须记录通知方式和内容 say how the customer was notified")
    dispositions = dict(affected.get("dispositions", {}))
    dispositions[number] = {
        "disposition": disposition.value,
        "notified_on": notified_on.isoformat() if notified_on else None,
        "notification": notification.strip(),
        "by": actor.username,
    }
    affected["dispositions"] = dispositions
    record.affected = affected  # a new dict: the change is seen and audited
    session.flush()
    return _row(session, record)


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
