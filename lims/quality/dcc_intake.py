"""Reading a standard's incoming Digital Calibration Certificate (PTB DCC 3.1.2).

:func:`read_dcc` refuses, with the reason, a file that is not well-formed XML, is
not a DCC 3.1.2 that validates against the packaged schema, or carries an XML
signature (``ds:Signature``) that does not verify. A present signature is verified
against the signer certificate it carries (and, when trust anchors are given, that
certificate must be issued by one of them and be valid on the signing day); the data
are then read from what the signature covers. The values read become a
:class:`~lims.quality.standard_certificates.CertificateData` to show and confirm.

What is read: the number (``coreData/uniqueIdentifier``), the issuing laboratory
(``calibrationLaboratory``), the calibration date (``endPerformanceDate``), the date
of issue and the end of validity when a statement gives them (``…issueDate``,
``…validUntil`` / ``…recalibrationDate``), every result value with an expanded
uncertainty (``si:real`` and ``si:realListXMLList``) and, as the calibrated range,
the span of the points each result row is stated at.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from lxml import etree  # type: ignore[import-untyped]

from lims.certificates.dcc import validate_dcc
from lims.quality.errors import QualityError
from lims.quality.standard_certificates import CalibratedRange, CertificateData, CertifiedValue
from lims.units import UnitParseError, ureg

__all__ = ["DccIntakeError", "DccReading", "dsi_to_unit", "read_dcc"]

DCC_NS = "https://ptb.de/dcc"
SI_NS = "https://ptb.de/si"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
_NS = {"dcc": DCC_NS, "si": SI_NS, "ds": DS_NS}


class DccIntakeError(QualityError):
    """A DCC that cannot be taken in (schema, signature, missing data); nothing was recorded."""


@dataclass(frozen=True)
class DccReading:
    """What a DCC states about a standard's calibration, before confirmation."""

    number: str
    issuer: str
    issuer_code: str
    item: str
    calibrated_on: date
    issued_on: date | None
    valid_until: date | None
    values: tuple[CertifiedValue, ...]
    ranges: tuple[CalibratedRange, ...]
    sha256: str
    #: ``absent`` or who signed it (the signer certificate's subject).
    signature: str
    schema_version: str
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_data(
        self, *, issued_on: date | None = None, valid_until: date | None = None
    ) -> CertificateData:
        """The certificate record; ``issued_on``/``valid_until`` fill what the DCC leaves out."""
        issued = self.issued_on or issued_on
        until = self.valid_until or valid_until
        if issued is None:
            raise DccIntakeError(
                f"DCC {self.number}: states no date of issue; give it with --issued"
            )
        if until is None:
            raise DccIntakeError(
                f"DCC {self.number}: states no end of validity; give it with --valid-until"
            )
        return CertificateData(
            number=self.number,
            issuer=self.issuer,
            calibrated_on=self.calibrated_on,
            issued_on=issued,
            valid_until=until,
            values=self.values,
            ranges=self.ranges,
            source="dcc",
            dcc={
                "sha256": self.sha256,
                "signature": self.signature,
                "issuer_code": self.issuer_code,
                "schema_version": self.schema_version,
                "item": self.item,
            },
        )

    def summary_lines(self) -> list[str]:
        """What was read, one fact per line (for the confirmation prompt)."""
        lines = [
            f"证书编号 number:        {self.number}",
            f"出具机构 issuer:        {self.issuer} ({self.issuer_code or '—'})",
            f"被校对象 item:          {self.item or '—'}",
            f"校准日期 calibrated:    {self.calibrated_on.isoformat()}",
            f"签发日期 issued:        {self.issued_on.isoformat() if self.issued_on else '—'}",
            f"有效期至 valid until:   {self.valid_until.isoformat() if self.valid_until else '—'}",
            f"签名 signature:         {self.signature}",
            f"SHA-256:                {self.sha256}",
        ]
        lines += [f"校准范围 range:        {r.describe()}" for r in self.ranges]
        lines += [f"  值 value: {v.describe()}" for v in self.values]
        lines += [f"注 note: {n}" for n in self.notes]
        return lines


def read_dcc(
    xml: bytes, *, trust_roots: Sequence[x509.Certificate] = (), today: date | None = None
) -> DccReading:
    """Validate, check the signature of, and read a DCC; :class:`DccIntakeError` if refused."""
    try:
        root = etree.fromstring(xml, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise DccIntakeError(f"not well-formed XML: {exc}") from exc
    if etree.QName(root).localname != "digitalCalibrationCertificate" or (
        etree.QName(root).namespace != DCC_NS
    ):
        raise DccIntakeError("not a DCC: the root element is not dcc:digitalCalibrationCertificate")
    version = root.get("schemaVersion") or ""
    if not version.startswith("3."):
        raise DccIntakeError(f"DCC schema version {version or '(none)'}: only 3.x is read")
    signatures = root.findall(".//ds:Signature", _NS)
    signer = "absent"
    if signatures:
        root, signer = _verified(xml, signatures, trust_roots)
    unsigned = _without_enveloped_signatures(root)
    errors = validate_dcc(etree.tostring(unsigned))
    if errors:
        raise DccIntakeError(
            f"the DCC does not validate against DCC {version}: {'; '.join(errors[:3])}"
        )
    return _read(unsigned, hashlib.sha256(xml).hexdigest(), signer, version)


def _parser() -> Any:
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


def _without_enveloped_signatures(root: Any) -> Any:
    """A copy without signatures that are direct children of the root (enveloped ones)."""
    copy = etree.fromstring(etree.tostring(root), parser=_parser())
    for sig in copy.findall("ds:Signature", _NS):
        copy.remove(sig)
    return copy


def _verified(
    xml: bytes, signatures: list[Any], trust_roots: Sequence[x509.Certificate]
) -> tuple[Any, str]:
    """Verify the one signature; return the signed element and the signer's subject."""
    from signxml.exceptions import InvalidInput
    from signxml.verifier import XMLVerifier

    if len(signatures) != 1:
        raise DccIntakeError(f"the DCC carries {len(signatures)} XML signatures; one is read")
    cert_text = signatures[0].findtext(".//ds:X509Certificate", None, _NS)
    if not cert_text:
        raise DccIntakeError("XML signature: no signer certificate (ds:X509Certificate)")
    try:
        cert = x509.load_der_x509_certificate(base64.b64decode("".join(cert_text.split())))
    except ValueError as exc:
        raise DccIntakeError(
            f"XML signature: the signer certificate cannot be read: {exc}"
        ) from exc
    try:
        result = XMLVerifier().verify(xml, x509_cert=cert, parser=_parser())
    except (InvalidSignature, InvalidInput) as exc:
        raise DccIntakeError(f"XML signature does not verify: {exc}") from exc
    except Exception as exc:  # signxml raises its own errors for malformed signatures
        raise DccIntakeError(f"XML signature does not verify: {exc}") from exc
    if trust_roots:
        _check_issuer(cert, trust_roots)
    signed = result[0].signed_xml if isinstance(result, list) else result.signed_xml
    if signed is None or etree.QName(signed).localname != "digitalCalibrationCertificate":
        raise DccIntakeError("XML signature does not cover the whole DCC")
    return signed, f"valid: {cert.subject.rfc4514_string()}"


def _check_issuer(cert: x509.Certificate, roots: Sequence[x509.Certificate]) -> None:
    for root in roots:
        if cert.issuer != root.subject:
            continue
        try:
            cert.verify_directly_issued_by(root)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return
    raise DccIntakeError(
        f"XML signature: the signer {cert.subject.rfc4514_string()} is not issued by a trusted CA"
    )


def _text(el: Any, path: str) -> str:
    value = el.findtext(path, None, _NS)
    return (value or "").strip()


def _contents(el: Any | None) -> str:
    """The texts of a ``dcc:content`` group, Chinese and English joined once each."""
    if el is None:
        return ""
    texts = [(c.text or "").strip() for c in el.findall("dcc:content", _NS)]
    return " ".join(dict.fromkeys(t for t in texts if t))


def _date(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text[:10])
    except ValueError as exc:
        raise DccIntakeError(f"{what}: {text!r} is not a date") from exc


def _statement_date(root: Any, *suffixes: str) -> date | None:
    for st in root.iterfind("dcc:administrativeData/dcc:statements/dcc:statement", _NS):
        ref = st.get("refType") or ""
        if any(ref.endswith(s) for s in suffixes):
            when = _text(st, "dcc:date")
            if when:
                return _date(when, f"statement {ref}")
    return None


def _read(root: Any, sha256: str, signer: str, version: str) -> DccReading:
    admin = "dcc:administrativeData"
    number = _text(root, f"{admin}/dcc:coreData/dcc:uniqueIdentifier")
    lab = root.find(f"{admin}/dcc:calibrationLaboratory", _NS)
    issuer = _contents(lab.find("dcc:contact/dcc:name", _NS)) if lab is not None else ""
    code = _text(lab, "dcc:calibrationLaboratoryCode") if lab is not None else ""
    item = root.find(f"{admin}/dcc:items/dcc:item", _NS)
    item_text = ""
    if item is not None:
        serial = _text(item, "dcc:identifications/dcc:identification/dcc:value")
        item_text = " ".join(
            x
            for x in (_contents(item.find("dcc:name", _NS)), _text(item, "dcc:model"), serial)
            if x
        )
    if not number or not issuer:
        raise DccIntakeError("the DCC names no certificate number or no calibration laboratory")
    calibrated = _date(
        _text(root, f"{admin}/dcc:coreData/dcc:endPerformanceDate"), "endPerformanceDate"
    )
    values, points, notes = _results(root)
    ranges = _ranges(points)
    if not values:
        notes.append("no result states an expanded uncertainty")
    return DccReading(
        number=number,
        issuer=issuer,
        issuer_code=code,
        item=item_text,
        calibrated_on=calibrated,
        issued_on=_statement_date(root, "issueDate", "dateOfIssue"),
        valid_until=_statement_date(root, "validUntil", "recalibrationDate"),
        values=tuple(values),
        ranges=tuple(ranges),
        sha256=sha256,
        signature=signer,
        schema_version=version,
        notes=tuple(notes),
    )


_QUANTITY = "dcc:quantity"


def _results(root: Any) -> tuple[list[CertifiedValue], list[tuple[str, Any]], list[str]]:
    """Values with U, the points they are stated at (name, quantity), notes."""
    values: list[CertifiedValue] = []
    points: list[tuple[str, Any]] = []
    notes: list[str] = []
    path = "dcc:measurementResults/dcc:measurementResult/dcc:results/dcc:result"
    for result in root.iterfind(path, _NS):
        title = _contents(result.find("dcc:name", _NS))
        # a row is any element holding quantities directly (dcc:list or dcc:data)
        for row in result.iter(f"{{{DCC_NS}}}list", f"{{{DCC_NS}}}data"):
            quantities = row.findall(_QUANTITY, _NS)
            if not quantities:
                continue
            row_points: list[tuple[str, Any]] = []
            row_values: list[tuple[str, list[CertifiedValue]]] = []
            for q in quantities:
                name = _contents(q.find("dcc:name", _NS)) or (q.get("refType") or "")
                try:
                    found = _quantity_values(q, name)
                except DccIntakeError as exc:
                    notes.append(f"{title} {name}: {exc}")
                    continue
                with_u = [v for v in found if v.expanded_uncertainty is not None]
                if with_u:
                    row_values.append((name, with_u))
                elif found and not row_points:
                    row_points = [(name, v.value) for v in found]
            for name, found in row_values:
                for i, v in enumerate(found):
                    at = f" @ {row_points[i][1]:~P}" if i < len(row_points) else ""
                    label = f"{title}: {name}{at}" if title else f"{name}{at}"
                    values.append(CertifiedValue(label, v.value, v.expanded_uncertainty, v.k))
            if row_values:
                points += row_points
    return values, points, notes


def _quantity_values(q: Any, name: str) -> list[CertifiedValue]:
    real = q.find("si:real", _NS)
    if real is not None:
        unit = dsi_to_unit(_text(real, "si:unit"))
        value = ureg.Quantity(_float(_text(real, "si:value"), name), unit)
        unc = real.find("si:expandedUnc", _NS)
        if unc is None:
            return [CertifiedValue(name, value)]
        big_u = ureg.Quantity(_float(_text(unc, "si:uncertainty"), name), unit)
        return [CertifiedValue(name, value, big_u, _float(_text(unc, "si:coverageFactor"), name))]
    lst = q.find("si:realListXMLList", _NS)
    if lst is None:
        return []
    numbers = [_float(t, name) for t in _text(lst, "si:valueXMLList").split()]
    units = [dsi_to_unit(t) for t in _text(lst, "si:unitXMLList").split()]
    if len(units) == 1:
        units *= len(numbers)
    if len(units) != len(numbers):
        raise DccIntakeError("unitXMLList and valueXMLList differ in length")
    unc = lst.find("si:expandedUncXMLList", _NS)
    if unc is None:
        return [
            CertifiedValue(name, ureg.Quantity(n, u)) for n, u in zip(numbers, units, strict=True)
        ]
    us = [_float(t, name) for t in _text(unc, "si:uncertaintyXMLList").split()]
    ks = [_float(t, name) for t in _text(unc, "si:coverageFactorXMLList").split()]
    us = us * len(numbers) if len(us) == 1 else us
    ks = ks * len(numbers) if len(ks) == 1 else ks
    if not len(us) == len(ks) == len(numbers):
        raise DccIntakeError("expandedUncXMLList and valueXMLList differ in length")
    return [
        CertifiedValue(name, ureg.Quantity(n, u), ureg.Quantity(big_u, u), k)
        for n, u, big_u, k in zip(numbers, units, us, ks, strict=True)
    ]


def _float(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError as exc:
        raise DccIntakeError(f"{what}: {text!r} is not a number") from exc


def _ranges(points: list[tuple[str, Any]]) -> list[CalibratedRange]:
    """Per dimension, the span of the points results are stated at."""
    by_dim: dict[Any, tuple[str, list[Any]]] = {}
    for name, q in points:
        by_dim.setdefault(q.dimensionality, (name, []))[1].append(q)
    out = []
    for name, qs in by_dim.values():
        unit = qs[0].units
        mags = [float(q.to(unit).magnitude) for q in qs]
        out.append(
            CalibratedRange(name, ureg.Quantity(min(mags), unit), ureg.Quantity(max(mags), unit))
        )
    return out


_PREFIX = {
    "yotta": "Y", "zetta": "Z", "exa": "E", "peta": "P", "tera": "T", "giga": "G",
    "mega": "M", "kilo": "k", "hecto": "h", "deca": "da", "deci": "d", "centi": "c",
    "milli": "m", "micro": "µ", "nano": "n", "pico": "p", "femto": "f", "atto": "a",
}  # fmt: skip
_UNIT = {
    "metre": "m", "gram": "g", "second": "s", "minute": "min", "hour": "h", "day": "d",
    "mole": "mol", "ampere": "A", "kelvin": "K", "candela": "cd", "degreecelsius": "degC",
    "litre": "L", "watt": "W", "joule": "J", "volt": "V", "ohm": "Ω", "hertz": "Hz",
    "newton": "N", "pascal": "Pa", "bar": "bar", "coulomb": "C", "siemens": "S",
    "tonne": "t", "percent": "%", "one": "", "ppm": "ppm", "voltampere": "VA",
}  # fmt: skip
_TOKEN = re.compile(r"\\(?P<name>[a-z]+)(?:\\tothe\{(?P<exp>-?\d+(?:\.\d+)?)\})?")


def dsi_to_unit(text: str) -> Any:
    """A pint unit for a D-SI unit string (``\\micro\\mole\\mole\\tothe{-1}`` → µmol/mol)."""
    pos, prefix, per = 0, "", False
    factors: list[str] = []
    text = text.strip()
    if not text:
        raise DccIntakeError("a quantity states no unit (si:unit)")
    for m in _TOKEN.finditer(text):
        if m.start() != pos:
            break
        pos = m.end()
        name = m["name"]
        if name == "per":
            per = True
            continue
        if name in _PREFIX and not prefix and m["exp"] is None:
            prefix = _PREFIX[name]
            continue
        if name not in _UNIT:
            raise DccIntakeError(f"D-SI unit {text!r}: {name!r} is not a unit this lab reads")
        exp = float(m["exp"]) if m["exp"] else 1.0
        if per:
            exp, per = -exp, False
        symbol = prefix + _UNIT[name]
        prefix = ""
        if symbol:
            factors.append(f"({symbol})**{exp:g}")
    if pos != len(text) or prefix:
        raise DccIntakeError(f"D-SI unit {text!r} cannot be read")
    try:
        return ureg.Unit("*".join(factors)) if factors else ureg.dimensionless
    except (UnitParseError, ValueError, AttributeError) as exc:
        raise DccIntakeError(f"D-SI unit {text!r} cannot be read: {exc}") from exc
