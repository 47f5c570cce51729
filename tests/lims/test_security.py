"""Passwords (argon2), the password policy, lockout and expiry, all recorded in the audit trail."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from lims.audit import verify
from lims.db.types import utcnow
from lims.models import AuditEvent, User
from lims.security import (
    AuthenticationError,
    PasswordPolicy,
    PasswordPolicyError,
    authenticate,
    hash_password,
    password_matches,
)
from tests.lims._lab import PASSWORD, POLICY
from tests.lims.conftest import LabDb
from tests.lims.test_immutability import rolled_back_session


def test_hashes_are_argon2id_salted_and_verifiable() -> None:
    h1, h2 = hash_password("Secret#2026a"), hash_password("Secret#2026a")
    assert h1.startswith("$argon2id$")
    assert h1 != h2
    assert PasswordHasher().verify(h1, "Secret#2026a")
    assert password_matches(h1, "Secret#2026a")
    assert not password_matches(h1, "Secret#2026b")
    assert not password_matches("not a hash", "Secret#2026a")


def test_unknown_users_hash_costs_a_real_check_and_matches_nothing() -> None:
    # An unknown user is checked against a hash at the hasher's own parameters (same
    # memory, time, parallelism as every account's), so it costs what a wrong password
    # costs; its digest is random, so no password matches it.
    from lims.security import _HASHER, _NOBODY

    assert _NOBODY.startswith("$argon2id$")
    assert not _HASHER.check_needs_rehash(_NOBODY)
    assert not password_matches(_NOBODY, "nobody has this password")
    assert not password_matches(_NOBODY, "")


def test_importing_security_runs_no_argon2() -> None:
    # Every command that logs in imports lims.security: its import must not hash anything.
    import subprocess
    import sys

    code = (
        "import argon2\n"
        "calls = []\n"
        "argon2.PasswordHasher.hash = lambda *a, **k: calls.append(1)\n"
        "import lims.security\n"
        "print(len(calls))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("Ab#1", "too short"),
        ("abcdefghijkl", "too simple"),
        ("abcdefgh1234", "too simple"),
        ("Zhang#2026-xx", "user name"),
    ],
)
def test_password_policy_refuses(password: str, message: str) -> None:
    with pytest.raises(PasswordPolicyError, match=message):
        PasswordPolicy(min_length=10).check(password, "zhang")


def test_password_policy_accepts_three_classes() -> None:
    PasswordPolicy(min_length=10).check("abcdefgh12#!", "zhang")
    PasswordPolicy(min_length=10).check("ABCDEFGH12ab", "zhang")


def _user(s: object) -> User:
    from sqlalchemy.orm import Session

    assert isinstance(s, Session)
    return s.scalars(select(User).where(User.username == "zhang")).one()


def test_lockout_after_threshold_recorded_and_reset_on_success(lab_db: LabDb) -> None:
    db, _ = lab_db
    with rolled_back_session(db) as s:
        first_new = (s.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc())) or 0) + 1
        assert authenticate(s, "zhang", PASSWORD, POLICY).username == "zhang"
        # Two failures, then success: the count goes back to 0.
        for _ in range(POLICY.lockout_threshold - 1):
            with pytest.raises(AuthenticationError, match="wrong password"):
                authenticate(s, "zhang", "Wrong#2026-aa", POLICY)
        assert _user(s).failed_logins == POLICY.lockout_threshold - 1
        authenticate(s, "zhang", PASSWORD, POLICY)
        assert _user(s).failed_logins == 0
        # Threshold failures in a row lock the account.
        for _ in range(POLICY.lockout_threshold):
            with pytest.raises(AuthenticationError) as exc:
                authenticate(s, "zhang", "Wrong#2026-aa", POLICY)
        # the locking failure reads like any other: it does not tell that the account exists
        assert str(exc.value) == "unknown user or wrong password"
        assert _user(s).locked_at is not None
        with pytest.raises(AuthenticationError, match=r"^unknown user or wrong password$"):
            authenticate(s, "zhang", "Wrong#2026-aa", POLICY)  # nor does a locked account
        with pytest.raises(AuthenticationError, match="locked"):
            authenticate(s, "zhang", PASSWORD, POLICY)  # its own password learns why
        events = list(
            s.scalars(select(AuditEvent).where(AuditEvent.id >= first_new).order_by(AuditEvent.id))
        )
        failures = [e for e in events if e.action == "login_failed"]
        assert len(failures) == 2 * POLICY.lockout_threshold - 1
        assert all(e.actor == "zhang" and e.table_name == "users" for e in failures)
        assert [e.state["failures"] for e in failures][-POLICY.lockout_threshold :] == list(
            range(1, POLICY.lockout_threshold + 1)
        )
        assert any(e.action == "login_refused" and e.state["why"] == "locked" for e in events)
        locked = [e for e in events if e.action == "update" and "locked_at" in e.changes]
        assert len(locked) == 1
        assert locked[0].changes["locked_at"][0] is None
        # Security events are not row states: the trail still verifies.
        report = verify(s)
        assert report.ok, report.problems


def test_unknown_user_is_refused_and_recorded(lab_db: LabDb) -> None:
    db, _ = lab_db
    with rolled_back_session(db) as s:
        with pytest.raises(AuthenticationError, match="unknown user or wrong password"):
            authenticate(s, "nobody", PASSWORD, POLICY)
        last = s.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert last is not None
        assert (last.action, last.actor) == ("login_failed", "anonymous:nobody")
        assert verify(s).ok


def test_expired_account_cannot_authenticate(lab_db: LabDb) -> None:
    db, _ = lab_db
    with rolled_back_session(db) as s:
        _user(s).valid_until = date(2026, 2, 28)
        s.flush()
        assert authenticate(s, "zhang", PASSWORD, POLICY, today=date(2026, 2, 28))
        with pytest.raises(AuthenticationError, match="expired on 2026-02-28"):
            authenticate(s, "zhang", PASSWORD, POLICY, today=date(2026, 3, 1))


def test_expired_password_cannot_authenticate(lab_db: LabDb) -> None:
    db, _ = lab_db
    with rolled_back_session(db) as s:
        _user(s).password_changed_at = utcnow() - timedelta(days=POLICY.max_age_days + 1)
        s.flush()
        with pytest.raises(AuthenticationError, match="older than 180 days"):
            authenticate(s, "zhang", PASSWORD, POLICY)


def test_deactivated_account_cannot_authenticate(lab_db: LabDb) -> None:
    db, _ = lab_db
    with rolled_back_session(db) as s:
        _user(s).active = False
        s.flush()
        with pytest.raises(AuthenticationError, match="deactivated"):
            authenticate(s, "zhang", PASSWORD, POLICY)
