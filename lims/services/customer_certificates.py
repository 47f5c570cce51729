"""What a customer may see of the lab: its own issued certificates, their files, its recall list.

This module is the one place where a customer's requests are scoped. Every
query a customer account (web page or API token) causes starts from
:func:`_visible`, which keeps only certificates of the principal's customer that
have been issued (issued, superseded or revoked). A certificate of another
customer, a draft, a rejected one and a number that does not exist are all the
same to the caller: :class:`NotFoundError`. Nothing here writes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session, aliased

from lims.models.certificates import Certificate
from lims.models.enums import CertificateStatus, CertificateType
from lims.models.equipment import Equipment
from lims.models.pki import StoredFile
from lims.models.runs import Run
from lims.quality.due import RecallItem, customer_recall_list
from lims.quality.errors import NotFoundError, QualityError
from lims.services.customer_accounts import CustomerPrincipal
from lims.services.public_verification import PublicState
from lims.vocabulary import BiText

__all__ = [
    "VISIBLE_STATUSES",
    "CertificateFile",
    "CertificatePage",
    "CustomerCertificate",
    "certificate_file",
    "get_certificate",
    "list_certificates",
    "recall",
]

#: The states in which a customer sees a certificate.
VISIBLE_STATUSES = (
    CertificateStatus.ISSUED,
    CertificateStatus.SUPERSEDED,
    CertificateStatus.REVOKED,
)
MAX_PAGE = 200


class CertificateFile(StrEnum):
    """The files of an issued certificate a customer may download."""

    PDF = "pdf"
    DCC = "dcc"

    @property
    def media_type(self) -> str:
        """The HTTP media type of the file."""
        return "application/pdf" if self is CertificateFile.PDF else "application/xml"

    @property
    def suffix(self) -> str:
        """The file-name suffix."""
        return ".pdf" if self is CertificateFile.PDF else ".xml"


@dataclass(frozen=True)
class CustomerCertificate:
    """One of the customer's certificates as listed and shown."""

    number: str
    type: CertificateType
    status: CertificateStatus
    revision: int
    instrument: str
    manufacturer: str
    model: str
    serial_number: str
    issued_at: datetime
    valid_until: date | None
    simulated: bool
    status_reason: str
    replaces: str | None
    superseded_by: str | None

    @property
    def status_caption(self) -> BiText:
        """The state in Chinese and English."""
        return PublicState(self.status.value).caption

    def as_json(self) -> dict[str, object]:
        """Plain data for the JSON API."""
        return {
            "number": self.number,
            "type": self.type.value,
            "status": self.status.value,
            "revision": self.revision,
            "instrument": self.instrument,
            "manufacturer": self.manufacturer,
            "model": self.model,
            "serial_number": self.serial_number,
            "issued_at": self.issued_at.isoformat(),
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
            "simulated": self.simulated,
            "status_reason": self.status_reason,
            "replaces": self.replaces,
            "superseded_by": self.superseded_by,
        }


@dataclass(frozen=True)
class CertificatePage:
    """One page of a search: the certificates and whether more follow."""

    certificates: tuple[CustomerCertificate, ...]
    offset: int
    limit: int
    more: bool


def _visible(principal: CustomerPrincipal) -> list[ColumnElement[bool]]:
    """THE scope of every customer query: this customer's issued certificates."""
    return [
        Certificate.customer_id == principal.customer_id,
        Certificate.status.in_(VISIBLE_STATUSES),
        Certificate.issued_at.is_not(None),
    ]


_Replaced = aliased(Certificate, name="replaced")
_Successor = aliased(Certificate, name="successor")


def _query(principal: CustomerPrincipal) -> Select[*tuple[Any, ...]]:
    return (
        select(
            Certificate.number,
            Certificate.type,
            Certificate.status,
            Certificate.revision,
            Equipment.description,
            Equipment.manufacturer,
            Equipment.model,
            Equipment.serial_number,
            Certificate.issued_at,
            Certificate.valid_until,
            Run.simulated,
            Certificate.status_reason,
            _Replaced.number,
            Certificate.id,
        )
        .join(Run, Run.id == Certificate.run_id)
        .outerjoin(Equipment, Equipment.id == Certificate.equipment_id)
        .outerjoin(_Replaced, _Replaced.id == Certificate.replaces_id)
        .where(*_visible(principal))
    )


def _row(row: Any, superseded_by: str | None = None) -> CustomerCertificate:
    return CustomerCertificate(
        number=row[0],
        type=CertificateType(row[1]),
        status=CertificateStatus(row[2]),
        revision=row[3],
        instrument=row[4] or "",
        manufacturer=row[5] or "",
        model=row[6] or "",
        serial_number=row[7] or "",
        issued_at=row[8],
        valid_until=row[9],
        simulated=bool(row[10]),
        status_reason=row[11] or "",
        replaces=row[12],
        superseded_by=superseded_by,
    )


def _day(d: date) -> datetime:
    return datetime.combine(d, time.min, tzinfo=UTC)


def list_certificates(
    session: Session,
    principal: CustomerPrincipal,
    *,
    number: str | None = None,
    serial: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    offset: int = 0,
    limit: int = 50,
) -> CertificatePage:
    """The customer's certificates, newest issue first, by number, serial and issue dates.

    ``number`` and ``serial`` match exactly (surrounding spaces ignored); the
    dates are inclusive UTC days of issue. Raises :class:`QualityError` naming a
    bad criterion.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise QualityError(f"limit: {limit} is not between 1 and {MAX_PAGE}")
    if offset < 0:
        raise QualityError(f"offset: {offset} is negative")
    if date_from is not None and date_to is not None and date_to < date_from:
        raise QualityError(f"to {date_to.isoformat()} is before from {date_from.isoformat()}")
    query = _query(principal)
    if number is not None and number.strip():
        query = query.where(Certificate.number == number.strip())
    if serial is not None and serial.strip():
        query = query.where(Equipment.serial_number == serial.strip())
    if date_from is not None:
        query = query.where(Certificate.issued_at >= _day(date_from))
    if date_to is not None:
        query = query.where(Certificate.issued_at < _day(date_to + timedelta(days=1)))
    rows = session.execute(
        query.order_by(Certificate.issued_at.desc(), Certificate.id.desc())
        .offset(offset)
        .limit(limit + 1)
    ).all()
    return CertificatePage(
        tuple(_row(r) for r in rows[:limit]), offset, limit, more=len(rows) > limit
    )


def _one(session: Session, principal: CustomerPrincipal, number: str) -> tuple[Any, int]:
    row = session.execute(
        _query(principal).where(Certificate.number == number.strip())
    ).one_or_none()
    if row is None:
        raise NotFoundError(f"certificate {number!r} not found")
    return row, int(row[13])


def get_certificate(
    session: Session, principal: CustomerPrincipal, number: str
) -> CustomerCertificate:
    """One of the customer's certificates (:class:`NotFoundError` for anything else)."""
    row, cert_id = _one(session, principal, number)
    successor = session.scalars(
        select(Certificate.number)
        .where(Certificate.replaces_id == cert_id, *_visible(principal))
        .order_by(Certificate.id)
    ).first()
    return _row(row, successor)


def certificate_file(
    session: Session, principal: CustomerPrincipal, number: str, kind: CertificateFile
) -> bytes:
    """The issued PDF or DCC of one of the customer's certificates, checked against its hash."""
    _row_data, cert_id = _one(session, principal, number)
    column = Certificate.pdf_sha256 if kind is CertificateFile.PDF else Certificate.dcc_sha256
    sha = session.scalar(select(column).where(Certificate.id == cert_id))
    stored = session.get(StoredFile, sha) if sha else None
    if stored is None or hashlib.sha256(stored.data).hexdigest() != sha:
        raise NotFoundError(f"the {kind.value.upper()} of certificate {number} is not available")
    return stored.data


def recall(
    session: Session, principal: CustomerPrincipal, today: date, within_days: int = 60
) -> list[RecallItem]:
    """The customer's instruments whose verification expires within ``within_days``."""
    if within_days > 3660:
        raise QualityError("within: at most 3660 days")
    return customer_recall_list(session, principal.customer_id, today, within_days)
