"""Users, their roles and their authorizations to perform procedures."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lims.db.base import Base, created_at_column, enum_column
from lims.models.enums import Role


class User(Base):
    """A person who logs in. The printed name appears on signatures."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(100))
    full_name_en: Mapped[str] = mapped_column(String(100), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    password_changed_at: Mapped[datetime]
    active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_at: Mapped[datetime | None]
    valid_until: Mapped[date | None]
    created_at: Mapped[datetime] = created_at_column()

    roles: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )
    authorizations: Mapped[list[Authorization]] = relationship(
        back_populates="user", foreign_keys="Authorization.user_id"
    )

    def has_role(self, role: Role) -> bool:
        """Whether the user holds ``role``."""
        return any(r.role == role for r in self.roles)

    @property
    def role_set(self) -> frozenset[Role]:
        """All roles held."""
        return frozenset(Role(r.role) for r in self.roles)


class UserRole(Base):
    """One role held by a user."""

    __tablename__ = "user_roles"
    __table_args__ = (UniqueConstraint("user_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[Role] = enum_column(Role)

    user: Mapped[User] = relationship(back_populates="roles")


class Authorization(Base):
    """A technician's authorization (certificate of competence) for one procedure."""

    __tablename__ = "authorizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    procedure_id: Mapped[str] = mapped_column(String(64))
    competence_certificate: Mapped[str] = mapped_column(String(100), default="")
    valid_from: Mapped[date]
    valid_until: Mapped[date]
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = created_at_column()

    user: Mapped[User] = relationship(back_populates="authorizations", foreign_keys=[user_id])

    def is_valid_on(self, day: date) -> bool:
        """Whether the authorization covers ``day`` and has not been revoked."""
        return self.revoked_at is None and self.valid_from <= day <= self.valid_until
