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

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
        BudgetAnnex,
        BudgetAnnexLine,
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
        ScopeStatement,
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

# Submodules load on first use, so that importing the package stays cheap.
_LAZY: dict[str, tuple[str, str]] = {
    "AdjustmentStatus": ("lims.certificates.model", "AdjustmentStatus"),
    "BiText": ("lims.certificates.model", "BiText"),
    "CertificateDataError": ("lims.certificates.errors", "CertificateDataError"),
    "CertificateDates": ("lims.certificates.model", "CertificateDates"),
    "CertificateDocument": ("lims.certificates.model", "CertificateDocument"),
    "CertificateError": ("lims.certificates.errors", "CertificateError"),
    "CertificateType": ("lims.certificates.model", "CertificateType"),
    "Conclusion": ("lims.certificates.model", "Conclusion"),
    "Customer": ("lims.certificates.model", "Customer"),
    "DccError": ("lims.certificates.errors", "DccError"),
    "DccVerification": ("lims.certificates.dcc", "DccVerification"),
    "DecisionRule": ("lims.certificates.model", "DecisionRule"),
    "Deviation": ("lims.certificates.model", "Deviation"),
    "DeviationKind": ("lims.certificates.model", "DeviationKind"),
    "Environment": ("lims.certificates.model", "Environment"),
    "Item": ("lims.certificates.model", "Item"),
    "LabCA": ("lims.certificates.pki", "LabCA"),
    "LabSigner": ("lims.certificates.pki", "LabSigner"),
    "Laboratory": ("lims.certificates.model", "Laboratory"),
    "Location": ("lims.certificates.model", "Location"),
    "Meaning": ("lims.certificates.model", "Meaning"),
    "Method": ("lims.certificates.model", "Method"),
    "PerformanceLocation": ("lims.certificates.model", "PerformanceLocation"),
    "PkiError": ("lims.certificates.errors", "PkiError"),
    "Replaces": ("lims.certificates.model", "Replaces"),
    "ResultRow": ("lims.certificates.model", "ResultRow"),
    "ResultSection": ("lims.certificates.model", "ResultSection"),
    "ScopeStatement": ("lims.certificates.model", "ScopeStatement"),
    "BudgetAnnex": ("lims.certificates.model", "BudgetAnnex"),
    "BudgetAnnexLine": ("lims.certificates.model", "BudgetAnnexLine"),
    "SIGNATURE_FIELDS": ("lims.certificates.render", "SIGNATURE_FIELDS"),
    "Signatory": ("lims.certificates.model", "Signatory"),
    "SignatureCheck": ("lims.certificates.verify", "SignatureCheck"),
    "SignatureResult": ("lims.certificates.signing", "SignatureResult"),
    "SigningError": ("lims.certificates.errors", "SigningError"),
    "Standard": ("lims.certificates.model", "Standard"),
    "StandardKind": ("lims.certificates.model", "StandardKind"),
    "UserCredentials": ("lims.certificates.pki", "UserCredentials"),
    "Verdict": ("lims.certificates.model", "Verdict"),
    "VerificationReport": ("lims.certificates.verify", "VerificationReport"),
    "WrongPasswordError": ("lims.certificates.errors", "WrongPasswordError"),
    "build_dcc": ("lims.certificates.dcc", "build_dcc"),
    "create_lab_ca": ("lims.certificates.pki", "create_lab_ca"),
    "import_lab_ca": ("lims.certificates.pki", "import_lab_ca"),
    "import_user_credentials": ("lims.certificates.pki", "import_user_credentials"),
    "is_fiducial": ("lims.certificates.dsi", "is_fiducial"),
    "issue_user_credentials": ("lims.certificates.pki", "issue_user_credentials"),
    "load_signer": ("lims.certificates.pki", "load_signer"),
    "qr_payload": ("lims.certificates.render", "qr_payload"),
    "read_content_record": ("lims.certificates.signing", "read_content_record"),
    "render_pdf": ("lims.certificates.render", "render_pdf"),
    "sign_pdf": ("lims.certificates.signing", "sign_pdf"),
    "to_dsi_unit": ("lims.certificates.dsi", "to_dsi_unit"),
    "validate_dcc": ("lims.certificates.dcc", "validate_dcc"),
    "verify_dcc": ("lims.certificates.dcc", "verify_dcc"),
    "verify_pdf": ("lims.certificates.verify", "verify_pdf"),
}


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    import importlib

    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


__all__ = [
    "SIGNATURE_FIELDS",
    "AdjustmentStatus",
    "BiText",
    "BudgetAnnex",
    "BudgetAnnexLine",
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
    "ScopeStatement",
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
