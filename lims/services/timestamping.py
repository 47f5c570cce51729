"""The lab's time-stamping authority and revocation lists, kept in the database.

When the lab CA is created or imported (the only moments the CA passphrase is at
hand without asking), the lab also gets a TSA certificate and a first CRL; ``lims
keys tsa`` rotates the TSA and ``lims keys crl`` issues a fresh CRL. Every
signature is then timestamped by that TSA (or by the external TSA configured as
``tsa_url``), and the issued PDF receives the CA, TSA and CRL as validation data
(:mod:`lims.certificates.ltv`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lims.certificates.errors import PkiError
from lims.certificates.ltv import ValidationData
from lims.certificates.pki import LabCA
from lims.certificates.tsa import (
    TsaCredentials,
    issue_crl,
    issue_tsa_credentials,
    timestamper_for,
)
from lims.models.pki import LabAuthority, RevocationList, TimestampAuthority

__all__ = [
    "current_tsa",
    "exported_trust_pem",
    "issue_revocation_list",
    "issue_timestamp_authority",
    "signing_timestamper",
    "validation_data",
]

log = logging.getLogger(__name__)

#: How long a CRL issued by the lab is valid (``lims keys crl`` renews it).
CRL_VALID_DAYS = 365


def _authority(session: Session) -> tuple[LabAuthority, LabCA]:
    row = session.scalars(select(LabAuthority).order_by(LabAuthority.id.desc())).first()
    if row is None:
        raise PkiError("the lab has no certificate authority yet: run `lims init` or import one")
    cert = x509.load_pem_x509_certificate(row.certificate_pem.encode("ascii"))
    return row, LabCA(cert, row.encrypted_key_pem.encode("ascii"))


def issue_timestamp_authority(session: Session, ca_password: str) -> TimestampAuthority:
    """Issue a new TSA certificate from the current lab CA; it becomes the TSA in use."""
    from lims.services.signing_keys import certificate_fingerprint

    authority, ca = _authority(session)
    creds = issue_tsa_credentials(ca, ca_password)
    row = TimestampAuthority(
        authority_id=authority.id,
        certificate_pem=creds.certificate_pem.decode("ascii"),
        key_pem=creds.key_pem.decode("ascii"),
        fingerprint_sha256=certificate_fingerprint(creds.certificate),
        not_after=creds.certificate.not_valid_after_utc,
    )
    session.add(row)
    session.flush()
    return row


def issue_revocation_list(
    session: Session, ca_password: str, *, valid_days: int = CRL_VALID_DAYS
) -> RevocationList:
    """Issue a fresh CRL from the current lab CA (no user certificate is revoked today)."""
    authority, ca = _authority(session)
    number = (
        session.scalar(
            select(func.max(RevocationList.number)).where(
                RevocationList.authority_id == authority.id
            )
        )
        or 0
    ) + 1
    der = issue_crl(ca, ca_password, number=number, valid_days=valid_days)
    crl = x509.load_der_x509_crl(der)
    row = RevocationList(
        authority_id=authority.id,
        number=number,
        crl_der=der,
        this_update=crl.last_update_utc,
        next_update=crl.next_update_utc or crl.last_update_utc,
    )
    session.add(row)
    session.flush()
    return row


def current_tsa(session: Session) -> TsaCredentials | None:
    """The lab TSA in use (the newest), or None when the lab has none."""
    row = session.scalars(select(TimestampAuthority).order_by(TimestampAuthority.id.desc())).first()
    if row is None:
        return None
    cert = x509.load_pem_x509_certificate(row.certificate_pem.encode("ascii"))
    return TsaCredentials(cert, row.key_pem.encode("ascii"))


def signing_timestamper(session: Session, tsa_url: str | None) -> Any:
    """The TimeStamper for signatures: the external TSA at ``tsa_url``, else the lab's own;
    None (signatures without timestamp, logged) when the lab has neither."""
    tsa = current_tsa(session)
    if not tsa_url and tsa is None:
        log.warning("the lab has no time-stamping authority: signing without timestamps")
        return None
    _row, ca = _authority(session)
    return timestamper_for(tsa_url, tsa, ca.certificate)


def validation_data(session: Session) -> ValidationData | None:
    """The lab CA, the TSA certificate and the newest CRL of each lab CA; None without a CRL."""
    _row, ca = _authority(session)
    crls: list[bytes] = []
    for authority_id in session.scalars(select(LabAuthority.id).order_by(LabAuthority.id)):
        newest = session.scalars(
            select(RevocationList)
            .where(RevocationList.authority_id == authority_id)
            .order_by(RevocationList.id.desc())
        ).first()
        if newest is not None:
            if newest.next_update < datetime.now(UTC):
                log.warning("CRL %s of the lab CA has expired: renew it (lims keys crl)", newest.id)
            crls.append(newest.crl_der)
    if not crls:
        log.warning("the lab CA has issued no CRL: the certificate gets no validation data")
        return None
    tsa = current_tsa(session)
    return ValidationData(ca.certificate, tuple(crls), tsa.certificate if tsa else None)


def exported_trust_pem(session: Session) -> bytes:
    """PEM of every lab CA certificate followed by every TSA certificate (``export-ca``)."""
    pem = serialization.Encoding.PEM
    out = [
        x509.load_pem_x509_certificate(r.certificate_pem.encode("ascii")).public_bytes(pem)
        for r in session.scalars(select(LabAuthority).order_by(LabAuthority.id))
    ]
    out += [
        x509.load_pem_x509_certificate(r.certificate_pem.encode("ascii")).public_bytes(pem)
        for r in session.scalars(select(TimestampAuthority).order_by(TimestampAuthority.id))
    ]
    return b"".join(out)
