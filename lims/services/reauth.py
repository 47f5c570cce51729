"""Actions that need the user's password entered again (21 CFR 11.200: the signature's
two components at the moment of signing), and renewing an expired password at login.

Each re-entry is checked like a login, so wrong passwords count towards the lockout.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from lims.db import Database
from lims.db.types import utcnow
from lims.engine.rules import grant_override
from lims.models.users import User
from lims.quality.accounts import change_password, login
from lims.quality.permissions import Permission, require
from lims.security import PasswordPolicy, password_matches
from lims.services.regulation_tables import TableVersion, release_table


def signed_release(
    db: Database,
    username: str,
    password: str,
    policy: PasswordPolicy,
    procedure_id: str,
    version: str,
    reason: str,
) -> TableVersion:
    """Release a regulation table after the quality manager enters the password again."""
    user = login(db, username, password, policy, purpose="release regulation table")
    return release_table(db, user, procedure_id, version, reason)


def signed_override(
    db: Database,
    username: str,
    password: str,
    policy: PasswordPolicy,
    run_id: int,
    key: str,
    reason: str,
) -> int:
    """Override rule ``key`` of a refused run after the quality manager enters the password.

    The override itself is :func:`lims.engine.rules.grant_override`; returns its id.
    """
    user = login(db, username, password, policy, purpose="rule override")
    require(user, Permission.RECORD_FINDING)
    return grant_override(db, run_id, key, reason, user.username)


def password_expired(db: Database, username: str, password: str, policy: PasswordPolicy) -> bool:
    """Whether ``password`` is the user's and only its age refused the login.

    Asked after a refused login (which has counted a wrong password already); a wrong
    password, a locked, deactivated or expired account all answer False.
    """
    if not policy.max_age_days:
        return False
    with db.read() as s:
        user = s.scalars(select(User).where(User.username == username)).one_or_none()
        if user is None or user.locked_at is not None or not user.active:
            return False
        if user.valid_until is not None and utcnow().date() > user.valid_until:
            return False
        old = user.password_changed_at + timedelta(days=policy.max_age_days) < utcnow()
        return old and password_matches(user.password_hash, password)


def renew_password(db: Database, username: str, old: str, new: str, policy: PasswordPolicy) -> User:
    """Change an expired password (the policy applies to the new one), then log in with it."""
    with db.write(actor=username, reason="expired password renewed at login") as s:
        change_password(s, username, old, new, policy)
    return login(db, username, new, policy)
