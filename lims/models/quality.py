"""Quality-system records: reference-material events, impact assessments,
proficiency tests and the incident log."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lims.db.base import Base, created_at_column


class ReferenceMaterialEvent(Base):
    """One event in a reference material's life: opened, consumed, expired, disposed."""

    __tablename__ = "reference_material_events"
    __append_only__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    reference_material_id: Mapped[int] = mapped_column(
        ForeignKey("reference_materials.id"), index=True
    )
    #: ``opened``, ``consumed``, ``expired`` or ``disposed``.
    kind: Mapped[str] = mapped_column(String(32))
    happened_on: Mapped[date]
    remaining_before: Mapped[float | None] = mapped_column(Float)
    remaining_after: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str | None] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = created_at_column()


class ImpactAssessment(Base):
    """An out-of-tolerance finding on a standard or reference material and the
    runs and certificates it may affect (ISO/IEC 17025 6.4.9, 7.10)."""

    __tablename__ = "impact_assessments"

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_tag: Mapped[str] = mapped_column(String(64), index=True)
    #: ``standard`` or ``reference_material``.
    resource_kind: Mapped[str] = mapped_column(String(32))
    finding: Mapped[str] = mapped_column(Text)
    found_on: Mapped[date]
    #: Runs on or after this day are in scope (None: the whole history).
    since: Mapped[date | None]
    opened_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    #: ``open`` or ``closed``.
    status: Mapped[str] = mapped_column(String(16), default="open")
    #: {"runs": [ids], "certificates": [{"id", "number", "run_id", "via"}]}.
    affected: Mapped[dict[str, Any]] = mapped_column(default=dict)
    conclusion: Mapped[str] = mapped_column(Text, default="")
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    closed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()


class ProficiencyTest(Base):
    """A result of an inter-laboratory comparison or proficiency test, with its En number."""

    __tablename__ = "proficiency_tests"
    __append_only__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    scheme: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str] = mapped_column(String(200), default="")
    round_code: Mapped[str] = mapped_column(String(100), default="")
    procedure_id: Mapped[str] = mapped_column(String(64), default="")
    measurand: Mapped[str] = mapped_column(String(100))
    lab_value: Mapped[float] = mapped_column(Float)
    lab_uncertainty: Mapped[float] = mapped_column(Float)
    reference_value: Mapped[float] = mapped_column(Float)
    reference_uncertainty: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(64))
    en: Mapped[float] = mapped_column(Float)
    satisfactory: Mapped[bool]
    performed_on: Mapped[date]
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = created_at_column()


class Incident(Base):
    """A system failure or nonconformity and its corrective action (ISO/IEC 17025 7.11.3)."""

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime]
    #: ``system_failure``, ``equipment_failure``, ``data_integrity``, ``nonconformity``, ...
    category: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    reported_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    impact: Mapped[str] = mapped_column(Text, default="")
    corrective_action: Mapped[str] = mapped_column(Text, default="")
    action_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action_at: Mapped[datetime | None]
    #: ``open`` or ``closed``.
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = created_at_column()
