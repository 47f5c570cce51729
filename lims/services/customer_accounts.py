"""Customers' portal accounts: creation by an administrator, passwords, lockout, API tokens.

A customer account is not a lab user: it holds no role and may only read its own
customer's issued certificates (:mod:`lims.services.customer_certificates`).

* Administrators create, reset, unlock and deactivate accounts and issue or
  revoke API tokens (``lims customers …``); every change is a row change in the
  audit trail, and unlocking, deactivating and revoking need a reason.
* :func:`customer_login` checks a password (argon2, :mod:`lims.security`),
  counts failures and locks the account at the policy's threshold; every
  success, failure and refusal is written to the audit trail.
* A token is ``lcp_`` followed by 43 random URL-safe characters; only its
  SHA-256 is stored, and the secret is shown once, when it is issued.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.audit import log_event
from lims.db import Database
from lims.db.types import utcnow
from lims.models.customer_accounts import CustomerAccount, CustomerApiToken
from lims.models.lab import Customer
from lims.models.users import User
from lims.quality.errors import NotFoundError, QualityError
from lims.quality.permissions import Permission, require
from lims.security import AuthenticationError, PasswordPolicy, hash_password, password_matches

__all__ = [
    "TOKEN_PREFIX",
    "CustomerAccountInfo",
    "CustomerPrincipal",
    "IssuedToken",
    "TokenInfo",
    "create_account",
    "customer_login",
    "deactivate_account",
    "issue_token",
    "list_accounts",
    "list_customers",
    "list_tokens",
    "principal_for_account",
    "principal_for_token",
    "reset_password",
    "revoke_token",
    "unlock_account",
]

TOKEN_PREFIX = "lcp_"
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{2,63}$")
_ACTOR_LIMIT = 64
#: The one answer to a refused login: it tells nobody which accounts exist or are locked.
_REFUSED = (
    "unknown account or wrong password, or the account is locked after repeated failures "
    "(the laboratory unlocks it)"
)


@dataclass(frozen=True)
class CustomerPrincipal:
    """Who is asking through the portal: one account of one customer."""

    account_id: int
    customer_id: int
    username: str
    display_name: str
    customer_name: str


@dataclass(frozen=True)
class CustomerAccountInfo:
    """An account as the administrators see it (never its password hash)."""

    username: str
    display_name: str
    customer_id: int
    customer_name: str
    active: bool
    failed_logins: int
    locked_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class TokenInfo:
    """An API token as listed (its prefix only)."""

    id: int
    username: str
    prefix: str
    label: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class IssuedToken:
    """A token just issued: ``secret`` is shown once and never stored."""

    id: int
    prefix: str
    secret: str


def _actor(username: str) -> str:
    return f"customer:{username}"[:_ACTOR_LIMIT]


def _account(session: Session, username: str) -> CustomerAccount:
    account = session.scalars(
        select(CustomerAccount).where(CustomerAccount.username == username)
    ).one_or_none()
    if account is None:
        raise NotFoundError(f"customer account {username!r} does not exist")
    return account


def _info(session: Session, account: CustomerAccount) -> CustomerAccountInfo:
    customer = session.get(Customer, account.customer_id)
    return CustomerAccountInfo(
        username=account.username,
        display_name=account.display_name,
        customer_id=account.customer_id,
        customer_name=customer.name if customer is not None else "",
        active=account.active,
        failed_logins=account.failed_logins,
        locked_at=account.locked_at,
        created_at=account.created_at,
    )


def _need_reason(session: Session, what: str) -> None:
    if not str(session.info.get("reason") or "").strip():
        raise QualityError(f"{what} needs a reason")


def list_customers(session: Session, actor: User) -> list[tuple[int, str]]:
    """The lab's customers as (id, name), for choosing whose account to create."""
    require(actor, Permission.VIEW_RECORDS)
    return [(c.id, c.name) for c in session.scalars(select(Customer).order_by(Customer.id))]


def create_account(
    session: Session,
    actor: User,
    customer_id: int,
    username: str,
    display_name: str,
    password: str,
    policy: PasswordPolicy,
) -> CustomerAccountInfo:
    """Create a portal account for one customer (administrators; the password policy applies)."""
    require(actor, Permission.MANAGE_USERS)
    if not _USERNAME.match(username):
        raise QualityError(
            f"account name {username!r}: 3 to 64 letters, digits or . _ @ -, starting with a "
            "letter or digit"
        )
    if not display_name.strip():
        raise QualityError("--name: the account holder's name is empty")
    if session.get(Customer, customer_id) is None:
        raise NotFoundError(f"customer {customer_id} does not exist (see `lims customers list`)")
    taken = session.scalars(
        select(CustomerAccount.id).where(CustomerAccount.username == username)
    ).first()
    if taken is not None:
        raise QualityError(f"customer account {username!r} exists already")
    policy.check(password, username)
    account = CustomerAccount(
        customer_id=customer_id,
        username=username,
        display_name=display_name.strip(),
        password_hash=hash_password(password),
        password_changed_at=utcnow(),
        active=True,
        failed_logins=0,
        created_by_id=actor.id,
    )
    session.add(account)
    session.flush()
    return _info(session, account)


def list_accounts(session: Session, actor: User) -> list[CustomerAccountInfo]:
    """Every customer account, by name (administrators and quality managers)."""
    require(actor, Permission.VIEW_SECURITY)
    accounts = session.scalars(select(CustomerAccount).order_by(CustomerAccount.username)).all()
    return [_info(session, a) for a in accounts]


def reset_password(
    session: Session, actor: User, username: str, password: str, policy: PasswordPolicy
) -> CustomerAccountInfo:
    """Set a new password for a customer account (administrators); it also clears failures."""
    require(actor, Permission.MANAGE_USERS)
    _need_reason(session, "resetting a customer's password")
    account = _account(session, username)
    policy.check(password, username)
    account.password_hash = hash_password(password)
    account.password_changed_at = utcnow()
    account.failed_logins = 0
    session.flush()
    return _info(session, account)


def unlock_account(session: Session, actor: User, username: str) -> CustomerAccountInfo:
    """Unlock an account locked after repeated failed logins (administrators)."""
    require(actor, Permission.MANAGE_USERS)
    _need_reason(session, "unlocking a customer account")
    account = _account(session, username)
    if account.locked_at is None and account.failed_logins == 0:
        raise QualityError(f"customer account {username} is not locked")
    account.locked_at = None
    account.failed_logins = 0
    session.flush()
    return _info(session, account)


def deactivate_account(session: Session, actor: User, username: str) -> CustomerAccountInfo:
    """Deactivate an account: it can no longer log in, and its tokens stop working."""
    require(actor, Permission.MANAGE_USERS)
    _need_reason(session, "deactivating a customer account")
    account = _account(session, username)
    if not account.active:
        raise QualityError(f"customer account {username} is deactivated already")
    account.active = False
    session.flush()
    return _info(session, account)


def _token_sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def issue_token(session: Session, actor: User, username: str, label: str = "") -> IssuedToken:
    """A new API token for the account; the returned secret is not kept anywhere."""
    require(actor, Permission.MANAGE_USERS)
    account = _account(session, username)
    if not account.active:
        raise QualityError(f"customer account {username} is deactivated")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = CustomerApiToken(
        account_id=account.id,
        prefix=secret[:12],
        token_sha256=_token_sha256(secret),
        label=label.strip()[:100],
        created_by_id=actor.id,
    )
    session.add(row)
    session.flush()
    return IssuedToken(row.id, row.prefix, secret)


def list_tokens(session: Session, actor: User, username: str | None = None) -> list[TokenInfo]:
    """API tokens (prefix, label, dates), of one account or of all."""
    require(actor, Permission.VIEW_SECURITY)
    query = select(CustomerApiToken, CustomerAccount.username).join(
        CustomerAccount, CustomerAccount.id == CustomerApiToken.account_id
    )
    if username is not None:
        query = query.where(CustomerAccount.id == _account(session, username).id)
    rows = session.execute(query.order_by(CustomerApiToken.id)).all()
    return [
        TokenInfo(t.id, name, t.prefix, t.label, t.created_at, t.revoked_at) for t, name in rows
    ]


def revoke_token(session: Session, actor: User, token_id: int) -> TokenInfo:
    """Revoke an API token for good (administrators; needs a reason)."""
    require(actor, Permission.MANAGE_USERS)
    _need_reason(session, "revoking an API token")
    row = session.get(CustomerApiToken, token_id)
    if row is None:
        raise NotFoundError(f"API token {token_id} does not exist")
    if row.revoked_at is not None:
        raise QualityError(f"API token {token_id} is revoked already")
    row.revoked_at = utcnow()
    session.flush()
    account = session.get(CustomerAccount, row.account_id)
    return TokenInfo(
        row.id,
        account.username if account else "?",
        row.prefix,
        row.label,
        row.created_at,
        row.revoked_at,
    )


# --------------------------------------------------------------------------- authentication


@lru_cache(maxsize=1)
def _decoy_hash() -> str:
    """A hash checked for unknown names, so that they take as long as known ones."""
    return hash_password(secrets.token_urlsafe(16))


def _principal(session: Session, account: CustomerAccount) -> CustomerPrincipal:
    customer = session.get(Customer, account.customer_id)
    return CustomerPrincipal(
        account_id=account.id,
        customer_id=account.customer_id,
        username=account.username,
        display_name=account.display_name,
        customer_name=customer.name if customer is not None else "",
    )


def customer_login(
    db: Database, username: str, password: str, policy: PasswordPolicy
) -> CustomerPrincipal:
    """Check a customer's name and password; failures count towards the lockout.

    Every success, failure and refusal is recorded in the audit trail, committed
    even when the login fails. Raises :class:`AuthenticationError` with one message
    for every refusal: it never tells whether the name exists, the password was
    wrong or the account is locked (the audit trail says which).
    """
    failure: AuthenticationError | None = None
    principal: CustomerPrincipal | None = None
    name = username.strip()[:64]
    actor = _actor(name or "?")
    with db.write(actor=actor, reason="portal login") as session:
        account = session.scalars(
            select(CustomerAccount).where(CustomerAccount.username == name).with_for_update()
        ).one_or_none()
        if account is None:
            password_matches(_decoy_hash(), password)
            log_event(
                session,
                "customer_login_failed",
                "customer_accounts",
                name or "?",
                state={"why": "unknown account"},
            )
            failure = AuthenticationError(_REFUSED)
        elif account.locked_at is not None or not account.active:
            why = "locked" if account.locked_at is not None else "deactivated"
            log_event(
                session,
                "customer_login_refused",
                "customer_accounts",
                str(account.id),
                state={"why": why},
            )
            failure = AuthenticationError(_REFUSED)
        elif not password_matches(account.password_hash, password):
            account.failed_logins += 1
            if account.failed_logins >= policy.lockout_threshold:
                account.locked_at = utcnow()
            session.flush()
            log_event(
                session,
                "customer_login_failed",
                "customer_accounts",
                str(account.id),
                state={"failures": account.failed_logins, "locked": account.locked_at is not None},
            )
            failure = AuthenticationError(_REFUSED)
        else:
            if account.failed_logins:
                account.failed_logins = 0
                session.flush()
            log_event(session, "customer_login", "customer_accounts", str(account.id))
            principal = _principal(session, account)
    if failure is not None:
        raise failure
    assert principal is not None
    return principal


def principal_for_account(session: Session, account_id: int) -> CustomerPrincipal | None:
    """The account as it stands now, or None once it is locked or deactivated."""
    account = session.get(CustomerAccount, account_id)
    if account is None or not account.active or account.locked_at is not None:
        return None
    return _principal(session, account)


def principal_for_token(session: Session, secret: str) -> CustomerPrincipal | None:
    """Whose token this is, or None (unknown, revoked, or its account inactive or locked)."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    row = session.scalars(
        select(CustomerApiToken).where(CustomerApiToken.token_sha256 == _token_sha256(secret))
    ).one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    return principal_for_account(session, row.account_id)
