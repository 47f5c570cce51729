"""The portal's defences: headers, no inline code, cookies, limits, errors without traces, and a
read path that cannot write (SQLite and PostgreSQL)."""

from __future__ import annotations

import logging
import re

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from starlette.testclient import TestClient

from lims.models import AuditEvent, AuditHead
from lims.portal import create_app
from lims.portal.config import RateLimit
from lims.portal.protection import CONTENT_SECURITY_POLICY
from tests.portal._lab import ACCOUNT_PASSWORDS, PortalLab
from tests.portal.conftest import lab_db
from tests.portal.test_isolation import login


def pages(client: TestClient, lab: PortalLab) -> dict[str, str]:
    """Every page of the portal, public and logged in, by path."""
    paths = [
        "/",
        f"/v/{lab.amendment}?h={lab.content_sha256(lab.amendment)}",
        f"/v/{lab.superseded}",
        f"/v/{lab.revoked}",
        f"/v/{lab.simulated}",
        "/v/NO-SUCH",
        "/login",
        "/nowhere",
    ]
    out = {p: client.get(p).text for p in paths}
    login(client, "green.qa")
    for p in (
        "/account/certificates",
        f"/account/certificates/{lab.amendment}",
        "/account/recall?within=400",
        "/account/certificates?from=bad",
    ):
        out[p] = client.get(p).text
    return out


def test_every_page_has_the_security_headers_and_no_inline_code(
    client: TestClient, portal_lab: PortalLab
) -> None:
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert "script-src" not in CONTENT_SECURITY_POLICY  # default-src 'none': no script at all
    for path, html in pages(client, portal_lab).items():
        assert "<script" not in html.lower(), path
        assert "<style" not in html.lower(), path
        assert not re.search(r"\sstyle=", html), path
        assert not re.search(r"\son[a-z]+=", html), path  # no inline event handlers
        assert "http://" not in html.replace("http://portal.test", ""), path  # no external asset
        assert "https://" not in html, path
        assert "中文" in html or re.search(r"[\u4e00-\u9fff]", html), path
    for path in ("/", "/static/portal.css", "/api/v1/certificates", "/v/x", "/lab-ca.pem"):
        h = client.get(path).headers
        assert h["content-security-policy"] == CONTENT_SECURITY_POLICY, path
        assert h["x-content-type-options"] == "nosniff"
        assert h["x-frame-options"] == "DENY"
        assert h["referrer-policy"] == "same-origin"  # no address leaves the site
        assert "server" not in h
        assert "strict-transport-security" not in h  # plain HTTP: no HSTS


def test_cookies_are_httponly_strict_and_secure_behind_tls(portal_lab: PortalLab) -> None:
    with TestClient(create_app(portal_lab.portal_config()), base_url="http://portal.test") as c:
        cookie = c.get("/login").headers["set-cookie"]
        assert cookie.startswith("lims-csrf=")
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        assert "Path=/" in cookie
    app = create_app(portal_lab.portal_config(secure_cookies=True))
    with TestClient(app, base_url="https://portal.test") as c:
        page = c.get("/login")
        assert page.headers["strict-transport-security"].startswith("max-age=")
        cookie = page.headers["set-cookie"]
        assert cookie.startswith("__Host-lims-csrf=")
        assert "Secure" in cookie
        r = c.post(
            "/login",
            data={
                "username": "green.qa",
                "password": ACCOUNT_PASSWORDS["green.qa"],
                "csrf": c.cookies.get("__Host-lims-csrf"),
            },
            follow_redirects=False,
        )
        assert r.status_code == 303
        session = [v for k, v in r.headers.multi_items() if k == "set-cookie"]
        assert any(v.startswith("__Host-lims-session=") and "Secure" in v for v in session)
        assert all("HttpOnly" in v and "SameSite=strict" in v for v in session)


def test_an_unexpected_error_is_logged_not_shown(
    client: TestClient,
    portal_lab: PortalLab,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*_args: object) -> None:
        raise RuntimeError("internal detail 7f3a")

    monkeypatch.setattr("lims.portal.public.public_certificate", broken)
    with caplog.at_level(logging.ERROR, logger="lims.portal"):
        r = client.get(f"/v/{portal_lab.amendment}")
    assert r.status_code == 500
    assert "服务器内部错误" in r.text
    assert "Internal error" in r.text
    assert "7f3a" not in r.text
    assert "Traceback" not in r.text
    assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "internal detail 7f3a" in caplog.text


def test_rate_limits_on_verification_and_login(portal_lab: PortalLab) -> None:
    config = portal_lab.portal_config(verify_rate=RateLimit(3, 60), login_rate=RateLimit(2, 60))
    with TestClient(create_app(config), base_url="http://portal.test") as c:
        codes = [c.get(f"/v/{portal_lab.amendment}").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        assert int(c.get(f"/v/{portal_lab.amendment}").headers["retry-after"]) >= 1
        c.get("/login")
        token = c.cookies.get("lims-csrf")
        tries = [
            c.post("/login", data={"username": "x.y", "password": "p", "csrf": token}).status_code
            for _ in range(3)
        ]
        assert tries == [401, 401, 429]


def test_the_read_path_cannot_write(portal_lab: PortalLab) -> None:
    db = portal_lab.open_read()
    try:
        with db.read() as s:
            assert s.scalar(select(func.count()).select_from(AuditEvent))
        for statement in (
            "UPDATE certificates SET status_reason = 'x'",
            "INSERT INTO customers (name, address, notes, created_at) "
            "VALUES ('intruder', '', '', '2026-01-01 00:00:00')",
            "DELETE FROM customer_api_tokens",
        ):
            with pytest.raises(DBAPIError), db.read() as s:
                s.execute(text(statement))
        if not db.is_sqlite:
            # even a transaction that asks for write access gets none: the role may only SELECT
            with db.engine.connect() as conn:
                conn.exec_driver_sql("SET TRANSACTION READ WRITE")
                with pytest.raises(DBAPIError):
                    conn.exec_driver_sql("UPDATE customer_accounts SET failed_logins = 0")
    finally:
        db.dispose()


def test_the_portal_writes_nothing_but_account_events(
    client: TestClient, portal_lab: PortalLab
) -> None:
    db = lab_db(portal_lab)
    with db.read() as s:
        head = s.get(AuditHead, 1)
        assert head is not None
        before = head.last_id
    pages(client, portal_lab)  # includes one login
    headers = {"authorization": f"Bearer {portal_lab.env_token}"}
    for path in ("/api/v1/certificates", f"/api/v1/certificates/{portal_lab.amendment}/pdf"):
        assert client.get(path, headers=headers).status_code == 200
    with db.read() as s:
        new = s.scalars(select(AuditEvent).where(AuditEvent.id > before)).all()
        assert [(e.action, e.table_name, e.actor) for e in new] == [
            ("customer_login", "customer_accounts", "customer:green.qa")
        ]
    db.dispose()
