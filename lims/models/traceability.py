"""Traceability records: the accreditation scope, accepted calibration intervals,
comparisons (proficiency tests, inter-laboratory and in-house) and the dispositions
and customer notifications of an out-of-tolerance impact assessment."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lims.db.base import Base, created_at_column, enum_column
from lims.models.enums import ReleaseStatus


class ScopeVersion(Base):
    """One version of the lab's accreditation scope (CMCs per quantity, range and method).

    The entries are kept as the imported TOML text (``content``, hashed); a quality
    manager releases a version, and only the newest released one is applied.
    """

    __tablename__ = "scope_versions"
    __table_args__ = (UniqueConstraint("version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(String(32))
    accreditation_number: Mapped[str] = mapped_column(String(100))
    content: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[ReleaseStatus] = enum_column(ReleaseStatus, default=ReleaseStatus.DRAFT)
    imported_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    released_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    released_at: Mapped[datetime | None]
    release_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = created_at_column()


class IntervalDecision(Base):
    """A calibration interval accepted by a quality manager from a drift analysis.

    ``tag`` is a standard's tag or a piece of equipment's asset tag (the lab's or a
    customer's serial-number key); ``next_due`` is the due date that applies from now
    on, ``check_interval_days`` the intermediate-check frequency (standards).
    """

    __tablename__ = "interval_decisions"
    __append_only__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    tag: Mapped[str] = mapped_column(String(100), index=True)
    #: ``standard`` or ``equipment``.
    kind: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[str] = mapped_column(String(100), default="")
    previous_due: Mapped[date | None]
    next_due: Mapped[date]
    check_interval_days: Mapped[int | None]
    reliability: Mapped[float] = mapped_column(Float)
    #: The analysis the decision rests on: method, fit, data points, proposed date.
    analysis: Mapped[dict[str, Any]] = mapped_column(default=dict)
    reason: Mapped[str] = mapped_column(Text)
    accepted_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = created_at_column()


class ComparisonRound(Base):
    """A proficiency test, inter-laboratory comparison or in-house device comparison.

    ``assigned_value`` and ``assigned_u`` (standard uncertainty) come from a reference
    laboratory or device, or from the participants by ISO 13528 Algorithm A
    (``assigned_method``); ``sigma_pt`` is the standard deviation for proficiency
    assessment used by the z score (None: no z score).
    """

    __tablename__ = "comparison_rounds"
    __append_only__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    #: ``proficiency_test``, ``interlaboratory`` or ``internal``.
    kind: Mapped[str] = mapped_column(String(32))
    scheme: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str] = mapped_column(String(200), default="")
    round_code: Mapped[str] = mapped_column(String(100), default="")
    procedure_id: Mapped[str] = mapped_column(String(64), default="")
    measurand: Mapped[str] = mapped_column(String(100))
    unit: Mapped[str] = mapped_column(String(64))
    performed_on: Mapped[date]
    #: ``reference``, ``consensus_algorithm_a`` or ``reference_device``.
    assigned_method: Mapped[str] = mapped_column(String(32))
    assigned_value: Mapped[float] = mapped_column(Float)
    assigned_u: Mapped[float] = mapped_column(Float)
    sigma_pt: Mapped[float | None] = mapped_column(Float)
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = created_at_column()


class ComparisonResult(Base):
    """One participant's result in a comparison round, with its scores."""

    __tablename__ = "comparison_results"
    __append_only__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("comparison_rounds.id"), index=True)
    participant: Mapped[str] = mapped_column(String(100))
    own_lab: Mapped[bool] = mapped_column(default=False)
    #: For an in-house comparison: the standard or equipment tag that measured.
    device_tag: Mapped[str] = mapped_column(String(100), default="")
    value: Mapped[float] = mapped_column(Float)
    #: Expanded uncertainty and its coverage factor (None when the participant gave none).
    expanded_uncertainty: Mapped[float | None] = mapped_column(Float)
    k: Mapped[float | None] = mapped_column(Float)
    en: Mapped[float | None] = mapped_column(Float)
    z: Mapped[float | None] = mapped_column(Float)
    zeta: Mapped[float | None] = mapped_column(Float)
    #: ``satisfactory``, ``questionable``, ``unsatisfactory`` or ``not_scored``.
    assessment: Mapped[str] = mapped_column(String(16))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    created_at: Mapped[datetime] = created_at_column()


class ImpactDisposition(Base):
    """The decision on one certificate affected by an out-of-tolerance finding."""

    __tablename__ = "impact_dispositions"
    __append_only__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    impact_id: Mapped[int] = mapped_column(ForeignKey("impact_assessments.id"), index=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), index=True)
    #: ``no_impact``, ``amend``, ``revoke`` or ``customer_to_decide``.
    disposition: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    decided_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = created_at_column()


class CustomerNotification(Base):
    """A record that a customer was told about an out-of-tolerance finding."""

    __tablename__ = "customer_notifications"
    __append_only__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    impact_id: Mapped[int] = mapped_column(ForeignKey("impact_assessments.id"), index=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    notified_on: Mapped[date]
    #: ``letter``, ``email``, ``phone`` or ``in_person``.
    channel: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str] = mapped_column(String(200), default="")
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = created_at_column()
