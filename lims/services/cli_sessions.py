"""Command-line login sessions in the database: open, check and close them.

``lims login`` authenticates with the password (:func:`lims.quality.accounts.login`:
lockout, failed attempts counted and audited) and then opens a session here; the later
commands of the same user present the session's token instead of the password
(:func:`session_owner`). Only the token's SHA-256 is stored; opening and closing a session
are audited changes of its row, each with its reason.

Checking a session is one indexed query and the account checks a password login applies
(:func:`lims.account_policy.account_refusal`, :func:`lims.account_policy.password_too_old`);
nothing here imports the password hasher.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import secrets
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select

from lims.account_policy import PasswordPolicy, account_refusal, password_too_old, refusal_message
from lims.audit import clipped, log_event
from lims.audit import reason as audit_reason
from lims.db import Database
from lims.db.types import utcnow
from lims.messages import bilingual
from lims.models.cli_sessions import CliSession
from lims.models.users import User

__all__ = [
    "OpenedSession",
    "Origin",
    "SessionError",
    "close_session",
    "current_origin",
    "open_session",
    "session_owner",
    "token_sha256",
]

#: Random bytes in a session token (``secrets.token_urlsafe``: 43 characters).
TOKEN_BYTES = 32
#: The purpose recorded when a session of a locked, deactivated or expired account is refused.
SESSION_PURPOSE = "cli session"


class SessionError(Exception):
    """A session that cannot be used; the message says why, Chinese first."""


@dataclass(frozen=True)
class Origin:
    """Where a command runs: the machine and the operating-system account."""

    host: str
    os_user: str


@dataclass(frozen=True)
class OpenedSession:
    """A session just opened. The token is shown to nobody: it goes to the token file."""

    id: int
    expires_at: datetime
    token: str = field(repr=False)


def current_origin() -> Origin:
    """This process's host name and operating-system user."""
    try:
        os_user = getpass.getuser()
    except (OSError, KeyError):  # no login name, no passwd entry (a bare container)
        os_user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return Origin(clipped(socket.gethostname() or "unknown", 255), clipped(os_user, 64))


def token_sha256(token: str) -> str:
    """What the database keeps of a token: its SHA-256, hexadecimal."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def open_session(
    db: Database,
    user: User,
    minutes: int,
    origin: Origin,
    *,
    replaces: str | None = None,
    now: datetime | None = None,
) -> OpenedSession:
    """Open a session of ``user`` (authenticated just now) lasting ``minutes``.

    ``replaces`` is the token of the session this one replaces (the previous ``lims
    login`` of the same user on this machine): it is closed in the same transaction.
    """
    if minutes <= 0:
        raise SessionError(bilingual("session.disabled"))
    now = now or utcnow()
    token = secrets.token_urlsafe(TOKEN_BYTES)
    reason = f"CLI session opened by lims login on {origin.host} for {minutes} min"
    with db.write(actor=user, reason=reason) as s:
        if replaces is not None:
            old = s.scalars(
                select(CliSession).where(
                    CliSession.token_sha256 == token_sha256(replaces),
                    CliSession.user_id == user.id,
                    CliSession.closed_at.is_(None),
                )
            ).one_or_none()
            if old is not None:
                with audit_reason(s, "CLI session replaced by a new lims login"):
                    old.closed_at = now
        row = CliSession(
            user_id=user.id,
            token_sha256=token_sha256(token),
            host=origin.host,
            os_user=origin.os_user,
            created_at=now,
            expires_at=now + timedelta(minutes=minutes),
        )
        s.add(row)
        s.flush()
        return OpenedSession(row.id, row.expires_at, token)


def close_session(
    db: Database, token: str, reason: str, *, now: datetime | None = None
) -> str | None:
    """Close the open session whose token is ``token``; return its user's name.

    None when no open session has this token (unknown, or closed already): nothing is
    written then.
    """
    with db.write(reason=reason) as s:
        found = s.execute(
            select(CliSession, User)
            .join(User, User.id == CliSession.user_id)
            .where(CliSession.token_sha256 == token_sha256(token))
        ).one_or_none()
        if found is None or found[0].closed_at is not None:
            return None
        row, owner = found
        s.info["actor"] = owner
        row.closed_at = now or utcnow()
        return owner.username


def session_owner(
    db: Database,
    token: str,
    username: str,
    policy: PasswordPolicy,
    origin: Origin,
    *,
    max_minutes: int,
    source: str,
    now: datetime | None = None,
) -> User:
    """The user of the open session ``token``, if it is ``username``'s and may be used now.

    The session must be open, not expired (``max_minutes``, the lifetime configured now,
    bounds it too), opened from ``origin``, and belong to ``username``; the account must
    pass the checks a password login applies (not locked, deactivated or expired, the
    password not too old). A refusal of the account itself is recorded in the audit
    trail like a refused login. Raises :class:`SessionError` (``source`` names the
    token's file in the message). Returns the user detached from its session.
    """
    now = now or utcnow()
    with db.read() as s:
        found = s.execute(
            select(CliSession, User)
            .join(User, User.id == CliSession.user_id)
            .where(CliSession.token_sha256 == token_sha256(token))
        ).one_or_none()
        if found is None:
            raise SessionError(bilingual("session.unknown", path=source))
        row, user = found
        if user.username != username:
            raise SessionError(bilingual("session.other_user", path=source, user=username))
        if row.closed_at is not None:
            raise SessionError(bilingual("session.closed_already", user=username))
        ends = min(row.expires_at, row.created_at + timedelta(minutes=max_minutes))
        if ends <= now:
            raise SessionError(bilingual("session.expired", user=username, when=_when(ends)))
        if (row.host, row.os_user) != (origin.host, origin.os_user):
            raise SessionError(bilingual("session.elsewhere", path=source))
        why = account_refusal(user, now.date())
        too_old = why is None and password_too_old(user, policy, now)
        s.expunge(user)
    if why is not None:
        with db.write(actor=user, reason="CLI session refused") as w:
            log_event(
                w,
                "login_refused",
                "users",
                str(user.id),
                state={"purpose": SESSION_PURPOSE, "why": why},
                actor=user,
            )
        detail = refusal_message(user, why)
        raise SessionError(bilingual("session.account", user=username, detail=detail))
    if too_old:
        raise SessionError(
            bilingual("session.password_old", user=username, days=policy.max_age_days)
        )
    return user
