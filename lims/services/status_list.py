"""The lab's signed certificate status list, made from its records.

``lims certificate status-list -o FILE`` writes it (the CA passphrase signs it);
the portal publishes the file at ``/status-list``; ``lims certificate verify FILE
--ca lab-ca.pem --status FILE`` reads it with no database
(:func:`lims.certificates.verdict.check_offline`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.certificates.status_list import (
    CertificateState,
    StatusEntry,
    StatusList,
    sign_status_list,
)
from lims.db import Database
from lims.models.certificates import Certificate
from lims.models.enums import CertificateStatus
from lims.models.pki import LabAuthority
from lims.models.users import User
from lims.quality.permissions import Permission, require
from lims.services.public_verification import lab_header

__all__ = ["certificate_states", "state_entry", "write_status_list"]

_STATE = {
    CertificateStatus.ISSUED: CertificateState.ISSUED,
    CertificateStatus.SUPERSEDED: CertificateState.SUPERSEDED,
    CertificateStatus.REVOKED: CertificateState.REVOKED,
}


def state_entry(session: Session, cert: Certificate) -> StatusEntry | None:
    """The public state of one certificate (None for drafts and rejected ones)."""
    state = _STATE.get(CertificateStatus(cert.status))
    if state is None:
        return None
    successor = None
    if state is CertificateState.SUPERSEDED:
        successor = session.scalars(
            select(Certificate.number)
            .where(
                Certificate.replaces_id == cert.id,
                Certificate.status.in_([CertificateStatus.ISSUED, CertificateStatus.SUPERSEDED]),
            )
            .order_by(Certificate.id)
        ).first()
    reason = cert.status_reason if state is not CertificateState.ISSUED else ""
    return StatusEntry(cert.number, state, successor, reason or "")


def certificate_states(session: Session) -> list[StatusEntry]:
    """Every certificate number the lab made public, with its state, in number order."""
    certs = session.scalars(
        select(Certificate)
        .where(Certificate.status.in_(list(_STATE)))
        .order_by(Certificate.year, Certificate.sequence, Certificate.id)
    ).all()
    entries = [state_entry(session, c) for c in certs]
    return [e for e in entries if e is not None]


def write_status_list(
    db: Database, actor: User, ca_password: str, *, now: datetime | None = None
) -> bytes:
    """The signed status list of the lab's certificates now (the CA passphrase signs it)."""
    require(actor, Permission.VIEW_RECORDS)
    with db.read() as session:
        row = session.scalars(select(LabAuthority).order_by(LabAuthority.id.desc())).first()
        if row is None:
            from lims.certificates.errors import PkiError

            raise PkiError("the lab has no certificate authority yet")
        from lims.certificates.pki import LabCA

        ca = LabCA(
            x509.load_pem_x509_certificate(row.certificate_pem.encode("ascii")),
            row.encrypted_key_pem.encode("ascii"),
        )
        header = lab_header(session)
        listing = StatusList(
            lab=f"{header.name_zh} {header.name_en}".strip(),
            issued_at=(now or datetime.now(UTC)).replace(microsecond=0),
            entries=tuple(certificate_states(session)),
        )
    return sign_status_list(listing, ca.certificate, ca.private_key(ca_password))
