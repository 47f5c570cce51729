"""Logging in for the command line, password changes, locked accounts and unlocking."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.audit import log_event
from lims.db import Database
from lims.db.types import utcnow
from lims.models.audit import AuditEvent
from lims.models.users import User
from lims.quality.errors import NotFoundError, QualityError
from lims.quality.permissions import Permission, require
from lims.security import (
    AuthenticationError,
    PasswordPolicy,
    authenticate,
    hash_password,
    password_matches,
)
from lims.services.signing_keys import rewrap_credentials


def login(
    db: Database, username: str, password: str, policy: PasswordPolicy, *, purpose: str = "login"
) -> User:
    """Authenticate in a write session (failures and lockouts are recorded and committed).

    Returns the user detached from its session, ready to act in later sessions.
    Raises :class:`lims.security.AuthenticationError`.
    """
    failure: AuthenticationError | None = None
    user: User | None = None
    with db.write(reason=purpose) as session:
        try:
            user = authenticate(session, username, password, policy, purpose=purpose)
        except AuthenticationError as exc:
            failure = exc
        else:
            session.expunge(user)
    if failure is not None:
        raise failure
    assert user is not None
    return user


def _user(session: Session, username: str) -> User:
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    if user is None:
        raise NotFoundError(f"user {username!r} does not exist")
    return user


def change_password(
    session: Session,
    username: str,
    old_password: str,
    new_password: str,
    policy: PasswordPolicy,
) -> User:
    """Change one's own password: the old one must match and the new one meet the policy.

    Works for an expired password too (that is how it is renewed); a locked
    account must be unlocked first. The new password may not equal the old one.
    """
    user = _user(session, username)
    if user.locked_at is not None:
        raise QualityError(f"account {username} is locked: ask an administrator to unlock it")
    if not password_matches(user.password_hash, old_password):
        raise AuthenticationError("the current password is wrong; nothing was changed")
    if new_password == old_password:
        raise QualityError("the new password must differ from the current one")
    policy.check(new_password, username)
    session.info["actor"] = session.info.get("actor") or user
    user.password_hash = hash_password(new_password)
    user.password_changed_at = utcnow()
    session.flush()
    # The signing key is encrypted with the password: re-encrypt it with the new one.
    rewrap_credentials(session, user, old_password, new_password)
    return user


def password_expires_on(user: User, policy: PasswordPolicy) -> date | None:
    """The day the user's password expires under ``policy`` (None when passwords never age)."""
    if not policy.max_age_days:
        return None
    return (user.password_changed_at + timedelta(days=policy.max_age_days)).date()


def unlock_user(session: Session, actor: User, username: str) -> User:
    """Unlock an account locked after repeated failures (administrators only)."""
    require(actor, Permission.MANAGE_USERS)
    user = _user(session, username)
    if user.locked_at is None and user.failed_logins == 0:
        raise QualityError(f"account {username} is not locked")
    if not session.info.get("reason"):
        raise QualityError("unlocking an account needs a reason")
    user.locked_at = None
    user.failed_logins = 0
    session.flush()
    return user


@dataclass(frozen=True)
class LockedAccount:
    """A locked account, or one with failed attempts since its last success."""

    username: str
    full_name: str
    failed_logins: int
    locked_at: datetime | None


@dataclass(frozen=True)
class FailedAttempt:
    """One recorded failed or refused login."""

    occurred_at: datetime
    username: str
    action: str
    why: str


def locked_accounts(session: Session, actor: User) -> list[LockedAccount]:
    """Accounts that are locked or have failed attempts pending (quality managers, admins)."""
    require(actor, Permission.VIEW_SECURITY)
    users = session.scalars(
        select(User)
        .where((User.locked_at.is_not(None)) | (User.failed_logins > 0))
        .order_by(User.username)
    )
    return [LockedAccount(u.username, u.full_name, u.failed_logins, u.locked_at) for u in users]


def failed_attempts(
    session: Session, actor: User, *, since: datetime | None = None
) -> list[FailedAttempt]:
    """Failed and refused logins recorded in the audit trail, newest first."""
    require(actor, Permission.VIEW_SECURITY)
    query = select(AuditEvent).where(AuditEvent.action.in_(["login_failed", "login_refused"]))
    if since is not None:
        query = query.where(AuditEvent.occurred_at >= since)
    names = {str(u.id): u.username for u in session.scalars(select(User))}
    out: list[FailedAttempt] = []
    for ev in session.scalars(query.order_by(AuditEvent.id.desc())):
        username = names.get(ev.record_id, ev.record_id)
        why = str(ev.state.get("why", "wrong password"))
        out.append(FailedAttempt(ev.occurred_at, username, ev.action, why))
    return out


def record_security_event(session: Session, actor: User, action: str, detail: str) -> None:
    """Write a security-relevant event that is not a row change into the audit trail."""
    log_event(session, action, "users", str(actor.id), state={"detail": detail}, actor=actor)
