"""The laboratory profile, customers and their contacts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lims.db.base import Base, created_at_column


class LabProfile(Base):
    """The laboratory that issues certificates (one row)."""

    __tablename__ = "lab_profile"

    id: Mapped[int] = mapped_column(primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    address_zh: Mapped[str] = mapped_column(String(300), default="")
    address_en: Mapped[str] = mapped_column(String(300), default="")
    phone: Mapped[str] = mapped_column(String(50), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    accreditation_number: Mapped[str] = mapped_column(String(100), default="")
    authorization_number: Mapped[str] = mapped_column(String(100), default="")
    #: Certificate-number pattern, e.g. ``"{prefix}{year}-{seq:05d}"``.
    certificate_number_pattern: Mapped[str] = mapped_column(
        String(100), default="{prefix}{year}-{seq:05d}"
    )
    certificate_prefix: Mapped[str] = mapped_column(String(20), default="CM")
    #: IANA zone of the lab's dates on certificates (performance, issue, validity).
    time_zone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    created_at: Mapped[datetime] = created_at_column()


class Customer(Base):
    """A customer (委托方) who sends instruments."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    address: Mapped[str] = mapped_column(String(300), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = created_at_column()

    contacts: Mapped[list[Contact]] = relationship(back_populates="customer")


class Contact(Base):
    """A person to contact at a customer."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(50), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = created_at_column()

    customer: Mapped[Customer] = relationship(back_populates="contacts")
