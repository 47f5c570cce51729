"""Two customers, one portal: each sees, downloads and fetches through the API only its own
certificates, whatever number, id or path is tried (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import re
from datetime import date

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from lims.models import Certificate, CertificateStatus
from tests.portal._lab import ACCOUNT_PASSWORDS, PortalLab
from tests.portal.conftest import lab_db

VISIBLE = {CertificateStatus.ISSUED, CertificateStatus.SUPERSEDED, CertificateStatus.REVOKED}


def login(client: TestClient, username: str) -> None:
    client.get("/login")
    response = client.post(
        "/login",
        data={
            "username": username,
            "password": ACCOUNT_PASSWORDS[username],
            "csrf": client.cookies.get("lims-csrf"),
            "next": "/account/certificates",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def listed(html: str) -> set[str]:
    return set(re.findall(r'class="cert" href="/account/certificates/([^"]+)"', html))


def records(lab: PortalLab) -> list[tuple[str, int | None, CertificateStatus, str | None, str]]:
    """Every certificate of the lab: number, customer, status, PDF and DCC hashes."""
    db = lab_db(lab)
    try:
        with db.read() as s:
            return [
                (c.number, c.customer_id, c.status, c.pdf_sha256, c.dcc_sha256 or "")
                for c in s.scalars(select(Certificate).order_by(Certificate.id))
            ]
    finally:
        db.dispose()


@pytest.mark.parametrize(("account", "whose"), [("green.qa", "env"), ("power.qa", "power")])
def test_pages_list_and_download_only_the_customers_own(
    client: TestClient, portal_lab: PortalLab, account: str, whose: str
) -> None:
    customer_id = portal_lab.env_id if whose == "env" else portal_lab.power_id
    every = records(portal_lab)
    own = {n for n, cid, status, _p, _d in every if cid == customer_id and status in VISIBLE}
    assert own  # the lab holds certificates of both customers
    assert own != {n for n, *_ in every}
    login(client, account)
    assert listed(client.get("/account/certificates").text) == own
    # every number the lab ever used, and numbers it never used, by URL
    guesses = [n for n, *_ in every] + ["DEMO2026-00000", "DEMO2026-99999", "1", "0", "-1"]
    for number in guesses:
        mine = number in own
        for suffix in ("", "/pdf", "/dcc"):
            response = client.get(f"/account/certificates/{number}{suffix}")
            assert response.status_code == (200 if mine else 404), (number, suffix)
        searched = listed(client.get("/account/certificates", params={"number": number}).text)
        assert searched == ({number} if mine else set())
    for number, _cid, _status, pdf_sha, dcc_sha in every:
        if number in own:
            pdf = client.get(f"/account/certificates/{number}/pdf")
            assert hashlib.sha256(pdf.content).hexdigest() == pdf_sha
            assert pdf.headers["content-type"] == "application/pdf"
            dcc = client.get(f"/account/certificates/{number}/dcc")
            assert hashlib.sha256(dcc.content).hexdigest() == dcc_sha
    # the other customer's instrument by serial number finds nothing
    other_serial = "CA2000-7001" if whose == "env" else "CA2000-0001"
    assert (
        listed(client.get("/account/certificates", params={"serial": other_serial}).text) == set()
    )


def test_api_tokens_see_only_their_customers_certificates(
    client: TestClient, portal_lab: PortalLab
) -> None:
    every = records(portal_lab)
    for token, customer_id in (
        (portal_lab.env_token, portal_lab.env_id),
        (portal_lab.power_token, portal_lab.power_id),
    ):
        headers = {"authorization": f"Bearer {token}"}
        own = {n for n, cid, status, _p, _d in every if cid == customer_id and status in VISIBLE}
        body = client.get("/api/v1/certificates", headers=headers).json()
        assert {c["number"] for c in body["certificates"]} == own
        not_found = client.get("/api/v1/certificates/NO-SUCH-NUMBER", headers=headers)
        assert not_found.status_code == 404
        for number, _cid, _status, pdf_sha, dcc_sha in every:
            for suffix in ("", "/pdf", "/dcc"):
                r = client.get(f"/api/v1/certificates/{number}{suffix}", headers=headers)
                if number in own:
                    assert r.status_code == 200
                else:
                    # someone else's certificate answers exactly like one that never existed
                    assert r.status_code == 404
                    assert r.content == not_found.content
            if number in own:
                pdf = client.get(f"/api/v1/certificates/{number}/pdf", headers=headers)
                assert hashlib.sha256(pdf.content).hexdigest() == pdf_sha
                dcc = client.get(f"/api/v1/certificates/{number}/dcc", headers=headers)
                assert hashlib.sha256(dcc.content).hexdigest() == dcc_sha
        for guess in ("1", "2", "0", "%2e%2e", "..%2F..%2Fetc%2Fpasswd"):
            assert client.get(f"/api/v1/certificates/{guess}", headers=headers).status_code == 404
        serial_hits = client.get(
            "/api/v1/certificates", params={"serial": "CA2000-7001"}, headers=headers
        ).json()["certificates"]
        assert {c["number"] for c in serial_hits} == (
            {portal_lab.other} if customer_id == portal_lab.power_id else set()
        )


def test_api_refuses_missing_forged_and_revoked_tokens(
    client: TestClient, portal_lab: PortalLab
) -> None:
    assert client.get("/api/v1/certificates").status_code == 401
    forged = portal_lab.env_token[:-4] + (
        "AAAA" if not portal_lab.env_token.endswith("AAAA") else "BBBB"
    )
    for value in (f"Bearer {forged}", "Bearer lcp_", "Basic Zm9vOmJhcg==", portal_lab.env_token):
        r = client.get("/api/v1/certificates", headers={"authorization": value})
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith("Bearer")
    # a logged-in browser session does not open the API
    login(client, "green.qa")
    assert client.get("/api/v1/certificates").status_code == 401


def test_no_draft_or_rejected_certificate_reaches_a_customer(
    client: TestClient, portal_lab: PortalLab
) -> None:
    login(client, "green.qa")
    assert client.get(f"/account/certificates/{portal_lab.draft}").status_code == 404
    headers = {"authorization": f"Bearer {portal_lab.env_token}"}
    r = client.get(f"/api/v1/certificates/{portal_lab.draft}", headers=headers)
    assert r.status_code == 404


def test_recall_lists_only_the_customers_instruments(
    client: TestClient, portal_lab: PortalLab
) -> None:
    db = lab_db(portal_lab)
    with db.read() as s:
        valid = {
            c.number: c.valid_until
            for c in s.scalars(select(Certificate).where(Certificate.status == "issued"))
        }
    db.dispose()
    for token, number, serial in (
        (portal_lab.env_token, portal_lab.amendment, "CA2000-0001"),
        (portal_lab.power_token, portal_lab.other, "CA2000-7001"),
    ):
        headers = {"authorization": f"Bearer {token}"}
        body = client.get("/api/v1/recall", params={"within": 400}, headers=headers).json()
        today = date.fromisoformat(body["today"])
        until = valid[number]
        assert until is not None
        assert body["instruments"] == [
            {
                "equipment": "Sim Instruments CA-2000",
                "serial_number": serial,
                "certificate": number,
                "valid_until": until.isoformat(),
                "days_left": (until - today).days,
            }
        ]
        soon = client.get("/api/v1/recall", params={"within": 30}, headers=headers).json()
        assert soon["instruments"] == []  # a year of validity is not coming due
        assert client.get("/api/v1/recall?within=-1", headers=headers).status_code == 400
