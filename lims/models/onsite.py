"""On-site work: sites, visits, portable standards checked out and in, runs recorded on a
laptop and synchronized into the lab's database."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lims.db.base import Base, created_at_column


class DatabaseIdentity(Base):
    """This database's own global identity (one row, made by the migration).

    Not part of a backup: a database restored from another's backup keeps its own.
    """

    __tablename__ = "database_identity"
    __table_args__ = {"info": {"backup": False}}  # noqa: RUF012 (SQLAlchemy's table args)
    __audited__ = False

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    created_at: Mapped[datetime] = created_at_column()


class Site(Base):
    """A place where the lab works on site: the customer's plant and the measuring point."""

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    plant: Mapped[str] = mapped_column(String(200))
    point: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = created_at_column()


class SiteVisit(Base):
    """A trip to a site for given dates; ``uid`` identifies it on every database."""

    __tablename__ = "site_visits"

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    work_order_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id"))
    notes: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = created_at_column()


class Checkout(Base):
    """A portable standard or reference material taken out of the lab for a visit.

    ``valid_until`` is the validity found at check-out (it covered the visit's dates).
    """

    __tablename__ = "checkouts"
    __table_args__ = (Index("ix_checkouts_visit_tag", "visit_id", "tag"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("site_visits.id"))
    #: ``standard`` or ``reference_material``.
    kind: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[int]
    tag: Mapped[str] = mapped_column(String(64))
    valid_until: Mapped[date]
    checked_out_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    checked_out_at: Mapped[datetime]
    checked_in_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    checked_in_at: Mapped[datetime | None]
    condition_in: Mapped[str] = mapped_column(Text, default="")


class RunSite(Base):
    """A run performed on site, during a visit."""

    __tablename__ = "run_sites"
    __append_only__ = True

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("site_visits.id"), index=True)
    created_at: Mapped[datetime] = created_at_column()


class SyncImport(Base):
    """One synchronization of a laptop's database into this one.

    The laptop's audit events ``first_event_id``…``last_event_id`` are kept in
    :class:`SyncedAuditEvent` as a verified segment: the first one follows the event
    ``anchor_event_id`` (hash ``anchor_sha256``: the last event both databases share, or
    the end of the previous segment from the same source; 0 and the genesis hash when
    none), the last one has ``last_sha256``.
    """

    __tablename__ = "sync_imports"
    __append_only__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    source_uid: Mapped[str] = mapped_column(String(36), index=True)
    anchor_event_id: Mapped[int]
    anchor_sha256: Mapped[str] = mapped_column(String(64))
    first_event_id: Mapped[int]
    last_event_id: Mapped[int]
    last_sha256: Mapped[str] = mapped_column(String(64))
    events: Mapped[int]
    runs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    imported_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at_column()


class SyncedAuditEvent(Base):
    """An audit event of another database, imported as part of a verified segment."""

    __tablename__ = "synced_audit_events"
    __table_args__ = (UniqueConstraint("source_uid", "source_event_id"),)
    __audited__ = False  # covered by its import's audited count and last hash
    __append_only__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("sync_imports.id"), index=True)
    source_uid: Mapped[str] = mapped_column(String(36))
    source_event_id: Mapped[int]
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


class RunOrigin(Base):
    """Where a run imported by synchronization was recorded, and its chain there.

    ``uid`` is the run's global identity. The readings' chain as recorded at the source
    (chained under ``source_run_id``) ends in ``reading_head`` after ``reading_count``
    readings: :func:`lims.services.sync.verify_origins` recomputes it from this database's
    readings; the instruments' I/O likewise ends in ``io_head`` after ``io_count``
    exchanges. ``source_state_sha256`` fingerprints the run's records at the source when
    imported (a later change there is a conflict, never an overwrite).
    """

    __tablename__ = "run_origins"
    __table_args__ = (UniqueConstraint("source_uid", "source_run_id"),)
    __append_only__ = True

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    source_uid: Mapped[str] = mapped_column(String(36))
    source_run_id: Mapped[int]
    reading_count: Mapped[int]
    reading_head: Mapped[str] = mapped_column(String(64))
    io_count: Mapped[int] = mapped_column(default=0, server_default="0")
    io_head: Mapped[str] = mapped_column(String(64), default="0" * 64, server_default="0" * 64)
    source_state_sha256: Mapped[str] = mapped_column(String(64))
    import_id: Mapped[int] = mapped_column(ForeignKey("sync_imports.id"), index=True)
    created_at: Mapped[datetime] = created_at_column()
