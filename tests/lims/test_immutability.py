"""Issued records cannot be changed: not through the ORM/services, not through plain SQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from lims.audit import ImmutableRecordError
from lims.db import Database
from lims.models import AuditEvent, Certificate, CertificateStatus, Reading, Result, Signature
from tests.lims.conftest import LabDb


@contextmanager
def rolled_back_session(db: Database) -> Iterator[Session]:
    """An ORM session with an actor whose work is always rolled back."""
    with db.engine.connect() as conn:
        trans = conn.begin()
        try:
            with Session(bind=conn, info={"actor": "system:test", "reason": "test"}) as s:
                yield s
        finally:
            trans.rollback()


def _record(s: Session, kind: str, lab_db: LabDb) -> object:
    _, lab = lab_db
    if kind == "reading":
        return s.scalars(select(Reading).where(Reading.run_id == lab.run_id)).first()
    model = {"result": Result, "signature": Signature, "certificate": Certificate}[kind]
    key = {
        "result": lab.result_id,
        "signature": lab.signature_id,
        "certificate": lab.certificate_id,
    }[kind]
    return s.get(model, key)


_CHANGE = {
    "reading": ("magnitude", 999.0),
    "result": ("test_point", "1000 umol/mol"),
    "signature": ("printed_name", "冒名 Impostor"),
    "certificate": ("content_sha256", "f" * 64),
}


@pytest.mark.parametrize("kind", ["reading", "result", "signature", "certificate"])
def test_orm_update_of_issued_record_is_refused(lab_db: LabDb, kind: str) -> None:
    db, _ = lab_db
    with rolled_back_session(db) as s:
        obj = _record(s, kind, lab_db)
        assert obj is not None
        field, value = _CHANGE[kind]
        setattr(obj, field, value)
        with pytest.raises(ImmutableRecordError):
            s.flush()


@pytest.mark.parametrize("kind", ["reading", "result", "signature", "certificate"])
def test_orm_delete_of_issued_record_is_refused(lab_db: LabDb, kind: str) -> None:
    db, _ = lab_db
    with rolled_back_session(db) as s:
        obj = _record(s, kind, lab_db)
        assert obj is not None
        s.delete(obj)
        with pytest.raises(ImmutableRecordError):
            s.flush()


def test_issued_certificate_status_only_to_superseded_or_revoked(lab_db: LabDb) -> None:
    db, lab = lab_db
    with rolled_back_session(db) as s:
        cert = s.get(Certificate, lab.certificate_id)
        assert cert is not None
        assert cert.status == CertificateStatus.ISSUED
        cert.status = CertificateStatus.DRAFT
        with pytest.raises(ImmutableRecordError, match="issued to draft"):
            s.flush()
    with rolled_back_session(db) as s:
        cert = s.get(Certificate, lab.certificate_id)
        assert cert is not None
        cert.status = CertificateStatus.SUPERSEDED
        cert.status_reason = "replaced by amendment"
        s.flush()
        last = s.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert last is not None
        assert last.table_name == "certificates"
        assert last.changes["status"] == ["issued", "superseded"]
        cert.status = CertificateStatus.REVOKED
        s.flush()
        cert.status = CertificateStatus.ISSUED
        with pytest.raises(ImmutableRecordError, match="revoked to issued"):
            s.flush()


def test_draft_certificate_can_still_be_edited(lab_db: LabDb) -> None:
    db, lab = lab_db
    with rolled_back_session(db) as s:
        cert = s.get(Certificate, lab.certificate_id)
        assert cert is not None
        # Roll the row back to draft in plain SQL inside this transaction (guard dropped).
        from tests.lims._lab import drop_guard

        drop_guard(s.connection(), "certificates")
        s.execute(
            text("UPDATE certificates SET status = 'draft' WHERE id = :i"),
            {"i": lab.certificate_id},
        )
        s.expire_all()
        cert = s.get(Certificate, lab.certificate_id)
        assert cert is not None
        assert cert.status == CertificateStatus.DRAFT
        cert.content_sha256 = "9" * 64
        s.flush()  # no error: drafts are not yet read-only


_SQL_REFUSED = {
    "reading-update": "UPDATE readings SET magnitude = 1 WHERE run_id = {run}",
    "reading-delete": "DELETE FROM readings WHERE run_id = {run}",
    "result-update": "UPDATE results SET verdict = 'fail' WHERE id = {result}",
    "result-delete": "DELETE FROM results WHERE id = {result}",
    "signature-update": "UPDATE signatures SET printed_name = 'x' WHERE id = {sig}",
    "signature-delete": "DELETE FROM signatures WHERE id = {sig}",
    "audit-update": "UPDATE audit_events SET actor = 'x' WHERE id = 1",
    "audit-delete": "DELETE FROM audit_events WHERE id = 1",
    "certificate-content": "UPDATE certificates SET content_sha256 = 'x' WHERE id = {cert}",
    "certificate-number": "UPDATE certificates SET number = 'CM2026-99999' WHERE id = {cert}",
    "certificate-to-draft": "UPDATE certificates SET status = 'draft' WHERE id = {cert}",
    "certificate-delete": "DELETE FROM certificates WHERE id = {cert}",
}


@pytest.mark.parametrize("case", sorted(_SQL_REFUSED))
def test_plain_sql_change_is_refused_by_trigger(lab_db: LabDb, case: str) -> None:
    db, lab = lab_db
    sql = _SQL_REFUSED[case].format(
        run=lab.run_id, result=lab.result_id, sig=lab.signature_id, cert=lab.certificate_id
    )
    with db.engine.connect() as conn:
        trans = conn.begin()
        try:
            with pytest.raises(DBAPIError, match=r"append-only|read-only|cannot be deleted"):
                conn.execute(text(sql))
        finally:
            trans.rollback()


def test_plain_sql_may_supersede_an_issued_certificate(lab_db: LabDb) -> None:
    db, lab = lab_db
    with db.engine.connect() as conn:
        trans = conn.begin()
        try:
            conn.execute(
                text("UPDATE certificates SET status = 'superseded' WHERE id = :i"),
                {"i": lab.certificate_id},
            )
            status = conn.execute(
                text("SELECT status FROM certificates WHERE id = :i"), {"i": lab.certificate_id}
            ).scalar_one()
            assert status == "superseded"
        finally:
            trans.rollback()
