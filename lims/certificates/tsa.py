"""The lab's time-stamping authority (RFC 3161) and its certificate revocation list.

* :func:`issue_tsa_credentials` gives the lab a TSA certificate issued by the lab
  CA (extended key usage ``timeStamping``, critical, as RFC 3161 § 2.3 requires)
  and its private key.
* :func:`issue_crl` makes a CRL signed by the lab CA: the revocation data a
  verifier needs years later to accept the signers' and the TSA's certificates
  (it goes into the PDF's document security store, see :mod:`lims.certificates.ltv`).
* :class:`LabTimeStamper` answers RFC 3161 requests in-process with that key; it is
  pyHanko's own time-stamp responder (:class:`pyhanko.sign.timestamps.DummyTimeStamper`)
  with the lab's policy identifier, so no ASN.1 is written here.
* :func:`timestamper_for` picks the lab TSA or, when a lab configures one, an
  external TSA by URL (:class:`pyhanko.sign.timestamps.HTTPTimeStamper`).

The TSA key is RSA-3072: pyHanko's responder signs with RSA PKCS#1 v1.5 only.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lims.certificates.errors import PkiError
from lims.certificates.pki import LabCA, end_entity_builder

__all__ = [
    "RevokedCertificate",
    "TsaCredentials",
    "issue_crl",
    "issue_tsa_credentials",
    "lab_timestamper",
    "timestamper_for",
]

#: The lab TSA's policy: an OID under the UUID arc 2.25 (ITU-T X.667), fixed for this software.
TSA_POLICY_OID = "2.25." + str(uuid.UUID("5b0e1c4e-8a7d-4c61-9f43-2f6c0d1b7a15").int)


@dataclass(frozen=True)
class TsaCredentials:
    """The TSA certificate and its private key (PKCS#8 PEM, unencrypted: an unattended service)."""

    certificate: x509.Certificate
    key_pem: bytes

    @property
    def certificate_pem(self) -> bytes:
        """The TSA certificate in PEM."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class RevokedCertificate:
    """One entry of the lab's CRL."""

    serial_number: int
    revoked_at: dt.datetime


def issue_tsa_credentials(
    ca: LabCA,
    ca_password: str,
    *,
    common_name: str | None = None,
    valid_days: int = 10 * 365,
    now: dt.datetime | None = None,
) -> TsaCredentials:
    """Issue the lab's TSA certificate (EKU timeStamping, critical) from the lab CA."""
    ca_key = ca.private_key(ca_password)
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    org = ca.certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    organization = str(org[0].value) if org else "Laboratory"
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name or f"{organization} TSA"),
        ]
    )
    cert = (
        end_entity_builder(ca, ca_key, name, key, valid_days, now)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return TsaCredentials(cert, key_pem)


def issue_crl(
    ca: LabCA,
    ca_password: str,
    *,
    number: int,
    revoked: Sequence[RevokedCertificate] = (),
    valid_days: int = 365,
    now: dt.datetime | None = None,
) -> bytes:
    """A CRL (DER) signed by the lab CA, valid ``valid_days`` from now."""
    if number < 1:
        raise PkiError("the CRL number must be positive")
    ca_key = ca.private_key(ca_password)
    start = _now(now) - dt.timedelta(minutes=5)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.certificate.subject)
        .last_update(start)
        .next_update(start + dt.timedelta(days=valid_days))
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    for entry in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(entry.serial_number)
            .revocation_date(entry.revoked_at)
            .build()
        )
    crl = builder.sign(ca_key, hashes.SHA256())
    return crl.public_bytes(serialization.Encoding.DER)


def lab_timestamper(tsa: TsaCredentials, ca_certificate: x509.Certificate) -> Any:
    """An in-process RFC 3161 responder signing with the lab TSA key.

    Its tokens carry the TSA certificate and the lab CA certificate.
    """
    from asn1crypto import core, keys, tsp  # type: ignore[import-untyped]
    from asn1crypto import x509 as asn1_x509
    from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    key = serialization.load_pem_private_key(tsa.key_pem, None)
    der_key = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    der = serialization.Encoding.DER

    class _LabTimeStamper(DummyTimeStamper):
        """pyHanko's responder with the lab's policy identifier."""

        def _build_tst_info(self, message_imprint: Any, when: Any, req: Any) -> Any:
            info = super()._build_tst_info(message_imprint, when, req)
            info["policy"] = core.ObjectIdentifier(TSA_POLICY_OID)
            return tsp.TSTInfo.load(info.dump(force=True))

    return _LabTimeStamper(
        tsa_cert=asn1_x509.Certificate.load(tsa.certificate.public_bytes(der)),
        tsa_key=keys.PrivateKeyInfo.load(der_key),
        certs_to_embed=SimpleCertificateStore.from_certs(  # type: ignore[no-untyped-call]
            [asn1_x509.Certificate.load(ca_certificate.public_bytes(der))]
        ),
    )


def timestamper_for(
    url: str | None, tsa: TsaCredentials | None, ca_certificate: x509.Certificate | None
) -> Any:
    """The external TSA at ``url`` when one is configured, else the lab's own TSA."""
    if url:
        from pyhanko.sign.timestamps import HTTPTimeStamper

        return HTTPTimeStamper(url)
    if tsa is None or ca_certificate is None:
        raise PkiError(
            "the lab has no time-stamping authority: create one with `lims keys tsa` "
            "(or configure tsa_url)"
        )
    return lab_timestamper(tsa, ca_certificate)


def _now(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        raise PkiError("time must carry its time zone")
    return now
