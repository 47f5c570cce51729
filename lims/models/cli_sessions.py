"""Command-line login sessions (``lims login``): only the SHA-256 of a session's token is kept.

The token itself is in a file readable by the OS user who logged in (see
:mod:`lims.cli.sessions`). Opening and closing a session are audited row changes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from lims.db.base import Base, created_at_column


class CliSession(Base):
    """One ``lims login``: whose, from where, until when, and when it was closed."""

    __tablename__ = "cli_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    #: The machine and the operating-system account the session was opened from.
    host: Mapped[str] = mapped_column(String(255))
    os_user: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime]
    #: Set by ``lims logout`` (or a new ``lims login`` replacing the session).
    closed_at: Mapped[datetime | None]
