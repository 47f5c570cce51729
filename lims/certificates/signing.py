"""PAdES signatures (B-B, or B-T with a timestamper) on certificate PDFs, with pyHanko.

:func:`sign_pdf` fills one of the three pre-created signature fields
(``Sig_performed`` → ``Sig_reviewed`` → ``Sig_approved``) as an incremental
update, so earlier signatures stay valid. The first signature (performed)
*certifies* the document with form filling allowed (DocMDP level 2); later ones
are approval signatures. Each is visible in its box: meaning in Chinese and
English, printed name and UTC time, drawn with the embedded CJK font.

The order and the "three different people" rule are enforced on the PDF itself
as well: a field can be signed only after the fields before it, and by a
certificate whose user id has not signed the document yet.
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from lims.certificates.errors import SigningError
from lims.certificates.fonts import register_fonts
from lims.certificates.model import CertificateType, Meaning
from lims.certificates.pki import LabSigner, _subject_identity
from lims.certificates.render import CONTENT_ATTACHMENT, SIGNATURE_FIELDS, signature_boxes
from lims.lab_time import local_date

__all__ = ["SignatureResult", "read_content_record", "sign_pdf", "signature_reason"]


@dataclass(frozen=True)
class SignatureResult:
    """A signed PDF and what to record about the signature (21 CFR 11.50/11.70)."""

    pdf: bytes
    meaning: Meaning
    field_name: str
    user_id: str
    printed_name: str
    signed_at: datetime
    """UTC time shown in the visible signature."""
    content_hash: str
    """SHA-256 of the embedded content record the signature binds."""
    pdf_sha256: str
    """SHA-256 of the signed PDF returned in :attr:`pdf`."""


def signature_reason(meaning: Meaning) -> str:
    """The /Reason of a signature: ``"performed: 执行 / performed"`` and so on."""
    return f"{meaning.value}: {meaning.statement.zh} / {meaning.statement.en}"


def read_content_record(pdf: bytes) -> tuple[bytes, str]:
    """The embedded content-record JSON and its SHA-256; :class:`SigningError` if missing."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        reader = PdfFileReader(io.BytesIO(pdf))
        data = _embedded_file(reader, CONTENT_ATTACHMENT)
    except SigningError:
        raise
    except Exception as exc:
        raise SigningError(f"not a readable certificate PDF: {exc}") from exc
    return data, hashlib.sha256(data).hexdigest()


def issue_date_of(approved_at: datetime, time_zone: str = "UTC") -> date:
    """The date of issue of a certificate approved at ``approved_at``: its date in the lab's
    ``time_zone`` (the one recorded in the certificate's dates)."""
    return local_date(approved_at, time_zone)


def sign_pdf(
    pdf: bytes,
    signer: LabSigner,
    meaning: Meaning,
    *,
    certificate_type: CertificateType | None = None,
    location: str | None = None,
    at: datetime | None = None,
    timestamper: Any = None,
) -> SignatureResult:
    """Sign the field for ``meaning`` with ``signer``; returns the new PDF and the record.

    ``certificate_type`` only selects the role title in the appearance (检定员 vs 校准员);
    it is read from the embedded content record when not given. ``at`` is the UTC
    time shown (default: now). With ``timestamper`` (a pyHanko
    :class:`~pyhanko.sign.timestamps.TimeStamper`, see :mod:`lims.certificates.tsa`)
    the signature carries an RFC 3161 signature timestamp (PAdES B-T).
    """
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign import signers
    from pyhanko.sign.fields import MDPPerm, SigSeedSubFilter
    from pyhanko.stamp import StaticStampStyle

    if not isinstance(meaning, Meaning):
        raise SigningError(f"unknown signature meaning {meaning!r}")
    field_name = SIGNATURE_FIELDS[meaning]
    try:
        reader = PdfFileReader(io.BytesIO(pdf))
        record = _embedded_file(reader, CONTENT_ATTACHMENT)
        filled = _filled_fields(reader)
    except SigningError:
        raise
    except Exception as exc:
        raise SigningError(f"cannot read the PDF to sign: {exc}") from exc
    if field_name not in filled:
        raise SigningError(f"the PDF has no signature field {field_name!r}")
    if filled[field_name] is not None:
        raise SigningError(f"{meaning.value}: field {field_name!r} is already signed")
    for earlier in list(Meaning)[: meaning.order]:
        if filled.get(SIGNATURE_FIELDS[earlier]) is None:
            raise SigningError(
                f"{meaning.value}: sign in order performed → reviewed → approved; "
                f"{earlier.value} has not signed yet"
            )
    if signer.user_id in {uid for uid in filled.values() if uid is not None}:
        raise SigningError(
            f"{meaning.value}: user {signer.user_id!r} has already signed this certificate; "
            "three different people must sign"
        )
    try:
        content = json.loads(record)
        time_zone = str(content.get("dates", {}).get("time_zone") or "UTC")
        if certificate_type is None:
            certificate_type = CertificateType(content["certificate_type"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SigningError("the embedded content record has no certificate type") from exc
    # one instant for the appearance, the CMS signing-time attribute and the stored record
    signed_at = (at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    role = meaning.role(certificate_type)
    box = next(b for b in signature_boxes() if b.meaning is meaning)
    x1, y1, x2, y2 = box.rect
    lines = [
        (f"{role.zh}（{meaning.statement.zh}）/ {role.en}", 7.5),
        (signer.display_name, 10.5),
        (f"{signed_at:%Y-%m-%d %H:%M:%S} UTC", 8),
        (f"{signature_reason(meaning)} · ID {signer.user_id}", 6.5),
    ]
    if meaning is Meaning.APPROVED:
        issued = issue_date_of(signed_at, time_zone).isoformat()
        lines.append((f"签发日期 Date of issue {issued} ({time_zone})", 7.5))
    style = StaticStampStyle(
        background=_stamp_background(lines, x2 - x1, y2 - y1),
        background_opacity=1.0,
        border_width=1,
    )
    meta = signers.PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm="sha256",
        subfilter=SigSeedSubFilter.PADES,
        certify=meaning is Meaning.PERFORMED,
        docmdp_permissions=MDPPerm.FILL_FORMS,
        reason=signature_reason(meaning),
        name=signer.display_name,
        location=location,
    )
    pdf_signer = _signer_at(
        meta,
        signer=signer.pyhanko_signer,
        stamp_style=style,
        signing_time=signed_at,
        timestamper=timestamper,
    )
    out = io.BytesIO()
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        pdf_signer.sign_pdf(
            writer,
            output=out,
        )
    except Exception as exc:
        raise SigningError(f"{meaning.value}: signing failed: {exc}") from exc
    signed = out.getvalue()
    return SignatureResult(
        pdf=signed,
        meaning=meaning,
        field_name=field_name,
        user_id=signer.user_id,
        printed_name=signer.display_name,
        signed_at=signed_at,
        content_hash=hashlib.sha256(record).hexdigest(),
        pdf_sha256=hashlib.sha256(signed).hexdigest(),
    )


def _signer_at(
    meta: Any, *, signer: Any, stamp_style: Any, signing_time: datetime, timestamper: Any
) -> Any:
    """A pyHanko PDF signer whose CMS signing-time attribute is ``signing_time`` exactly."""
    from pyhanko.sign import signers

    class _SignerAt(signers.PdfSigner):
        def init_signing_session(self, pdf_out: Any, existing_fields_only: bool = False) -> Any:
            session = super().init_signing_session(pdf_out, existing_fields_only)
            session.system_time = signing_time
            return session

    return _SignerAt(meta, signer=signer, stamp_style=stamp_style, timestamper=timestamper)


def _stamp_background(lines: list[tuple[str, float]], width: float, height: float) -> Any:
    """The visible signature drawn by reportlab (embedded TrueType font) as a pyHanko background.

    pyHanko imports the one-page PDF as a form XObject into the signature appearance.
    """
    from pyhanko.pdf_utils.content import ImportedPdfPage
    from pyhanko.pdf_utils.layout import BoxConstraints
    from pyhanko.pdf_utils.reader import PdfFileReader
    from reportlab.pdfgen.canvas import Canvas

    font = register_fonts()
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(width, height), initialFontName=font, invariant=1)
    y = height - 5
    for text, size in lines:
        canvas.setFont(font, size)
        y -= size * 1.25
        canvas.drawString(5, y, text)
    canvas.showPage()
    canvas.save()
    data = buffer.getvalue()

    class _BytesPdfPage(ImportedPdfPage):
        def render(self) -> bytes:
            writer = self._ensure_writer
            xobj = writer.import_page_as_xobject(PdfFileReader(io.BytesIO(data)), page_ix=0)
            name = "/ImportStamp" + uuid.uuid4().hex
            self.resources.xobject[name] = xobj
            x1, y1, x2, y2 = xobj.get_object()["/BBox"]
            self.box = BoxConstraints(width=abs(x1 - x2), height=abs(y1 - y2))
            return name.encode("ascii") + b" Do"

    return _BytesPdfPage(file_name="<memory>")  # type: ignore[no-untyped-call]


def _filled_fields(reader: Any) -> dict[str, str | None]:
    """Signature field name → user id of its signer (``None`` while empty)."""
    from asn1crypto import x509 as asn1_x509  # type: ignore[import-untyped]
    from cryptography import x509
    from pyhanko.sign.fields import enumerate_sig_fields

    result: dict[str, str | None] = {}
    signed = {s.field_name: s for s in reader.embedded_signatures}
    for name, value, _ref in enumerate_sig_fields(reader):
        if value is None:
            result[name] = None
            continue
        emb = signed.get(name)
        if emb is None:
            result[name] = "?"
            continue
        cert: asn1_x509.Certificate = emb.signer_cert
        result[name] = _subject_identity(x509.load_der_x509_certificate(cert.dump()))[0]
    return result


def _embedded_file(reader: Any, name: str) -> bytes:
    """Bytes of the embedded file ``name`` (from the document's EmbeddedFiles name tree)."""
    root = reader.root
    try:
        names = root["/Names"]["/EmbeddedFiles"]["/Names"]
    except KeyError as exc:
        raise SigningError(f"the PDF has no embedded {name!r} (not a certificate PDF?)") from exc
    for i in range(0, len(names) - 1, 2):
        if str(names[i]) == name:
            spec = names[i + 1].get_object()
            stream = spec["/EF"]["/F"].get_object()
            data: bytes = stream.data
            return data
    raise SigningError(f"the PDF has no embedded {name!r} (not a certificate PDF?)")
