"""Passwords (argon2), the password policy and authentication with lockout.

Failed logins are counted per user; after ``lockout_threshold`` consecutive
failures the account is locked until an administrator unlocks it. Every
failure, lockout and success is written to the audit trail (21 CFR 11.300).
"""

from __future__ import annotations

import base64
import os
from datetime import date

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.low_level import ARGON2_VERSION
from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.account_policy import (
    PasswordPolicy,
    PasswordPolicyError,
    account_refusal,
    password_too_old,
    refusal_message,
)
from lims.audit import clipped, log_event
from lims.db.types import utcnow
from lims.models.users import User

__all__ = [
    "LOGIN_FAILED",
    "AuthenticationError",
    "PasswordPolicy",
    "PasswordPolicyError",
    "authenticate",
    "hash_password",
    "password_matches",
]

_HASHER = PasswordHasher()


class AuthenticationError(Exception):
    """Login refused; the message says why without revealing which part was wrong."""


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    return _HASHER.hash(password)


def password_matches(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches the stored hash."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


#: The one answer to a failed login, whatever failed: it never tells whether the account
#: exists (nor, without the right password, that it is locked, expired or deactivated).
LOGIN_FAILED = "unknown user or wrong password"


def _unmatchable_hash() -> str:
    """An argon2 hash string at :data:`_HASHER`'s parameters that no password matches.

    Its salt and digest are random bytes, so checking a password against it costs exactly
    what checking a real hash costs (same memory, time and parallelism), yet no password
    can match it. Built without hashing anything: importing this module costs no argon2
    run (the former ``_HASHER.hash(...)`` here cost one at every start of the program).
    """

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii").rstrip("=")

    return (
        f"$argon2{_HASHER.type.name.lower()}$v={ARGON2_VERSION}$"
        f"m={_HASHER.memory_cost},t={_HASHER.time_cost},"
        f"p={_HASHER.parallelism}$"
        f"{b64(os.urandom(_HASHER.salt_len))}${b64(os.urandom(_HASHER.hash_len))}"
    )


#: Hash of a password nobody has: an unknown user costs the same time as a wrong password.
_NOBODY = _unmatchable_hash()
#: How much of a typed user name an audit event keeps.
_NAME_KEPT = 200


def authenticate(
    session: Session,
    username: str,
    password: str,
    policy: PasswordPolicy,
    *,
    purpose: str = "login",
    today: date | None = None,
) -> User:
    """Check a user's ID and password; count failures and lock the account.

    Raises :class:`AuthenticationError`. An unknown user and a wrong password (also
    the failure that locks the account, and any attempt on a locked, expired or
    deactivated account without its right password) get the same message,
    :data:`LOGIN_FAILED`; only the account's own password learns why it is refused
    (locked, expired, deactivated, password too old). The session must be a write
    session: failures are recorded even though login fails, so the caller must commit
    it (``Database.write`` does, unless this raises inside it: callers catch the error
    inside the block).
    """
    today = today or utcnow().date()
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    if user is None:
        password_matches(_NOBODY, password)
        log_event(
            session,
            "login_failed",
            "users",
            clipped(username),
            state={"purpose": purpose, "why": "unknown user", "username": username[:_NAME_KEPT]},
            actor=clipped(f"anonymous:{username}"),
        )
        raise AuthenticationError(LOGIN_FAILED)
    why = account_refusal(user, today)
    if why is not None:
        log_event(
            session,
            "login_refused",
            "users",
            str(user.id),
            state={"purpose": purpose, "why": why},
            actor=user,
        )
        if not password_matches(user.password_hash, password):
            raise AuthenticationError(LOGIN_FAILED)
        raise AuthenticationError(refusal_message(user, why))
    if not password_matches(user.password_hash, password):
        session.info["actor"] = session.info.get("actor") or user
        user.failed_logins += 1
        if user.failed_logins >= policy.lockout_threshold:
            user.locked_at = utcnow()
        session.flush()
        log_event(
            session,
            "login_failed",
            "users",
            str(user.id),
            state={"purpose": purpose, "failures": user.failed_logins},
            actor=user,
        )
        raise AuthenticationError(LOGIN_FAILED)
    if password_too_old(user, policy):
        raise AuthenticationError(
            f"the password of {username} is older than {policy.max_age_days} days: change it first"
        )
    if user.failed_logins:
        session.info["actor"] = session.info.get("actor") or user
        user.failed_logins = 0
        session.flush()
    return user
