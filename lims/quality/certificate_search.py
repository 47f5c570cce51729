"""Certificate search for the history views: by number, customer, instrument serial
number, date and status, newest first.

A certificate's date is when it was issued, or, until it is issued, when it was
drafted. Searches use the customer and instrument denormalized onto each
certificate when it is drafted, and their indexes (migration 0005).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from lims.models.certificates import Certificate
from lims.models.enums import CertificateStatus, CertificateType
from lims.models.equipment import Equipment
from lims.models.lab import Customer
from lims.quality.errors import QualityError


@dataclass(frozen=True)
class CertificateHit:
    """One certificate found by :func:`search_certificates`.

    Customer and instrument are as recorded now in the customer and equipment
    registers (the certificate's own content keeps them as they were at drafting).
    """

    number: str
    type: CertificateType
    status: CertificateStatus
    revision: int
    customer: str
    instrument: str
    manufacturer: str
    model: str
    serial_number: str
    created_at: datetime
    issued_at: datetime | None
    valid_until: date | None
    run_id: int
    replaces: str | None

    @property
    def dated(self) -> datetime:
        """The date the search orders and filters by: issued, else drafted."""
        return self.issued_at if self.issued_at is not None else self.created_at

    def as_json(self) -> dict[str, object]:
        """Plain data for ``--json`` output."""
        return {
            "number": self.number,
            "type": self.type.value,
            "status": self.status.value,
            "revision": self.revision,
            "customer": self.customer,
            "instrument": self.instrument,
            "manufacturer": self.manufacturer,
            "model": self.model,
            "serial_number": self.serial_number,
            "created_at": self.created_at.isoformat(),
            "issued_at": self.issued_at.isoformat() if self.issued_at else None,
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
            "run_id": self.run_id,
            "replaces": self.replaces,
        }


_Replaced = aliased(Certificate, name="replaced")


def _hits_query() -> Select[*tuple[Any, ...]]:
    return (
        select(
            Certificate.id,
            Certificate.number,
            Certificate.type,
            Certificate.status,
            Certificate.revision,
            Customer.name,
            Equipment.description,
            Equipment.manufacturer,
            Equipment.model,
            Equipment.serial_number,
            Certificate.created_at,
            Certificate.issued_at,
            Certificate.valid_until,
            Certificate.run_id,
            _Replaced.number,
        )
        .outerjoin(Customer, Customer.id == Certificate.customer_id)
        .outerjoin(Equipment, Equipment.id == Certificate.equipment_id)
        .outerjoin(_Replaced, _Replaced.id == Certificate.replaces_id)
    )


def _hit(row: Sequence[Any]) -> CertificateHit:
    return CertificateHit(
        number=row[1],
        type=CertificateType(row[2]),
        status=CertificateStatus(row[3]),
        revision=row[4],
        customer=row[5] or "",
        instrument=row[6] or "",
        manufacturer=row[7] or "",
        model=row[8] or "",
        serial_number=row[9] or "",
        created_at=row[10],
        issued_at=row[11],
        valid_until=row[12],
        run_id=row[13],
        replaces=row[14],
    )


#: The longest search term: no name, number or serial the lab stores is longer.
MAX_TERM = 200


def _text(value: str, option: str) -> str:
    cleaned = value.strip()
    if not cleaned:
        raise QualityError(f"{option}: empty; give a value or leave the option out")
    if len(cleaned) > MAX_TERM:
        raise QualityError(
            f"{option}: {len(cleaned)} characters; a search term has at most {MAX_TERM}"
        )
    return cleaned


def _start(d: date) -> datetime:
    return datetime.combine(d, time.min, tzinfo=UTC)


def _common_filters(
    session: Session,
    number: str | None,
    customer: int | str | None,
    serial: str | None,
    status: CertificateStatus | None,
) -> list[ColumnElement[bool]] | None:
    """The filters every part of the search shares; None when nothing can match.

    Customers and instruments are looked up first, so that the planner sees the
    few ids they come to and reads certificates through their indexes.
    """
    filters: list[ColumnElement[bool]] = []
    if number is not None:
        filters.append(Certificate.number == _text(number, "--number"))
    if isinstance(customer, bool):
        raise QualityError(f"--customer: {customer!r} is neither a customer id nor a name")
    if isinstance(customer, int):
        filters.append(Certificate.customer_id == customer)
    elif customer is not None:
        part = _text(customer, "--customer")
        ids = session.scalars(
            select(Customer.id).where(Customer.name.icontains(part, autoescape=True))
        ).all()
        if not ids:
            return None
        filters.append(Certificate.customer_id.in_(ids))
    if serial is not None:
        ids = session.scalars(
            select(Equipment.id).where(Equipment.serial_number == _text(serial, "--serial"))
        ).all()
        if not ids:
            return None
        filters.append(Certificate.equipment_id.in_(ids))
    if status is not None:
        filters.append(Certificate.status == CertificateStatus(status))
    return filters


def search_certificates(
    session: Session,
    *,
    number: str | None = None,
    customer: int | str | None = None,
    serial: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    status: CertificateStatus | None = None,
    limit: int = 200,
) -> list[CertificateHit]:
    """Certificates matching every criterion given, newest first, at most ``limit``.

    ``number`` is the exact certificate number; ``customer`` a customer id (int)
    or part of the customer's name (str, case-insensitive); ``serial`` the exact
    serial number of the instrument. ``date_from`` and ``date_to`` are inclusive
    UTC days on the issue date, or on the drafting date for certificates not
    issued. Callers check that the viewer may see records
    (:attr:`~lims.quality.permissions.Permission.VIEW_RECORDS`). Raises
    :class:`QualityError` naming the bad criterion.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise QualityError(f"--limit: {limit!r} is not a positive whole number")
    if date_from is not None and date_to is not None and date_to < date_from:
        raise QualityError(f"--to {date_to.isoformat()} is before --from {date_from.isoformat()}")
    filters = _common_filters(session, number, customer, serial, status)
    if filters is None:
        return []
    # Issued and not-yet-issued certificates are dated by different columns: each
    # part is read newest first through an index, and the two pages are merged.
    issued: list[ColumnElement[bool]] = [Certificate.issued_at.is_not(None)]
    drafts: list[ColumnElement[bool]] = [Certificate.issued_at.is_(None)]
    if date_from is not None:
        issued.append(Certificate.issued_at >= _start(date_from))
        drafts.append(Certificate.created_at >= _start(date_from))
    if date_to is not None:
        end = _start(date_to + timedelta(days=1))
        issued.append(Certificate.issued_at < end)
        drafts.append(Certificate.created_at < end)
    rows = _page(session, [*filters, *issued], Certificate.issued_at, limit)
    rows += _page(session, [*filters, *drafts], Certificate.created_at, limit)
    hits = sorted(
        ((_hit(row), row[0]) for row in rows), key=lambda h: (h[0].dated, h[1]), reverse=True
    )
    return [hit for hit, _id in hits[:limit]]


def _page(
    session: Session,
    where: list[ColumnElement[bool]],
    dated: InstrumentedAttribute[Any],
    limit: int,
) -> list[Sequence[Any]]:
    """The newest ``limit`` certificates by ``dated``, picked before the joins."""
    page = (
        select(Certificate.id)
        .where(*where)
        .order_by(dated.desc(), Certificate.id.desc())
        .limit(limit)
        .subquery("page")
    )
    return list(session.execute(_hits_query().join(page, page.c.id == Certificate.id)))
