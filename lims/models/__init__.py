"""ORM models of the laboratory."""

from lims.models.audit import AuditAnchorState, AuditEvent, AuditHead
from lims.models.certificates import Certificate, CertificateSequence, Signature
from lims.models.customer_accounts import CustomerAccount, CustomerApiToken
from lims.models.enums import (
    CertificateStatus,
    CertificateType,
    EquipmentStatus,
    ItemStatus,
    ReferenceMaterialStatus,
    ReleaseStatus,
    Role,
    RunStatus,
    ServiceKind,
    SignatureMeaning,
    Verdict,
    WorkOrderStatus,
)
from lims.models.equipment import (
    Equipment,
    ExternalCertificate,
    IntermediateCheck,
    MeasurementStandard,
    StandardMember,
)
from lims.models.lab import Contact, Customer, LabProfile
from lims.models.materials import ReferenceMaterial
from lims.models.onsite import (
    Checkout,
    DatabaseIdentity,
    RunOrigin,
    RunSite,
    Site,
    SiteVisit,
    SyncedAuditEvent,
    SyncImport,
)
from lims.models.pki import LabAuthority, SigningCredential, StoredFile
from lims.models.quality import (
    ImpactAssessment,
    Incident,
    ProficiencyTest,
    ReferenceMaterialEvent,
)
from lims.models.runs import Reading, Result, RuleOverride, Run, RunResource
from lims.models.traceability import (
    ComparisonResult,
    ComparisonRound,
    CustomerNotification,
    ImpactDisposition,
    IntervalDecision,
    ScopeVersion,
)
from lims.models.users import Authorization, User, UserRole
from lims.models.work import (
    Procedure,
    ProcedureVersion,
    RegulationTable,
    WorkOrder,
    WorkOrderItem,
)

__all__ = [
    "AuditAnchorState",
    "AuditEvent",
    "AuditHead",
    "Authorization",
    "Certificate",
    "CertificateSequence",
    "CertificateStatus",
    "CertificateType",
    "Checkout",
    "ComparisonResult",
    "ComparisonRound",
    "Contact",
    "Customer",
    "CustomerAccount",
    "CustomerApiToken",
    "CustomerNotification",
    "DatabaseIdentity",
    "Equipment",
    "EquipmentStatus",
    "ExternalCertificate",
    "ImpactAssessment",
    "ImpactDisposition",
    "Incident",
    "IntermediateCheck",
    "IntervalDecision",
    "ItemStatus",
    "LabAuthority",
    "LabProfile",
    "MeasurementStandard",
    "Procedure",
    "ProcedureVersion",
    "ProficiencyTest",
    "Reading",
    "ReferenceMaterial",
    "ReferenceMaterialEvent",
    "ReferenceMaterialStatus",
    "RegulationTable",
    "ReleaseStatus",
    "Result",
    "Role",
    "RuleOverride",
    "Run",
    "RunOrigin",
    "RunResource",
    "RunSite",
    "RunStatus",
    "ScopeVersion",
    "ServiceKind",
    "Signature",
    "SignatureMeaning",
    "SigningCredential",
    "Site",
    "SiteVisit",
    "StandardMember",
    "StoredFile",
    "SyncImport",
    "SyncedAuditEvent",
    "User",
    "UserRole",
    "Verdict",
    "WorkOrder",
    "WorkOrderItem",
    "WorkOrderStatus",
]
