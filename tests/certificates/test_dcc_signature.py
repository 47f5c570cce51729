"""The DCC's enveloped XML signature: schema-valid, verified offline, any edit rejected."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from lxml import etree  # type: ignore[import-untyped]

from lims.certificates import (
    CertificateType,
    LabCA,
    LabSigner,
    Meaning,
    build_dcc,
    create_lab_ca,
    issue_user_credentials,
    load_signer,
    render_pdf,
    sign_pdf,
    validate_dcc,
    verify_dcc,
)
from lims.certificates.dcc_signature import DS_NS, check_dcc_signature, sign_dcc
from lims.certificates.examples import example_document

NS = {"dcc": "https://ptb.de/dcc", "si": "https://ptb.de/si", "ds": DS_NS}
CA_PASSWORD = "dcc-ca-pass-2026"


@dataclass(frozen=True)
class Signed:
    ca: LabCA
    approver: LabSigner
    xml: bytes


def _issue(simulated: bool) -> Signed:
    ca = create_lab_ca("DCC Test Root CA", "DCC Test Lab", CA_PASSWORD)
    signers = {}
    for meaning, uid in zip(Meaning, ("zhang", "li", "wang"), strict=True):
        creds = issue_user_credentials(
            ca, CA_PASSWORD, user_id=uid, display_name=uid.title(), user_password="pw-123456"
        )
        signers[meaning] = load_signer(creds.pkcs12, "pw-123456", ca=ca)
    doc = dataclasses.replace(
        example_document(CertificateType.VERIFICATION, simulated=simulated), signatories=()
    )
    pdf = render_pdf(doc)
    for meaning in Meaning:
        pdf = sign_pdf(pdf, signers[meaning], meaning).pdf
    approver = signers[Meaning.APPROVED]
    xml = sign_dcc(
        build_dcc(doc, pdf), approver.private_key, approver.certificate, [ca.certificate]
    )
    return Signed(ca, approver, xml)


@pytest.fixture(scope="module")
def signed() -> Signed:
    return _issue(simulated=True)


def test_signed_dcc_is_schema_valid_and_verifies(signed: Signed) -> None:
    assert validate_dcc(signed.xml) == ()
    root = etree.fromstring(signed.xml)
    signature = root.find("dcc:comment/ds:Signature", NS)
    assert signature is not None  # where DCC 3.1.2 allows it: dcc:comment (xs:any)
    reference = signature.find("ds:SignedInfo/ds:Reference", NS)
    assert reference is not None
    assert reference.get("URI") == ""  # the whole document
    # KeyInfo: the approver's certificate and the lab CA
    certs = signature.findall(".//ds:X509Certificate", NS)
    assert len(certs) == 2
    check = check_dcc_signature(signed.xml, [signed.ca.certificate])
    assert check.ok, check.problems
    assert check.signer_user_id == "wang"
    result = verify_dcc(signed.xml, [signed.ca.certificate])
    assert result.ok, result.summary()
    assert result.signature is not None
    assert result.signature.ok


def test_another_ca_is_not_trusted(signed: Signed) -> None:
    other = create_lab_ca("Other Root CA", "Other Lab", CA_PASSWORD)
    check = check_dcc_signature(signed.xml, [other.certificate])
    assert not check.ok
    assert not check.altered
    assert "does not chain" in check.problems[0]


def _set_text(xpath: str, value: str) -> Callable[[etree._Element], None]:
    def edit(root: etree._Element) -> None:
        nodes = root.xpath(xpath, namespaces=NS)
        assert nodes, xpath
        nodes[0].text = value

    return edit


def _drop_simulated(root: etree._Element) -> None:
    nodes = root.xpath("//dcc:statement[@refType='lims_simulated']", namespaces=NS)
    assert nodes
    nodes[0].getparent().remove(nodes[0])


EDITS: dict[str, Callable[[etree._Element], None]] = {
    "verdict pass→fail": _set_text(
        "//dcc:statement[@refType='basic_conformity']/dcc:conformity", "fail"
    ),
    "customer": _set_text("//dcc:customer/dcc:name/dcc:content", "Someone Else Ltd."),
    "serial": _set_text(
        "//dcc:identification[@refType='basic_serialNumber']/dcc:value", "SN-FORGED"
    ),
    "valid until": _set_text("//dcc:statement[@refType='lims_validUntil']/dcc:date", "2099-12-31"),
    "temperature": _set_text(
        "//dcc:influenceCondition[@refType='basic_temperature']//si:value", "35"
    ),
    "SIMULATED flag removed": _drop_simulated,
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_any_edit_is_rejected(signed: Signed, edit: str) -> None:
    root = etree.fromstring(signed.xml)
    EDITS[edit](root)
    edited = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    check = check_dcc_signature(edited, [signed.ca.certificate])
    assert not check.ok
    assert check.altered
    result = verify_dcc(edited, [signed.ca.certificate])
    assert not result.ok
    assert result.altered


def test_resigned_by_someone_else_is_rejected(signed: Signed) -> None:
    """A forger with a key of the lab's CA, but not the approver, re-signs an edited DCC."""
    root = etree.fromstring(signed.xml)
    comment = root.find("dcc:comment", NS)
    comment.getparent().remove(comment)
    unsigned = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    creds = issue_user_credentials(
        signed.ca, CA_PASSWORD, user_id="zhao", display_name="Zhao", user_password="pw-123456"
    )
    forger = load_signer(creds.pkcs12, "pw-123456", ca=signed.ca)
    forged = sign_dcc(unsigned, forger.private_key, forger.certificate, [signed.ca.certificate])
    assert check_dcc_signature(forged, [signed.ca.certificate]).ok  # the signature itself holds
    result = verify_dcc(forged, [signed.ca.certificate])
    assert not result.ok
    assert any("not by the approver" in p for p in result.problems)


def test_unsigned_dcc_is_refused(signed: Signed) -> None:
    root = etree.fromstring(signed.xml)
    comment = root.find("dcc:comment", NS)
    comment.getparent().remove(comment)
    unsigned = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    result = verify_dcc(unsigned, [signed.ca.certificate])
    assert not result.ok
    assert "no XML signature" in result.problems[0]


def test_embedded_pdf_still_checked(signed: Signed) -> None:
    root = etree.fromstring(signed.xml)
    data = root.find("dcc:document/dcc:dataBase64", NS)
    pdf = bytearray(base64.b64decode(data.text))
    pdf[len(pdf) // 3] ^= 0x01
    data.text = base64.b64encode(bytes(pdf)).decode("ascii")
    edited = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    result = verify_dcc(edited, [signed.ca.certificate])
    assert not result.ok
    assert result.altered
