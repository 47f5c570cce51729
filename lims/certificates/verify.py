"""Offline verification of a certificate PDF.

:func:`verify_pdf` checks, with the lab CA given explicitly as trust root:

* every signature: integrity of the signed bytes, the CMS signature, the chain
  of the signer's certificate to a trust root, the coverage (the last signature
  covers the whole file; earlier ones allow only later signatures and form
  filling), the DocMDP rules of the certifying signature, the /Contents padding;
* who signed with which meaning: field ↔ meaning ↔ /Reason, signing order,
  three different people, and — when the document names its signatories —
  that each signer is the assigned user;
* the embedded content record: its SHA-256 equals the hash in the PDF keywords
  (the one the QR code carries) and its number equals the keyword number.

Nothing raises on a bad or tampered file: the report says what failed and why.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from asn1crypto import cms  # type: ignore[import-untyped]
from asn1crypto import x509 as asn1_x509
from cryptography import x509

from lims.certificates.model import Meaning
from lims.certificates.render import CONTENT_ATTACHMENT, KEYWORD_HASH, KEYWORD_NUMBER
from lims.certificates.render import SIGNATURE_FIELDS as _FIELDS

__all__ = ["SignatureCheck", "VerificationReport", "verify_pdf"]

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
            lines.append(
                f"  {s.field_name} ({s.meaning.value if s.meaning else '?'}): {state}, "
                f"{s.signer_name} [{s.signer_user_id}], {s.signed_at}"
            )
            lines += [f"    - {p}" for p in s.problems]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


def verify_pdf(
    pdf_bytes: bytes,
    trust_roots: Sequence[x509.Certificate | bytes],
    *,
    require_complete: bool = True,
) -> VerificationReport:
    """Verify a certificate PDF against the given trust roots (certificates or PEM bytes).

    With ``require_complete`` (default) all three signatures must be present;
    a draft in the middle of signing can be checked with ``require_complete=False``.
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
    for index, emb in enumerate(embedded):
        try:
            check = _check_signature(
                emb, roots, record, is_last=index == len(embedded) - 1, reader=reader
            )
        except Exception as exc:  # a damaged signature must be reported, never crash
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
    ok = not problems and all(c.ok for c in checks) and bool(checks)
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
    )


def _check_signature(
    emb: Any, roots: list[Any], record: dict[str, Any] | None, *, is_last: bool, reader: Any
) -> SignatureCheck:
    from pyhanko.sign.diff_analysis import ModificationLevel
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    from lims.certificates.pki import _subject_identity
    from lims.certificates.signing import signature_reason

    problems: list[str] = []
    field_name = str(emb.field_name)
    meaning = _FIELD_MEANING.get(field_name)
    reason = str(emb.sig_object.get("/Reason", ""))
    try:
        cert = x509.load_der_x509_certificate(emb.signer_cert.dump())
        user_id, name = _subject_identity(cert)
    except Exception as exc:
        user_id, name = "?", "?"
        problems.append(f"signer certificate unreadable: {exc}")
    signed_at: datetime | None = None
    try:
        reported = emb.self_reported_timestamp
        signed_at = reported.astimezone(UTC) if reported is not None else None
    except Exception as exc:
        problems.append(f"signature attributes unreadable: {exc}")
    intact = valid = trusted = False
    coverage = modification = "unknown"
    try:
        context = ValidationContext(
            trust_roots=roots, allow_fetching=False, revocation_mode="soft-fail"
        )
        status = validate_pdf_signature(emb, signer_validation_context=context)
        intact, valid, trusted = bool(status.intact), bool(status.valid), bool(status.trusted)
        coverage = status.coverage.name if status.coverage is not None else "unknown"
        level = status.modification_level
        modification = level.name if level is not None else "unknown"
        if not intact:
            problems.append("the signed bytes were altered (digest mismatch)")
        elif not valid:
            problems.append("the cryptographic signature does not verify")
        if not trusted:
            problems.append(
                "the signer's certificate does not chain to the given lab CA "
                "(or is not valid for signing at the signing time)"
            )
        if status.docmdp_ok is False:
            problems.append("changes after this signature violate the certification (DocMDP)")
        if is_last and status.coverage is not SignatureCoverageLevel.ENTIRE_FILE:
            problems.append("the file was changed after the last signature")
        if level is not None and level > ModificationLevel.FORM_FILLING:
            problems.append(f"disallowed modifications after this signature ({level.name})")
        if status.coverage not in (
            SignatureCoverageLevel.ENTIRE_FILE,
            SignatureCoverageLevel.ENTIRE_REVISION,
        ):
            problems.append(f"the signature covers only part of its revision ({coverage})")
    except Exception as exc:
        problems.append(f"signature cannot be validated: {type(exc).__name__}: {exc}")
    problems += _padding_problems(emb)
    problems += _container_problems(emb, roots)
    if meaning is None:
        problems.append(f"unexpected signature field {field_name!r}")
    else:
        if reason != signature_reason(meaning):
            problems.append(
                f"the signature's stated meaning {reason!r} does not match field {field_name!r}"
            )
        assigned = _assigned(record, meaning)
        if assigned is not None and assigned != user_id:
            problems.append(
                f"{meaning.value}: signed by {user_id!r} but the certificate names {assigned!r}"
            )
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
        ok=not problems,
        problems=tuple(problems),
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
    )


def _container_problems(emb: Any, roots: list[Any]) -> list[str]:
    """Check the parts of the CMS container that no signature covers.

    The last signature's container is not protected by any later signature, and CMS
    leaves some fields unsigned. For the lab's own signatures they have one allowed
    form: SignedData and SignerInfo version 1, the signer's digest algorithm as the
    only one listed, no CRLs, no unsigned attributes, detached ``data`` content, and
    only certificates that are a trust root or issued by one.
    """
    from cryptography.exceptions import InvalidSignature

    try:
        sd = emb.signed_data
        si = emb.signer_info
        problems = []
        if sd["version"].native != "v1" or si["version"].native != "v1":
            problems.append("unexpected CMS version in the signature container")
        algorithms = [a.dump() for a in sd["digest_algorithms"]]
        if algorithms != [si["digest_algorithm"].dump()]:
            problems.append("the container's digest algorithm list was altered")
        sid = si["sid"]
        signer = emb.signer_cert
        if sid.name != "issuer_and_serial_number" or (
            sid.chosen["issuer"].dump() != signer["tbs_certificate"]["issuer"].dump()
            or sid.chosen["serial_number"].native != signer.serial_number
        ):
            problems.append("the signer identifier in the signature container was altered")
        if sd["crls"].native:
            problems.append("unexpected CRLs in the signature container")
        if si["unsigned_attrs"].native:
            problems.append("unexpected unsigned attributes in the signature container")
        encap = sd["encap_content_info"]
        if encap["content_type"].native != "data" or encap["content"].native is not None:
            problems.append("unexpected encapsulated content in the signature container")
        for choice in sd["certificates"]:
            # The outer signature of a certificate is covered by nothing: its BIT STRING
            # must have no unused bits (verifiers would ignore a changed count).
            signature_value = choice.chosen["signature_value"]
            if signature_value.contents[:1] != b"\x00":
                problems.append("a certificate's signature encoding in the container was altered")
        root_ders = {r.dump() for r in roots}
        root_certs = [x509.load_der_x509_certificate(d) for d in root_ders]
        for choice in sd["certificates"]:
            der = choice.chosen.dump()
            if der in root_ders:
                continue
            cert = x509.load_der_x509_certificate(der)
            issued = False
            for root in root_certs:
                try:
                    cert.verify_directly_issued_by(root)
                    issued = True
                except (ValueError, TypeError, InvalidSignature):
                    continue
            if not issued:
                problems.append(
                    "a certificate in the signature container is neither the lab CA "
                    "nor issued by it (altered?)"
                )
        return problems
    except Exception as exc:
        return [f"signature container unreadable: {type(exc).__name__}: {exc}"]


def _padding_problems(emb: Any) -> list[str]:
    """/Contents must be the DER signature followed by zero padding only."""

    raw: bytes = emb.pkcs7_content
    try:
        info = cms.ContentInfo.load(raw, strict=False)
        der_len = len(info.dump(force=False))
        # The outer length must end exactly at the last inner element, not in the padding.
        inner = len(info["content_type"].dump()) + len(info["content"].dump())
    except Exception as exc:
        return [f"signature container unreadable: {exc}"]
    if der_len > len(raw) or any(raw[der_len:]) or inner != len(info.contents):
        return ["bytes were altered in the signature container (/Contents)"]
    return []


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
