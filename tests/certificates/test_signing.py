"""PAdES signatures: three in order, valid for pyHanko and poppler's pdfsig; tampering fails."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lims.certificates import (
    CertificateType,
    Meaning,
    SigningError,
    create_lab_ca,
    issue_user_credentials,
    load_signer,
    render_pdf,
    sign_pdf,
    verify_pdf,
)
from lims.certificates.examples import example_document

from .conftest import CA_PASSWORD, Pki, SignedCase


@pytest.mark.parametrize("kind", list(CertificateType))
def test_three_signatures_validate_with_pyhanko(
    kind: CertificateType, signed: dict[CertificateType, SignedCase], pki: Pki
) -> None:
    case = signed[kind]
    report = verify_pdf(case.pdf, [pki.ca.certificate])
    assert report.ok, report.summary()
    assert report.signed_meanings == tuple(Meaning)
    assert report.content_hash == case.doc.content_hash()
    assert report.declared_hash == case.doc.content_hash()
    assert report.certificate_number == case.doc.number
    assert report.simulated is case.doc.simulated
    for check, meaning in zip(report.signatures, Meaning, strict=True):
        assert check.intact
        assert check.valid
        assert check.trusted
        assert check.signer_user_id == pki.signers[meaning].user_id
        assert check.signer_name == pki.signers[meaning].display_name
        assert check.reason.startswith(meaning.value)
    assert report.signatures[-1].coverage == "ENTIRE_FILE"
    # The independent pyHanko API agrees, signature by signature.
    from asn1crypto import x509 as asn1_x509  # type: ignore[import-untyped]
    from cryptography.hazmat.primitives import serialization
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    root = asn1_x509.Certificate.load(pki.ca.certificate.public_bytes(serialization.Encoding.DER))
    reader = PdfFileReader(io.BytesIO(case.pdf))
    assert [s.field_name for s in reader.embedded_signatures] == [
        "Sig_performed",
        "Sig_reviewed",
        "Sig_approved",
    ]
    for emb in reader.embedded_signatures:
        status = validate_pdf_signature(
            emb, ValidationContext(trust_roots=[root], allow_fetching=False)
        )
        assert status.bottom_line, status.pretty_print_details()
    assert reader.embedded_signatures[0].docmdp_level is not None  # certifying signature


@pytest.mark.skipif(shutil.which("pdfsig") is None, reason="poppler-utils (pdfsig) not installed")
def test_three_signatures_validate_with_pdfsig(
    signed: dict[CertificateType, SignedCase], tmp_path: Path
) -> None:
    for kind, case in signed.items():
        path = tmp_path / f"{kind.value}.pdf"
        path.write_bytes(case.pdf)
        out = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True).stdout
        assert out.count("Signature Validation: Signature is Valid.") == 3, out
        assert "Total document signed" in out.split("Signature #3")[1], out
        fields = re.findall(r"Signature Field Name: (\S+)", out)
        assert fields == ["Sig_performed", "Sig_reviewed", "Sig_approved"]
        assert "张伟 Zhang Wei" in out
        assert "李娜 Li Na" in out
        assert "王芳 Wang Fang" in out


def _contents_ranges(pdf: bytes) -> list[tuple[int, int]]:
    """(start, end) of each /Contents <hex> string of the signatures."""
    ranges = []
    for m in re.finditer(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", pdf):
        a, b, c, _d = (int(x) for x in m.groups())
        ranges.append((a + b, c))
    return ranges


def test_flipping_any_byte_fails_with_a_reason(
    signed: dict[CertificateType, SignedCase], pki: Pki
) -> None:
    pdf = signed[CertificateType.VERIFICATION].pdf
    positions = set(range(0, len(pdf), max(1, len(pdf) // 45)))
    positions |= {len(pdf) - 1, len(pdf) - 7, 1, 9}
    ranges = _contents_ranges(pdf)
    for start, end in ranges:
        # the hex string: its delimiters, the DER signature, and the zero padding at its end
        positions |= {start, start + 1, start + 40, (start + end) // 2, end - 3, end - 1}
    # The last signature's container is covered by no later signature: sample it densely.
    last_start, _last_end = ranges[-1]
    der_hex_end = pdf.index(b"0000000000", last_start)
    positions |= set(range(last_start + 1, der_hex_end, 37))
    for pos in sorted(positions):
        tampered = bytearray(pdf)
        tampered[pos] ^= 0x01
        report = verify_pdf(bytes(tampered), [pki.ca.certificate])
        assert not report.ok, (
            f"flip at byte {pos} went unnoticed (signature /Contents ranges {ranges}); "
            f"context {pdf[pos - 24 : pos + 8]!r}"
        )
        reasons = list(report.problems) + [p for s in report.signatures for p in s.problems]
        assert reasons, f"flip at byte {pos}: failed without a reason"


def test_changes_after_signing_and_wrong_roots_fail(
    signed: dict[CertificateType, SignedCase], pki: Pki
) -> None:
    case = signed[CertificateType.VERIFICATION]
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(case.pdf))
    info = writer.trailer["/Info"].get_object()
    info[generic.NameObject("/Keywords")] = generic.TextStringObject(
        "certificate-number=FORGED, content-sha256=" + "0" * 64
    )
    writer.update_container(info)
    out = io.BytesIO()
    writer.write(out)
    report = verify_pdf(out.getvalue(), [pki.ca.certificate])
    assert not report.ok
    assert any("changed after the last signature" in p for p in report.signatures[-1].problems)

    other = create_lab_ca("Other CA", "Other", "pw")
    report = verify_pdf(case.pdf, [other.certificate])
    assert not report.ok
    assert all(
        "does not chain to the given lab CA" in " ".join(s.problems) for s in report.signatures
    )

    partial = verify_pdf(case.stages[1], [pki.ca.certificate])
    assert not partial.ok
    assert "unsigned Sig_approved" in " ".join(partial.problems)
    draft_ok = verify_pdf(case.stages[1], [pki.ca.certificate], require_complete=False)
    assert draft_ok.ok, draft_ok.summary()
    assert (
        verify_pdf(b"not a pdf", [pki.ca.certificate]).problems[0].startswith("cannot read the PDF")
    )


def test_order_and_distinct_signers_are_enforced(pki: Pki) -> None:
    pdf = render_pdf(example_document(number="ORD-1"))
    with pytest.raises(SigningError, match="performed has not signed yet"):
        sign_pdf(pdf, pki.signers[Meaning.REVIEWED], Meaning.REVIEWED)
    first = sign_pdf(pdf, pki.signers[Meaning.PERFORMED], Meaning.PERFORMED)
    assert first.user_id == "zhang.wei"
    assert first.content_hash == example_document(number="ORD-1").content_hash()
    assert first.signed_at.tzinfo is not None
    assert first.signed_at.utcoffset().total_seconds() == 0
    with pytest.raises(SigningError, match="already signed"):
        sign_pdf(first.pdf, pki.signers[Meaning.REVIEWED], Meaning.PERFORMED)
    with pytest.raises(SigningError, match="three different people"):
        sign_pdf(first.pdf, pki.signers[Meaning.PERFORMED], Meaning.REVIEWED)
    with pytest.raises(SigningError, match="cannot read"):
        sign_pdf(b"%PDF-1.4 garbage", pki.signers[Meaning.PERFORMED], Meaning.PERFORMED)


def test_signer_must_match_assigned_signatory(pki: Pki) -> None:
    """A valid lab user who is not the assigned reviewer is reported."""
    stranger = issue_user_credentials(
        pki.ca, CA_PASSWORD, user_id="zhao.qi", display_name="赵琦 Zhao Qi", user_password="z"
    )
    pdf = render_pdf(example_document(number="ASSIGN-1"))
    pdf = sign_pdf(pdf, pki.signers[Meaning.PERFORMED], Meaning.PERFORMED).pdf
    pdf = sign_pdf(pdf, load_signer(stranger.pkcs12, "z"), Meaning.REVIEWED).pdf
    pdf = sign_pdf(pdf, pki.signers[Meaning.APPROVED], Meaning.APPROVED).pdf
    report = verify_pdf(pdf, [pki.ca.certificate])
    assert not report.ok
    assert "signed by 'zhao.qi' but the certificate names 'li.na'" in report.summary()
