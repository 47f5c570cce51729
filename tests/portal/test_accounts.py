"""Customer accounts: login through the portal, lockout, audit trail, sessions, and the race of
failed logins from processes started together (SQLite and PostgreSQL)."""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from lims import audit
from lims.db import Database
from lims.models import AuditEvent, CustomerAccount
from lims.quality.errors import PermissionDenied, QualityError
from lims.security import AuthenticationError, PasswordPolicyError
from lims.services.customer_accounts import (
    create_account,
    customer_login,
    deactivate_account,
    unlock_account,
)
from tests.certificate_service.builder import POLICY, user
from tests.portal._lab import PortalLab
from tests.portal.conftest import lab_db

PASSWORD = "Portal#Test-2026"
_names = itertools.count(1)


def new_account(lab: PortalLab, customer_id: int | None = None) -> tuple[str, int]:
    """A fresh account of the environment customer (its name and id)."""
    name = f"acct{os.getpid()}.{next(_names)}"
    db = lab_db(lab)
    try:
        admin = user(db, "admin")
        with db.write(actor=admin, reason="test account") as s:
            create_account(s, admin, customer_id or lab.env_id, name, "测试 Test", PASSWORD, POLICY)
            account_id = s.scalars(
                select(CustomerAccount.id).where(CustomerAccount.username == name)
            ).one()
        return name, account_id
    finally:
        db.dispose()


def post_login(client: TestClient, name: str, password: str) -> tuple[int, str]:
    client.get("/login")
    r = client.post(
        "/login",
        data={"username": name, "password": password, "csrf": client.cookies.get("lims-csrf")},
        follow_redirects=False,
    )
    return r.status_code, r.text


def events(lab: PortalLab, account_id: int, name: str) -> list[tuple[str, str]]:
    """(action, actor) of the audit events about one account, in order."""
    db = lab_db(lab)
    try:
        with db.read() as s:
            rows = s.scalars(
                select(AuditEvent)
                .where(
                    AuditEvent.table_name == "customer_accounts",
                    AuditEvent.record_id.in_([str(account_id), name]),
                )
                .order_by(AuditEvent.id)
            ).all()
            return [(e.action, e.actor) for e in rows]
    finally:
        db.dispose()


def refusal_message(html: str) -> str:
    start = html.index('id="error">') + len('id="error">')
    return html[start : html.index("<", start)]


def test_failed_logins_lock_the_account_and_every_attempt_is_audited(
    client: TestClient, portal_lab: PortalLab
) -> None:
    name, account_id = new_account(portal_lab)
    unknown_status, unknown_html = post_login(client, "nobody.here", "Whatever#2026")
    assert unknown_status == 401
    messages = set()
    for _ in range(POLICY.lockout_threshold):
        status, html = post_login(client, name, "Wrong#Password-1")
        assert status == 401
        messages.add(refusal_message(html))
    status, html = post_login(client, name, PASSWORD)  # right password, but locked
    assert status == 401
    messages.add(refusal_message(html))
    # one answer for an unknown name, a wrong password and a locked account
    assert messages == {refusal_message(unknown_html)}
    assert PASSWORD not in html
    actor = f"customer:{name}"
    logged = events(portal_lab, account_id, name)
    failures = [a for a in logged if a[0] == "customer_login_failed"]
    assert failures == [("customer_login_failed", actor)] * POLICY.lockout_threshold
    assert logged[-1] == ("customer_login_refused", actor)
    assert ("update", actor) in logged  # the failure count and the lock, as row changes
    db = lab_db(portal_lab)
    try:
        with db.read() as s:
            account = s.get(CustomerAccount, account_id)
            assert account is not None
            assert account.locked_at is not None
            assert account.failed_logins == POLICY.lockout_threshold
        admin = user(db, "admin")
        with pytest.raises(QualityError), db.write(actor=admin) as s:
            unlock_account(s, admin, name)  # no reason given
        with db.write(actor=admin, reason="customer called; identity checked") as s:
            unlock_account(s, admin, name)
    finally:
        db.dispose()
    status, _ = post_login(client, name, PASSWORD)
    assert status == 303
    assert events(portal_lab, account_id, name)[-1] == ("customer_login", actor)
    db = lab_db(portal_lab)
    try:
        with db.read() as s:
            assert audit.verify(s).ok  # the portal's writes kept the chain intact
    finally:
        db.dispose()


def test_sessions_end_at_logout_and_when_the_account_is_deactivated(
    client: TestClient, portal_lab: PortalLab
) -> None:
    name, _account_id = new_account(portal_lab)
    assert post_login(client, name, PASSWORD)[0] == 303
    assert client.get("/account/certificates", follow_redirects=False).status_code == 200
    assert client.post("/logout", data={"csrf": "forged.token"}).status_code == 403
    assert client.post("/logout", data={"csrf": client.cookies.get("lims-csrf")}).status_code == 200
    after = client.get("/account/certificates", follow_redirects=False)
    assert after.status_code == 303
    assert after.headers["location"].startswith("/login?next=")

    assert post_login(client, name, PASSWORD)[0] == 303
    db = lab_db(portal_lab)
    try:
        admin = user(db, "admin")
        with db.write(actor=admin, reason="contract ended") as s:
            deactivate_account(s, admin, name)
    finally:
        db.dispose()
    assert client.get("/account/certificates", follow_redirects=False).status_code == 303
    assert post_login(client, name, PASSWORD)[0] == 401


def test_login_redirects_only_to_the_portals_own_account_pages(
    client: TestClient, portal_lab: PortalLab
) -> None:
    name, _ = new_account(portal_lab)
    client.get("/login")
    for target, expected in (
        ("/account/recall", "/account/recall"),
        ("https://evil.example/", "/account/certificates"),
        ("//evil.example/account", "/account/certificates"),
        ("/account/..//evil", "/account/certificates"),
    ):
        r = client.post(
            "/login",
            data={
                "username": name,
                "password": PASSWORD,
                "next": target,
                "csrf": client.cookies.get("lims-csrf"),
            },
            follow_redirects=False,
        )
        assert r.headers["location"] == expected


def test_only_administrators_create_accounts_and_the_policy_applies(
    portal_lab: PortalLab,
) -> None:
    db = lab_db(portal_lab)
    try:
        admin, technician = user(db, "admin"), user(db, "zhang")
        with pytest.raises(PermissionDenied), db.write(actor=technician) as s:
            create_account(s, technician, portal_lab.env_id, "tech.made", "x", PASSWORD, POLICY)
        with pytest.raises(PasswordPolicyError), db.write(actor=admin) as s:
            create_account(s, admin, portal_lab.env_id, "weak.one", "x", "short", POLICY)
        with pytest.raises(QualityError), db.write(actor=admin) as s:
            create_account(s, admin, 99_999, "no.customer", "x", PASSWORD, POLICY)
        with pytest.raises(QualityError), db.write(actor=admin) as s:
            create_account(s, admin, portal_lab.env_id, "bad name!", "x", PASSWORD, POLICY)
        with db.read() as s:
            names = set(s.scalars(select(CustomerAccount.username)))
        assert not names & {"tech.made", "weak.one", "no.customer", "bad name!"}
    finally:
        db.dispose()


def _attempt(url: str, name: str, barrier: multiprocessing.synchronize.Barrier) -> None:
    db = Database(url)
    try:
        barrier.wait(timeout=60)
        with contextlib.suppress(AuthenticationError):
            customer_login(db, name, "Wrong#Password-1", POLICY)
    finally:
        db.dispose()


def test_failed_logins_from_processes_started_together_are_all_counted(
    portal_lab: PortalLab,
) -> None:
    name, account_id = new_account(portal_lab)
    attempts = POLICY.lockout_threshold + 3
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(attempts)
    procs = [
        ctx.Process(target=_attempt, args=(portal_lab.accounts_url, name, barrier))
        for _ in range(attempts)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    db = lab_db(portal_lab)
    try:
        with db.read() as s:
            account = s.get(CustomerAccount, account_id)
            assert account is not None
            assert account.locked_at is not None
            assert account.failed_logins == POLICY.lockout_threshold
            counts = [
                e.state.get("failures")
                for e in s.scalars(
                    select(AuditEvent)
                    .where(
                        AuditEvent.record_id == str(account_id),
                        AuditEvent.action == "customer_login_failed",
                    )
                    .order_by(AuditEvent.id)
                )
            ]
            refused = s.scalars(
                select(AuditEvent.id).where(
                    AuditEvent.record_id == str(account_id),
                    AuditEvent.action == "customer_login_refused",
                )
            ).all()
            assert audit.verify(s).ok
    finally:
        db.dispose()
    # no lost update: each failure saw the count the one before left
    assert counts == list(range(1, POLICY.lockout_threshold + 1))
    assert len(refused) == attempts - POLICY.lockout_threshold
