"""The lab's certificate authority, users' signing credentials and stored files."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lims.db.base import Base, created_at_column


class LabAuthority(Base):
    """The lab's own certificate authority (created by ``lims init`` or imported).

    The private key is stored PEM-encrypted with the CA passphrase, which the
    application never stores. The newest row is the authority in use; older
    rows stay so that signatures made under them still verify.
    """

    __tablename__ = "lab_authorities"
    __append_only__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    common_name: Mapped[str] = mapped_column(String(200))
    certificate_pem: Mapped[str] = mapped_column(Text)
    encrypted_key_pem: Mapped[str] = mapped_column(Text)
    fingerprint_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    imported: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = created_at_column()


class SigningCredential(Base):
    """A user's signing key and X.509 certificate as PKCS#12, encrypted with the user's password.

    A password change adds a new row holding the same key re-encrypted; the
    newest row of a user is the one used for signing.
    """

    __tablename__ = "signing_credentials"
    __append_only__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("lab_authorities.id"))
    pkcs12: Mapped[bytes] = mapped_column(LargeBinary)
    certificate_pem: Mapped[str] = mapped_column(Text)
    fingerprint_sha256: Mapped[str] = mapped_column(String(64), index=True)
    not_after: Mapped[datetime]
    imported: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = created_at_column()


class StoredFile(Base):
    """An immutable file kept in the database under its SHA-256 (certificate PDFs and DCCs)."""

    __tablename__ = "stored_files"
    __append_only__ = True

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = created_at_column()


class TimestampAuthority(Base):
    """The lab's time-stamping authority: a certificate issued by the lab CA (EKU timeStamping).

    Its key is an unattended service key, stored unencrypted (PKCS#8 PEM) so that every
    signature can be timestamped without a passphrase; whoever can read the database could
    issue timestamps, never signatures. The newest row is the TSA in use (``lims keys tsa``
    rotates it); older rows stay for the record.
    """

    __tablename__ = "timestamp_authorities"
    __append_only__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("lab_authorities.id"))
    certificate_pem: Mapped[str] = mapped_column(Text)
    key_pem: Mapped[str] = mapped_column(Text)
    fingerprint_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    not_after: Mapped[datetime]
    created_at: Mapped[datetime] = created_at_column()


class RevocationList(Base):
    """A certificate revocation list (DER) issued by the lab CA; the newest per CA is current."""

    __tablename__ = "revocation_lists"
    __append_only__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("lab_authorities.id"), index=True)
    number: Mapped[int]
    crl_der: Mapped[bytes] = mapped_column(LargeBinary)
    this_update: Mapped[datetime]
    next_update: Mapped[datetime]
    created_at: Mapped[datetime] = created_at_column()
