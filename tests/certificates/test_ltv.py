"""PAdES B-LTA certificates: timestamps, DSS, document timestamp, checked by independent tools.

poppler's ``pdfsig`` and pyHanko's own AdES validator (with nothing but the lab CA
as trust anchor and revocation data required) confirm what the project writes;
the project's verifier accepts a later validation-data update and rejects an added
annotation.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import io
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import cms, tsp  # type: ignore[import-untyped]
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization

from lims.certificates import (
    CertificateType,
    LabCA,
    LabSigner,
    Meaning,
    create_lab_ca,
    issue_user_credentials,
    load_signer,
    render_pdf,
    sign_pdf,
    verify_pdf,
)
from lims.certificates.examples import example_document
from lims.certificates.ltv import ValidationData, add_validation_data
from lims.certificates.tsa import (
    TsaCredentials,
    issue_crl,
    issue_tsa_credentials,
    lab_timestamper,
)

CA_PASSWORD = "ltv-ca-pass-2026"


@dataclass(frozen=True)
class Issued:
    ca: LabCA
    tsa: TsaCredentials
    crl: bytes
    signers: dict[Meaning, LabSigner]
    signed: bytes
    """After the three timestamped signatures (B-T)."""
    issued: bytes
    """With DSS and document timestamp (B-LTA)."""


@pytest.fixture(scope="module")
def issued() -> Issued:
    ca = create_lab_ca("LTV Test Root CA", "LTV Test Lab", CA_PASSWORD)
    tsa = issue_tsa_credentials(ca, CA_PASSWORD)
    crl = issue_crl(ca, CA_PASSWORD, number=1)
    stamper = lab_timestamper(tsa, ca.certificate)
    signers = {}
    for meaning, uid in zip(Meaning, ("zhang", "li", "wang"), strict=True):
        creds = issue_user_credentials(
            ca, CA_PASSWORD, user_id=uid, display_name=uid.title(), user_password="pw-123456"
        )
        signers[meaning] = load_signer(creds.pkcs12, "pw-123456", ca=ca)
    doc = dataclasses.replace(example_document(CertificateType.VERIFICATION), signatories=())
    pdf = render_pdf(doc)
    for meaning in Meaning:
        pdf = sign_pdf(pdf, signers[meaning], meaning, timestamper=stamper).pdf
    lta = add_validation_data(pdf, stamper, ValidationData(ca.certificate, (crl,), tsa.certificate))
    return Issued(ca, tsa, crl, signers, pdf, lta)


def test_tsa_certificate_is_for_timestamping_only(issued: Issued) -> None:
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    cert = issued.tsa.certificate
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical  # RFC 3161 § 2.3
    assert list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    cert.verify_directly_issued_by(issued.ca.certificate)


@pytest.mark.skipif(shutil.which("pdfsig") is None, reason="poppler's pdfsig is not installed")
def test_pdfsig_lists_signatures_with_timestamps_and_the_document_timestamp(
    issued: Issued, tmp_path: Path
) -> None:
    path = tmp_path / "issued.pdf"
    path.write_bytes(issued.issued)
    out = subprocess.run(
        ["pdfsig", "-nocert", str(path)], capture_output=True, text=True, timeout=60
    ).stdout
    blocks = out.split("Signature #")[1:]
    assert len(blocks) == 4, out
    fields = [b.split("Signature Field Name: ")[1].splitlines()[0] for b in blocks]
    assert fields == ["Sig_performed", "Sig_reviewed", "Sig_approved", "DocTimeStamp"]
    tsa_cn = issued.tsa.certificate.subject.rfc4514_string().split("CN=")[1].split(",")[0]
    assert f"Signer Certificate Common Name: {tsa_cn}" in blocks[3]
    assert "Total document signed" in blocks[3]
    for block in blocks:
        assert "Signature Validation: Signature is Valid." in block or block is blocks[3]

    # pdfsig -dump writes each CMS container; every signature carries an RFC 3161 token
    # whose imprint is the SHA-256 of that signature's value (RFC 3161 appendix A).
    subprocess.run(["pdfsig", "-dump", str(path)], cwd=tmp_path, capture_output=True, timeout=60)
    dumps = sorted(tmp_path.glob("issued.pdf.sig*"))
    assert len(dumps) == 4
    for dump in dumps[:3]:
        info = cms.ContentInfo.load(dump.read_bytes().rstrip(b"\0"), strict=False)
        signer = info["content"]["signer_infos"][0]
        attrs = {a["type"].native: a["values"][0] for a in signer["unsigned_attrs"]}
        token = attrs["signature_time_stamp_token"]
        tst = token["content"]["encap_content_info"]["content"].parsed
        assert isinstance(tst, tsp.TSTInfo)
        imprint = tst["message_imprint"]
        assert imprint["hash_algorithm"]["algorithm"].native == "sha256"
        assert (
            imprint["hashed_message"].native == hashlib.sha256(signer["signature"].native).digest()
        )


def _lta_spec(roots: list[asn1_x509.Certificate]):  # type: ignore[no-untyped-def]
    from pyhanko.sign.validation.policy_decl import (
        PdfSignatureValidationSpec,
        SignatureValidationSpec,
    )
    from pyhanko_certvalidator.context import CertValidationPolicySpec
    from pyhanko_certvalidator.policy_decl import (
        CertRevTrustPolicy,
        RevocationCheckingPolicy,
        RevocationCheckingRule,
    )
    from pyhanko_certvalidator.registry import SimpleTrustManager

    required = RevocationCheckingPolicy(
        ee_certificate_rule=RevocationCheckingRule.CRL_REQUIRED,
        intermediate_ca_cert_rule=RevocationCheckingRule.CRL_REQUIRED,
    )
    return PdfSignatureValidationSpec(
        SignatureValidationSpec(
            cert_validation_policy=CertValidationPolicySpec(
                trust_manager=SimpleTrustManager.build(trust_roots=roots),
                revinfo_policy=CertRevTrustPolicy(required),
            )
        )
    )


def _ades_lta(pdf: bytes, ca_pem: bytes) -> list[object]:
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation.ades import ades_lta_validation

    der = serialization.Encoding.DER
    from cryptography import x509

    roots = [
        asn1_x509.Certificate.load(c.public_bytes(der))
        for c in x509.load_pem_x509_certificates(ca_pem)
        if c.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    ]
    reader = PdfFileReader(io.BytesIO(pdf))
    spec = _lta_spec(roots)
    return [
        asyncio.run(ades_lta_validation(emb, spec)).ades_subindic
        for emb in reader.embedded_regular_signatures
    ]


def test_pyhanko_validates_ltv_with_only_the_exported_ca(issued: Issued) -> None:
    from pyhanko.sign.ades.report import AdESPassed

    exported = issued.ca.certificate_pem + issued.tsa.certificate_pem
    # revocation data required: passes only because the DSS carries the lab CA's CRL
    assert _ades_lta(issued.issued, exported) == [AdESPassed.OK] * 3
    assert _ades_lta(issued.signed, exported) != [AdESPassed.OK] * 3

    report = verify_pdf(issued.issued, [issued.ca.certificate])
    assert report.ok, report.summary()
    assert report.long_term
    assert all(s.timestamp is not None for s in report.signatures)
    assert [t.field_name for t in report.timestamps] == ["DocTimeStamp"]
    # B-T without the LTA update verifies, but is not long-term
    plain = verify_pdf(issued.signed, [issued.ca.certificate])
    assert plain.ok
    assert not plain.long_term


def test_a_later_dss_and_timestamp_update_is_accepted(issued: Issued) -> None:
    stamper = lab_timestamper(issued.tsa, issued.ca.certificate)
    renewed = add_validation_data(
        issued.issued,
        stamper,
        ValidationData(issued.ca.certificate, (issued.crl,), issued.tsa.certificate),
        field_name="DocTimeStamp2",
    )
    report = verify_pdf(renewed, [issued.ca.certificate])
    assert report.ok, report.summary()
    assert [t.field_name for t in report.timestamps] == ["DocTimeStamp", "DocTimeStamp2"]
    approved = report.signatures[-1]
    assert approved.coverage == "ENTIRE_REVISION"
    assert approved.modification_level == "LTA_UPDATES"


def _with_annotation(pdf: bytes) -> bytes:
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    page_ref = writer.root["/Pages"]["/Kids"][0]
    page = page_ref.get_object()
    annot = generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Annot"),
            generic.NameObject("/Subtype"): generic.NameObject("/Text"),
            generic.NameObject("/Rect"): generic.ArrayObject(
                [generic.FloatObject(v) for v in (100, 100, 120, 120)]
            ),
            generic.NameObject("/Contents"): generic.TextStringObject("pass -> fail"),
        }
    )
    annots = page.get("/Annots", generic.ArrayObject())
    annots.append(writer.add_object(annot))
    page[generic.NameObject("/Annots")] = annots
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_an_added_annotation_is_rejected(issued: Issued) -> None:
    edited = _with_annotation(issued.issued)
    report = verify_pdf(edited, [issued.ca.certificate])
    assert not report.ok
    assert report.altered
    assert any("after" in p for t in report.timestamps for p in t.problems), report.summary()
    # and never "does not chain" for signatures that are only outdated by the edit
    assert not any("does not chain" in p for s in report.signatures for p in s.problems)


def test_byte_flip_is_reported_as_altered(issued: Issued) -> None:
    data = bytearray(issued.issued)
    data[len(data) // 4] ^= 0x01
    report = verify_pdf(bytes(data), [issued.ca.certificate])
    assert not report.ok
    assert report.altered
    assert not any("does not chain" in p for s in report.signatures for p in s.problems)


def test_timestamps_keep_signatures_verifiable_after_the_signers_certificates_expire(
    issued: Issued,
) -> None:
    """Five years on, the signers' three-year certificates have expired; the TSA's (ten years)
    and the CA's (twenty) have not. The timestamps prove when each signature was made."""
    from datetime import UTC, datetime, timedelta

    later = datetime.now(UTC) + timedelta(days=5 * 365)
    assert all(s.certificate.not_valid_after_utc < later for s in issued.signers.values())
    assert issued.tsa.certificate.not_valid_after_utc > later
    report = verify_pdf(issued.issued, [issued.ca.certificate], at=later)
    assert report.ok, report.summary()
    # the same document signed without timestamps (PAdES B-B) cannot be trusted then
    doc = dataclasses.replace(example_document(CertificateType.VERIFICATION), signatories=())
    plain = render_pdf(doc)
    for meaning in Meaning:
        plain = sign_pdf(plain, issued.signers[meaning], meaning).pdf
    assert verify_pdf(plain, [issued.ca.certificate]).ok
    untimed = verify_pdf(plain, [issued.ca.certificate], at=later)
    assert not untimed.ok
    assert not untimed.altered
    assert all("does not chain" in s.problems[0] for s in untimed.signatures)
