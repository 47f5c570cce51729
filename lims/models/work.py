"""Work orders (委托单) and their items, and procedures with regulation tables."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lims.db.base import Base, created_at_column, enum_column
from lims.models.enums import ItemStatus, ReleaseStatus, ServiceKind, WorkOrderStatus
from lims.models.equipment import Equipment
from lims.models.lab import Contact, Customer


class WorkOrder(Base):
    """A customer's order: the instruments received together.

    Life cycle (:mod:`lims.services.work_order_status`): received → in progress (a run of
    one of its items starts) → certified (every item certified) → delivered; cancelled
    with a reason from any state before delivery.
    """

    __tablename__ = "work_orders"
    # the board pages open work by status, then due date and number
    __table_args__ = (Index("ix_work_orders_status_due", "status", "due_on", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    received_on: Mapped[date]
    due_on: Mapped[date | None]
    status: Mapped[WorkOrderStatus] = enum_column(WorkOrderStatus, default=WorkOrderStatus.RECEIVED)
    notes: Mapped[str] = mapped_column(Text, default="")
    #: Why it was cancelled (empty otherwise).
    status_reason: Mapped[str] = mapped_column(Text, default="")
    status_changed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()

    customer: Mapped[Customer] = relationship()
    contact: Mapped[Contact | None] = relationship()
    items: Mapped[list[WorkOrderItem]] = relationship(back_populates="work_order")


class WorkOrderItem(Base):
    """One instrument of a work order and the service requested for it."""

    __tablename__ = "work_order_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id"), index=True)
    equipment_id: Mapped[int] = mapped_column(ForeignKey("equipment.id"), index=True)
    service: Mapped[ServiceKind] = enum_column(ServiceKind)
    procedure_id: Mapped[str] = mapped_column(String(64))
    #: For calibration with a conformity statement: the ILAC G8 rule agreed with the customer.
    decision_rule: Mapped[str | None] = mapped_column(String(64))
    #: The customer asked for the uncertainty budgets as an annex to the certificate.
    budget_annex: Mapped[bool] = mapped_column(default=False, server_default=false())
    condition_on_receipt: Mapped[str] = mapped_column(String(300), default="")
    due_on: Mapped[date | None]
    status: Mapped[ItemStatus] = enum_column(ItemStatus, default=ItemStatus.RECEIVED)
    created_at: Mapped[datetime] = created_at_column()

    work_order: Mapped[WorkOrder] = relationship(back_populates="items")
    equipment: Mapped[Equipment] = relationship()


class Procedure(Base):
    """A verification or calibration procedure known to the lab."""

    __tablename__ = "procedures"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title_zh: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200))
    kind: Mapped[ServiceKind] = enum_column(ServiceKind)
    regulation: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = created_at_column()


class RegulationTable(Base):
    """A versioned table of regulation numbers (test points, MPEs, intervals, rules)."""

    __tablename__ = "regulation_tables"
    __table_args__ = (UniqueConstraint("procedure_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    procedure_id: Mapped[str] = mapped_column(ForeignKey("procedures.id"), index=True)
    version: Mapped[str] = mapped_column(String(32))
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(300), default="")
    has_unverified: Mapped[bool] = mapped_column(default=False)
    status: Mapped[ReleaseStatus] = enum_column(ReleaseStatus, default=ReleaseStatus.DRAFT)
    released_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    released_at: Mapped[datetime | None]
    release_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = created_at_column()


class ProcedureVersion(Base):
    """A version of a procedure's code, bound to one regulation table."""

    __tablename__ = "procedure_versions"
    __table_args__ = (UniqueConstraint("procedure_id", "version", "source_sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    procedure_id: Mapped[str] = mapped_column(ForeignKey("procedures.id"), index=True)
    version: Mapped[str] = mapped_column(String(32))
    source_sha256: Mapped[str] = mapped_column(String(64))
    regulation_table_id: Mapped[int] = mapped_column(ForeignKey("regulation_tables.id"))
    created_at: Mapped[datetime] = created_at_column()

    procedure: Mapped[Procedure] = relationship()
    regulation_table: Mapped[RegulationTable] = relationship()
