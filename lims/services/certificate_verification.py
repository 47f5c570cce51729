"""Verifying a certificate file against the lab's CA and records.

:func:`verify_certificate_file` is what ``lims certificate verify FILE`` (without
``--ca``), the desktop app's history view and the portal's upload check run: the
shared verdict of :mod:`lims.certificates.verdict`, with the certificate's state
and the signers taken from the lab's records, and the file compared with the one
the lab recorded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.certificates import Meaning, VerificationReport
from lims.certificates.verdict import CertificateCheck, FileVerdict
from lims.db import Database
from lims.models.certificates import Certificate, Signature
from lims.models.enums import CertificateStatus
from lims.models.users import User
from lims.services.signing_keys import trust_roots

__all__ = ["FileVerification", "verify_certificate_file"]


@dataclass(frozen=True)
class FileVerification:
    """The verdict on a certificate file (PDF or DCC) against the lab's CA and records.

    ``ok``: the file is genuine and the certificate issued and in force. A simulated
    certificate can be ok as a file, but it is never a valid certificate: :attr:`check`
    says SIMULATED (and the command line exits with its own status).
    """

    ok: bool
    kind: str
    number: str | None
    status: CertificateStatus | None
    problems: tuple[str, ...]
    report: VerificationReport | None
    check: CertificateCheck | None = None
    """The verdict and its findings, as every verifier states them."""

    def summary(self) -> str:
        """Several lines: the verdict, each signature, and every finding."""
        if self.check is not None:
            return "\n".join(self.check.lines())
        head = "VALID / 有效" if self.ok else "INVALID / 无效"
        lines = [f"{head}: {self.kind} of certificate {self.number or '?'}"]
        return "\n".join(lines + [f"  problem: {p}" for p in self.problems])


def verify_certificate_file(db: Database, data: bytes, name: str = "file") -> FileVerification:
    """Verify a certificate PDF or DCC: signatures, CA chain, signers and content against the
    records, and the certificate's state in them (:mod:`lims.certificates.verdict`)."""
    from lims.certificates.verdict import StateLookup, check_certificate_file, file_kind
    from lims.services.status_list import state_entry

    kind = file_kind(data)
    with db.read() as session:
        roots = trust_roots(session)
        if kind is None or not roots:
            why = (
                "the lab has no certificate authority"
                if kind
                else f"{name} is neither a PDF nor a DCC XML file"
            )
            check = check_certificate_file(data, roots, name=name)
            return FileVerification(False, kind or "file", None, None, (why,), None, check)
        found: dict[str, Certificate | None] = {}

        def lookup(number: str | None) -> StateLookup:
            cert = (
                session.scalars(
                    select(Certificate).where(Certificate.number == number)
                ).one_or_none()
                if number
                else None
            )
            found["cert"] = cert
            entry = state_entry(session, cert) if cert is not None else None
            return StateLookup(entry, "the lab's records / 实验室记录" if entry else None)

        check = check_certificate_file(data, roots, name=name, lookup=lookup)
        cert = found.get("cert")
        report = check.report
        number = check.number
        problems = [f.text("en") for f in check.findings if f.key.startswith("verify.finding")]
        if report is None:
            return FileVerification(False, kind, number, None, tuple(problems), None, check)
        if cert is None:
            record = [f"certificate {number!r} is not in this lab's records"]
        else:
            record = _compare_with_records(session, cert, report, data, kind)
            if cert.status not in (
                CertificateStatus.ISSUED,
                CertificateStatus.SUPERSEDED,
                CertificateStatus.REVOKED,
            ):
                record.append(f"certificate {number} is not issued (status {cert.status.value})")
        if record and check.verdict is not FileVerdict.ALTERED:
            check = check_certificate_file(
                data, roots, name=name, lookup=lookup, record_problems=record
            )
        problems += [p for p in record if p not in problems]
        status = CertificateStatus(cert.status) if cert is not None else None
        reason = cert.status_reason if cert is not None else ""
        if status is CertificateStatus.SUPERSEDED:
            problems.append(f"certificate {number} is superseded: {reason}")
        elif status is CertificateStatus.REVOKED:
            problems.append(f"certificate {number} is revoked: {reason}")
        genuine = check.verdict in (FileVerdict.VALID, FileVerdict.SIMULATED)
        return FileVerification(
            genuine, kind, number, status, tuple(dict.fromkeys(problems)), report, check
        )


def _compare_with_records(
    session: Session, cert: Certificate, report: VerificationReport, data: bytes, kind: str
) -> list[str]:
    problems: list[str] = []
    if report.content_hash != cert.content_sha256:
        problems.append(
            "the content record in the file does not match the database record "
            f"({(report.content_hash or '?')[:12]}… vs {cert.content_sha256[:12]}…)"
        )
    file_sha = hashlib.sha256(data).hexdigest()
    expected = cert.pdf_sha256 if kind == "PDF" else cert.dcc_sha256
    if cert.status is not CertificateStatus.DRAFT and file_sha != expected:
        problems.append(f"the file is not the {kind} the lab recorded for {cert.number}")
    signed = session.scalars(select(Signature).where(Signature.certificate_id == cert.id)).all()
    by_meaning = {Meaning(s.meaning.value): s for s in signed}
    users = {u.id: u.username for u in session.scalars(select(User)).all()}
    for check in report.signatures:
        if check.meaning is None:
            continue
        record = by_meaning.get(check.meaning)
        if record is None:
            problems.append(f"no {check.meaning.value} signature is recorded for {cert.number}")
        elif users.get(record.signer_id) != check.signer_user_id:
            problems.append(
                f"the {check.meaning.value} signature is by {check.signer_user_id!r}, but the "
                f"record names {users.get(record.signer_id)!r}"
            )
    return problems
