"""Equipment (customers' instruments and the lab's own), measurement standards,
their external certificates and intermediate checks."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lims.db.base import Base, created_at_column, enum_column
from lims.db.types import hash_prefix_index
from lims.models.enums import EquipmentStatus


class Equipment(Base):
    """Every physical item: an instrument under test or a piece of the lab's standards."""

    __tablename__ = "equipment"
    __table_args__ = (UniqueConstraint("manufacturer", "model", "serial_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(200))
    manufacturer: Mapped[str] = mapped_column(String(100))
    model: Mapped[str] = mapped_column(String(100))
    serial_number: Mapped[str] = mapped_column(String(100), index=True)
    asset_tag: Mapped[str | None] = mapped_column(String(64), unique=True)
    range_min: Mapped[float | None] = mapped_column(Float)
    range_max: Mapped[float | None] = mapped_column(Float)
    range_unit: Mapped[str | None] = mapped_column(String(64))
    accuracy: Mapped[str] = mapped_column(String(100), default="")
    #: Nameplate data a procedure takes from the item, as registered text by name, e.g.
    #: ``{"accuracy_class": "1.0", "rated_power": "7 kW", "resolution": "0.1 umol/mol"}``.
    specs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: Owner: a customer, or NULL for the lab's own equipment.
    owner_customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    location: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[EquipmentStatus] = enum_column(EquipmentStatus, default=EquipmentStatus.ACTIVE)
    status_reason: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = created_at_column()

    certificates: Mapped[list[ExternalCertificate]] = relationship(back_populates="equipment")


class MeasurementStandard(Base):
    """A lab measurement standard (计量标准) made of one or more pieces of equipment."""

    __tablename__ = "measurement_standards"

    id: Mapped[int] = mapped_column(primary_key=True)
    tag: Mapped[str] = mapped_column(String(64), unique=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    #: 计量标准考核证书号
    approval_certificate: Mapped[str] = mapped_column(String(100), default="")
    measurand: Mapped[str] = mapped_column(String(100), default="")
    range_text: Mapped[str] = mapped_column(String(200), default="")
    uncertainty_text: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[EquipmentStatus] = enum_column(EquipmentStatus, default=EquipmentStatus.ACTIVE)
    status_reason: Mapped[str] = mapped_column(String(500), default="")
    intermediate_check_interval_days: Mapped[int] = mapped_column(default=180)
    created_at: Mapped[datetime] = created_at_column()

    members: Mapped[list[StandardMember]] = relationship(back_populates="standard")
    checks: Mapped[list[IntermediateCheck]] = relationship(back_populates="standard")


class StandardMember(Base):
    """Equipment that belongs to a measurement standard."""

    __tablename__ = "standard_members"
    __table_args__ = (UniqueConstraint("standard_id", "equipment_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    standard_id: Mapped[int] = mapped_column(ForeignKey("measurement_standards.id"), index=True)
    equipment_id: Mapped[int] = mapped_column(ForeignKey("equipment.id"), index=True)
    #: The bench role this equipment plays, e.g. ``gas_dilutor`` or ``pile_tester``.
    role: Mapped[str] = mapped_column(String(64), default="")

    standard: Mapped[MeasurementStandard] = relationship(back_populates="members")
    equipment: Mapped[Equipment] = relationship()


class ExternalCertificate(Base):
    """A calibration/verification certificate of the lab's equipment, from outside or in-house."""

    __tablename__ = "external_certificates"
    __append_only__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    equipment_id: Mapped[int] = mapped_column(ForeignKey("equipment.id"), index=True)
    issuer: Mapped[str] = mapped_column(String(200))
    number: Mapped[str] = mapped_column(String(100))
    calibrated_on: Mapped[date]
    issued_on: Mapped[date]
    valid_until: Mapped[date]
    #: Values and uncertainties: list of {quantity, value, unit, U, k}.
    values: Mapped[dict[str, Any]] = mapped_column(default=dict)
    file_sha256: Mapped[str | None] = mapped_column(String(64))
    #: For an in-house calibration: the run that produced it (reverse traceability).
    in_house_run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"), index=True)
    revision: Mapped[int] = mapped_column(default=1)
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("external_certificates.id"))
    created_at: Mapped[datetime] = created_at_column()

    equipment: Mapped[Equipment] = relationship(back_populates="certificates")

    __table_args__ = (
        hash_prefix_index("ix_external_certificates_file_sha256_prefix", "file_sha256"),
    )


class IntermediateCheck(Base):
    """An intermediate check (期间核查) of a measurement standard."""

    __tablename__ = "intermediate_checks"
    __append_only__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    standard_id: Mapped[int] = mapped_column(ForeignKey("measurement_standards.id"), index=True)
    performed_on: Mapped[date]
    performed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    quantity: Mapped[str] = mapped_column(String(100), default="")
    nominal: Mapped[float | None] = mapped_column(Float)
    measured: Mapped[float | None] = mapped_column(Float)
    limit: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str | None] = mapped_column(String(64))
    passed: Mapped[bool]
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = created_at_column()

    standard: Mapped[MeasurementStandard] = relationship(back_populates="checks")
