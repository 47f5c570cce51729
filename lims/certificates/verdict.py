"""One verdict on a certificate file, for every front end that verifies one.

:func:`check_certificate_file` verifies a PDF or a DCC against the given trust
roots and, when known, the certificate's state (from the lab's signed status list
or its records), and sums it up as a :class:`FileVerdict` with one finding per
line, Chinese and English, from :mod:`lims.messages`:

* ``ALTERED`` — the file was changed after signing (a byte flip, an incremental
  edit, an edited DCC value): reported once, without also calling every signature
  untrusted;
* ``UNVERIFIABLE`` — intact as far as can be seen, but not shown to be the lab's
  (no chain to the given CA, a signature missing, not a certificate at all);
* ``REVOKED`` / ``SUPERSEDED`` — intact, but withdrawn;
* ``SIMULATED`` — signatures and content intact, but made on the simulated bench:
  never a valid certificate;
* ``VALID``.

Each verdict has its own exit status (:attr:`FileVerdict.exit_code`). Nothing
here opens a database or writes a file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cryptography import x509

from lims.certificates.status_list import CertificateState, StatusEntry
from lims.certificates.verify import VerificationReport
from lims.messages import MESSAGES, text

__all__ = ["CertificateCheck", "FileVerdict", "Finding", "check_certificate_file"]


class FileVerdict(StrEnum):
    """The outcome of verifying a certificate file."""

    VALID = "valid"
    SIMULATED = "simulated"
    SUPERSEDED = "superseded"
    REVOKED = "revoked"
    ALTERED = "altered"
    UNVERIFIABLE = "unverifiable"

    @property
    def exit_code(self) -> int:
        """The command line's exit status for this verdict."""
        return _EXIT[self]


_EXIT = {
    FileVerdict.VALID: 0,
    FileVerdict.ALTERED: 1,
    FileVerdict.UNVERIFIABLE: 3,
    FileVerdict.SIMULATED: 4,
    FileVerdict.SUPERSEDED: 5,
    FileVerdict.REVOKED: 6,
}


@dataclass(frozen=True)
class Finding:
    """One line of the verdict: a message key of :mod:`lims.messages` and its parameters."""

    key: str
    params: tuple[tuple[str, str], ...] = ()

    def text(self, lang: str) -> str:
        """The finding in ``zh`` or ``en``."""
        return text(self.key, lang, **dict(self.params))

    def line(self) -> str:
        """Chinese first, English beside it."""
        return f"{self.text('zh')} / {self.text('en')}"


@dataclass(frozen=True)
class StateLookup:
    """A certificate's state as a lookup found it, where from, and what it has to say."""

    entry: StatusEntry | None
    source: str | None
    findings: tuple[Finding, ...] = ()


def _finding(key: str, **params: str) -> Finding:
    assert key in MESSAGES, key
    return Finding(key, tuple(params.items()))


@dataclass(frozen=True)
class CertificateCheck:
    """The verdict on a file, what was checked, and the findings (one line each)."""

    verdict: FileVerdict
    kind: str
    number: str | None
    simulated: bool | None
    state: CertificateState | None
    long_term: bool
    findings: tuple[Finding, ...]
    report: VerificationReport | None = None
    dcc_signer: str | None = None
    details: tuple[Finding, ...] = field(default=())
    """Signature lines (who signed, when, timestamp), shown under the headline."""

    @property
    def ok(self) -> bool:
        """Only a valid, issued, real certificate is ok."""
        return self.verdict is FileVerdict.VALID

    def lines(self) -> list[str]:
        """The headline, the signature lines and one line per finding."""
        verdict = Finding(f"verify.{self.verdict.value}")
        head = _finding(
            "verify.headline",
            verdict_zh=verdict.text("zh"),
            verdict_en=verdict.text("en"),
            kind=self.kind,
            number=self.number or "?",
        )
        return (
            [head.line()]
            + [f"  {d.line()}" for d in self.details]
            + [f"  - {f.line()}" for f in self.findings]
        )

    def as_json(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {
            "verdict": self.verdict.value,
            "ok": self.ok,
            "exit_code": self.verdict.exit_code,
            "kind": self.kind,
            "number": self.number,
            "simulated": self.simulated,
            "state": self.state.value if self.state is not None else None,
            "long_term": self.long_term,
            "signatures": [
                {
                    "field": s.field_name,
                    "meaning": s.meaning.value if s.meaning else None,
                    "signer": s.signer_user_id,
                    "signed_at": s.signed_at.isoformat() if s.signed_at else None,
                    "timestamp": s.timestamp.isoformat() if s.timestamp else None,
                    "ok": s.ok,
                }
                for s in (self.report.signatures if self.report is not None else ())
            ],
            "dcc_signer": self.dcc_signer,
            "findings": [
                {"key": f.key, "zh": f.text("zh"), "en": f.text("en")} for f in self.findings
            ],
        }


def file_kind(data: bytes) -> str | None:
    """``PDF``, ``DCC`` or None from the first bytes."""
    if data.startswith(b"%PDF"):
        return "PDF"
    if data.lstrip().startswith(b"<"):
        return "DCC"
    return None


def check_certificate_file(
    data: bytes,
    trust_roots: Sequence[x509.Certificate],
    *,
    name: str = "file",
    state: StatusEntry | None = None,
    state_source: str | None = None,
    record_problems: Sequence[str] = (),
    extra: Sequence[Finding] = (),
    lookup: Callable[[str | None], StateLookup] | None = None,
) -> CertificateCheck:
    """Verify ``data`` (PDF or DCC) and sum it up.

    ``state`` is the certificate's entry in the status list or the lab's records
    (None when unknown); ``record_problems`` are disagreements with the lab's records
    found by the caller; ``extra`` findings are added as they are. ``lookup``, when given,
    finds the state from the certificate number read from the file.
    """
    from lims.certificates.dcc import verify_dcc
    from lims.certificates.verify import verify_pdf

    kind = file_kind(data)
    if kind is None:
        return CertificateCheck(
            FileVerdict.UNVERIFIABLE,
            "file",
            None,
            None,
            None,
            False,
            (_finding("verify.not_certificate", name=name),),
        )
    altered: list[str] = []
    untrusted: list[str] = []
    details: list[Finding] = []
    dcc_signer = None
    if kind == "PDF":
        report: VerificationReport | None = verify_pdf(data, trust_roots)
        is_altered = report is not None and report.altered
    else:
        dcc = verify_dcc(data, trust_roots)
        report = dcc.pdf
        is_altered = dcc.altered
        sig = dcc.signature
        if sig is not None and sig.present:
            dcc_signer = sig.signer_user_id
            details.append(
                _finding(
                    "verify.dcc_signature",
                    signer=f"{sig.signer_name or '?'} ({sig.signer_user_id or '?'})",
                    state="ok" if sig.ok else "FAILED",
                )
            )
        (altered if dcc.altered else untrusted).extend(
            [f"schema: {e}" for e in dcc.schema_errors] + list(dcc.problems)
        )
    if report is not None:
        details += _signature_lines(report)
        (altered if report.altered else untrusted).extend(_report_problems(report))
    findings: list[Finding] = []
    if lookup is not None:
        found = lookup(report.certificate_number if report is not None else None)
        state, state_source, extra = found.entry, found.source, (*extra, *found.findings)
    if is_altered:
        verdict = FileVerdict.ALTERED
        findings += [_finding("verify.finding.altered", detail=p) for p in _grouped(altered)]
    elif untrusted or report is None or not report.ok or record_problems:
        verdict = FileVerdict.UNVERIFIABLE
        findings += [_finding("verify.finding.untrusted", detail=p) for p in _grouped(untrusted)]
        findings += [_finding("verify.finding.records", detail=p) for p in record_problems]
    elif state is not None and state.state is CertificateState.REVOKED:
        verdict = FileVerdict.REVOKED
        findings.append(_finding("verify.revoked_reason", reason=state.reason or "—"))
    elif state is not None and state.state is CertificateState.SUPERSEDED:
        verdict = FileVerdict.SUPERSEDED
        findings.append(_finding("verify.superseded_by", number=state.superseded_by or "?"))
    elif report.simulated:
        verdict = FileVerdict.SIMULATED
    else:
        verdict = FileVerdict.VALID
    long_term = report is not None and report.long_term
    if verdict not in (FileVerdict.ALTERED, FileVerdict.UNVERIFIABLE):
        findings.append(_finding("verify.long_term" if long_term else "verify.not_long_term"))
        if state_source:
            findings.append(_finding("verify.status_from", source=state_source))
    findings += list(extra)
    return CertificateCheck(
        verdict=verdict,
        kind=kind,
        number=report.certificate_number if report is not None else None,
        simulated=report.simulated if report is not None else None,
        state=state.state if state is not None else None,
        long_term=long_term,
        findings=tuple(findings),
        report=report,
        dcc_signer=dcc_signer,
        details=tuple(details),
    )


def _signature_lines(report: VerificationReport) -> list[Finding]:
    lines = []
    for s in report.signatures:
        stamp = f", RFC 3161 {s.timestamp:%Y-%m-%d %H:%M:%S}Z" if s.timestamp else ""
        lines.append(
            _finding(
                "verify.signature",
                meaning=s.meaning.value if s.meaning else s.field_name,
                signer=s.signer_name,
                user=s.signer_user_id,
                when=f"{s.signed_at:%Y-%m-%d %H:%M:%S}Z" if s.signed_at else "?",
                stamp=stamp,
                state="ok" if s.ok else "FAILED",
            )
        )
    for t in report.timestamps:
        lines.append(
            _finding(
                "verify.doc_timestamp",
                tsa=t.tsa_name,
                when=f"{t.timestamp:%Y-%m-%d %H:%M:%S}Z" if t.timestamp else "?",
                state="ok" if t.ok else "FAILED",
            )
        )
    return lines


def _report_problems(report: VerificationReport) -> list[str]:
    """The report's problems; signature problems named with their field."""
    problems = list(report.problems)
    for s in report.signatures:
        problems += [f"{p} [{s.field_name}]" for p in s.problems]
    for t in report.timestamps:
        problems += [f"{p} [{t.field_name}]" for p in t.problems]
    return problems


def _grouped(problems: Sequence[str]) -> list[str]:
    """The same problem of several signatures becomes one line naming them all."""
    order: dict[str, list[str]] = {}
    for p in problems:
        base, sep, where = p.rpartition(" [")
        if sep and where.endswith("]"):
            order.setdefault(base, []).append(where[:-1])
        else:
            order.setdefault(p, [])
    return [f"{p} [{', '.join(w)}]" if w else p for p, w in order.items()]


def read_trust_file(pem: bytes, name: str = "CA file") -> list[x509.Certificate]:
    """The CA certificates of a PEM bundle (``lims keys export-ca``); TSA certificates in it
    are skipped (they are not trust anchors). :class:`CertificateError` if there is none."""
    from lims.certificates.errors import CertificateError

    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise CertificateError(f"{name}: not a PEM file of certificates") from exc
    roots = []
    for cert in certs:
        try:
            is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        if is_ca:
            roots.append(cert)
    if not roots:
        raise CertificateError(f"{name}: holds no CA certificate")
    return roots


def check_offline(
    data: bytes,
    trust_roots: Sequence[x509.Certificate],
    *,
    name: str = "file",
    status_list: bytes | None = None,
) -> CertificateCheck:
    """Verify a file with nothing but the lab CA and, optionally, its signed status list."""
    import dataclasses

    from lims.certificates.status_list import StatusListError, read_status_list

    if status_list is None:
        return check_certificate_file(
            data, trust_roots, name=name, extra=(_finding("verify.no_state"),)
        )
    try:
        listing = read_status_list(status_list, trust_roots)
    except StatusListError as exc:
        check = check_certificate_file(data, trust_roots, name=name)
        bad = _finding("verify.status_list_bad", error=str(exc))
        verdict = (
            FileVerdict.UNVERIFIABLE
            if check.verdict is not FileVerdict.ALTERED
            else FileVerdict.ALTERED
        )
        return dataclasses.replace(check, verdict=verdict, findings=(*check.findings, bad))
    probe = check_certificate_file(data, trust_roots, name=name)
    entry = listing.state_of(probe.number) if probe.number else None
    source = f"status list {listing.issued_at:%Y-%m-%d %H:%M}Z"
    extra = (
        ()
        if entry is not None
        else (_finding("verify.status_unknown", date=f"{listing.issued_at:%Y-%m-%d}"),)
    )
    return check_certificate_file(
        data, trust_roots, name=name, state=entry, state_source=source, extra=extra
    )
