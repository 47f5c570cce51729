"""Refused signatures, read-only issued certificates, amendments, tampering and verification."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from lims.audit import ImmutableRecordError
from lims.certificates import Meaning
from lims.certificates.verdict import FileVerdict
from lims.db import Database
from lims.models import AuditEvent, Certificate, CertificateStatus, User, Verdict
from lims.quality.errors import PermissionDenied
from lims.services.certificates import (
    CertificateWorkflowError,
    amend_certificate,
    certificate_dcc,
    certificate_info,
    certificate_pdf,
    draft_certificate,
    pending_for,
    reject_certificate,
    revoke_certificate,
    sign_certificate,
    verify_certificate_file,
)
from tests.certificate_service.builder import PASSWORDS, POLICY, Point, make_gas_run, user

POINTS = [Point("P20", 400.0, 3.0, 9.0, Verdict.PASS)]


def _refusals(db: Database, number: str) -> list[AuditEvent]:
    with db.read() as s:
        return list(
            s.scalars(
                select(AuditEvent).where(
                    AuditEvent.action == "certificate.sign_refused",
                    AuditEvent.record_id == number,
                )
            )
        )


def _sign(db: Database, number: str, username: str, meaning: Meaning, password: str = "") -> None:
    sign_certificate(db, number, username, password or PASSWORDS[username], meaning, POLICY)


def test_order_signers_and_passwords_are_enforced_and_audited(lab: Database) -> None:
    number = draft_certificate(lab, user(lab, "zhang"), make_gas_run(lab, 1, POINTS)).number
    # Out of order: a review before the performed signature.
    with pytest.raises(CertificateWorkflowError, match="waits for the performed signature"):
        _sign(lab, number, "li", Meaning.REVIEWED)
    # Wrong role: a technician cannot approve.
    with pytest.raises(CertificateWorkflowError, match="permission denied"):
        _sign(lab, number, "zhang", Meaning.APPROVED)
    # Wrong password.
    with pytest.raises(CertificateWorkflowError, match="zhang"):
        _sign(lab, number, "zhang", Meaning.PERFORMED, "Not-the-password#1")
    assert len(_refusals(lab, number)) == 3
    assert certificate_info(lab, user(lab, "zhao"), number).status is CertificateStatus.DRAFT

    _sign(lab, number, "zhang", Meaning.PERFORMED)
    _sign(lab, number, "li", Meaning.REVIEWED)
    # The same meaning twice is an order violation.
    with pytest.raises(CertificateWorkflowError, match="waits for the approved"):
        _sign(lab, number, "li", Meaning.REVIEWED)
    assert number in [c.number for c in pending_for(lab, user(lab, "wang"))]
    assert number not in [c.number for c in pending_for(lab, user(lab, "li"))]
    _sign(lab, number, "wang", Meaning.APPROVED)
    assert certificate_info(lab, user(lab, "zhao"), number).status is CertificateStatus.ISSUED
    with pytest.raises(CertificateWorkflowError, match="takes no more signatures"):
        _sign(lab, number, "wang", Meaning.APPROVED)
    assert len(_refusals(lab, number)) == 5


def test_same_person_cannot_sign_twice(lab: Database) -> None:
    number = draft_certificate(lab, user(lab, "zhang"), make_gas_run(lab, 1, POINTS)).number
    _sign(lab, number, "li", Meaning.PERFORMED)  # li is a technician too
    before = len(_refusals(lab, number))
    with pytest.raises(CertificateWorkflowError, match="three different people"):
        _sign(lab, number, "li", Meaning.REVIEWED)
    assert len(_refusals(lab, number)) == before + 1


def test_locked_user_cannot_sign(lab: Database) -> None:
    number = draft_certificate(lab, user(lab, "zhang"), make_gas_run(lab, 1, POINTS)).number
    for _ in range(POLICY.lockout_threshold):
        with pytest.raises(CertificateWorkflowError):
            _sign(lab, number, "chen", Meaning.PERFORMED, "Wrong-password#9")
    # Now even the right password is refused: the account is locked.
    with pytest.raises(CertificateWorkflowError, match="locked"):
        _sign(lab, number, "chen", Meaning.PERFORMED, PASSWORDS["chen"])
    with lab.write(actor="system:test", reason="unlock for the next tests") as s:
        s.execute(
            update(User).where(User.username == "chen").values(locked_at=None, failed_logins=0)
        )


def test_one_certificate_per_run_and_reject(lab: Database) -> None:
    run_id = make_gas_run(lab, 1, POINTS)
    first = draft_certificate(lab, user(lab, "zhang"), run_id).number
    with pytest.raises(CertificateWorkflowError, match="already has certificate"):
        draft_certificate(lab, user(lab, "zhang"), run_id)
    with pytest.raises(PermissionDenied):
        reject_certificate(lab, user(lab, "zhang"), first, "typo")
    with pytest.raises(CertificateWorkflowError, match="needs a reason"):
        reject_certificate(lab, user(lab, "wang"), first, "  ")
    rejected = reject_certificate(lab, user(lab, "wang"), first, "wrong customer address")
    assert rejected.status is CertificateStatus.REJECTED
    second = draft_certificate(lab, user(lab, "zhang"), run_id)
    assert second.number != first
    # The auditor may look, not draft.
    with pytest.raises(PermissionDenied):
        draft_certificate(lab, user(lab, "zhao"), make_gas_run(lab, 1, POINTS))


def _issued(lab: Database) -> str:
    number = draft_certificate(lab, user(lab, "zhang"), make_gas_run(lab, 1, POINTS)).number
    for username, meaning in (
        ("zhang", Meaning.PERFORMED),
        ("li", Meaning.REVIEWED),
        ("wang", Meaning.APPROVED),
    ):
        _sign(lab, number, username, meaning)
    return number


def _change_through_orm(lab: Database, number: str) -> None:
    with lab.write(actor="system:test", reason="tamper") as s:
        cert = s.scalars(select(Certificate).where(Certificate.number == number)).one()
        cert.content_sha256 = "0" * 64


def test_issued_certificate_is_read_only(lab: Database) -> None:
    number = _issued(lab)
    with pytest.raises(CertificateWorkflowError):
        reject_certificate(lab, user(lab, "wang"), number, "changed my mind")
    with pytest.raises(ImmutableRecordError):
        _change_through_orm(lab, number)
    # Direct SQL on the fixed columns is refused by the database itself.
    for column, value in (
        ("valid_until", "'2099-01-01'"),
        ("content_sha256", "'" + "0" * 64 + "'"),
        ("customer_id", "NULL"),
    ):
        with pytest.raises(Exception, match="read-only"), lab.engine.begin() as conn:
            conn.execute(
                text(f"UPDATE certificates SET {column} = {value} WHERE number = :n"),
                {"n": number},
            )


def test_withdrawn_certificate_cannot_come_back_in_plain_sql(lab: Database) -> None:
    """The status only moves forward: a revoked certificate is never issued again."""
    number = _issued(lab)
    with pytest.raises(Exception, match="read-only"), lab.engine.begin() as conn:
        conn.execute(
            text("UPDATE certificates SET status = 'draft' WHERE number = :n"), {"n": number}
        )
    revoke_certificate(lab, user(lab, "chen"), number, "standard out of tolerance")
    for status in ("issued", "superseded", "draft"):
        with pytest.raises(Exception, match="read-only"), lab.engine.begin() as conn:
            conn.execute(
                text("UPDATE certificates SET status = :s WHERE number = :n"),
                {"s": status, "n": number},
            )
    with lab.read() as s:
        cert = s.scalars(select(Certificate).where(Certificate.number == number)).one()
        assert cert.status is CertificateStatus.REVOKED
        assert cert.status_reason == "standard out of tolerance"


def test_tampered_pdf_fails_verification(lab: Database, tmp_path: Path) -> None:
    number = _issued(lab)
    pdf = certificate_pdf(lab, user(lab, "zhao"), number)
    assert verify_certificate_file(lab, pdf).ok
    # Flip one byte inside the signed content of the first page stream.
    index = pdf.index(b"stream", len(pdf) // 4) + 20
    tampered = pdf[:index] + bytes([pdf[index] ^ 0x01]) + pdf[index + 1 :]
    result = verify_certificate_file(lab, tampered)
    assert not result.ok
    assert result.problems
    assert any("signature" in p or "not the PDF" in p for p in result.problems), result.problems
    garbage = verify_certificate_file(lab, b"hello")
    assert not garbage.ok
    assert "neither a PDF nor a DCC" in garbage.problems[0]


def _flip_positions(data: bytes, samples: int) -> list[int]:
    """Spread positions over the file, plus its first and last bytes."""
    step = max(1, len(data) // samples)
    return sorted({*range(0, len(data), step), 1, 2, len(data) - 2, len(data) - 1})


def test_flipping_any_byte_of_an_issued_file_fails_with_a_reason(lab: Database) -> None:
    """What `lims certificate verify` runs, on the issued PDF and DCC with one bit flipped."""
    number = _issued(lab)
    viewer = user(lab, "zhao")
    for kind, data in (
        ("PDF", certificate_pdf(lab, viewer, number)),
        ("DCC", certificate_dcc(lab, viewer, number)),
    ):
        assert verify_certificate_file(lab, data).ok
        for pos in _flip_positions(data, 40):
            tampered = bytearray(data)
            tampered[pos] ^= 0x01
            result = verify_certificate_file(lab, bytes(tampered), f"{kind}@{pos}")
            assert not result.ok, f"{kind}: flip at byte {pos} went unnoticed"
            assert result.problems, f"{kind}: flip at byte {pos} failed without a reason"
            assert result.check is not None
            assert result.check.verdict in (FileVerdict.ALTERED, FileVerdict.UNVERIFIABLE)
            assert result.check.verdict.value.upper() in result.summary()


def test_amendment_supersedes_the_original(lab: Database) -> None:
    original = _issued(lab)
    old_pdf = certificate_pdf(lab, user(lab, "zhao"), original)
    with pytest.raises(CertificateWorkflowError, match="reason"):
        amend_certificate(lab, user(lab, "wang"), original, " ")
    # Drafted a month later: the amendment replaces the document, it does not re-verify
    # the instrument, so its validity (有效期至) stays the original's.
    amendment = amend_certificate(
        lab,
        user(lab, "wang"),
        original,
        "serial number corrected",
        today=date.today() + timedelta(days=30),
    )
    assert amendment.number != original
    assert amendment.replaces == original
    assert amendment.revision == 1
    first = certificate_info(lab, user(lab, "zhao"), original)
    assert first.valid_until is not None
    assert amendment.valid_until == first.valid_until
    with lab.read() as s:
        content = s.scalars(
            select(Certificate.content).where(Certificate.number == amendment.number)
        ).one()
    assert content["dates"]["valid_until"] == first.valid_until.isoformat()
    assert content["dates"]["issue"] is None  # the amendment's approval date, when it comes
    # Until the amendment is issued, the original stands.
    assert certificate_info(lab, user(lab, "zhao"), original).status is CertificateStatus.ISSUED
    with pytest.raises(CertificateWorkflowError, match="already waiting"):
        amend_certificate(lab, user(lab, "wang"), original, "again")
    for username, meaning in (
        ("zhang", Meaning.PERFORMED),
        ("li", Meaning.REVIEWED),
        ("wang", Meaning.APPROVED),
    ):
        _sign(lab, amendment.number, username, meaning)
    old = certificate_info(lab, user(lab, "zhao"), original)
    assert old.status is CertificateStatus.SUPERSEDED
    assert old.superseded_by == amendment.number
    # The original stays retrievable; verifying it reports that it is superseded.
    assert certificate_pdf(lab, user(lab, "zhao"), original) == old_pdf
    result = verify_certificate_file(lab, old_pdf)
    assert not result.ok
    assert any("superseded" in p for p in result.problems)
    new_pdf = certificate_pdf(lab, user(lab, "zhao"), amendment.number)
    assert verify_certificate_file(lab, new_pdf).ok


def test_revoked_certificate_fails_verification(lab: Database) -> None:
    number = _issued(lab)
    with pytest.raises(PermissionDenied):
        revoke_certificate(lab, user(lab, "zhang"), number, "standard out of tolerance")
    revoke_certificate(lab, user(lab, "chen"), number, "standard out of tolerance")
    pdf = certificate_pdf(lab, user(lab, "zhao"), number)
    result = verify_certificate_file(lab, pdf)
    assert not result.ok
    assert any("revoked" in p for p in result.problems)
