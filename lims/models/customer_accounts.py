"""Customers' own accounts for the portal, and their API tokens.

These are not lab users: a customer account holds no role and can do nothing
in the lab; it only reads its own customer's issued certificates. Accounts are
created by a lab administrator and never deleted (deactivated instead); a
token is stored only as the SHA-256 of its secret.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from lims.db.base import Base, created_at_column


class CustomerAccount(Base):
    """A person at a customer who logs in to the portal (argon2 password, lockout)."""

    __tablename__ = "customer_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200))
    password_changed_at: Mapped[datetime]
    active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_at: Mapped[datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = created_at_column()


class CustomerApiToken(Base):
    """A bearer token for a customer's own systems; only its SHA-256 is kept."""

    __tablename__ = "customer_api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("customer_accounts.id"), index=True)
    #: The token's public first characters, shown in listings to tell tokens apart.
    prefix: Mapped[str] = mapped_column(String(16))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
