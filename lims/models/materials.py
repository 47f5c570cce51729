"""Reference materials (标准物质): standard gas cylinders and CRMs."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Float, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lims.db.base import Base, created_at_column, enum_column
from lims.models.enums import ReferenceMaterialStatus


class ReferenceMaterial(Base):
    """One unit of a certified reference material (a cylinder, a bottle of CRM)."""

    __tablename__ = "reference_materials"
    __table_args__ = (UniqueConstraint("gbw_number", "lot", "cylinder_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Lab's own tag for the unit, e.g. ``RM-CO2-0400``.
    tag: Mapped[str] = mapped_column(String(64), unique=True)
    #: GBW + 5 digits (national first class) or GBW(E) + 6 digits (second class).
    gbw_number: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(200))
    producer: Mapped[str] = mapped_column(String(200), default="")
    component: Mapped[str] = mapped_column(String(64))
    matrix: Mapped[str] = mapped_column(String(64), default="")
    certified_value: Mapped[float] = mapped_column(Float)
    expanded_uncertainty: Mapped[float] = mapped_column(Float)
    coverage_factor: Mapped[float] = mapped_column(Float, default=2.0)
    unit: Mapped[str] = mapped_column(String(64))
    certificate_number: Mapped[str] = mapped_column(String(100), default="")
    lot: Mapped[str] = mapped_column(String(64), default="")
    cylinder_number: Mapped[str] = mapped_column(String(64), default="")
    received_on: Mapped[date]
    opened_on: Mapped[date | None]
    expires_on: Mapped[date]
    #: Remaining amount (cylinder pressure or mass) and the minimum usable amount.
    remaining: Mapped[float | None] = mapped_column(Float)
    minimum: Mapped[float | None] = mapped_column(Float)
    remaining_unit: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[ReferenceMaterialStatus] = enum_column(
        ReferenceMaterialStatus, default=ReferenceMaterialStatus.IN_STOCK
    )
    status_reason: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = created_at_column()

    def usable_on(self, day: date) -> tuple[bool, str]:
        """Whether the material may be used on ``day``, and why not."""
        if self.status in (
            ReferenceMaterialStatus.EXHAUSTED,
            ReferenceMaterialStatus.DISPOSED,
            ReferenceMaterialStatus.EXPIRED,
        ):
            return False, f"reference material {self.tag} is {self.status.value}"
        if day > self.expires_on:
            return False, f"reference material {self.tag} expired on {self.expires_on.isoformat()}"
        if (
            self.remaining is not None
            and self.minimum is not None
            and self.remaining < self.minimum
        ):
            return False, (
                f"reference material {self.tag} is exhausted: {self.remaining:g} "
                f"{self.remaining_unit or ''} left, minimum {self.minimum:g}"
            )
        return True, ""
