"""The out-of-tolerance impact workflow: an impact record (opened by
:func:`lims.quality.trace.record_out_of_tolerance`) lists every affected run and
certificate; a quality manager decides per certificate (no impact, amend, revoke,
customer to decide) and records each customer notification; the record closes only
when every certificate is decided and every decision that affects a customer is
notified (:func:`lims.quality.trace.close_impact`). All writes are audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.models.certificates import Certificate
from lims.models.lab import Customer
from lims.models.quality import ImpactAssessment
from lims.models.traceability import CustomerNotification, ImpactDisposition
from lims.models.users import User
from lims.quality.errors import NotFoundError, QualityError
from lims.quality.permissions import Permission, require

__all__ = [
    "CHANNELS",
    "DISPOSITIONS",
    "AffectedCertificate",
    "OotImpact",
    "decide_certificate",
    "impact_of",
    "open_problems",
    "record_notification",
]

DISPOSITIONS = ("no_impact", "amend", "revoke", "customer_to_decide")
CHANNELS = ("letter", "email", "phone", "in_person")


@dataclass(frozen=True)
class AffectedCertificate:
    """One certificate in an impact record, its decision and notifications so far."""

    certificate_id: int
    number: str
    run_id: int
    via: tuple[str, ...]
    customer: str
    disposition: str | None
    reason: str
    notified: tuple[str, ...]
    """``2026-03-21 email (ref)`` for each notification recorded."""


@dataclass(frozen=True)
class OotImpact:
    """An impact record with its affected certificates."""

    id: int
    tag: str
    kind: str
    finding: str
    found_on: date
    since: date | None
    status: str
    runs: tuple[int, ...]
    certificates: tuple[AffectedCertificate, ...]
    conclusion: str


def _record(session: Session, impact_id: int) -> ImpactAssessment:
    rec = session.get(ImpactAssessment, impact_id)
    if rec is None:
        raise NotFoundError(f"impact record {impact_id} does not exist")
    return rec


def _affected(rec: ImpactAssessment, number: str) -> dict[str, object]:
    for c in rec.affected.get("certificates", []):
        if c.get("number") == number:
            return dict(c)
    raise QualityError(f"certificate {number} is not affected by impact record {rec.id}")


def impact_of(session: Session, actor: User, impact_id: int) -> OotImpact:
    """The impact record with each certificate's customer, decision and notifications."""
    require(actor, Permission.VIEW_RECORDS)
    rec = _record(session, impact_id)
    decisions = {
        d.certificate_id: d
        for d in session.scalars(
            select(ImpactDisposition)
            .where(ImpactDisposition.impact_id == impact_id)
            .order_by(ImpactDisposition.id)
        )
    }
    notes: dict[int, list[str]] = {}
    for n in session.scalars(
        select(CustomerNotification)
        .where(CustomerNotification.impact_id == impact_id)
        .order_by(CustomerNotification.id)
    ):
        ref = f" ({n.reference})" if n.reference else ""
        notes.setdefault(n.certificate_id, []).append(f"{n.notified_on} {n.channel}{ref}")
    certs = []
    for c in rec.affected.get("certificates", []):
        cid = int(c["id"])
        cert = session.get(Certificate, cid)
        customer = session.get(Customer, cert.customer_id) if cert and cert.customer_id else None
        d = decisions.get(cid)
        certs.append(
            AffectedCertificate(
                cid,
                str(c["number"]),
                int(c["run_id"]),
                tuple(c.get("via", ())),
                customer.name if customer else "",
                d.disposition if d else None,
                d.reason if d else "",
                tuple(notes.get(cid, ())),
            )
        )
    return OotImpact(
        rec.id,
        rec.resource_tag,
        rec.resource_kind,
        rec.finding,
        rec.found_on,
        rec.since,
        rec.status,
        tuple(rec.affected.get("runs", [])),
        tuple(certs),
        rec.conclusion,
    )


def decide_certificate(
    session: Session, actor: User, impact_id: int, number: str, disposition: str, reason: str
) -> ImpactDisposition:
    """Record the decision on one affected certificate (quality manager); a later decision
    replaces an earlier one (both stay in the record)."""
    require(actor, Permission.RECORD_FINDING)
    if disposition not in DISPOSITIONS:
        raise QualityError(
            f"--disposition: {disposition!r} is not one of {', '.join(DISPOSITIONS)}"
        )
    if len(reason.strip()) < 5:
        raise QualityError("--reason: say why (at least 5 characters)")
    rec = _record(session, impact_id)
    if rec.status == "closed":
        raise QualityError(f"impact record {impact_id} is closed")
    cert = _affected(rec, number)
    row = ImpactDisposition(
        impact_id=impact_id,
        certificate_id=int(str(cert["id"])),
        disposition=disposition,
        reason=reason.strip(),
        decided_by_id=actor.id,
    )
    session.add(row)
    session.flush()
    return row


def record_notification(
    session: Session,
    actor: User,
    impact_id: int,
    number: str,
    *,
    notified_on: date,
    channel: str,
    reference: str = "",
) -> CustomerNotification:
    """Record that the customer of an affected certificate was told (quality manager)."""
    require(actor, Permission.RECORD_FINDING)
    if channel not in CHANNELS:
        raise QualityError(f"--channel: {channel!r} is not one of {', '.join(CHANNELS)}")
    rec = _record(session, impact_id)
    if notified_on < rec.found_on:
        raise QualityError(f"--on {notified_on}: before the finding ({rec.found_on})")
    cert_id = int(str(_affected(rec, number)["id"]))
    cert = session.get(Certificate, cert_id)
    row = CustomerNotification(
        impact_id=impact_id,
        certificate_id=cert_id,
        customer_id=cert.customer_id if cert else None,
        notified_on=notified_on,
        channel=channel,
        reference=reference.strip(),
        recorded_by_id=actor.id,
    )
    session.add(row)
    session.flush()
    return row


def open_problems(session: Session, impact_id: int) -> list[str]:
    """What keeps an impact record from closing: undecided certificates and customers not
    yet notified of a decision that affects them."""
    rec = _record(session, impact_id)
    latest: dict[int, str] = {}
    for d in session.scalars(
        select(ImpactDisposition)
        .where(ImpactDisposition.impact_id == impact_id)
        .order_by(ImpactDisposition.id)
    ):
        latest[d.certificate_id] = d.disposition
    notified = set(
        session.scalars(
            select(CustomerNotification.certificate_id).where(
                CustomerNotification.impact_id == impact_id
            )
        )
    )
    out = []
    for c in rec.affected.get("certificates", []):
        cid = int(c["id"])
        if cid not in latest:
            out.append(f"certificate {c['number']} has no decision")
        elif latest[cid] != "no_impact" and cid not in notified:
            out.append(f"the customer of certificate {c['number']} ({latest[cid]}) is not notified")
    return out
