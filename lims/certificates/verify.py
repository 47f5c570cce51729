"""Offline verification of a certificate PDF.

:func:`verify_pdf` checks, with the lab CA given explicitly as trust root:

* every signature: integrity of the signed bytes, the CMS signature, the chain
  of the signer's certificate to a trust root, the coverage (the last signature
  covers the whole file, or everything but the validation data and document
  timestamps after it; earlier ones allow only later signatures and form
  filling), the DocMDP rules of the certifying signature, the /Contents padding;
* each signature's RFC 3161 timestamp (PAdES B-T), when present: the token's
  imprint, its signature and the TSA's chain to the trust root;
* the document timestamps after the last signature (PAdES B-LTA): each intact and
  trusted, the last covering the whole file, and between the last signature and
  the end of the file nothing but validation data (DSS) and timestamps — pyHanko's
  difference analysis (:class:`~pyhanko.sign.diff_analysis.ModificationLevel`
  ``LTA_UPDATES``) decides this;
* who signed with which meaning: field ↔ meaning ↔ /Reason, signing order,
  three different people, and — when the document names its signatories —
  that each signer is the assigned user;
* the embedded content record: its SHA-256 equals the hash in the PDF keywords
  (the one the QR code carries) and its number equals the keyword number.

Nothing raises on a bad or tampered file: the report says what failed and why,
and whether the file was altered (:attr:`VerificationReport.altered`) or only
cannot be shown to come from the given trust root.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from asn1crypto import x509 as asn1_x509  # type: ignore[import-untyped]
from cryptography import x509

from lims.certificates.model import Meaning
from lims.certificates.render import CONTENT_ATTACHMENT, KEYWORD_HASH, KEYWORD_NUMBER
from lims.certificates.render import SIGNATURE_FIELDS as _FIELDS
from lims.certificates.verify_cms import (
    container_problems,
    foreign_certificates,
    padding_problems,
    timestamp_container_problems,
)

__all__ = ["SignatureCheck", "TimestampCheck", "VerificationReport", "verify_pdf"]

log = logging.getLogger(__name__)

_FIELD_MEANING = {name: meaning for meaning, name in _FIELDS.items()}


@dataclass(frozen=True)
class SignatureCheck:
    """The verdict on one embedded signature."""

    field_name: str
    meaning: Meaning | None
    signer_name: str
    signer_user_id: str
    signed_at: datetime | None
    """Signing time claimed by the signer (UTC)."""
    reason: str
    intact: bool
    valid: bool
    trusted: bool
    coverage: str
    modification_level: str
    ok: bool
    problems: tuple[str, ...]
    timestamp: datetime | None = None
    """Time of the signature's RFC 3161 timestamp (UTC), when it carries a valid one."""
    altered: bool = False
    """The signed bytes, the signature or its container were changed (not just untrusted)."""


@dataclass(frozen=True)
class TimestampCheck:
    """The verdict on one document timestamp (PAdES B-LTA)."""

    field_name: str
    tsa_name: str
    timestamp: datetime | None
    intact: bool
    trusted: bool
    coverage: str
    ok: bool
    problems: tuple[str, ...]
    altered: bool = False


@dataclass(frozen=True)
class VerificationReport:
    """The result of :func:`verify_pdf`; ``ok`` only if every check holds."""

    ok: bool
    certificate_number: str | None
    content_hash: str | None
    """SHA-256 of the embedded content record (``None`` if it cannot be read)."""
    declared_hash: str | None
    """The hash written in the PDF keywords (what the QR code carries)."""
    simulated: bool | None
    signatures: tuple[SignatureCheck, ...]
    unsigned_fields: tuple[str, ...]
    problems: tuple[str, ...] = field(default=())
    content_record: dict[str, Any] | None = None
    timestamps: tuple[TimestampCheck, ...] = ()
    """Document timestamps after the last signature."""
    validation_data: bool = False
    """The file carries a DSS with CRLs (long-term validation data)."""
    altered: bool = False
    """The file is not as signed: bytes, signatures, containers or content record changed."""

    @property
    def long_term(self) -> bool:
        """PAdES B-LTA: every signature timestamped, validation data, a valid document
        timestamp."""
        return (
            bool(self.signatures)
            and all(s.timestamp is not None for s in self.signatures)
            and self.validation_data
            and bool(self.timestamps)
            and all(t.ok for t in self.timestamps)
        )

    @property
    def signed_meanings(self) -> tuple[Meaning, ...]:
        """Meanings of the signatures present, in document order."""
        return tuple(s.meaning for s in self.signatures if s.meaning is not None)

    def summary(self) -> str:
        """One line per finding, starting with the overall result."""
        head = "OK" if self.ok else "FAILED"
        lines = [f"{head}: certificate {self.certificate_number or '?'}"]
        for s in self.signatures:
            state = "valid" if s.ok else "INVALID"
            stamp = f", timestamp {s.timestamp}" if s.timestamp else ""
            lines.append(
                f"  {s.field_name} ({s.meaning.value if s.meaning else '?'}): {state}, "
                f"{s.signer_name} [{s.signer_user_id}], {s.signed_at}{stamp}"
            )
            lines += [f"    - {p}" for p in s.problems]
        for t in self.timestamps:
            state = "valid" if t.ok else "INVALID"
            lines.append(
                f"  {t.field_name} (document timestamp): {state}, {t.tsa_name}, {t.timestamp}"
            )
            lines += [f"    - {p}" for p in t.problems]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


def verify_pdf(
    pdf_bytes: bytes,
    trust_roots: Sequence[x509.Certificate | bytes],
    *,
    require_complete: bool = True,
    at: datetime | None = None,
) -> VerificationReport:
    """Verify a certificate PDF against the given trust roots (certificates or PEM bytes).

    With ``require_complete`` (default) all three signatures must be present;
    a draft in the middle of signing can be checked with ``require_complete=False``.
    ``at`` is the time of verification (default now). A signer's certificate that is no
    longer valid then is accepted if it was valid at the time its trusted RFC 3161
    timestamp proves the signature existed.
    """
    problems: list[str] = []
    try:
        roots = [_to_asn1(r) for r in trust_roots]
    except ValueError as exc:
        return _failed(f"trust root unusable: {exc}")
    if not roots:
        return _failed("no trust root given: pass the lab CA certificate")
    try:
        from pyhanko.pdf_utils.reader import PdfFileReader
        from pyhanko.sign.fields import enumerate_sig_fields

        reader = PdfFileReader(io.BytesIO(pdf_bytes), strict=True)
        embedded = list(reader.embedded_signatures)
        fields = [name for name, _v, _r in enumerate_sig_fields(reader)]
        info_ref = reader.trailer_view.get("/Info")
        info = info_ref.get_object() if info_ref is not None else {}
        keywords = str(info.get("/Keywords", "")) if info else ""
    except Exception as exc:
        log.info("cannot read the PDF to verify", exc_info=exc)
        return _failed(f"cannot read the PDF: {type(exc).__name__}: {exc}")

    number, declared = _parse_keywords(keywords)
    record: dict[str, Any] | None = None
    content_hash: str | None = None
    try:
        from lims.certificates.signing import _embedded_file

        data = _embedded_file(reader, CONTENT_ATTACHMENT)
        content_hash = hashlib.sha256(data).hexdigest()
        record = json.loads(data)
    except Exception as exc:
        problems.append(f"embedded content record unreadable: {exc}")
    if content_hash is not None:
        if declared is None:
            problems.append("the PDF does not declare its content hash (keywords)")
        elif declared != content_hash:
            problems.append(
                f"content hash mismatch: the PDF declares {declared}, "
                f"the embedded record hashes to {content_hash}"
            )
    if record is not None and number is not None and record.get("number") != number:
        problems.append(
            f"certificate number mismatch: keywords {number!r}, record {record.get('number')!r}"
        )

    checks: list[SignatureCheck] = []
    last_regular = max((i for i, e in enumerate(embedded) if not _is_doc_timestamp(e)), default=-1)
    stamps: list[TimestampCheck] = []
    for index, emb in enumerate(embedded):
        if _is_doc_timestamp(emb):
            if index < last_regular:
                problems.append(f"document timestamp {emb.field_name!r} precedes a signature")
            stamps.append(
                _check_doc_timestamp(emb, roots, is_last=index == len(embedded) - 1, at=at)
            )
            continue
        try:
            check = _check_signature(
                emb,
                roots,
                record,
                is_last=index == len(embedded) - 1,
                lta_follows=index == last_regular and index < len(embedded) - 1,
                at=at,
            )
        except Exception as exc:  # a damaged signature must be reported, never crash
            log.info("signature unreadable", exc_info=exc)
            check = _broken_signature(emb, f"signature unreadable: {type(exc).__name__}: {exc}")
        checks.append(check)
    signed_fields = {c.field_name for c in checks}
    unsigned = tuple(f for f in _FIELDS.values() if f not in signed_fields)
    for name in _FIELDS.values():
        if name not in fields:
            problems.append(f"signature field {name!r} is missing")
    if not checks:
        problems.append("the PDF carries no signature")
    if require_complete and unsigned:
        problems.append(f"not all signatures present: unsigned {', '.join(unsigned)}")
    order = [c.meaning.order for c in checks if c.meaning is not None]
    if order != sorted(order) or order != list(range(len(order))):
        problems.append(
            "signing order violated: expected performed → reviewed → approved, got "
            + " → ".join(c.meaning.value if c.meaning else c.field_name for c in checks)
        )
    users = [c.signer_user_id for c in checks]
    if len(set(users)) != len(users):
        problems.append(f"the same person signed more than once: {users}")
    ok = not problems and all(c.ok for c in checks) and bool(checks) and all(t.ok for t in stamps)
    altered = (
        any(c.altered for c in checks)
        or any(t.altered for t in stamps)
        or any(p.startswith(_ALTERED_PREFIXES) for p in problems)
    )
    if altered:
        # an altered file is reported as altered; a chain failure is then its consequence
        checks = [_without_chain_findings(c) for c in checks]
        stamps = [_without_chain_findings(t) for t in stamps]
    return VerificationReport(
        ok=ok,
        certificate_number=number if number is not None else _record_str(record, "number"),
        content_hash=content_hash,
        declared_hash=declared,
        simulated=bool(record.get("simulated")) if record is not None else None,
        signatures=tuple(checks),
        unsigned_fields=unsigned,
        problems=tuple(problems),
        content_record=record,
        timestamps=tuple(stamps),
        validation_data=_has_validation_data(reader),
        altered=altered,
    )


#: Report-level problems that mean the file was changed after signing.
_ALTERED_PREFIXES = (
    "content hash mismatch",
    "certificate number mismatch",
    "embedded content record unreadable",
    "document timestamp",
    "signing order violated",
)


_Check = TypeVar("_Check", SignatureCheck, TimestampCheck)

#: Words of the findings that say a part is not the given lab CA's (not that it was changed).
_CHAIN_FINDINGS = ("does not chain", "is not issued by the given lab CA")


def _without_chain_findings(check: _Check) -> _Check:
    kept = tuple(p for p in check.problems if not any(m in p for m in _CHAIN_FINDINGS))
    return replace(check, problems=kept) if kept != check.problems else check


def _is_doc_timestamp(emb: Any) -> bool:
    try:
        return str(emb.sig_object_type) == "/DocTimeStamp"
    except Exception:
        return False


def _has_validation_data(reader: Any) -> bool:
    try:
        dss = reader.root.get("/DSS")
        return dss is not None and len(dss.get_object().get("/CRLs", [])) > 0
    except Exception:
        return False


def _context(roots: list[Any], moment: datetime | None = None) -> Any:
    from pyhanko_certvalidator import ValidationContext

    return ValidationContext(
        trust_roots=roots, allow_fetching=False, revocation_mode="soft-fail", moment=moment
    )


def _check_signature(
    emb: Any,
    roots: list[Any],
    record: dict[str, Any] | None,
    *,
    is_last: bool,
    lta_follows: bool,
    at: datetime | None = None,
) -> SignatureCheck:
    from pyhanko.sign.diff_analysis import ModificationLevel
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel

    from lims.certificates.pki import _subject_identity
    from lims.certificates.signing import signature_reason

    problems: list[str] = []
    altered: list[str] = []
    field_name = str(emb.field_name)
    meaning = _FIELD_MEANING.get(field_name)
    reason = str(emb.sig_object.get("/Reason", ""))
    try:
        cert = x509.load_der_x509_certificate(emb.signer_cert.dump())
        user_id, name = _subject_identity(cert)
    except Exception as exc:
        user_id, name = "?", "?"
        altered.append(f"signer certificate unreadable: {exc}")
    signed_at: datetime | None = None
    try:
        reported = emb.self_reported_timestamp
        signed_at = reported.astimezone(UTC) if reported is not None else None
    except Exception as exc:
        altered.append(f"signature attributes unreadable: {exc}")
    intact = valid = trusted = False
    coverage = modification = "unknown"
    stamped_at: datetime | None = None
    try:
        status = validate_pdf_signature(
            emb,
            signer_validation_context=_context(roots, at),
            ts_validation_context=_context(roots, at),
        )
        intact, valid, trusted = bool(status.intact), bool(status.valid), bool(status.trusted)
        ts = status.timestamp_validity
        if intact and valid and not trusted and ts is not None and ts.trusted and ts.valid:
            # the timestamp proves the signature existed at ts.timestamp: check the chain then
            then = validate_pdf_signature(
                emb,
                signer_validation_context=_context(roots, ts.timestamp),
                ts_validation_context=_context(roots, at),
                skip_diff=True,
            )
            trusted = bool(then.trusted)
        coverage = status.coverage.name if status.coverage is not None else "unknown"
        level = status.modification_level
        modification = level.name if level is not None else "unknown"
        if not intact:
            altered.append("the signed bytes were altered (digest mismatch)")
        elif not valid:
            altered.append("the cryptographic signature does not verify")
        elif not trusted:
            problems.append(
                "the signer's certificate does not chain to the given lab CA "
                "(or is not valid for signing at the signing time)"
            )
        if ts is not None:
            if not (ts.intact and ts.valid):
                altered.append("the signature timestamp does not match the signature")
            elif not ts.trusted:
                problems.append("the signature timestamp's TSA does not chain to the given lab CA")
            else:
                stamped_at = ts.timestamp.astimezone(UTC)
        if status.docmdp_ok is False:
            altered.append("changes after this signature violate the certification (DocMDP)")
        allowed = ModificationLevel.LTA_UPDATES if lta_follows else ModificationLevel.FORM_FILLING
        if is_last and status.coverage is not SignatureCoverageLevel.ENTIRE_FILE:
            altered.append("the file was changed after the last signature")
        elif level is not None and level > allowed:
            altered.append(
                "the file was changed after the last signature beyond validation data and "
                f"timestamps ({level.name})"
                if lta_follows
                else f"disallowed modifications after this signature ({level.name})"
            )
        if status.coverage not in (
            SignatureCoverageLevel.ENTIRE_FILE,
            SignatureCoverageLevel.ENTIRE_REVISION,
        ):
            altered.append(f"the signature covers only part of its revision ({coverage})")
    except Exception as exc:
        log.info("signature %s cannot be validated", field_name, exc_info=exc)
        altered.append(f"signature cannot be validated: {type(exc).__name__}: {exc}")
    altered += padding_problems(emb)
    altered += container_problems(emb, roots)
    problems += foreign_certificates(emb, roots)
    if meaning is None:
        problems.append(f"unexpected signature field {field_name!r}")
    else:
        if reason != signature_reason(meaning):
            altered.append(
                f"the signature's stated meaning {reason!r} does not match field {field_name!r}"
            )
        assigned = _assigned(record, meaning)
        if assigned is not None and assigned != user_id:
            problems.append(
                f"{meaning.value}: signed by {user_id!r} but the certificate names {assigned!r}"
            )
    every = altered + problems
    return SignatureCheck(
        field_name=field_name,
        meaning=meaning,
        signer_name=name,
        signer_user_id=user_id,
        signed_at=signed_at,
        reason=reason,
        intact=intact,
        valid=valid,
        trusted=trusted,
        coverage=coverage,
        modification_level=modification,
        ok=not every,
        problems=tuple(every),
        timestamp=stamped_at,
        altered=bool(altered),
    )


def _check_doc_timestamp(
    emb: Any, roots: list[Any], *, is_last: bool, at: datetime | None = None
) -> TimestampCheck:
    """A document timestamp: intact, by a TSA of the trust root, the last covering the file."""
    from pyhanko.sign.diff_analysis import ModificationLevel
    from pyhanko.sign.validation import validate_pdf_timestamp
    from pyhanko.sign.validation.status import SignatureCoverageLevel

    field_name = str(getattr(emb, "field_name", "?"))
    altered: list[str] = []
    problems: list[str] = []
    tsa_name = "?"
    when: datetime | None = None
    intact = trusted = False
    coverage = "unknown"
    try:
        tsa_name = emb.signer_cert.subject.native.get("common_name", "?")
        status = validate_pdf_timestamp(emb, validation_context=_context(roots, at))
        intact, trusted = bool(status.intact and status.valid), bool(status.trusted)
        coverage = status.coverage.name if status.coverage is not None else "unknown"
        when = status.timestamp.astimezone(UTC)
        if not intact:
            altered.append("document timestamp: the timestamped bytes were altered")
        elif not trusted:
            problems.append("document timestamp: the TSA does not chain to the given lab CA")
        if is_last and status.coverage is not SignatureCoverageLevel.ENTIRE_FILE:
            altered.append("document timestamp: the file was changed after it")
        level = status.modification_level
        if level is not None and level > ModificationLevel.LTA_UPDATES:
            altered.append(f"document timestamp: disallowed changes after it ({level.name})")
    except Exception as exc:
        log.info("document timestamp %s cannot be validated", field_name, exc_info=exc)
        altered.append(f"document timestamp cannot be validated: {type(exc).__name__}: {exc}")
    altered += padding_problems(emb)
    altered += timestamp_container_problems(emb, roots)
    problems += foreign_certificates(emb, roots)
    every = altered + problems
    return TimestampCheck(
        field_name=field_name,
        tsa_name=str(tsa_name),
        timestamp=when,
        intact=intact,
        trusted=trusted,
        coverage=coverage,
        ok=not every,
        problems=tuple(every),
        altered=bool(altered),
    )


def _broken_signature(emb: Any, reason: str) -> SignatureCheck:
    try:
        field_name = str(emb.field_name)
    except Exception:
        field_name = "?"
    return SignatureCheck(
        field_name=field_name,
        meaning=_FIELD_MEANING.get(field_name),
        signer_name="?",
        signer_user_id="?",
        signed_at=None,
        reason="",
        intact=False,
        valid=False,
        trusted=False,
        coverage="unknown",
        modification_level="unknown",
        ok=False,
        problems=(reason,),
        altered=True,
    )


def _assigned(record: dict[str, Any] | None, meaning: Meaning) -> str | None:
    if record is None:
        return None
    for s in record.get("signatories") or []:
        if isinstance(s, dict) and s.get("meaning") == meaning.value:
            uid = s.get("user_id")
            return str(uid) if uid is not None else None
    return None


def _parse_keywords(keywords: str) -> tuple[str | None, str | None]:
    number = declared = None
    for part in keywords.replace(";", ",").split(","):
        part = part.strip()
        if part.startswith(KEYWORD_NUMBER):
            number = part[len(KEYWORD_NUMBER) :]
        elif part.startswith(KEYWORD_HASH):
            declared = part[len(KEYWORD_HASH) :]
    return number, declared


def _record_str(record: dict[str, Any] | None, key: str) -> str | None:
    if record is None or not isinstance(record.get(key), str):
        return None
    return str(record[key])


def _to_asn1(root: x509.Certificate | bytes) -> Any:
    from cryptography.hazmat.primitives import serialization

    if isinstance(root, bytes):
        root = x509.load_pem_x509_certificate(root)
    return asn1_x509.Certificate.load(root.public_bytes(serialization.Encoding.DER))


def _failed(reason: str) -> VerificationReport:
    return VerificationReport(
        ok=False,
        certificate_number=None,
        content_hash=None,
        declared_hash=None,
        simulated=None,
        signatures=(),
        unsigned_fields=tuple(_FIELDS.values()),
        problems=(reason,),
    )
