"""The public side over HTTP: the QR code's page, the upload check, the CA and status list."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from lims.models import Certificate, LabAuthority
from lims.portal import create_app
from lims.services.certificates import certificate_dcc, certificate_pdf, verify_certificate_file
from tests.certificate_service.builder import user
from tests.portal._lab import (
    AMEND_REASON,
    ENV_CUSTOMER,
    REVOKE_REASON,
    PortalLab,
)
from tests.portal.conftest import lab_db


def attr(html: str, element_id: str, name: str) -> str:
    """The value of attribute ``name`` on the element with ``element_id``."""
    m = re.search(rf'id="{element_id}"[^>]*\b{name}="([^"]*)"', html)
    assert m is not None, f"no #{element_id} with {name}"
    return m.group(1)


def files(lab: PortalLab, number: str) -> tuple[bytes, bytes]:
    """The issued PDF and DCC of a certificate, from the lab's records."""
    db = lab_db(lab)
    try:
        viewer = user(db, "zhao")
        return certificate_pdf(db, viewer, number), certificate_dcc(db, viewer, number)
    finally:
        db.dispose()


def upload(client: TestClient, data: bytes, name: str = "cert.pdf") -> str:
    client.get("/")
    response = client.post(
        "/verify",
        data={"csrf": client.cookies.get("lims-csrf")},
        files={"certificate": (name, data, "application/octet-stream")},
    )
    assert response.status_code == 200, response.text
    return attr(response.text, "verdict", "data-verdict")


def test_qr_payload_of_an_issued_certificate_opens_its_valid_page(
    client: TestClient, portal_lab: PortalLab
) -> None:
    number = portal_lab.amendment
    sha = portal_lab.content_sha256(number)
    page = client.get(f"/v/{number}?h={sha}")
    assert page.status_code == 200
    html = page.text
    assert attr(html, "state", "data-state") == "issued"
    assert attr(html, "hash", "data-hash") == "match"
    assert "示范碳计量中心" in html
    assert "Demonstration Carbon Metrology Centre" in html
    assert "CA2000-0001" in html  # the serial in full: the QR hash is the record's
    # the customer is masked: no word of its name appears
    for word in ENV_CUSTOMER.split():
        assert word not in html
    assert 'id="simulated"' not in html
    db = lab_db(portal_lab)
    with db.read() as s:
        cert = s.scalars(select(Certificate).where(Certificate.number == number)).one()
        assert cert.valid_until is not None
        assert cert.issued_at is not None
        assert cert.valid_until.isoformat() in html
        assert cert.issued_at.strftime("%Y-%m-%d %H:%M") in html
    db.dispose()


def test_a_wrong_or_missing_qr_hash_is_said_and_the_serial_stays_masked(
    client: TestClient, portal_lab: PortalLab
) -> None:
    number = portal_lab.amendment
    sha = portal_lab.content_sha256(number)
    forged = ("0" if sha[0] != "0" else "1") + sha[1:]
    for query, expected in (
        (f"?h={forged}", "mismatch"),
        ("?h=nonsense", "mismatch"),
        ("", "absent"),
    ):
        html = client.get(f"/v/{number}{query}").text
        assert attr(html, "hash", "data-hash") == expected
        assert "CA2000-0001" not in html
        assert "*******0001" in html


def test_a_superseded_certificate_links_to_its_replacement(
    client: TestClient, portal_lab: PortalLab
) -> None:
    html = client.get(f"/v/{portal_lab.superseded}").text
    assert attr(html, "state", "data-state") == "superseded"
    assert attr(html, "replacement", "href") == f"/v/{portal_lab.amendment}"
    assert AMEND_REASON in html
    replacement = client.get(f"/v/{portal_lab.amendment}").text
    assert f'href="/v/{portal_lab.superseded}"' in replacement  # "replaces" links back


def test_a_revoked_certificate_shows_the_reason(client: TestClient, portal_lab: PortalLab) -> None:
    html = client.get(f"/v/{portal_lab.revoked}").text
    assert attr(html, "state", "data-state") == "revoked"
    assert REVOKE_REASON in html


def test_a_simulated_certificate_is_shown_as_such(
    client: TestClient, portal_lab: PortalLab
) -> None:
    html = client.get(f"/v/{portal_lab.simulated}").text
    assert 'id="simulated"' in html
    assert "模拟数据 非有效证书" in html
    assert "NOT A VALID CERTIFICATE" in html


@pytest.mark.parametrize("which", ["draft", "never"])
def test_drafts_and_unknown_numbers_are_unknown_and_tell_nothing(
    client: TestClient, portal_lab: PortalLab, which: str
) -> None:
    number = portal_lab.draft if which == "draft" else "DEMO2026-99999"
    page = client.get(f"/v/{number}")
    assert page.status_code == 404
    assert attr(page.text, "state", "data-state") == "unknown"
    assert "CA2000" not in page.text
    assert "Sim Instruments" not in page.text
    assert client.get("/v/" + "X" * 500).status_code == 404


def test_uploaded_files_get_the_verdict_of_the_lab_verifier(
    client: TestClient, portal_lab: PortalLab
) -> None:
    pdf, dcc = files(portal_lab, portal_lab.amendment)
    assert upload(client, pdf) == "valid"
    assert upload(client, dcc, "cert.xml") == "valid"
    sim_pdf, _ = files(portal_lab, portal_lab.simulated)
    assert upload(client, sim_pdf) == "simulated"
    old_pdf, _ = files(portal_lab, portal_lab.superseded)
    assert upload(client, old_pdf) == "superseded"
    revoked_pdf, _ = files(portal_lab, portal_lab.revoked)
    assert upload(client, revoked_pdf) == "revoked"
    # one byte flipped in the signed content, as an adversary would
    tampered = bytearray(pdf)
    spot = len(pdf) // 3
    tampered[spot] ^= 0x01
    assert upload(client, bytes(tampered)) == "invalid"
    # the portal agrees with the verifier behind `lims certificate verify`
    db = lab_db(portal_lab)
    try:
        assert verify_certificate_file(db, pdf).ok
        assert not verify_certificate_file(db, bytes(tampered)).ok
    finally:
        db.dispose()
    edited = dcc.replace(b"CA2000-0001", b"CA2000-0009", 1)
    assert edited != dcc
    assert upload(client, edited, "cert.xml") == "invalid"
    assert upload(client, b"hello, not a certificate", "x.txt") == "invalid"


def test_uploads_need_the_form_token_and_respect_the_size_limit(
    portal_lab: PortalLab, tmp_path: Path
) -> None:
    app = create_app(portal_lab.portal_config(max_upload_bytes=50_000))
    pdf, _ = files(portal_lab, portal_lab.amendment)
    assert len(pdf) > 50_000
    with TestClient(app, base_url="http://portal.test") as c:
        c.get("/")
        no_token = c.post(
            "/verify", files={"certificate": ("a.pdf", b"%PDF-1.7", "application/pdf")}
        )
        assert no_token.status_code == 403
        forged = c.post(
            "/verify",
            data={"csrf": "abc.def"},
            files={"certificate": ("a.pdf", b"%PDF-1.7", "application/pdf")},
        )
        assert forged.status_code == 403
        other_site = c.post(
            "/verify",
            data={"csrf": c.cookies.get("lims-csrf")},
            files={"certificate": ("a.pdf", b"%PDF-1.7", "application/pdf")},
            headers={"origin": "https://evil.example"},
        )
        assert other_site.status_code == 403
        big = c.post(
            "/verify",
            data={"csrf": c.cookies.get("lims-csrf")},
            files={"certificate": ("a.pdf", pdf, "application/pdf")},
        )
        assert big.status_code == 413

        # a body sent without a length is counted as it arrives
        def chunks() -> object:
            yield b"x" * 40_000
            yield b"x" * 40_000

        streamed = c.post(
            "/verify",
            content=chunks(),  # type: ignore[arg-type]
            headers={"content-type": "multipart/form-data; boundary=zz"},
        )
        assert streamed.status_code == 413
        login = c.post("/login", data={"username": "a" * 70_000, "password": "x"})
        assert login.status_code == 413


def test_lab_ca_and_status_list_for_offline_checks(portal_lab: PortalLab, tmp_path: Path) -> None:
    db = lab_db(portal_lab)
    with db.read() as s:
        expected = "".join(a.certificate_pem for a in s.scalars(select(LabAuthority)))
    db.dispose()
    status_file = tmp_path / "status-list.json"
    app = create_app(portal_lab.portal_config(status_list_file=status_file))
    with TestClient(app, base_url="http://portal.test") as c:
        pem = c.get("/lab-ca.pem")
        assert pem.status_code == 200
        assert pem.text.replace("\r", "").strip() == expected.replace("\r", "").strip()
        assert c.get("/status-list").status_code == 404
        status_file.write_bytes(b'{"signed": "by the lab"}')
        served = c.get("/status-list")
        assert served.status_code == 200
        assert (
            hashlib.sha256(served.content).digest()
            == hashlib.sha256(status_file.read_bytes()).digest()
        )
