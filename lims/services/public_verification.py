"""What the lab tells anyone about a certificate: its state, and whether a file is genuine.

The public verification page (the address in a certificate's QR code) and its
upload form read through this module only, and it is also the one place that
calls the certificate verifier for them, so that a new verifier is switched in
here:

* :func:`public_certificate` — the state of a number (issued, superseded by …,
  revoked with the reason, or unknown: drafts and rejected certificates are as
  unknown as numbers never taken), the lab, the item, the customer masked, the
  dates, whether the certificate is simulated, and whether the hash from the QR
  code matches the record;
* :func:`verify_upload` — a PDF or DCC checked by the same verifier as
  ``lims certificate verify``
  (:func:`lims.services.certificate_verification.verify_certificate_file`), its
  verdict (:mod:`lims.certificates.verdict`) stated as one :class:`UploadVerdict`;
* :func:`lab_ca_pem` and :func:`published_status_list` — what a third party needs
  to verify offline;
* :func:`verification_address` — the address a QR code carries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.certificates.render import verification_address
from lims.certificates.verdict import FileVerdict
from lims.config import DEFAULT_VERIFICATION_BASE_URL
from lims.db import Database
from lims.models.certificates import Certificate
from lims.models.enums import CertificateStatus, CertificateType
from lims.models.lab import LabProfile
from lims.models.runs import Run
from lims.services.certificate_verification import verify_certificate_file
from lims.services.signing_keys import trust_roots
from lims.vocabulary import BiText

__all__ = [
    "DEFAULT_PORTAL_URL",
    "HashCheck",
    "LabHeader",
    "PortalHint",
    "PublicCertificate",
    "PublicState",
    "UploadVerdict",
    "UploadVerification",
    "lab_ca_pem",
    "lab_header",
    "mask_name",
    "mask_serial",
    "portal_hint",
    "public_certificate",
    "published_status_list",
    "verification_address",
    "verify_upload",
]

#: Longest certificate number looked up (the column holds 64 characters).
MAX_NUMBER_LENGTH = 64
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


class PublicState(StrEnum):
    """What the public learns about a certificate number."""

    ISSUED = "issued"
    SUPERSEDED = "superseded"
    REVOKED = "revoked"
    UNKNOWN = "unknown"

    @property
    def caption(self) -> BiText:
        """The state in Chinese and English."""
        return _STATE_TEXT[self]


_STATE_TEXT = {
    PublicState.ISSUED: BiText("有效（已签发）", "issued and in force"),
    PublicState.SUPERSEDED: BiText("已被替代", "superseded"),
    PublicState.REVOKED: BiText("已撤销", "revoked"),
    PublicState.UNKNOWN: BiText("未找到", "unknown"),
}
_PUBLIC = {
    CertificateStatus.ISSUED: PublicState.ISSUED,
    CertificateStatus.SUPERSEDED: PublicState.SUPERSEDED,
    CertificateStatus.REVOKED: PublicState.REVOKED,
}


class HashCheck(StrEnum):
    """Whether the content hash from the QR code is the record's."""

    MATCH = "match"
    MISMATCH = "mismatch"
    ABSENT = "absent"

    @property
    def caption(self) -> BiText:
        """The outcome in Chinese and English."""
        return _HASH_TEXT[self]


_HASH_TEXT = {
    HashCheck.MATCH: BiText("二维码与记录一致", "the QR code matches the record"),
    HashCheck.MISMATCH: BiText(
        "二维码与记录不一致：该纸质证书可能被篡改或伪造",
        "the QR code does not match the record: the printed certificate may be altered or forged",
    ),
    HashCheck.ABSENT: BiText("未提供二维码哈希", "no QR-code hash given"),
}


@dataclass(frozen=True)
class LabHeader:
    """The lab as the portal names it on every page."""

    name_zh: str
    name_en: str
    accreditation_number: str


@dataclass(frozen=True)
class PublicCertificate:
    """The public facts of one certificate number."""

    number: str
    state: PublicState
    hash_check: HashCheck
    type: CertificateType | None = None
    lab_zh: str = ""
    lab_en: str = ""
    accreditation_number: str = ""
    item_zh: str = ""
    item_en: str = ""
    manufacturer: str = ""
    model: str = ""
    serial_number: str = ""
    """Shown in full only when the QR hash matches; else masked."""
    customer: str = ""
    """Always masked."""
    performed_on: date | None = None
    issued_at: datetime | None = None
    valid_until: date | None = None
    simulated: bool = False
    superseded_by: str | None = None
    replaces: str | None = None
    reason: str = ""
    """Why it was revoked or superseded."""

    @property
    def type_caption(self) -> BiText | None:
        """The certificate type in Chinese and English."""
        return self.type.caption if self.type is not None else None


def mask_name(name: str) -> str:
    """A customer name with most characters hidden: ``华北***公司 N*** C*** P***``."""
    out: list[str] = []
    for word in name.split():
        if any(ord(ch) > 0x2E7F for ch in word):  # CJK: keep two characters at each end
            out.append(word[:2] + "***" + word[-2:] if len(word) > 4 else word[:1] + "***")
        else:
            out.append(word[:1] + "***")
    return " ".join(out)


def mask_serial(serial: str) -> str:
    """A serial number with all but its last four characters hidden."""
    if len(serial) <= 4:
        return "*" * len(serial)
    return "*" * (len(serial) - 4) + serial[-4:]


def lab_header(session: Session) -> LabHeader:
    """The lab's names and accreditation number (from the lab profile)."""
    lab = session.scalars(select(LabProfile).order_by(LabProfile.id)).first()
    if lab is None:
        return LabHeader("校准实验室", "Calibration laboratory", "")
    return LabHeader(lab.name_zh, lab.name_en, lab.accreditation_number)


def _text(block: Any, key: str) -> str:
    value = block.get(key) if isinstance(block, dict) else None
    return str(value) if value is not None else ""


def _hash_check(qr_hash: str | None, record_hash: str) -> HashCheck:
    if not qr_hash:
        return HashCheck.ABSENT
    if _HEX64.match(qr_hash) and qr_hash.lower() == record_hash.lower():
        return HashCheck.MATCH
    return HashCheck.MISMATCH


def public_certificate(session: Session, number: str, qr_hash: str | None) -> PublicCertificate:
    """The public facts of ``number``; UNKNOWN for anything never issued."""
    number = number.strip()
    cert = None
    if 0 < len(number) <= MAX_NUMBER_LENGTH:
        cert = session.scalars(
            select(Certificate).where(
                Certificate.number == number, Certificate.status.in_(list(_PUBLIC))
            )
        ).one_or_none()
    if cert is None:
        return PublicCertificate(number[:MAX_NUMBER_LENGTH], PublicState.UNKNOWN, HashCheck.ABSENT)
    content = cert.content or {}
    lab = content.get("laboratory") or {}
    item = content.get("item") or {}
    description = item.get("description") or {}
    dates = content.get("dates") or {}
    check = _hash_check(qr_hash, cert.content_sha256)
    successor = session.scalars(
        select(Certificate.number)
        .where(
            Certificate.replaces_id == cert.id,
            Certificate.status.in_([CertificateStatus.ISSUED, CertificateStatus.SUPERSEDED]),
        )
        .order_by(Certificate.id)
    ).first()
    replaced = session.get(Certificate, cert.replaces_id) if cert.replaces_id else None
    simulated = bool(content.get("simulated")) or bool(
        session.scalar(select(Run.simulated).where(Run.id == cert.run_id))
    )
    performed = dates.get("performance_end") or dates.get("performance_start")
    serial = _text(item, "serial_number")
    return PublicCertificate(
        number=cert.number,
        state=_PUBLIC[CertificateStatus(cert.status)],
        hash_check=check,
        type=CertificateType(cert.type),
        lab_zh=_text(lab.get("name"), "zh"),
        lab_en=_text(lab.get("name"), "en"),
        accreditation_number=_text(lab, "accreditation_number"),
        item_zh=_text(description, "zh"),
        item_en=_text(description, "en"),
        manufacturer=_text(item, "manufacturer"),
        model=_text(item, "model"),
        serial_number=serial if check is HashCheck.MATCH else mask_serial(serial),
        customer=mask_name(_text(content.get("customer"), "name")),
        performed_on=date.fromisoformat(performed) if isinstance(performed, str) else None,
        issued_at=cert.issued_at,
        valid_until=cert.valid_until,
        simulated=simulated,
        superseded_by=successor,
        replaces=replaced.number if replaced is not None else None,
        reason=cert.status_reason
        if cert.status in (CertificateStatus.REVOKED, CertificateStatus.SUPERSEDED)
        else "",
    )


# --------------------------------------------------------------------------- uploaded files


class UploadVerdict(StrEnum):
    """The one-word outcome of verifying an uploaded certificate file."""

    VALID = "valid"
    SIMULATED = "simulated"
    SUPERSEDED = "superseded"
    REVOKED = "revoked"
    INVALID = "invalid"
    UNKNOWN = "unknown"

    @property
    def caption(self) -> BiText:
        """The outcome in Chinese and English."""
        return _VERDICT_TEXT[self]


_VERDICT_TEXT = {
    UploadVerdict.VALID: BiText(
        "有效：签名完整，内容与实验室记录一致", "VALID: signatures intact, content as recorded"
    ),
    UploadVerdict.SIMULATED: BiText(
        "模拟：签名与内容完整，但这是模拟数据，不是有效证书",
        "SIMULATED: signatures and content intact, but NOT A VALID CERTIFICATE",
    ),
    UploadVerdict.SUPERSEDED: BiText(
        "文件完整，但证书已被替代", "the file is intact, but the certificate is superseded"
    ),
    UploadVerdict.REVOKED: BiText(
        "文件完整，但证书已撤销", "the file is intact, but the certificate is revoked"
    ),
    UploadVerdict.INVALID: BiText(
        "无效：文件被改动或签名不成立", "INVALID: the file was altered or a signature fails"
    ),
    UploadVerdict.UNKNOWN: BiText(
        "未知：不是本实验室记录的证书", "UNKNOWN: not a certificate in this lab's records"
    ),
}


#: The shared verdict (:mod:`lims.certificates.verdict`) as the upload page states it.
_UPLOAD = {
    FileVerdict.VALID: UploadVerdict.VALID,
    FileVerdict.SIMULATED: UploadVerdict.SIMULATED,
    FileVerdict.SUPERSEDED: UploadVerdict.SUPERSEDED,
    FileVerdict.REVOKED: UploadVerdict.REVOKED,
    FileVerdict.ALTERED: UploadVerdict.INVALID,
    FileVerdict.UNVERIFIABLE: UploadVerdict.UNKNOWN,
}


@dataclass(frozen=True)
class SignatureLine:
    """One signature of an uploaded file as the page lists it."""

    meaning: BiText | None
    signer: str
    signed_at: datetime | None
    ok: bool


@dataclass(frozen=True)
class UploadVerification:
    """The outcome of :func:`verify_upload`."""

    verdict: UploadVerdict
    kind: str
    number: str | None
    signatures: tuple[SignatureLine, ...]
    problems: tuple[str, ...]


def verify_upload(db: Database, data: bytes, filename: str) -> UploadVerification:
    """Verify an uploaded PDF or DCC against the lab's CA and records (nothing is stored)."""
    result = verify_certificate_file(db, data, filename)
    report = result.report
    number = result.number
    signatures = tuple(
        SignatureLine(s.meaning.statement if s.meaning else None, s.signer_name, s.signed_at, s.ok)
        for s in (report.signatures if report is not None else ())
    )
    check = result.check
    if check is None or check.verdict in (FileVerdict.ALTERED, FileVerdict.UNVERIFIABLE):
        in_records = result.status is not None
        verdict = UploadVerdict.INVALID if in_records or report is None else UploadVerdict.UNKNOWN
        if check is not None and check.verdict is FileVerdict.ALTERED:
            verdict = UploadVerdict.INVALID
    else:
        verdict = _UPLOAD[check.verdict]
    return UploadVerification(verdict, result.kind, number, signatures, result.problems)


# --------------------------------------------------------------------------- for offline checks


def lab_ca_pem(session: Session) -> bytes:
    """Every CA certificate the lab has signed with, PEM-encoded, oldest first."""
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in trust_roots(session))


def published_status_list(path: Path | None) -> bytes | None:
    """The signed status list the lab last published to ``path`` (None when there is none)."""
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError:
        return None


#: Where ``lims portal serve`` listens by default.
DEFAULT_PORTAL_URL = DEFAULT_VERIFICATION_BASE_URL


@dataclass(frozen=True)
class PortalHint:
    """How to open a lab's portal: the command, and one certificate's verification address."""

    command: str
    verification_address: str | None


def portal_hint(db: Database, data_dir: Path, base_url: str = DEFAULT_PORTAL_URL) -> PortalHint:
    """The command that serves the portal on ``data_dir``'s lab, and the QR address of its
    newest issued certificate (None when none is issued)."""
    parts = urlsplit(base_url)
    command = (
        f"LIMS_DATA_DIR={data_dir} lims portal serve --host {parts.hostname or '127.0.0.1'} "
        f"--port {parts.port or 8080}"
    )
    with db.read() as session:
        newest = session.execute(
            select(Certificate.number, Certificate.content_sha256)
            .where(Certificate.status == CertificateStatus.ISSUED)
            .order_by(Certificate.issued_at.desc(), Certificate.id.desc())
            .limit(1)
        ).one_or_none()
    address = verification_address(base_url, newest[0], newest[1]) if newest else None
    return PortalHint(command, address)
