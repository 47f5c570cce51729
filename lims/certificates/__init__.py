"""Certificates: document model, bilingual PDF, lab PKI, PAdES signing, DCC, offline verification.

This layer knows no database: it takes a complete :class:`CertificateDocument`
and produces and checks files.

Typical flow::

    doc = CertificateDocument(...)                      # validated on construction
    pdf = render_pdf(doc)                               # 3 empty signature fields
    for meaning, (p12, pw) in signers.items():          # performed → reviewed → approved
        pdf = sign_pdf(pdf, load_signer(p12, pw, ca=ca), meaning).pdf
    report = verify_pdf(pdf, [ca.certificate])          # report.ok, report.summary()
    xml = build_dcc(doc, pdf)                           # validated DCC 3.1.2
    verify_dcc(xml, [ca.certificate]).ok
"""

from lims.certificates.dcc import DccVerification, build_dcc, validate_dcc, verify_dcc
from lims.certificates.dsi import is_fiducial, to_dsi_unit
from lims.certificates.errors import (
    CertificateDataError,
    CertificateError,
    DccError,
    PkiError,
    SigningError,
    WrongPasswordError,
)
from lims.certificates.model import (
    AdjustmentStatus,
    BiText,
    CertificateDates,
    CertificateDocument,
    CertificateType,
    Conclusion,
    Customer,
    DecisionRule,
    Deviation,
    DeviationKind,
    Environment,
    Item,
    Laboratory,
    Location,
    Meaning,
    Method,
    PerformanceLocation,
    Replaces,
    ResultRow,
    ResultSection,
    Signatory,
    Standard,
    StandardKind,
    Verdict,
)
from lims.certificates.pki import (
    LabCA,
    LabSigner,
    UserCredentials,
    create_lab_ca,
    import_lab_ca,
    import_user_credentials,
    issue_user_credentials,
    load_signer,
)
from lims.certificates.render import SIGNATURE_FIELDS, qr_payload, render_pdf
from lims.certificates.signing import SignatureResult, read_content_record, sign_pdf
from lims.certificates.verify import SignatureCheck, VerificationReport, verify_pdf

__all__ = [
    "SIGNATURE_FIELDS",
    "AdjustmentStatus",
    "BiText",
    "CertificateDataError",
    "CertificateDates",
    "CertificateDocument",
    "CertificateError",
    "CertificateType",
    "Conclusion",
    "Customer",
    "DccError",
    "DccVerification",
    "DecisionRule",
    "Deviation",
    "DeviationKind",
    "Environment",
    "Item",
    "LabCA",
    "LabSigner",
    "Laboratory",
    "Location",
    "Meaning",
    "Method",
    "PerformanceLocation",
    "PkiError",
    "Replaces",
    "ResultRow",
    "ResultSection",
    "Signatory",
    "SignatureCheck",
    "SignatureResult",
    "SigningError",
    "Standard",
    "StandardKind",
    "UserCredentials",
    "Verdict",
    "VerificationReport",
    "WrongPasswordError",
    "build_dcc",
    "create_lab_ca",
    "import_lab_ca",
    "import_user_credentials",
    "is_fiducial",
    "issue_user_credentials",
    "load_signer",
    "qr_payload",
    "read_content_record",
    "render_pdf",
    "sign_pdf",
    "to_dsi_unit",
    "validate_dcc",
    "verify_dcc",
    "verify_pdf",
]
