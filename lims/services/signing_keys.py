"""The lab's certificate authority and its users' signing keys, kept in the database.

``lims init`` creates the lab CA (with the lab's time-stamping authority and a first
CRL, :mod:`lims.services.timestamping`); its private key is stored encrypted with the
CA passphrase, which only the lab's administrators know. Each user who signs
certificates gets a key and an X.509 certificate issued by that CA, stored as
PKCS#12 encrypted with the user's own password: signing needs that password,
and a password change re-encrypts the key. A lab may instead import its own CA
and its users' PKCS#12 files.
"""

from __future__ import annotations

import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.certificates.errors import PkiError
from lims.certificates.pki import (
    LabCA,
    LabSigner,
    create_lab_ca,
    import_lab_ca,
    import_user_credentials,
    issue_user_credentials,
    load_signer,
)
from lims.models.pki import LabAuthority, SigningCredential
from lims.models.users import User

__all__ = [
    "certificate_fingerprint",
    "create_authority",
    "credential_of",
    "current_authority",
    "import_authority",
    "import_credentials",
    "issue_credentials",
    "rewrap_credentials",
    "signer_for",
    "trust_roots",
]


def certificate_fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the certificate's DER encoding, as hex."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _store_authority(
    session: Session, ca: LabCA, common_name: str, imported: bool, ca_password: str
) -> LabCA:
    from lims.services.timestamping import issue_revocation_list, issue_timestamp_authority

    session.add(
        LabAuthority(
            common_name=common_name,
            certificate_pem=ca.certificate_pem.decode("ascii"),
            encrypted_key_pem=ca.encrypted_key_pem.decode("ascii"),
            fingerprint_sha256=certificate_fingerprint(ca.certificate),
            imported=imported,
        )
    )
    session.flush()
    # the CA passphrase is at hand: the lab's TSA and a first CRL come with the CA
    issue_timestamp_authority(session, ca_password)
    issue_revocation_list(session, ca_password)
    return ca


def create_authority(
    session: Session, common_name: str, organization: str, ca_password: str
) -> LabCA:
    """Create the lab's root CA and store it (key encrypted with ``ca_password``)."""
    ca = create_lab_ca(common_name, organization, ca_password)
    return _store_authority(session, ca, common_name, imported=False, ca_password=ca_password)


def import_authority(
    session: Session,
    certificate_pem: bytes,
    key_pem: bytes,
    key_password: str | None,
    ca_password: str,
) -> LabCA:
    """Adopt the lab's existing CA; it becomes the authority in use."""
    ca = import_lab_ca(certificate_pem, key_pem, key_password, ca_password)
    name = ca.certificate.subject.rfc4514_string()
    return _store_authority(session, ca, name, imported=True, ca_password=ca_password)


def _authority_row(session: Session) -> LabAuthority:
    row = session.scalars(select(LabAuthority).order_by(LabAuthority.id.desc())).first()
    if row is None:
        raise PkiError("the lab has no certificate authority yet: run `lims init` or import one")
    return row


def _as_ca(row: LabAuthority) -> LabCA:
    cert = x509.load_pem_x509_certificate(row.certificate_pem.encode("ascii"))
    return LabCA(cert, row.encrypted_key_pem.encode("ascii"))


def current_authority(session: Session) -> LabCA:
    """The lab CA in use (the newest one); :class:`PkiError` if there is none."""
    return _as_ca(_authority_row(session))


def trust_roots(session: Session) -> list[x509.Certificate]:
    """Every CA certificate the lab has used: the trust roots for verification."""
    rows = session.scalars(select(LabAuthority).order_by(LabAuthority.id)).all()
    return [_as_ca(r).certificate for r in rows]


def _display_name(user: User) -> str:
    return f"{user.full_name} {user.full_name_en}".strip()


def _store_credential(
    session: Session, user: User, pkcs12: bytes, cert: x509.Certificate, imported: bool
) -> SigningCredential:
    fingerprint = certificate_fingerprint(cert)
    authority = session.scalars(select(LabAuthority).order_by(LabAuthority.id.desc())).all()
    issuer = next(
        (a for a in authority if _as_ca(a).certificate.subject == cert.issuer),
        None,
    )
    if issuer is None:
        raise PkiError(f"the signing certificate of {user.username} was not issued by the lab CA")
    row = SigningCredential(
        user_id=user.id,
        authority_id=issuer.id,
        pkcs12=pkcs12,
        certificate_pem=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        fingerprint_sha256=fingerprint,
        not_after=cert.not_valid_after_utc,
        imported=imported,
    )
    session.add(row)
    session.flush()
    return row


def issue_credentials(
    session: Session, user: User, user_password: str, ca_password: str
) -> SigningCredential:
    """Issue ``user`` a signing key and certificate from the lab CA (needs the CA passphrase)."""
    ca = current_authority(session)
    creds = issue_user_credentials(
        ca,
        ca_password,
        user_id=user.username,
        display_name=_display_name(user),
        user_password=user_password,
    )
    return _store_credential(session, user, creds.pkcs12, creds.certificate, imported=False)


def import_credentials(
    session: Session, user: User, pkcs12: bytes, password: str, user_password: str
) -> SigningCredential:
    """Store a user's own PKCS#12 (issued by the lab CA), re-encrypted with their password."""
    ca = current_authority(session)
    creds = import_user_credentials(pkcs12, password, ca, new_password=user_password)
    if creds.user_id != user.username:
        raise PkiError(f"the PKCS#12 belongs to {creds.user_id!r}, not to user {user.username!r}")
    return _store_credential(session, user, creds.pkcs12, creds.certificate, imported=True)


def credential_of(session: Session, user: User) -> SigningCredential | None:
    """The user's signing credential in use (the newest), if any."""
    return session.scalars(
        select(SigningCredential)
        .where(SigningCredential.user_id == user.id)
        .order_by(SigningCredential.id.desc())
    ).first()


def rewrap_credentials(
    session: Session, user: User, old_password: str, new_password: str
) -> SigningCredential | None:
    """After a password change: store the user's key re-encrypted with the new password."""
    current = credential_of(session, user)
    if current is None:
        return None
    ca = current_authority(session)
    creds = import_user_credentials(current.pkcs12, old_password, ca, new_password=new_password)
    return _store_credential(session, user, creds.pkcs12, creds.certificate, current.imported)


def signer_for(session: Session, user: User, password: str) -> tuple[LabSigner, SigningCredential]:
    """Open the user's signing key with their password, checked against the lab CA."""
    credential = credential_of(session, user)
    if credential is None:
        raise PkiError(
            f"user {user.username} has no signing key: an administrator issues one with "
            "`lims users issue-key`"
        )
    authority = session.get(LabAuthority, credential.authority_id)
    assert authority is not None
    return load_signer(credential.pkcs12, password, ca=_as_ca(authority)), credential
