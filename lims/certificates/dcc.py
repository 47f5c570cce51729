"""Digital Calibration Certificate (PTB DCC 3.1.2) from a :class:`CertificateDocument`.

:func:`build_dcc` writes the same content as the PDF: administrative data
(software, core data with the certificate number and dates, the item, the
laboratory, the responsible persons and their roles, the customer,
statements incl. conformity, decision rule, validity, simulation and
amendment), measurement results (method, standards used, influence
conditions, results as ``si:real`` with ``si:expandedUnc``), and the signed
PDF base64-embedded in ``dcc:document``.

Validation is offline against the schema shipped in this package
(``schemas/dcc-3.1.2``: dcc.xsd importing SI_Format.xsd locally, LGPL-3).
:func:`verify_dcc` validates the XML and verifies the embedded PDF with
:func:`~lims.certificates.verify.verify_pdf`.

Language: Chinese and English texts are given as ``dcc:content`` with
``lang="zh"`` and ``lang="en"``; Chinese is the mandatory language.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from importlib import metadata
from pathlib import Path
from typing import Any

from cryptography import x509
from lxml import etree  # type: ignore[import-untyped]

from lims.certificates.dcc_signature import DccSignatureCheck, check_dcc_signature
from lims.certificates.dsi import is_fiducial, to_dsi_unit
from lims.certificates.errors import DccError
from lims.certificates.model import (
    BiText,
    CertificateDocument,
    CertificateType,
    DeviationKind,
    Meaning,
    ResultRow,
    ResultSection,
    Verdict,
)
from lims.certificates.numbers import (
    distribution_for,
    k_text,
    limit_number,
    number_text,
    plain,
    reading_decimals,
    row_texts,
)
from lims.certificates.render import format_quantity
from lims.certificates.verify import VerificationReport, verify_pdf

__all__ = [
    "DCC_NS",
    "SCHEMA_PATH",
    "SI_NS",
    "DccVerification",
    "build_dcc",
    "dcc_schema",
    "validate_dcc",
    "verify_dcc",
]

DCC_NS = "https://ptb.de/dcc"
SI_NS = "https://ptb.de/si"
SCHEMA_PATH = Path(__file__).with_name("schemas") / "dcc-3.1.2" / "dcc.xsd"
"""The DCC 3.1.2 schema shipped with the package (validates without network)."""

_NSMAP = {"dcc": DCC_NS, "si": SI_NS}

_CONFORMITY = {
    Verdict.PASS: "pass",
    Verdict.FAIL: "fail",
    Verdict.CONDITIONAL_PASS: "conditionalPass",
    Verdict.CONDITIONAL_FAIL: "conditionalFail",
    Verdict.UNDETERMINED: "noPass",
}
"""Verdict → DCC conformity; 待定 (undetermined) maps to ``noPass``: no pass may be stated."""

_ROLE_TEXT = {
    Meaning.PERFORMED: "performed",
    Meaning.REVIEWED: "reviewed",
    Meaning.APPROVED: "approved",
}


@dataclass(frozen=True)
class DccVerification:
    """Result of :func:`verify_dcc`."""

    ok: bool
    schema_errors: tuple[str, ...]
    pdf: VerificationReport | None
    problems: tuple[str, ...]
    signature: DccSignatureCheck | None = None
    """The DCC's own XML signature (:mod:`lims.certificates.dcc_signature`)."""

    @property
    def altered(self) -> bool:
        """The DCC or its embedded PDF was changed after signing."""
        return bool(
            (self.signature is not None and self.signature.altered)
            or (self.pdf is not None and self.pdf.altered)
            or self.schema_errors
        )

    def summary(self) -> str:
        """Human-readable outcome, one finding per line."""
        lines = [("OK" if self.ok else "FAILED") + ": DCC"]
        lines += [f"  - schema: {e}" for e in self.schema_errors]
        lines += [f"  - {p}" for p in self.problems]
        if self.pdf is not None:
            lines.append(self.pdf.summary())
        return "\n".join(lines)


@functools.cache
def dcc_schema() -> Any:
    """The compiled DCC 3.1.2 schema (xmlschema), loaded from the package only."""
    import xmlschema

    # "local": only local files are read (dcc.xsd imports SI_Format.xsd beside it), no network.
    return xmlschema.XMLSchema(str(SCHEMA_PATH), allow="local")


def validate_dcc(xml_bytes: bytes) -> tuple[str, ...]:
    """Schema errors of a DCC document (empty if it validates)."""
    try:
        root = etree.fromstring(xml_bytes, parser=_safe_parser())
    except etree.XMLSyntaxError as exc:
        return (f"not well-formed XML: {exc}",)
    errors = []
    for error in dcc_schema().iter_errors(root):
        path = error.path or "/"
        errors.append(f"{path}: {error.reason}")
        if len(errors) >= 20:
            break
    return tuple(errors)


def build_dcc(
    doc: CertificateDocument,
    signed_pdf: bytes,
    *,
    pdf_file_name: str | None = None,
) -> bytes:
    """Build the DCC XML (UTF-8) for ``doc`` with ``signed_pdf`` embedded; validated before return.

    Responsible persons are taken from the signatures in the PDF (printed name,
    user id, meaning); if the PDF carries none yet, from ``doc.signatories``.
    """
    from lims.certificates.errors import SigningError
    from lims.certificates.signing import read_content_record

    try:
        _record, pdf_hash = read_content_record(signed_pdf)
    except SigningError as exc:
        raise DccError(f"the PDF to embed is not a certificate PDF: {exc}") from exc
    if pdf_hash != doc.content_hash():
        raise DccError(
            f"the PDF belongs to other content (content hash {pdf_hash[:16]}…) than "
            f"certificate {doc.number} ({doc.content_hash()[:16]}…)"
        )
    b = _Builder(doc)
    root = etree.Element(_d("digitalCalibrationCertificate"), nsmap=_NSMAP)
    root.set("schemaVersion", "3.1.2")
    admin = b.sub(root, "administrativeData")
    b.software(admin)
    b.core_data(admin)
    b.items(admin)
    b.laboratory(admin)
    signers = _pdf_signers(signed_pdf)
    b.resp_persons(admin, signers)
    b.customer(admin)
    b.statements(admin, _issue_date(doc, signers))
    results = b.sub(root, "measurementResults")
    b.measurement_result(results)
    document = b.sub(root, "document")
    b.text_el(document, "name", BiText("已签名证书（PDF）", "Signed certificate (PDF)"))
    b.sub(document, "fileName", pdf_file_name or f"{doc.number}.pdf")
    b.sub(document, "mimeType", "application/pdf")
    b.sub(document, "dataBase64", base64.b64encode(signed_pdf).decode("ascii"))
    xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    errors = validate_dcc(xml)
    if errors:
        raise DccError("the DCC does not validate against DCC 3.1.2: " + "; ".join(errors[:5]))
    return bytes(xml)


def verify_dcc(
    xml_bytes: bytes,
    trust_roots: Sequence[x509.Certificate | bytes],
    *,
    require_signature: bool = True,
) -> DccVerification:
    """Validate a DCC against the schema, verify its XML signature (by the approver, chained
    to a trust root) and its embedded signed PDF."""
    problems: list[str] = []
    errors = validate_dcc(xml_bytes)
    if errors and errors[0].startswith("not well-formed"):
        return DccVerification(False, errors, None, ("the DCC cannot be parsed",))
    roots = [
        r if isinstance(r, x509.Certificate) else x509.load_pem_x509_certificate(r)
        for r in trust_roots
    ]
    signature = check_dcc_signature(xml_bytes, roots)
    if signature.present or require_signature:
        problems += list(signature.problems)
    root = etree.fromstring(xml_bytes, parser=_safe_parser())
    data = root.find("dcc:document/dcc:dataBase64", _NSMAP)
    report: VerificationReport | None = None
    if data is None or not (data.text or "").strip():
        problems.append("the DCC embeds no signed PDF (dcc:document)")
    else:
        try:
            pdf = base64.b64decode((data.text or "").strip(), validate=False)
        except ValueError as exc:
            problems.append(f"dcc:document is not valid base64: {exc}")
        else:
            report = verify_pdf(pdf, trust_roots)
            if not report.ok:
                problems.append("the embedded PDF fails verification")
            uid = root.findtext(
                "dcc:administrativeData/dcc:coreData/dcc:uniqueIdentifier", None, _NSMAP
            )
            if report.certificate_number is not None and uid != report.certificate_number:
                problems.append(
                    f"uniqueIdentifier {uid!r} differs from the PDF's number "
                    f"{report.certificate_number!r}"
                )
            hash_id = _identification(root, "contentRecordSHA256")
            if report.content_hash is not None and hash_id != report.content_hash:
                problems.append("the DCC's content hash differs from the embedded PDF's")
            if report.content_record is not None:
                problems += _compare_results(root, report.content_record)
            problems += _compare_issue_date(root, report)
            approver = next(
                (s.signer_user_id for s in report.signatures if s.meaning is Meaning.APPROVED),
                None,
            )
            if signature.ok and approver is not None and signature.signer_user_id != approver:
                problems.append(
                    f"the DCC is signed by {signature.signer_user_id!r}, not by the approver "
                    f"{approver!r}"
                )
    ok = not errors and not problems
    return DccVerification(ok, errors, report, tuple(problems), signature)


def _compare_issue_date(root: Any, report: VerificationReport) -> list[str]:
    """The DCC's date of issue against the embedded PDF: the date its signed content record
    states, or (records without one) its approval signature's date in the record's time zone."""
    from lims.certificates.signing import issue_date_of

    stated = root.findtext(
        "dcc:administrativeData/dcc:statements/dcc:statement[@refType='lims_issueDate']/dcc:date",
        None,
        _NSMAP,
    )
    dates = (report.content_record or {}).get("dates") or {}
    if dates.get("issue"):
        expected, source = str(dates["issue"]), "the signed content record's"
    else:
        approval = next(
            (s.signed_at for s in report.signatures if s.meaning is Meaning.APPROVED), None
        )
        if approval is None:
            return []
        zone_name = str(dates.get("time_zone") or "UTC")
        expected = issue_date_of(approval, zone_name).isoformat()
        source = "the approval signature's"
    if stated != expected:
        return [f"the DCC's date of issue {stated!r} differs from {source} date {expected}"]
    return []


def _compare_results(root: Any, record: dict[str, Any]) -> list[str]:
    """Differences between the DCC's results and the signed content record."""
    from lims.units import from_storage

    problems: list[str] = []
    path = "dcc:measurementResults/dcc:measurementResult/dcc:results/dcc:result"
    results = {r.get("refType"): r for r in root.iterfind(path, _NSMAP)}
    for section in record.get("sections") or []:
        key = section.get("key")
        result = results.get(f"lims_{key}")
        if result is None:
            problems.append(f"the DCC lacks result section {key!r}")
            continue
        rows = result.findall("dcc:data/dcc:list/dcc:list", _NSMAP)
        if len(rows) != len(section.get("rows") or []):
            problems.append(f"section {key!r}: the DCC has {len(rows)} rows, the record more/less")
            continue
        for i, (row_el, row) in enumerate(zip(rows, section["rows"], strict=True)):
            for name in ("point", "reference", "indication", "error", "mpe"):
                stored = row.get(name)
                el = row_el.find(f"dcc:quantity[@refType='lims_{name}']/si:real", _NSMAP)
                if stored is None:
                    if el is not None:
                        problems.append(f"section {key!r} row {i}: unexpected {name}")
                    continue
                where = f"section {key!r} row {i} {name}"
                if el is None:
                    problems.append(f"{where}: missing in the DCC")
                    continue
                q = from_storage(float(stored["value"]), stored["unit"])
                if _float(el.findtext("si:value", None, _NSMAP)) != float(q.magnitude):
                    problems.append(f"{where}: value differs from the signed record")
                if el.findtext("si:unit", None, _NSMAP) != to_dsi_unit(q):
                    problems.append(f"{where}: unit differs from the signed record")
                if name == "error":
                    problems += _compare_uncertainty(el, row, q, where)
    return problems


def _compare_uncertainty(el: Any, row: dict[str, Any], q: Any, where: str) -> list[str]:
    from lims.units import from_storage

    stored = row.get("expanded_uncertainty")
    unc = el.find("si:expandedUnc", _NSMAP)
    if stored is None:
        return [f"{where}: unexpected uncertainty"] if unc is not None else []
    if unc is None:
        return [f"{where}: expanded uncertainty missing in the DCC"]
    u = from_storage(float(stored["value"]), stored["unit"]).to(q.units)
    problems = []
    if _float(unc.findtext("si:uncertainty", None, _NSMAP)) != float(u.magnitude):
        problems.append(f"{where}: expanded uncertainty differs from the signed record")
    if _float(unc.findtext("si:coverageFactor", None, _NSMAP)) != float(row["coverage_factor"]):
        problems.append(f"{where}: coverage factor differs from the signed record")
    return problems


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _identification(root: Any, ref_type: str) -> str | None:
    for ident in root.iterfind(
        "dcc:administrativeData/dcc:coreData/dcc:identifications/dcc:identification", _NSMAP
    ):
        if ident.get("refType") == ref_type:
            value: str | None = ident.findtext("dcc:value", None, _NSMAP)
            return value
    return None


def _safe_parser() -> Any:
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


def _d(tag: str) -> str:
    return f"{{{DCC_NS}}}{tag}"


def _s(tag: str) -> str:
    return f"{{{SI_NS}}}{tag}"


def _num(x: float) -> str:
    return repr(float(x))


def _as_printed(text: str | None, x: float) -> str:
    """``text`` (the number as the PDF prints it, e.g. ``0.20``) when it is the signed value
    ``x``, else the shortest exact decimal of ``x`` (a record rounded otherwise)."""
    if text:
        try:
            if Decimal(text) == Decimal(repr(float(x))):
                return text
        except ArithmeticError:
            pass
    return _num(x)


def _reading(q: Any | None, places: int | None) -> str | None:
    """A reference value or indication with the table's decimals, as the PDF prints it."""
    if q is None:
        return None
    x = float(q.magnitude)
    return plain(x) if places is None else number_text(x, -places)


def _software_release() -> str:
    try:
        return metadata.version("carbon-lims")
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True)
class _Signer:
    meaning: Meaning
    user_id: str
    name: str
    signed_at: datetime | None = None


def _issue_date(doc: CertificateDocument, signers: list[_Signer]) -> date | None:
    """The date of issue: the one the signed body states (records drafted by earlier
    releases carry one), else the approval signature's UTC date; ``None`` before approval."""
    from lims.certificates.signing import issue_date_of

    if doc.dates.issue is not None:
        return doc.dates.issue
    for signer in signers:
        if signer.meaning is Meaning.APPROVED and signer.signed_at is not None:
            return issue_date_of(signer.signed_at, doc.dates.time_zone)
    return None


def _pdf_signers(pdf: bytes) -> list[_Signer]:
    """Signers as recorded in the PDF signatures (not validated here; verify_dcc does that)."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    from lims.certificates.pki import _subject_identity
    from lims.certificates.render import SIGNATURE_FIELDS

    by_field = {name: meaning for meaning, name in SIGNATURE_FIELDS.items()}
    try:
        reader = PdfFileReader(io.BytesIO(pdf))
        signers = []
        for emb in reader.embedded_signatures:
            meaning = by_field.get(str(emb.field_name))
            if meaning is None:
                continue
            cert = x509.load_der_x509_certificate(emb.signer_cert.dump())
            uid, name = _subject_identity(cert)
            signers.append(_Signer(meaning, uid, name, emb.self_reported_timestamp))
    except Exception as exc:
        raise DccError(f"the signed PDF cannot be read: {exc}") from exc
    return signers


class _Builder:
    def __init__(self, doc: CertificateDocument) -> None:
        self.doc = doc

    @staticmethod
    def sub(parent: Any, tag: str, text: str | None = None, **attrs: str) -> Any:
        el = etree.SubElement(parent, _d(tag), **attrs)
        if text is not None:
            el.text = text
        return el

    def text_el(self, parent: Any, tag: str, text: BiText | str, **attrs: str) -> Any:
        el = self.sub(parent, tag, **attrs)
        if isinstance(text, BiText):
            self.sub(el, "content", text.zh, lang="zh")
            self.sub(el, "content", text.en, lang="en")
        else:
            self.sub(el, "content", text)
        return el

    def rich(self, parent: Any, tag: str, *texts: BiText | str, **attrs: str) -> Any:
        el = self.sub(parent, tag, **attrs)
        for text in texts:
            if isinstance(text, BiText):
                self.sub(el, "content", text.zh, lang="zh")
                self.sub(el, "content", text.en, lang="en")
            else:
                self.sub(el, "content", text)
        return el

    def software(self, admin: Any) -> None:
        sw = self.sub(self.sub(admin, "dccSoftware"), "software")
        self.text_el(sw, "name", self.doc.software)
        self.sub(sw, "release", _software_release())
        self.sub(sw, "type", "application")

    def core_data(self, admin: Any) -> None:
        doc = self.doc
        core = self.sub(admin, "coreData")
        self.sub(core, "countryCodeISO3166_1", doc.laboratory.country_code)
        self.sub(core, "usedLangCodeISO639_1", "zh")
        self.sub(core, "usedLangCodeISO639_1", "en")
        self.sub(core, "mandatoryLangCodeISO639_1", "zh")
        self.sub(core, "uniqueIdentifier", doc.number)
        idents = self.sub(core, "identifications")
        self._ident(
            idents,
            "calibrationLaboratory",
            doc.certificate_type.record_value,
            doc.title,
            "lims_certificateType",
        )
        self._ident(
            idents,
            "calibrationLaboratory",
            doc.original_record,
            BiText("原始记录号", "Original record number"),
            "lims_originalRecord",
        )
        self._ident(
            idents,
            "calibrationLaboratory",
            str(doc.revision),
            BiText("修订版次", "Revision"),
            "lims_revision",
        )
        self._ident(
            idents,
            "calibrationLaboratory",
            doc.content_hash(),
            BiText("内容记录 SHA-256", "Content record SHA-256"),
            "contentRecordSHA256",
        )
        self.sub(core, "receiptDate", doc.dates.receipt.isoformat())
        self.sub(core, "beginPerformanceDate", doc.dates.performance_start.isoformat())
        self.sub(core, "endPerformanceDate", doc.dates.performance_end.isoformat())
        self.sub(core, "performanceLocation", doc.location.kind.value)
        if doc.replaces is not None:
            prev = self.sub(core, "previousReport")
            self.text_el(
                prev,
                "referral",
                BiText(
                    f"替代证书 {doc.replaces.number}；原因：{doc.replaces.reason}",
                    f"Replaces certificate {doc.replaces.number}; reason: {doc.replaces.reason}",
                ),
            )
            self.sub(prev, "referralID", doc.replaces.number)
            self.sub(prev, "procedure", "SHA-256 of the carbon-lims content record")
            self.sub(prev, "value", doc.replaces.content_hash)

    def _ident(self, parent: Any, issuer: str, value: str, name: BiText, ref: str) -> None:
        ident = self.sub(parent, "identification", refType=ref)
        self.sub(ident, "issuer", issuer)
        self.sub(ident, "value", value)
        self.text_el(ident, "name", name)

    def items(self, admin: Any) -> None:
        item = self.doc.item
        items = self.sub(admin, "items")
        el = self.sub(items, "item")
        self.text_el(el, "name", item.description)
        self.rich(
            el,
            "description",
            BiText(f"测量范围：{item.measuring_range}", f"Measuring range: {item.measuring_range}"),
            BiText(
                f"准确度等级：{item.accuracy_class or '—'}",
                f"Accuracy class: {item.accuracy_class or '—'}",
            ),
            BiText(
                f"收样状态：{item.condition_on_receipt.zh}",
                f"Condition on receipt: {item.condition_on_receipt.en}",
            ),
        )
        manufacturer = self.sub(el, "manufacturer")
        self.text_el(manufacturer, "name", item.manufacturer)
        self.sub(el, "model", item.model)
        idents = self.sub(el, "identifications")
        self._ident(
            idents,
            "manufacturer",
            item.serial_number,
            BiText("出厂编号", "Serial number"),
            "basic_serialNumber",
        )
        if item.asset_tag:
            self._ident(
                idents,
                "customer",
                item.asset_tag,
                BiText("资产编号", "Asset tag"),
                "basic_assetTag",
            )

    def _location(
        self, parent: Any, *, city: str | None, country: str | None, further: Sequence[BiText | str]
    ) -> None:
        loc = self.sub(parent, "location")
        if city:
            self.sub(loc, "city", city)
        if country:
            self.sub(loc, "countryCode", country)
        for text in further:
            self.rich(loc, "further", text)

    def laboratory(self, admin: Any) -> None:
        lab = self.doc.laboratory
        el = self.sub(admin, "calibrationLaboratory")
        self.sub(el, "calibrationLaboratoryCode", lab.accreditation_number)
        contact = self.sub(el, "contact")
        self.text_el(contact, "name", lab.name)
        self.sub(contact, "eMail", lab.email)
        if lab.phone:
            self.sub(contact, "phone", lab.phone)
        self._location(contact, city=lab.city, country=lab.country_code, further=[lab.address])

    def resp_persons(self, admin: Any, pdf_signers: list[_Signer]) -> None:
        signers = pdf_signers or [
            _Signer(s.meaning, s.user_id, s.name) for s in self.doc.signatories
        ]
        if not signers:
            raise DccError(
                "respPersons: the PDF carries no signature and the document names no signatory"
            )
        persons = self.sub(admin, "respPersons")
        for signer in sorted(signers, key=lambda s: s.meaning.order):
            person = self.sub(persons, "respPerson", id=f"respPerson_{signer.meaning.value}")
            p = self.sub(person, "person")
            self.text_el(p, "name", signer.name)
            role = signer.meaning.role(self.doc.certificate_type)
            self.rich(
                person,
                "description",
                BiText(f"{role.zh}，用户 {signer.user_id}", f"{role.en}, user {signer.user_id}"),
            )
            self.sub(person, "role", f"{_ROLE_TEXT[signer.meaning]} ({role.zh} / {role.en})")
            if signer.meaning is Meaning.APPROVED:
                self.sub(person, "mainSigner", "true")
            self.sub(person, "cryptElectronicSignature", "true" if pdf_signers else "false")

    def customer(self, admin: Any) -> None:
        c = self.doc.customer
        el = self.sub(admin, "customer")
        self.text_el(el, "name", c.name)
        self.sub(el, "eMail", c.email)
        if c.phone:
            self.sub(el, "phone", c.phone)
        self._location(
            el,
            city=None,
            country=None,
            further=[c.address, f"联系人 / Contact: {c.contact_person}"],
        )

    def _statement(
        self,
        parent: Any,
        ref: str,
        declaration: BiText,
        *,
        norm: str | None = None,
        reference: str | None = None,
        conformity: str | None = None,
        valid: bool | None = None,
        date: str | None = None,
        traceable: bool | None = None,
    ) -> None:
        st = self.sub(parent, "statement", refType=ref)
        if traceable is not None:
            self.sub(st, "traceable", "true" if traceable else "false")
        if norm:
            self.sub(st, "norm", norm)
        if reference:
            self.sub(st, "reference", reference)
        self.rich(st, "declaration", declaration)
        if valid is not None:
            self.sub(st, "valid", "true" if valid else "false")
        if date:
            self.sub(st, "date", date)
        if conformity:
            self.sub(st, "conformity", conformity)

    def statements(self, admin: Any, issued_on: date | None) -> None:
        doc = self.doc
        sts = self.sub(admin, "statements")
        if doc.simulated:
            self._statement(
                sts,
                "lims_simulated",
                BiText("模拟数据 非有效证书", "SIMULATED — NOT A VALID CERTIFICATE"),
                valid=False,
            )
        conformity = _CONFORMITY.get(doc.conclusion.verdict)
        self._statement(
            sts,
            "basic_conformity",
            doc.conclusion.text,
            norm=doc.method.regulation_number,
            conformity=conformity,
        )
        if doc.decision_rule is not None:
            self._statement(
                sts,
                "basic_decisionRule",
                doc.decision_rule.text,
                reference=doc.decision_rule.rule_id,
            )
        if doc.certificate_type is CertificateType.NON_CONFORMITY:
            failed = "; ".join(f"{s.title.zh}" for s in doc.failed_sections)
            failed_en = "; ".join(f"{s.title.en}" for s in doc.failed_sections)
            self._statement(
                sts,
                "lims_failedItems",
                BiText(f"不合格项目：{failed}", f"Failed items: {failed_en}"),
                conformity="fail",
            )
        if doc.dates.valid_until is not None:
            self._statement(
                sts,
                "lims_validUntil",
                BiText(
                    f"有效期至 {doc.dates.valid_until.isoformat()}",
                    f"Valid until {doc.dates.valid_until.isoformat()}",
                ),
                date=doc.dates.valid_until.isoformat(),
            )
        if issued_on is not None:  # a draft's DCC (before approval) has no date of issue
            self._statement(
                sts,
                "lims_issueDate",
                BiText(
                    f"签发日期 {issued_on.isoformat()}", f"Date of issue {issued_on.isoformat()}"
                ),
                date=issued_on.isoformat(),
            )
        if doc.replaces is not None:
            self._statement(
                sts,
                "lims_amendment",
                BiText(
                    f"本证书为修订版（第 {doc.revision} 版），替代 {doc.replaces.number}；"
                    f"原因：{doc.replaces.reason}",
                    f"This certificate is amendment revision {doc.revision} replacing "
                    f"{doc.replaces.number}; reason: {doc.replaces.reason}",
                ),
                reference=doc.replaces.number,
            )
        if doc.method.table_has_unverified_values:
            self._statement(
                sts,
                "lims_unverifiedRegulationTable",
                BiText(
                    f"所用规程数据表（版本 {doc.method.table_version}）含尚未与官方文本核对的数值",
                    f"The regulation table used (version {doc.method.table_version}) contains "
                    "values not yet verified against the official text",
                ),
                norm=doc.method.regulation_number,
            )
        self._statement(
            sts,
            "lims_traceability",
            BiText(
                "所用计量标准和标准物质溯源至国家计量基准",
                "The standards and reference materials used are traceable to the national "
                "measurement standards",
            ),
            traceable=True,
        )
        self._statement(
            sts,
            "basic_validityRange",
            BiText(
                "本证书的结果仅对所检定/校准的器具有效；未经书面批准，不得部分复制本证书",
                "The results relate only to the item; the certificate shall not be reproduced "
                "except in full without written approval",
            ),
        )
        for dev in doc.deviations:
            kind = "偏离" if dev.kind is DeviationKind.DEVIATION else "例外"
            when = f" ({dev.at.isoformat()})" if dev.at else ""
            self._statement(
                sts,
                f"lims_{dev.kind.value}",
                BiText(
                    f"{kind}：{dev.description.zh}；原因：{dev.reason}；批准：{dev.by}{when}",
                    f"{dev.kind.value}: {dev.description.en}; reason: {dev.reason}; "
                    f"by {dev.by}{when}",
                ),
            )
        if doc.external_providers:
            self._statement(
                sts,
                "lims_externalProviders",
                BiText(
                    "外部提供的结果：" + "; ".join(doc.external_providers),
                    "Results from external providers: " + "; ".join(doc.external_providers),
                ),
            )
        if doc.certificate_type is CertificateType.CALIBRATION:
            self._statement(
                sts,
                "basic_recalibrationInterval",
                BiText(
                    "除非与客户约定，不给出复校间隔建议",
                    "No recalibration interval is recommended unless agreed with the customer",
                ),
            )

    def measurement_result(self, results: Any) -> None:
        doc = self.doc
        mr = self.sub(results, "measurementResult")
        self.text_el(mr, "name", doc.title)
        methods = self.sub(mr, "usedMethods")
        method = self.sub(methods, "usedMethod")
        self.text_el(method, "name", doc.method.title)
        self.rich(
            method,
            "description",
            BiText(
                f"规程数据表版本 {doc.method.table_version}",
                f"Regulation table version {doc.method.table_version}",
            ),
            *([doc.method.procedure] if doc.method.procedure else []),
        )
        self.sub(method, "norm", doc.method.regulation_number)
        equipment = self.sub(mr, "measuringEquipments")
        for std in doc.standards:
            eq = self.sub(equipment, "measuringEquipment", refType=f"lims_{std.kind.value}")
            self.text_el(eq, "name", std.name)
            self.rich(
                eq,
                "description",
                BiText(f"测量范围：{std.measuring_range}", f"Range: {std.measuring_range}"),
                BiText(
                    f"不确定度/等级：{std.uncertainty_or_class}",
                    f"Uncertainty / class: {std.uncertainty_or_class}",
                ),
                BiText(
                    f"证书有效期至 {std.valid_until.isoformat()}",
                    f"Certificate valid until {std.valid_until.isoformat()}",
                ),
                BiText(f"溯源至：{std.traceability}", f"Traceable to: {std.traceability}"),
            )
            idents = self.sub(eq, "identifications")
            self._ident(
                idents,
                "calibrationLaboratory",
                std.identifier,
                BiText("编号", "Identifier"),
                "lims_standardId",
            )
            self._ident(
                idents,
                "other",
                std.certificate_number,
                BiText("证书编号", "Certificate number"),
                "lims_certificateNumber",
            )
        self.influence_conditions(mr)
        res = self.sub(mr, "results")
        for section in doc.sections:
            self.section(res, section)

    def influence_conditions(self, mr: Any) -> None:
        env = self.doc.environment
        conditions = self.sub(mr, "influenceConditions")
        items = [
            ("basic_temperature", BiText("环境温度", "Ambient temperature"), env.temperature),
            (
                "basic_humidityRelative",
                BiText("相对湿度", "Relative humidity"),
                env.relative_humidity,
            ),
        ]
        if env.pressure is not None:
            items.append(("basic_pressure", BiText("大气压", "Atmospheric pressure"), env.pressure))
        for ref, name, q in items:
            cond = self.sub(conditions, "influenceCondition", refType=ref)
            self.text_el(cond, "name", name)
            data = self.sub(cond, "data")
            quantity = self.sub(data, "quantity")
            self.real(quantity, q, label=ref.removeprefix("basic_"))

    def real(
        self,
        parent: Any,
        q: Any,
        *,
        label: str,
        row: ResultRow | None = None,
        text: str | None = None,
        u_text: str | None = None,
    ) -> None:
        """An ``si:real``; ``text``/``u_text`` are the numbers as the PDF writes them
        (:mod:`lims.certificates.numbers`), kept only when they equal the signed value."""
        real = etree.SubElement(parent, _s("real"))
        etree.SubElement(real, _s("label")).text = label
        etree.SubElement(real, _s("value")).text = _as_printed(text, q.magnitude)
        etree.SubElement(real, _s("unit")).text = to_dsi_unit(q)
        if row is not None and row.expanded_uncertainty is not None:
            u = row.expanded_uncertainty.to(q.units)
            k = float(row.coverage_factor or 0)
            unc = etree.SubElement(real, _s("expandedUnc"))
            etree.SubElement(unc, _s("uncertainty")).text = _as_printed(u_text, u.magnitude)
            etree.SubElement(unc, _s("coverageFactor")).text = _as_printed(k_text(k), k)
            etree.SubElement(unc, _s("coverageProbability")).text = _num(row.coverage_probability)
            etree.SubElement(unc, _s("distribution")).text = distribution_for(
                k, row.coverage_probability, row.dof_eff
            )

    def section(self, res: Any, section: ResultSection) -> None:
        result = self.sub(res, "result", refType=f"lims_{section.key}")
        self.text_el(result, "name", section.title)
        texts: list[BiText | str] = [
            BiText(
                f"本项结论：{section.verdict.text.zh}", f"Item verdict: {section.verdict.text.en}"
            )
        ]
        if section.adjustment is not None:
            texts.append(
                BiText("调整前", "Before adjustment")
                if section.adjustment.value == "beforeAdjustment"
                else BiText("调整后", "After adjustment")
            )
        if section.full_scale is not None:
            fs = format_quantity(section.full_scale)
            texts.append(
                BiText(
                    f"%FS 为引用误差，引用值（满量程）为 {fs}",
                    f"%FS values are fiducial errors relative to the full scale {fs}",
                )
            )
        if section.note is not None:
            texts.append(section.note)
        self.rich(result, "description", *texts)
        data = self.sub(result, "data")
        if section.full_scale is not None:
            fsq = self.sub(data, "quantity", refType="lims_fiducialValue")
            self.text_el(fsq, "name", BiText("引用值（满量程）", "Fiducial value (full scale)"))
            self.real(fsq, section.full_scale, label="fiducialValue")
        top = self.sub(data, "list", refType="lims_resultTable")
        readings = [q for r in section.rows for q in (r.reference, r.indication) if q is not None]
        places = reading_decimals(readings) if readings else None
        for i, row in enumerate(section.rows):
            self.row(top, row, i, section.value_title, places)

    def row(
        self,
        parent: Any,
        row: ResultRow,
        index: int,
        value_title: BiText | None = None,
        places: int | None = None,
    ) -> None:
        texts = row_texts(row, places)
        printed = {
            "reference": _reading(row.reference, places),
            "indication": _reading(row.indication, places),
            "error": texts.value_number,
            "mpe": limit_number(float(row.mpe.magnitude)) if row.mpe is not None else None,
        }
        lst = self.sub(parent, "list", refType="lims_resultRow")
        self.text_el(lst, "name", row.label or f"#{index + 1}")
        columns: list[tuple[str, BiText, Any, ResultRow | None]] = []
        if row.point is not None:
            columns.append(("point", BiText("测量点", "Test point"), row.point, None))
        if row.reference is not None:
            columns += [
                ("reference", BiText("标准值", "Reference value"), row.reference, None),
                ("indication", BiText("示值", "Indication"), row.indication, None),
            ]
        columns.append(("error", value_title or BiText("误差", "Error"), row.error, row))
        if row.mpe is not None:
            symbol = row.limit_kind.symbol
            name = (
                BiText("最大允许误差（±）", "Maximum permissible error (±)")
                if symbol == "±"
                else BiText(f"限值（{symbol}）", f"Limit ({symbol})")
            )
            columns.append(("mpe", name, row.mpe, None))
        for key, name, q, unc_row in columns:
            quantity = self.sub(lst, "quantity", refType=f"lims_{key}")
            self.text_el(quantity, "name", name)
            if is_fiducial(q):
                self.rich(
                    quantity,
                    "description",
                    BiText(
                        "引用误差（%FS，相对满量程）",
                        "Fiducial error (%FS, relative to full scale)",
                    ),
                )
            self.real(
                quantity,
                q,
                label=key,
                row=unc_row,
                text=printed.get(key),
                u_text=texts.uncertainty_number or None,
            )
            if key == "error":
                conformity = _CONFORMITY.get(row.verdict)
                if conformity is not None:
                    meta = self.sub(quantity, "measurementMetaData")
                    md = self.sub(meta, "metaData", refType="basic_conformity")
                    self.rich(md, "declaration", row.verdict.text)
                    self.sub(md, "conformity", conformity)


def pdf_sha256(pdf: bytes) -> str:
    """SHA-256 of a PDF (for archiving by content hash)."""
    return hashlib.sha256(pdf).hexdigest()
