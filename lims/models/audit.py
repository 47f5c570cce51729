"""The audit trail: append-only events chained by hash."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lims.db.base import Base


class AuditEvent(Base):
    """One create, change or delete of a lab record (or a security event).

    ``state`` is the record's full audited state after the event (empty after a
    delete); ``changes`` maps each changed field to ``[old, new]``. ``sha256``
    covers every other column and ``prev_sha256``, so the events form a chain.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_record", "table_name", "record_id", "id"),
        Index("ix_audit_events_occurred_at", "occurred_at"),
    )
    __audited__ = False
    __append_only__ = True

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    occurred_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    table_name: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[str] = mapped_column(String(64))
    changes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    reason: Mapped[str | None] = mapped_column(Text)
    prev_sha256: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The head of the audit chain (one row), locked while appending."""

    __tablename__ = "audit_head"
    __audited__ = False

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_id: Mapped[int] = mapped_column(default=0)
    last_sha256: Mapped[str] = mapped_column(String(64))


class AuditAnchorState(Base):
    """How many anchors of the chain were written outside the database, and the newest one.

    One row (id 1), audited: every anchor written appends an event with the new count,
    so removing anchor lines from a file, or the whole file, is found by comparing the
    file with this record (:mod:`lims.audit_anchors`).
    """

    __tablename__ = "audit_anchor_state"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    #: Anchors appended to the data directory's anchor file so far.
    anchors_written: Mapped[int] = mapped_column(default=0)
    #: The audit event the newest anchor records (0: none yet).
    newest_event_id: Mapped[int] = mapped_column(default=0)
    #: SHA-256 of the newest anchor's line (empty: none yet).
    newest_anchor_sha256: Mapped[str] = mapped_column(String(64), default="")
