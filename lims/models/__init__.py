"""ORM models of the laboratory."""

from lims.models.audit import AuditAnchorState, AuditEvent, AuditHead
from lims.models.certificates import Certificate, CertificateSequence, Signature
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
from lims.models.pki import LabAuthority, SigningCredential, StoredFile
from lims.models.quality import (
    ImpactAssessment,
    Incident,
    ProficiencyTest,
    ReferenceMaterialEvent,
)
from lims.models.runs import Reading, Result, RuleOverride, Run, RunResource
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
    "Contact",
    "Customer",
    "Equipment",
    "EquipmentStatus",
    "ExternalCertificate",
    "ImpactAssessment",
    "Incident",
    "IntermediateCheck",
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
    "RunResource",
    "RunStatus",
    "ServiceKind",
    "Signature",
    "SignatureMeaning",
    "SigningCredential",
    "StandardMember",
    "StoredFile",
    "User",
    "UserRole",
    "Verdict",
    "WorkOrder",
    "WorkOrderItem",
    "WorkOrderStatus",
]
