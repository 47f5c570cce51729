"""One live certificate per run, held by the database itself and by the service.

The database rules are tried with the service bypassed (rows written directly, as a
second program or a careless script would); the service is tried with its own check
removed, so that only the database stands between a run and a second number.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError

from lims.audit import verify
from lims.certificates import Meaning
from lims.db import Database
from lims.models import Certificate, CertificateSequence, CertificateStatus, Verdict
from lims.services import certificates as service
from lims.services.certificates import (
    CertificateWorkflowError,
    amend_certificate,
    draft_certificate,
    reject_certificate,
    sign_certificate,
)
from lims.services.numbering import NumberingError
from tests.certificate_service.builder import PASSWORDS, POLICY, Point, make_gas_run, user

POINTS = [Point("P20", 400.0, 3.0, 9.0, Verdict.PASS)]
#: How each backend names the rule broken (PostgreSQL: the index; SQLite: its columns).
LIVE = r"uq_certificates_run|UNIQUE constraint failed: certificates\.run_id"
REVISION = (
    r"uq_certificates_run_revision"
    r"|UNIQUE constraint failed: certificates\.run_id, certificates\.revision"
)


def _copy_of(lab: Database, number: str, **changes: object) -> None:
    """Insert a copy of certificate ``number`` (new number) straight into the table."""
    with lab.write(actor="system:test", reason="second certificate, service bypassed") as s:
        cert = s.scalars(select(Certificate).where(Certificate.number == number)).one()
        top = s.scalar(select(Certificate.sequence).order_by(Certificate.sequence.desc()))
        seq = int(top or 0) + 1000
        values = {
            "number": f"X-{seq}",
            "year": cert.year,
            "sequence": seq,
            "type": cert.type,
            "status": CertificateStatus.DRAFT,
            "revision": cert.revision,
            "run_id": cert.run_id,
            "content_sha256": cert.content_sha256,
            "content": cert.content,
        }
        values.update(changes)
        s.add(Certificate(**values))
        s.flush()


def _sign_all(lab: Database, number: str) -> None:
    for username, meaning in (
        ("zhang", Meaning.PERFORMED),
        ("li", Meaning.REVIEWED),
        ("wang", Meaning.APPROVED),
    ):
        sign_certificate(lab, number, username, PASSWORDS[username], meaning, POLICY)


def test_the_database_refuses_a_second_live_certificate(lab: Database) -> None:
    run_id = make_gas_run(lab, 1, POINTS)
    first = draft_certificate(lab, user(lab, "zhang"), run_id).number
    with pytest.raises(IntegrityError, match=LIVE):
        _copy_of(lab, first)  # a second draft of the same run
    with pytest.raises(IntegrityError, match=LIVE):
        _copy_of(lab, first, revision=1)  # being signed twice at once, whatever the revision
    _sign_all(lab, first)
    with pytest.raises(IntegrityError, match=LIVE):
        _copy_of(lab, first, status=CertificateStatus.ISSUED, revision=1)  # issued twice
    with pytest.raises(IntegrityError, match=REVISION):
        _copy_of(lab, first)  # a new original beside the issued one
    # the one way to a second number: an amendment (revision + 1) that replaces it
    amendment = amend_certificate(lab, user(lab, "wang"), first, "address corrected").number
    _sign_all(lab, amendment)
    with lab.read() as s:
        rows = s.execute(
            select(Certificate.number, Certificate.status).where(Certificate.run_id == run_id)
        ).all()
        statuses = {str(number): status for number, status in rows}
    assert statuses == {first: CertificateStatus.SUPERSEDED, amendment: CertificateStatus.ISSUED}
    with pytest.raises(IntegrityError, match=REVISION):
        _copy_of(
            lab, first, status=CertificateStatus.DRAFT, revision=0
        )  # superseded keeps its slot


def test_a_rejected_draft_frees_the_run(lab: Database) -> None:
    run_id = make_gas_run(lab, 1, POINTS)
    first = draft_certificate(lab, user(lab, "zhang"), run_id).number
    reject_certificate(lab, user(lab, "wang"), first, "wrong customer")
    second = draft_certificate(lab, user(lab, "zhang"), run_id).number
    assert second != first


def test_without_the_service_check_the_database_alone_refuses_cleanly(
    lab: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = make_gas_run(lab, 1, POINTS)
    first = draft_certificate(lab, user(lab, "zhang"), run_id).number
    calls: list[int] = []
    real: Callable[..., None] = service._refuse_second_certificate

    def skip_once(session: object, rid: int) -> None:
        calls.append(rid)
        if len(calls) > 1:  # the check after the database refused: as the service does
            real(session, rid)

    monkeypatch.setattr(service, "_refuse_second_certificate", skip_once)
    with pytest.raises(CertificateWorkflowError) as info:
        draft_certificate(lab, user(lab, "zhang"), run_id)
    assert str(info.value) == (
        f"run {run_id} already has certificate {first} (draft); "
        "amend it instead of drafting another"
    )
    with lab.read() as s:
        numbers = s.scalars(select(Certificate.number).where(Certificate.run_id == run_id)).all()
    assert numbers == [first]  # the refused draft's number went back with its rollback


def _counter(lab: Database, year: int, last: int) -> None:
    """Set the year's counter in plain SQL (what someone with database rights can do)."""
    with lab.engine.begin() as conn:
        conn.execute(
            update(CertificateSequence).where(CertificateSequence.year == year).values(last=last)
        )


def test_a_counter_moved_back_is_refused_in_one_line_and_named_by_verify(lab: Database) -> None:
    run_a = make_gas_run(lab, 1, POINTS)
    drafted = draft_certificate(lab, user(lab, "zhang"), run_a)
    with lab.read() as s:
        year = drafted.created_at.year
        last = s.get(CertificateSequence, year)
        assert last is not None
        head = last.last
    assert head >= 1
    run_b = make_gas_run(lab, 1, POINTS)
    with lab.read() as s:
        before = s.scalar(text("SELECT count(*) FROM certificates"))
    try:
        _counter(lab, year, head - 1)
        with pytest.raises(NumberingError) as info:
            draft_certificate(lab, user(lab, "zhang"), run_b)
        message = str(info.value)
        assert "\n" not in message
        assert f"the certificate counter of {year} was moved back" in message
        with lab.read() as s:
            assert s.scalar(text("SELECT count(*) FROM certificates")) == before
            problems = [str(p) for p in verify(s).problems]
        assert any(f"certificate_sequences {year}" in p and "last" in p for p in problems), problems
        # moved forward: the next draft would leave a gap; verify names both views of it
        _counter(lab, year, head + 3)
        with lab.read() as s:
            problems = [str(p) for p in verify(s).problems]
        assert any(f"certificate_sequences {year}" in p for p in problems), problems
        assert any(
            f"certificate numbering of {year}" in p and f"counter stands at {head + 3}" in p
            for p in problems
        ), problems
    finally:
        _counter(lab, year, head)
    with lab.read() as s:
        assert verify(s).ok
