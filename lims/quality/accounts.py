"""Logging in for the command line, accounts and authorizations (with their permission
checks), password changes, locked accounts and unlocking."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.audit import log_event
from lims.db import Database
from lims.db.types import utcnow
from lims.models.audit import AuditEvent
from lims.models.enums import Role
from lims.models.users import Authorization, User
from lims.quality.errors import NotFoundError, QualityError
from lims.quality.permissions import Permission, permissions_of, require
from lims.security import (
    AuthenticationError,
    PasswordPolicy,
    authenticate,
    hash_password,
    password_matches,
)
from lims.services.users import create_user, grant_authorization


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


def add_user(
    session: Session,
    actor: User,
    username: str,
    full_name: str,
    password: str,
    roles: Iterable[Role],
    policy: PasswordPolicy,
    *,
    full_name_en: str = "",
    valid_until: date | None = None,
) -> User:
    """Create an account with its roles (administrators only; the password policy applies)."""
    require(actor, Permission.MANAGE_USERS)
    role_list = sorted(set(roles))
    if not role_list:
        raise QualityError("--role: an account needs at least one role")
    if not full_name.strip():
        raise QualityError("--name: the printed name (shown on signatures) is empty")
    return create_user(
        session,
        username,
        full_name.strip(),
        password,
        role_list,
        policy,
        full_name_en=full_name_en,
        valid_until=valid_until,
    )


def authorize(
    session: Session,
    actor: User,
    username: str,
    procedure_id: str,
    valid_from: date,
    valid_until: date,
    *,
    competence_certificate: str = "",
) -> Authorization:
    """Authorize a user for one procedure between two dates (quality managers only)."""
    require(actor, Permission.MANAGE_AUTHORIZATIONS)
    if not procedure_id.strip():
        raise QualityError("--procedure: name the procedure")
    user = _user(session, username)
    if Permission.RUN_PROCEDURE not in permissions_of(user):
        roles = ", ".join(sorted(r.value for r in user.role_set)) or "no role"
        raise QualityError(
            f"{username} ({roles}) may not run procedures: only technicians are authorized"
        )
    return grant_authorization(
        session,
        user,
        procedure_id.strip(),
        valid_from,
        valid_until,
        competence_certificate=competence_certificate,
        granted_by=actor,
    )


def deactivate_user(session: Session, actor: User, username: str) -> User:
    """Deactivate an account (it can no longer log in, sign or run; administrators only).

    Accounts are never deleted: their records and signatures keep naming them.
    """
    require(actor, Permission.MANAGE_USERS)
    user = _user(session, username)
    if user.id == actor.id:
        raise QualityError("you cannot deactivate your own account")
    if not user.active:
        raise QualityError(f"account {username} is deactivated already")
    if not session.info.get("reason"):
        raise QualityError("deactivating an account needs a reason")
    user.active = False
    session.flush()
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
    from lims.services.signing_keys import rewrap_credentials

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
