"""Certificates, their numbering sequence and electronic signatures."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lims.db.base import Base, created_at_column, enum_column
from lims.db.types import hash_prefix_index
from lims.models.enums import CertificateStatus, CertificateType, SignatureMeaning


class CertificateSequence(Base):
    """The last certificate sequence number used in a year (gapless numbering)."""

    __tablename__ = "certificate_sequences"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(default=0)


#: Statuses of a certificate still being signed.
OPEN_STATUSES = ("draft", "performed", "reviewed")


def _partial(condition: str) -> dict[str, Any]:
    """A partial index's condition, for both backends."""
    return {"sqlite_where": text(condition), "postgresql_where": text(condition)}


_OPEN_SQL = "status IN ({})".format(", ".join(f"'{s}'" for s in OPEN_STATUSES))


class Certificate(Base):
    """A verification certificate, notice of non-conformity or calibration certificate.

    Once issued, only its status may change (to superseded or revoked); the
    content and its hashes are fixed, and an amendment is a new certificate
    that references this one.
    """

    __tablename__ = "certificates"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    year: Mapped[int]
    sequence: Mapped[int]
    type: Mapped[CertificateType] = enum_column(CertificateType)
    status: Mapped[CertificateStatus] = enum_column(
        CertificateStatus, default=CertificateStatus.DRAFT
    )
    revision: Mapped[int] = mapped_column(default=0)
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"), index=True)
    amendment_reason: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    content_sha256: Mapped[str] = mapped_column(String(64))
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))
    dcc_sha256: Mapped[str | None] = mapped_column(String(64))
    issued_at: Mapped[datetime | None] = mapped_column(index=True)
    #: 有效期至: until when a passed verification is valid (None otherwise).
    valid_until: Mapped[date | None] = mapped_column(index=True)
    status_reason: Mapped[str] = mapped_column(Text, default="")
    #: The canonical content record (what the signatures bind), as JSON.
    content: Mapped[dict[str, Any]] = mapped_column(default=dict)
    drafted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: Denormalized from the run's work order, for searches by customer and serial number.
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    equipment_id: Mapped[int | None] = mapped_column(ForeignKey("equipment.id"))
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (
        UniqueConstraint("year", "sequence"),
        # One certificate per run, enforced by the database: one issued at a time, one
        # being signed at a time, and per revision one that was not rejected. An
        # amendment (revision + 1, replacing the issued one) is the only way to a
        # second number for a run; its approval supersedes the original.
        Index("uq_certificates_run_issued", "run_id", unique=True, **_partial("status = 'issued'")),
        Index("uq_certificates_run_open", "run_id", unique=True, **_partial(_OPEN_SQL)),
        Index(
            "uq_certificates_run_revision",
            "run_id",
            "revision",
            unique=True,
            **_partial("status <> 'rejected'"),
        ),
        # Certificate searches (lims.quality.certificate_search), newest first.
        Index("ix_certificates_customer_issued_at", "customer_id", "issued_at"),
        Index("ix_certificates_equipment_issued_at", "equipment_id", "issued_at"),
        # The archive check of the leaf directories changed since a checkpoint.
        hash_prefix_index("ix_certificates_pdf_sha256_prefix", "pdf_sha256"),
        hash_prefix_index("ix_certificates_dcc_sha256_prefix", "dcc_sha256"),
    )

    signatures: Mapped[list[Signature]] = relationship(back_populates="certificate")
    replaces: Mapped[Certificate | None] = relationship(remote_side=[id])


class Signature(Base):
    """An electronic signature: who, when (UTC), meaning, and the hash of what was signed."""

    __tablename__ = "signatures"
    __table_args__ = (UniqueConstraint("certificate_id", "meaning"),)
    __append_only__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), index=True)
    signer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    printed_name: Mapped[str] = mapped_column(String(100))
    meaning: Mapped[SignatureMeaning] = enum_column(SignatureMeaning)
    signed_at: Mapped[datetime]
    content_sha256: Mapped[str] = mapped_column(String(64))
    pdf_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at_column()

    certificate: Mapped[Certificate] = relationship(back_populates="signatures")
