"""The password policy and the state checks every way of acting as a user applies.

Kept apart from :mod:`lims.security` (argon2): a command that identifies its user by a
command-line session (:mod:`lims.services.cli_sessions`) checks the account exactly as a
password login does, without importing the password hasher.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from lims.db.types import utcnow

if TYPE_CHECKING:
    from lims.models.users import User

__all__ = [
    "ACCOUNT_DEACTIVATED",
    "ACCOUNT_EXPIRED",
    "ACCOUNT_LOCKED",
    "PasswordPolicy",
    "PasswordPolicyError",
    "account_refusal",
    "password_too_old",
    "refusal_message",
]

#: Why an account may not act (the ``why`` recorded with a refused login).
ACCOUNT_LOCKED = "locked"
ACCOUNT_DEACTIVATED = "deactivated"
ACCOUNT_EXPIRED = "account expired"


class PasswordPolicyError(ValueError):
    """A new password that does not meet the policy."""


@dataclass(frozen=True)
class PasswordPolicy:
    """Minimum length, character classes and maximum age of passwords."""

    min_length: int = 10
    max_age_days: int = 180
    lockout_threshold: int = 5

    def check(self, password: str, username: str = "") -> None:
        """Raise :class:`PasswordPolicyError` if ``password`` is too weak."""
        if len(password) < self.min_length:
            raise PasswordPolicyError(
                f"password too short: at least {self.min_length} characters are required"
            )
        classes = sum(
            [
                any(c.islower() for c in password),
                any(c.isupper() for c in password),
                any(c.isdigit() for c in password),
                any(not c.isalnum() for c in password),
            ]
        )
        if classes < 3:
            raise PasswordPolicyError(
                "password too simple: use three of lower case, upper case, digits and symbols"
            )
        if username and username.lower() in password.lower():
            raise PasswordPolicyError("password must not contain the user name")


def account_refusal(user: User, today: date | None = None) -> str | None:
    """Why the account may not act at all today, or None.

    :data:`ACCOUNT_LOCKED` (repeated failed logins), :data:`ACCOUNT_DEACTIVATED` or
    :data:`ACCOUNT_EXPIRED` (past its last valid day), checked in that order. Logging in
    (:func:`lims.security.authenticate`), the permission checks
    (:func:`lims.quality.permissions.account_problem`) and a command-line session all ask
    this one function.
    """
    today = today or utcnow().date()
    if user.locked_at is not None:
        return ACCOUNT_LOCKED
    if not user.active:
        return ACCOUNT_DEACTIVATED
    if user.valid_until is not None and today > user.valid_until:
        return ACCOUNT_EXPIRED
    return None


def refusal_message(user: User, why: str) -> str:
    """What the account's owner is told when :func:`account_refusal` gives ``why``."""
    if why == ACCOUNT_LOCKED:
        return (
            f"account {user.username} is locked after repeated failed logins; "
            "ask an administrator to unlock it"
        )
    if why == ACCOUNT_DEACTIVATED:
        return f"account {user.username} is deactivated"
    if why == ACCOUNT_EXPIRED and user.valid_until is not None:
        return f"account {user.username} expired on {user.valid_until.isoformat()}"
    return f"account {user.username} may not act ({why})"


def password_too_old(user: User, policy: PasswordPolicy, now: datetime | None = None) -> bool:
    """Whether the user's password is older than the policy allows (it must be changed)."""
    if not policy.max_age_days:
        return False
    return user.password_changed_at + timedelta(days=policy.max_age_days) < (now or utcnow())
