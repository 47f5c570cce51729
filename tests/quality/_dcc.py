"""A DCC issued by this lab (signed PDF embedded) and an enveloped XML signature over it."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from lxml import etree  # type: ignore[import-untyped]
from signxml import methods
from signxml.signer import XMLSigner

from lims.certificates import (
    CertificateType,
    Meaning,
    build_dcc,
    create_lab_ca,
    issue_user_credentials,
    load_signer,
    render_pdf,
    sign_pdf,
)
from lims.certificates.examples import example_document

CA_PASSWORD = "ca-pass-仅测试"


@dataclass(frozen=True)
class IssuedDcc:
    """A calibration DCC of this lab, the lab CA certificate and the approver's key."""

    xml: bytes
    ca_certificate: x509.Certificate
    signer_key_pem: bytes
    signer_cert_pem: bytes


@functools.cache
def issued_dcc() -> IssuedDcc:
    """A flowmeter calibration (4, 16, 40 m³/h; U = 0.3 %, k = 2) signed three times."""
    ca = create_lab_ca("示例市碳计量中心 Root CA (test)", "示例市碳计量中心", CA_PASSWORD)
    doc = example_document(CertificateType.CALIBRATION, number="JZ2025-000777")
    pdf = render_pdf(doc)
    approver_key = approver_cert = b""
    for meaning, uid in zip(Meaning, ("zhang.wei", "li.na", "wang.fang"), strict=True):
        password = f"pw-{uid}-口令"
        creds = issue_user_credentials(
            ca, CA_PASSWORD, user_id=uid, display_name=uid, user_password=password
        )
        pdf = sign_pdf(pdf, load_signer(creds.pkcs12, password, ca=ca), meaning).pdf
        key, cert, _extra = pkcs12.load_key_and_certificates(creds.pkcs12, password.encode())
        assert key is not None
        assert cert is not None
        approver_key = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        approver_cert = cert.public_bytes(serialization.Encoding.PEM)
    return IssuedDcc(build_dcc(doc, pdf), ca.certificate, approver_key, approver_cert)


def sign_xml(xml: bytes, key_pem: bytes, cert_pem: bytes) -> bytes:
    """``xml`` with an enveloped XML signature (ECDSA-SHA256) appended to its root."""
    root = etree.fromstring(xml)
    signed = XMLSigner(
        method=methods.enveloped, signature_algorithm="ecdsa-sha256", digest_algorithm="sha256"
    ).sign(root, key=key_pem, cert=cert_pem)
    return bytes(etree.tostring(signed, xml_declaration=True, encoding="UTF-8"))
