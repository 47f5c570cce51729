"""Signing keys: a lab's own CA and keys imported; password changes re-encrypt the key."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select, update

from lims.certificates import Meaning, PkiError, create_lab_ca, issue_user_credentials
from lims.db import Database
from lims.models import User, Verdict
from lims.quality.accounts import change_password
from lims.services.certificates import (
    CertificateWorkflowError,
    certificate_pdf,
    draft_certificate,
    sign_certificate,
    verify_certificate_file,
)
from lims.services.signing_keys import import_authority, import_credentials
from tests.certificate_service.builder import PASSWORDS, POLICY, Point, make_gas_run, user

POINTS = [Point("P20", 400.0, 3.0, 9.0, Verdict.PASS)]
SIGNERS = (("zhang", Meaning.PERFORMED), ("li", Meaning.REVIEWED), ("wang", Meaning.APPROVED))


def _issue(db: Database, passwords: dict[str, str]) -> bytes:
    number = draft_certificate(db, user(db, "zhang"), make_gas_run(db, 1, POINTS)).number
    for name, meaning in SIGNERS:
        sign_certificate(db, number, name, passwords[name], meaning, POLICY)
    return certificate_pdf(db, user(db, "zhao"), number)


def test_password_change_reencrypts_the_signing_key(lab: Database) -> None:
    new = "Bench#2027-new-zw"
    with lab.write(actor="zhang", reason="password change") as s:
        change_password(s, "zhang", PASSWORDS["zhang"], new, POLICY)
    passwords = {**PASSWORDS, "zhang": new}
    pdf = _issue(lab, passwords)
    assert verify_certificate_file(lab, pdf).ok
    # The old password opens neither the account nor the key any more.
    number = draft_certificate(lab, user(lab, "zhang"), make_gas_run(lab, 1, POINTS)).number
    with pytest.raises(CertificateWorkflowError):
        sign_certificate(lab, number, "zhang", PASSWORDS["zhang"], Meaning.PERFORMED, POLICY)
    with lab.write(actor="zhang", reason="password back") as s:
        change_password(s, "zhang", new, PASSWORDS["zhang"], POLICY)
        s.execute(update(User).where(User.username == "zhang").values(failed_logins=0))
    sign_certificate(lab, number, "zhang", PASSWORDS["zhang"], Meaning.PERFORMED, POLICY)


def test_lab_imports_its_own_ca_and_keys(lab: Database) -> None:
    own = create_lab_ca("Own Lab Root CA", "Own Lab", "own-ca-pass-2026")
    key_pem = own.private_key("own-ca-pass-2026").private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"export-pass-1"),
    )
    with lab.write(actor="admin", reason="import the lab's CA") as s, pytest.raises(PkiError):
        import_authority(s, own.certificate_pem, key_pem, "wrong-password", "new-ca-pass-2026")
    with lab.write(actor="admin", reason="import the lab's CA") as s:
        import_authority(s, own.certificate_pem, key_pem, "export-pass-1", "new-ca-pass-2026")
    passwords = dict(PASSWORDS)
    for name, _ in SIGNERS:
        with lab.read() as s:
            u = s.scalars(select(User).where(User.username == name)).one()
            display = f"{u.full_name} {u.full_name_en}"
        p12 = issue_user_credentials(
            own,
            "own-ca-pass-2026",
            user_id=name,
            display_name=display,
            user_password="p12-pass-2026",
        ).pkcs12
        with lab.write(actor=name, reason="import my key") as s:
            me = s.scalars(select(User).where(User.username == name)).one()
            if name == "zhang":  # a PKCS#12 of somebody else is refused
                other = s.scalars(select(User).where(User.username == "li")).one()
                with pytest.raises(PkiError, match="belongs to"):
                    import_credentials(s, other, p12, "p12-pass-2026", PASSWORDS["li"])
            import_credentials(s, me, p12, "p12-pass-2026", passwords[name])
    pdf = _issue(lab, passwords)
    result = verify_certificate_file(lab, pdf)
    assert result.ok, result.summary()
    assert result.report is not None
    assert {s.signer_user_id for s in result.report.signatures} == {"zhang", "li", "wang"}


def test_expired_account_cannot_sign(lab: Database) -> None:
    number = draft_certificate(lab, user(lab, "zhang"), make_gas_run(lab, 1, POINTS)).number
    with lab.write(actor="system:test", reason="account expires") as s:
        s.execute(
            update(User)
            .where(User.username == "li")
            .values(valid_until=date.today() - timedelta(days=1))
        )
    sign_certificate(lab, number, "zhang", PASSWORDS["zhang"], Meaning.PERFORMED, POLICY)
    with pytest.raises(CertificateWorkflowError, match="expired"):
        sign_certificate(lab, number, "li", PASSWORDS["li"], Meaning.REVIEWED, POLICY)
    with lab.write(actor="system:test", reason="restore") as s:
        s.execute(update(User).where(User.username == "li").values(valid_until=None))
