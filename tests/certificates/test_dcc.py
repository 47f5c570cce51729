"""The DCC: schema-valid offline, same values as the document, embedded signed PDF verifies."""

from __future__ import annotations

import base64
import socket
from pathlib import Path

import pytest
import xmlschema
from lxml import etree  # type: ignore[import-untyped]

from lims.certificates import (
    CertificateType,
    DccError,
    Meaning,
    Verdict,
    build_dcc,
    render_pdf,
    sign_pdf,
    to_dsi_unit,
    validate_dcc,
    verify_dcc,
)
from lims.certificates.dcc import SCHEMA_PATH, dcc_schema
from lims.certificates.examples import example_document

from .conftest import ROOT, Pki, SignedCase

NS = {"dcc": "https://ptb.de/dcc", "si": "https://ptb.de/si"}
SHARED_XSD = ROOT.parent / "shared" / "schemas" / "dcc-3.1.2" / "dcc.xsd"
CONFORMITY = {Verdict.PASS: "pass", Verdict.FAIL: "fail"}


@pytest.fixture(scope="module")
def dccs(signed: dict[CertificateType, SignedCase], out_dir: Path) -> dict[CertificateType, bytes]:
    result = {}
    for kind, case in signed.items():
        xml = build_dcc(case.doc, case.pdf)
        (out_dir / f"{kind.value}-{case.doc.number}.dcc.xml").write_bytes(xml)
        result[kind] = xml
    return result


def test_packaged_schema_is_the_shared_one() -> None:
    if not SHARED_XSD.exists():
        pytest.skip("shared/ schemas not beside the repository")
    for name in ("dcc.xsd", "SI_Format.xsd", "COPYING.LESSER"):
        assert (SCHEMA_PATH.parent / name).read_bytes() == (SHARED_XSD.parent / name).read_bytes()


@pytest.mark.parametrize("kind", list(CertificateType))
def test_dcc_validates_against_the_xsd(
    kind: CertificateType, dccs: dict[CertificateType, bytes]
) -> None:
    xsd = SHARED_XSD if SHARED_XSD.exists() else SCHEMA_PATH
    schema = xmlschema.XMLSchema(str(xsd))
    schema.validate(etree.fromstring(dccs[kind]))
    root = etree.fromstring(dccs[kind])
    assert root.get("schemaVersion") == "3.1.2"
    assert etree.QName(root).localname == "digitalCalibrationCertificate"


@pytest.mark.parametrize("kind", list(CertificateType))
def test_values_and_uncertainties_equal_the_document(
    kind: CertificateType,
    signed: dict[CertificateType, SignedCase],
    dccs: dict[CertificateType, bytes],
) -> None:
    doc = signed[kind].doc
    root = etree.fromstring(dccs[kind])
    assert (
        root.findtext("dcc:administrativeData/dcc:coreData/dcc:uniqueIdentifier", None, NS)
        == doc.number
    )
    results = root.findall(
        "dcc:measurementResults/dcc:measurementResult/dcc:results/dcc:result", NS
    )
    assert [r.get("refType") for r in results] == [f"lims_{s.key}" for s in doc.sections]
    compared = 0
    for result, section in zip(results, doc.sections, strict=True):
        rows = result.findall("dcc:data/dcc:list/dcc:list", NS)
        assert len(rows) == len(section.rows)
        for row_el, row in zip(rows, section.rows, strict=True):
            for name in ("point", "reference", "indication", "error", "mpe"):
                q = getattr(row, name)
                real = row_el.find(f"dcc:quantity[@refType='lims_{name}']/si:real", NS)
                if q is None:
                    assert real is None
                    continue
                assert float(real.findtext("si:value", None, NS)) == float(q.magnitude)
                assert real.findtext("si:unit", None, NS) == to_dsi_unit(q)
                compared += 1
            error = row_el.find("dcc:quantity[@refType='lims_error']", NS)
            unc = error.find("si:real/si:expandedUnc", NS)
            if row.expanded_uncertainty is None:
                assert unc is None
            else:
                assert float(unc.findtext("si:uncertainty", None, NS)) == float(
                    row.expanded_uncertainty.to(row.error.units).magnitude
                )
                assert float(unc.findtext("si:coverageFactor", None, NS)) == row.coverage_factor
                assert float(unc.findtext("si:coverageProbability", None, NS)) == 0.95
            conformity = error.findtext(
                "dcc:measurementMetaData/dcc:metaData/dcc:conformity", None, NS
            )
            assert conformity == CONFORMITY.get(row.verdict)
    assert compared >= 3
    env = root.findall(
        "dcc:measurementResults/dcc:measurementResult/dcc:influenceConditions/"
        "dcc:influenceCondition/dcc:data/dcc:quantity/si:real",
        NS,
    )
    values = [(e.findtext("si:value", None, NS), e.findtext("si:unit", None, NS)) for e in env]
    assert values[0] == (repr(float(doc.environment.temperature.magnitude)), r"\degreecelsius")
    assert values[1] == (repr(float(doc.environment.relative_humidity.magnitude)), r"\percent")


def test_administrative_data(
    signed: dict[CertificateType, SignedCase], dccs: dict[CertificateType, bytes]
) -> None:
    doc = signed[CertificateType.VERIFICATION].doc
    root = etree.fromstring(dccs[CertificateType.VERIFICATION])
    admin = root.find("dcc:administrativeData", NS)
    persons = admin.findall("dcc:respPersons/dcc:respPerson", NS)
    assert [p.findtext("dcc:person/dcc:name/dcc:content", None, NS) for p in persons] == [
        "张伟 Zhang Wei",
        "李娜 Li Na",
        "王芳 Wang Fang",
    ]
    assert [p.findtext("dcc:role", None, NS).split()[0] for p in persons] == [
        m.value for m in Meaning
    ]
    assert admin.findtext("dcc:customer/dcc:name/dcc:content", None, NS) == doc.customer.name
    assert admin.findtext("dcc:items/dcc:item/dcc:model", None, NS) == doc.item.model
    statements = {s.get("refType"): s for s in admin.findall("dcc:statements/dcc:statement", NS)}
    assert statements["basic_conformity"].findtext("dcc:conformity", None, NS) == "pass"
    assert statements["basic_decisionRule"].findtext("dcc:reference", None, NS) == "JJF1094-U/3"
    assert statements["lims_validUntil"].findtext("dcc:date", None, NS) == "2026-05-11"
    assert "lims_unverifiedRegulationTable" in statements
    assert "lims_simulated" not in statements
    sim = etree.fromstring(dccs[CertificateType.CALIBRATION])
    sim_statements = {
        s.get("refType"): s
        for s in sim.findall("dcc:administrativeData/dcc:statements/dcc:statement", NS)
    }
    assert sim_statements["lims_simulated"].findtext("dcc:valid", None, NS) == "false"
    notice = etree.fromstring(dccs[CertificateType.NON_CONFORMITY])
    assert "fail" in [c.text for c in notice.iterfind(".//dcc:statement/dcc:conformity", NS)]
    embedded = root.findtext("dcc:document/dcc:dataBase64", None, NS)
    assert base64.b64decode(embedded) == signed[CertificateType.VERIFICATION].pdf


def test_verify_dcc_and_tampering(dccs: dict[CertificateType, bytes], pki: Pki) -> None:
    xml = dccs[CertificateType.VERIFICATION]
    result = verify_dcc(xml, [pki.ca.certificate], require_signature=False)
    assert result.ok, result.summary()
    # an indication, written with its table's decimals as the PDF prints it
    tampered = xml.replace(b"<si:value>1005</si:value>", b"<si:value>1004</si:value>", 1)
    assert tampered != xml
    bad = verify_dcc(tampered, [pki.ca.certificate], require_signature=False)
    assert not bad.ok
    assert "value differs from the signed record" in bad.summary()
    broken = xml.replace(b"<dcc:uniqueIdentifier>", b"<dcc:uniqueIdentifierX>", 1)
    assert validate_dcc(broken)
    assert not verify_dcc(broken, [pki.ca.certificate], require_signature=False).ok
    wrong_root = verify_dcc(xml, [pki.credentials[Meaning.PERFORMED].certificate])
    assert not wrong_root.ok


def test_a_record_with_its_own_date_of_issue_keeps_it(
    signed: dict[CertificateType, SignedCase], dccs: dict[CertificateType, bytes], pki: Pki
) -> None:
    """Records drafted by earlier releases state their date of issue in the signed body: the
    DCC states that date (not the approval's), and verification holds it to it."""
    doc = signed[CertificateType.VERIFICATION].doc
    assert doc.dates.issue is not None  # the example record carries one
    xml = dccs[CertificateType.VERIFICATION]
    root = etree.fromstring(xml)
    path = "dcc:administrativeData/dcc:statements/dcc:statement[@refType='lims_issueDate']"
    stated = root.findtext(f"{path}/dcc:date", None, NS)
    assert stated == doc.dates.issue.isoformat()
    forged = xml.replace(
        f"<dcc:date>{stated}</dcc:date>".encode(), b"<dcc:date>2099-01-01</dcc:date>"
    )
    assert forged != xml
    result = verify_dcc(forged, [pki.ca.certificate], require_signature=False)
    assert not result.ok
    assert "differs from the signed content record's date" in result.summary()


def test_amendment_links_the_replaced_certificate(pki: Pki) -> None:
    doc = example_document(CertificateType.VERIFICATION, number="AMD-2", amendment_of="AMD-1")
    pdf = render_pdf(doc)
    for meaning in Meaning:
        pdf = sign_pdf(pdf, pki.signers[meaning], meaning).pdf
    root = etree.fromstring(build_dcc(doc, pdf))
    prev = root.find("dcc:administrativeData/dcc:coreData/dcc:previousReport", NS)
    assert prev.findtext("dcc:referralID", None, NS) == "AMD-1"
    original = example_document(CertificateType.VERIFICATION, number="AMD-1")
    assert prev.findtext("dcc:value", None, NS) == original.content_hash()
    with pytest.raises(DccError, match="other content"):
        build_dcc(original, pdf)


def test_schema_loads_and_validates_without_network(
    dccs: dict[CertificateType, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise OSError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    dcc_schema.cache_clear()
    assert validate_dcc(dccs[CertificateType.CALIBRATION]) == ()
