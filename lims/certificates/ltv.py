"""PAdES B-LTA: the validation data and the document timestamp of an issued certificate.

After the last (approval) signature, :func:`add_validation_data` appends one
incremental update holding

* a document security store (DSS, ISO 32000-2 § 12.8.4.3) with the lab CA
  certificate, every signer's certificate, the TSA certificate and the CRL the
  lab CA issued, so a verifier needs nothing but the lab CA certificate, and
* a document timestamp (RFC 3161, ``/SubFilter /ETSI.RFC3161``) over the whole
  file, which protects the DSS and lets the validation data be renewed later.

pyHanko writes both (:class:`pyhanko.sign.validation.dss.DocumentSecurityStore`,
:class:`pyhanko.sign.signers.pdf_signer.PdfTimeStamper`); the verifier
(:mod:`lims.certificates.verify`) accepts exactly this kind of update after the
last signature.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from lims.certificates.errors import SigningError

__all__ = ["DOC_TIMESTAMP_FIELD", "ValidationData", "add_validation_data"]

#: Field name of the issued certificate's document timestamp.
DOC_TIMESTAMP_FIELD = "DocTimeStamp"


@dataclass(frozen=True)
class ValidationData:
    """What goes into the DSS: the lab CA, the TSA certificate and the lab's CRLs (DER)."""

    ca_certificate: x509.Certificate
    crls: tuple[bytes, ...]
    tsa_certificate: x509.Certificate | None = None
    other_certificates: tuple[x509.Certificate, ...] = ()


def add_validation_data(
    pdf: bytes,
    timestamper: Any,
    data: ValidationData,
    *,
    field_name: str = DOC_TIMESTAMP_FIELD,
) -> bytes:
    """Append the DSS and a document timestamp to a signed certificate PDF (B-LTA)."""
    from asn1crypto import crl as asn1_crl  # type: ignore[import-untyped]
    from asn1crypto import x509 as asn1_x509
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.signers.pdf_signer import PdfTimeStamper
    from pyhanko.sign.validation.dss import DocumentSecurityStore

    der = serialization.Encoding.DER
    try:
        reader = PdfFileReader(io.BytesIO(pdf))
        signer_certs = [s.signer_cert for s in reader.embedded_regular_signatures]
        if not signer_certs:
            raise SigningError("the PDF carries no signature to add validation data for")
        certs = [asn1_x509.Certificate.load(data.ca_certificate.public_bytes(der))]
        if data.tsa_certificate is not None:
            certs.append(asn1_x509.Certificate.load(data.tsa_certificate.public_bytes(der)))
        certs += [asn1_x509.Certificate.load(c.public_bytes(der)) for c in data.other_certificates]
        certs += signer_certs
        crls = [asn1_crl.CertificateList.load(c) for c in data.crls]
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        DocumentSecurityStore.supply_dss_in_writer(writer, None, certs=certs, crls=crls)
        out = io.BytesIO()
        PdfTimeStamper(timestamper, field_name=field_name).timestamp_pdf(
            writer, "sha256", output=out
        )
    except SigningError:
        raise
    except Exception as exc:
        raise SigningError(f"adding the validation data and timestamp failed: {exc}") from exc
    return out.getvalue()
