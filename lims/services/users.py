"""Creating users and granting roles and authorizations."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.db.types import utcnow
from lims.models.enums import Role
from lims.models.users import Authorization, User, UserRole
from lims.quality.permissions import Permission, permissions_of
from lims.security import PasswordPolicy, hash_password


class UserError(ValueError):
    """A user record that cannot be created as asked."""


def create_user(
    session: Session,
    username: str,
    full_name: str,
    password: str,
    roles: Iterable[Role],
    policy: PasswordPolicy,
    *,
    full_name_en: str = "",
    valid_until: date | None = None,
) -> User:
    """Create a user with an argon2 password hash and the given roles."""
    username = username.strip()
    if not username or not username.isascii() or " " in username:
        raise UserError(f"invalid user name {username!r}: use ASCII letters and digits")
    if session.scalars(select(User).where(User.username == username)).first() is not None:
        raise UserError(f"user {username!r} already exists")
    policy.check(password, username)
    user = User(
        username=username,
        full_name=full_name,
        full_name_en=full_name_en,
        password_hash=hash_password(password),
        password_changed_at=utcnow(),
        valid_until=valid_until,
    )
    user.roles = [UserRole(role=r) for r in sorted(set(roles))]
    session.add(user)
    session.flush()
    return user


def grant_authorization(
    session: Session,
    user: User,
    procedure_id: str,
    valid_from: date,
    valid_until: date,
    *,
    competence_certificate: str = "",
    granted_by: User | None = None,
) -> Authorization:
    """Authorize a technician to perform a procedure between two dates (inclusive)."""
    if valid_until < valid_from:
        raise UserError("an authorization cannot end before it starts")
    if Permission.RUN_PROCEDURE not in permissions_of(user):
        roles = ", ".join(sorted(r.value for r in user.role_set)) or "no role"
        raise UserError(f"{user.username} ({roles}) may not run procedures: not authorized")
    auth = Authorization(
        user_id=user.id,
        procedure_id=procedure_id,
        valid_from=valid_from,
        valid_until=valid_until,
        competence_certificate=competence_certificate,
        granted_by_id=granted_by.id if granted_by else None,
    )
    session.add(auth)
    session.flush()
    return auth
