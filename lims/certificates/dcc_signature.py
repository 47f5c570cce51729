"""The DCC's enveloped XML signature (XMLDSig, with signxml).

:func:`sign_dcc` signs the whole DCC document (``Reference URI=""`` with the
enveloped-signature transform) with the approver's key; ``KeyInfo`` carries the
approver's certificate and the lab CA certificate. DCC 3.1.2 has no
``ds:Signature`` element of its own, so the signature sits in ``dcc:comment``,
whose content model is ``xs:any namespace="##any"``: the signed DCC stays valid
against the schema, with ``ds:Signature`` checked against the W3C XMLDSig schema.

:func:`check_dcc_signature` verifies it offline: exactly one signature covering
the whole document, its cryptographic value (signxml, with the certificate pinned),
and the signer's certificate issued by one of the given trust roots. Any edit of
the signed document (a verdict, the customer, a serial number, a date, a value,
the SIMULATED flag) breaks the digest.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from lxml import etree  # type: ignore[import-untyped]

from lims.certificates.errors import DccError

__all__ = ["DS_NS", "DccSignatureCheck", "check_dcc_signature", "sign_dcc"]

log = logging.getLogger(__name__)

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
_DCC_NS = "https://ptb.de/dcc"


@dataclass(frozen=True)
class DccSignatureCheck:
    """The verdict on a DCC's XML signature."""

    present: bool
    ok: bool
    signer_user_id: str | None
    signer_name: str | None
    problems: tuple[str, ...]
    altered: bool = False
    """The signed document or the signature was changed (not merely untrusted)."""


def sign_dcc(
    xml: bytes,
    private_key: Any,
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate] = (),
) -> bytes:
    """The DCC with an enveloped XML signature by ``private_key`` in ``dcc:comment``."""
    from signxml.algorithms import CanonicalizationMethod, SignatureMethod
    from signxml.signer import XMLSigner

    if private_key is None:
        raise DccError("signing the DCC needs the approver's private key")
    root = etree.fromstring(xml, parser=_parser())
    if root.find(f".//{{{DS_NS}}}Signature") is not None:
        raise DccError("the DCC is already signed")
    comment = root.find(f"{{{_DCC_NS}}}comment")
    if comment is None:
        comment = etree.Element(f"{{{_DCC_NS}}}comment")
        document = root.find(f"{{{_DCC_NS}}}document")
        if document is not None:
            document.addprevious(comment)
        else:
            root.append(comment)
    etree.SubElement(comment, f"{{{DS_NS}}}Signature", Id="placeholder", nsmap={"ds": DS_NS})
    method = (
        SignatureMethod.ECDSA_SHA256
        if isinstance(private_key, ec.EllipticCurvePrivateKey)
        else SignatureMethod.RSA_SHA256
    )
    pem = serialization.Encoding.PEM
    certs = [c.public_bytes(pem).decode("ascii") for c in (certificate, *chain)]
    try:
        signed = XMLSigner(
            signature_algorithm=method,
            digest_algorithm="sha256",
            c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
        ).sign(root, key=private_key, cert=certs)
    except Exception as exc:
        raise DccError(f"signing the DCC failed: {exc}") from exc
    return bytes(etree.tostring(signed, xml_declaration=True, encoding="UTF-8"))


def check_dcc_signature(xml: bytes, trust_roots: Sequence[x509.Certificate]) -> DccSignatureCheck:
    """Verify the DCC's XML signature against the trust roots; never raises."""
    from signxml.exceptions import InvalidInput, SignXMLException
    from signxml.verifier import XMLVerifier

    try:
        root = etree.fromstring(xml, parser=_parser())
    except etree.XMLSyntaxError as exc:
        return DccSignatureCheck(False, False, None, None, (f"not well-formed XML: {exc}",), True)
    signatures = root.findall(f".//{{{DS_NS}}}Signature")
    if not signatures:
        return DccSignatureCheck(False, False, None, None, ("the DCC carries no XML signature",))
    if len(signatures) > 1:
        return _failed("the DCC carries more than one XML signature", altered=True)
    parent = signatures[0].getparent()
    if parent is None or parent.tag != f"{{{_DCC_NS}}}comment" or parent.getparent() is not root:
        return _failed("the XML signature is not where the lab puts it (dcc:comment)", True)
    certs = signatures[0].findall(f".//{{{DS_NS}}}X509Certificate")
    try:
        chain = [x509.load_der_x509_certificate(_b64(c.text or "")) for c in certs]
    except ValueError as exc:
        return _failed(f"the signature's certificates cannot be read: {exc}", True)
    if not chain:
        return _failed("the XML signature carries no certificate", True)
    leaf = chain[0]
    user_id, name = _identity(leaf)
    try:
        result = XMLVerifier().verify(root, x509_cert=leaf)
    except (InvalidInput, SignXMLException, InvalidSignature) as exc:
        return DccSignatureCheck(
            True,
            False,
            user_id,
            name,
            (f"the DCC was altered after signing (XML signature: {exc})",),
            True,
        )
    except Exception as exc:
        log.info("the DCC's XML signature cannot be verified", exc_info=exc)
        return DccSignatureCheck(
            True,
            False,
            user_id,
            name,
            (f"the XML signature cannot be verified: {type(exc).__name__}: {exc}",),
            True,
        )
    signed = result.signed_xml if not isinstance(result, list) else None
    if signed is None or signed.tag != root.tag or len(signed) != len(root):
        return DccSignatureCheck(
            True, False, user_id, name, ("the XML signature does not cover the whole DCC",), True
        )
    if not _issued_by_root(leaf, trust_roots):
        return DccSignatureCheck(
            True,
            False,
            user_id,
            name,
            ("the DCC signer's certificate does not chain to the given lab CA",),
        )
    return DccSignatureCheck(True, True, user_id, name, ())


def _issued_by_root(leaf: x509.Certificate, roots: Sequence[x509.Certificate]) -> bool:
    for root in roots:
        try:
            leaf.verify_directly_issued_by(root)
            return True
        except (ValueError, TypeError, InvalidSignature):
            continue
    return False


def _identity(cert: x509.Certificate) -> tuple[str | None, str | None]:
    from lims.certificates.pki import _subject_identity

    try:
        return _subject_identity(cert)
    except Exception:
        return None, None


def _failed(reason: str, altered: bool = False) -> DccSignatureCheck:
    return DccSignatureCheck(True, False, None, None, (reason,), altered)


def _b64(text: str) -> bytes:
    import base64

    return base64.b64decode("".join(text.split()), validate=True)


def _parser() -> Any:
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
