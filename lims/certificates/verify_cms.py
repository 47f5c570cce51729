"""Checks of the parts of a PDF signature container that no signature covers.

The last signature's container is protected by nothing after it, and CMS leaves
some fields unsigned; a document timestamp's container likewise. For the lab's
own signatures and timestamps each of these fields has one allowed form, checked
here for :mod:`lims.certificates.verify`.
"""

from __future__ import annotations

from typing import Any

from asn1crypto import cms  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.exceptions import InvalidSignature

__all__ = [
    "container_problems",
    "foreign_certificates",
    "padding_problems",
    "timestamp_container_problems",
]

#: The only unsigned attribute a signature may carry: its RFC 3161 signature timestamp.
SIGNATURE_TIMESTAMP_ATTRIBUTE = "signature_time_stamp_token"


def container_problems(emb: Any, roots: list[Any]) -> list[str]:
    """A signature container: SignedData and SignerInfo version 1, the signer's digest
    algorithm as the only one listed, no CRLs, no unsigned attributes but one signature
    timestamp, detached ``data`` content, and only certificates that are a trust root or
    issued by one."""
    try:
        sd = emb.signed_data
        si = emb.signer_info
        problems = []
        if sd["version"].native != "v1" or si["version"].native != "v1":
            problems.append("unexpected CMS version in the signature container")
        problems += _common_problems(emb, sd, si, roots)
        unsigned = si["unsigned_attrs"]
        types = [a["type"].native for a in unsigned] if unsigned.native else []
        if types and types != [SIGNATURE_TIMESTAMP_ATTRIBUTE]:
            problems.append("unexpected unsigned attributes in the signature container")
        elif types and len(unsigned[0]["values"]) != 1:
            problems.append("the signature timestamp attribute holds more than one token")
        encap = sd["encap_content_info"]
        if encap["content_type"].native != "data" or encap["content"].native is not None:
            problems.append("unexpected encapsulated content in the signature container")
        return problems
    except Exception as exc:
        return [f"signature container unreadable: {type(exc).__name__}: {exc}"]


def timestamp_container_problems(emb: Any, roots: list[Any]) -> list[str]:
    """A document timestamp's container: SignedData v3 with encapsulated TSTInfo, SignerInfo
    v1, no CRLs, no unsigned attributes, certificates of the lab's PKI only."""
    try:
        sd = emb.signed_data
        si = emb.signer_info
        problems = []
        if sd["version"].native != "v3" or si["version"].native != "v1":
            problems.append("unexpected CMS version in the timestamp container")
        problems += _common_problems(emb, sd, si, roots)
        if si["unsigned_attrs"].native:
            problems.append("unexpected unsigned attributes in the timestamp container")
        if sd["encap_content_info"]["content_type"].native != "tst_info":
            problems.append("the document timestamp does not encapsulate a TSTInfo")
        return problems
    except Exception as exc:
        return [f"timestamp container unreadable: {type(exc).__name__}: {exc}"]


def _common_problems(emb: Any, sd: Any, si: Any, roots: list[Any]) -> list[str]:
    problems = []
    algorithms = [a.dump() for a in sd["digest_algorithms"]]
    if algorithms != [si["digest_algorithm"].dump()]:
        problems.append("the container's digest algorithm list was altered")
    sid = si["sid"]
    signer = emb.signer_cert
    if sid.name != "issuer_and_serial_number" or (
        sid.chosen["issuer"].dump() != signer["tbs_certificate"]["issuer"].dump()
        or sid.chosen["serial_number"].native != signer.serial_number
    ):
        problems.append("the signer identifier in the container was altered")
    if sd["crls"].native:
        problems.append("unexpected CRLs in the container")
    return problems + certificate_problems(sd, roots)


def certificate_problems(sd: Any, roots: list[Any]) -> list[str]:
    """Certificates in a SignedData: an unaltered signature encoding (the outer signature
    BIT STRING must have no unused bits), and each one naming a trust root as issuer
    really issued by it. A certificate of another CA is not an alteration but a stranger:
    :func:`foreign_certificates` reports those."""
    problems = []
    for choice in sd["certificates"]:
        signature_value = choice.chosen["signature_value"]
        if signature_value.contents[:1] != b"\x00":
            problems.append("a certificate's signature encoding in the container was altered")
    for _cert, issued, claims_root in _classified(sd, roots):
        if not issued and claims_root:
            problems.append(
                "a certificate in the container names the lab CA as issuer but was not "
                "issued by it (altered)"
            )
    return problems


def foreign_certificates(emb: Any, roots: list[Any]) -> list[str]:
    """Certificates in a signature's container issued by another CA than the trust roots:
    the file is then not shown to be the lab's (an unreadable container is reported by
    :func:`container_problems`)."""
    try:
        classified = _classified(emb.signed_data, roots)
    except Exception:
        return []
    return [
        f"a certificate in the container ({cert.subject.rfc4514_string()}) is not issued by "
        "the given lab CA"
        for cert, issued, claims_root in classified
        if not issued and not claims_root
    ]


def _classified(sd: Any, roots: list[Any]) -> list[tuple[x509.Certificate, bool, bool]]:
    """Each non-root certificate in ``sd``: whether a root issued it, and whether its
    issuer name is a root's subject."""
    root_ders = {r.dump() for r in roots}
    root_certs = [x509.load_der_x509_certificate(d) for d in root_ders]
    out = []
    for choice in sd["certificates"]:
        der = choice.chosen.dump()
        if der in root_ders:
            continue
        cert = x509.load_der_x509_certificate(der)
        issued = False
        for root in root_certs:
            try:
                cert.verify_directly_issued_by(root)
                issued = True
            except (ValueError, TypeError, InvalidSignature):
                continue
        claims_root = any(cert.issuer == root.subject for root in root_certs)
        out.append((cert, issued, claims_root))
    return out


def padding_problems(emb: Any) -> list[str]:
    """/Contents must be the DER signature followed by zero padding only."""
    raw: bytes = emb.pkcs7_content
    try:
        info = cms.ContentInfo.load(raw, strict=False)
        der_len = len(info.dump(force=False))
        # The outer length must end exactly at the last inner element, not in the padding.
        inner = len(info["content_type"].dump()) + len(info["content"].dump())
    except Exception as exc:
        return [f"signature container unreadable: {exc}"]
    if der_len > len(raw) or any(raw[der_len:]) or inner != len(info.contents):
        return ["bytes were altered in the signature container (/Contents)"]
    return []
