"""What an auditor reads about one certificate: its audit trail and its supersession chain.

The trail gathers the audit events of the certificate's record, of its signatures and
the refused signatures (recorded under the certificate's number), oldest first. The
chain lists the certificates it replaced and that replaced it, oldest first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from lims.db import Database
from lims.models.certificates import Certificate, Signature
from lims.models.users import User
from lims.quality.audit_review import find_events
from lims.quality.errors import NotFoundError, QualityError
from lims.quality.permissions import Permission, require
from lims.services.certificates import CertificateInfo, certificate_info

__all__ = ["TrailEntry", "certificate_trail", "supersession_chain"]

#: The longest supersession chain followed (a loop in the records would be a fault).
MAX_CHAIN = 100


@dataclass(frozen=True)
class TrailEntry:
    """One audit event about the certificate."""

    event_id: int
    occurred_at: datetime
    actor: str
    action: str
    record: str  # "certificates:12", "signatures:40" or "certificates:2026-JD-0001"
    changes: dict[str, Any]
    reason: str


def certificate_trail(db: Database, viewer: User, number: str) -> list[TrailEntry]:
    """Every audit event of certificate ``number``, its signatures and refused signatures."""
    require(viewer, Permission.REVIEW_AUDIT)
    with db.read() as s:
        cert_id = s.scalars(select(Certificate.id).where(Certificate.number == number)).first()
        if cert_id is None:
            raise NotFoundError(f"certificate {number!r} does not exist")
        records = [("certificates", str(cert_id)), ("certificates", number)]
        records += [
            ("signatures", str(sid))
            for sid in s.scalars(select(Signature.id).where(Signature.certificate_id == cert_id))
        ]
        events = [ev for rec in records for ev in find_events(s, viewer, record=rec)]
        events.sort(key=lambda ev: ev.id)
        return [
            TrailEntry(
                ev.id,
                ev.occurred_at,
                ev.actor,
                ev.action,
                f"{ev.table_name}:{ev.record_id}",
                dict(ev.changes or {}),
                ev.reason or "",
            )
            for ev in events
        ]


def supersession_chain(db: Database, viewer: User, number: str) -> list[CertificateInfo]:
    """The certificates ``number`` replaced and that replaced it, oldest first."""
    current = certificate_info(db, viewer, number)
    older: list[CertificateInfo] = []
    seen = {current.number}
    back = current
    while back.replaces is not None:
        back = certificate_info(db, viewer, back.replaces)
        _check_loop(seen, back.number)
        older.insert(0, back)
    newer: list[CertificateInfo] = []
    ahead = current
    while ahead.superseded_by is not None:
        ahead = certificate_info(db, viewer, ahead.superseded_by)
        _check_loop(seen, ahead.number)
        newer.append(ahead)
    return [*older, current, *newer]


def _check_loop(seen: set[str], number: str) -> None:
    if number in seen or len(seen) >= MAX_CHAIN:
        raise QualityError(f"the supersession chain of certificate {number} loops")
    seen.add(number)
