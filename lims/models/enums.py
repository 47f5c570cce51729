"""Enumerations stored in the database (by value)."""

from __future__ import annotations

from enum import StrEnum

from lims.vocabulary import CertificateType, ServiceKind, SignatureMeaning, Verdict

__all__ = [
    "CertificateStatus",
    "CertificateType",
    "EquipmentStatus",
    "ItemStatus",
    "ReferenceMaterialStatus",
    "ReleaseStatus",
    "Role",
    "RunStatus",
    "ServiceKind",
    "SignatureMeaning",
    "Verdict",
    "WorkOrderStatus",
]


class Role(StrEnum):
    """What a user may do; a user can hold several roles."""

    TECHNICIAN = "technician"
    REVIEWER = "reviewer"
    APPROVER = "approver"
    QUALITY_MANAGER = "quality_manager"
    ADMINISTRATOR = "administrator"
    AUDITOR = "auditor"


class EquipmentStatus(StrEnum):
    """Whether a physical item may be used."""

    ACTIVE = "active"
    OUT_OF_SERVICE = "out_of_service"
    RETIRED = "retired"


class ReferenceMaterialStatus(StrEnum):
    """Life cycle of a reference material (standard gas cylinder, CRM)."""

    IN_STOCK = "in_stock"
    IN_USE = "in_use"
    EXHAUSTED = "exhausted"
    EXPIRED = "expired"
    DISPOSED = "disposed"


class WorkOrderStatus(StrEnum):
    """Progress of a work order (委托单)."""

    RECEIVED = "received"
    IN_PROGRESS = "in_progress"
    CERTIFIED = "certified"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class ItemStatus(StrEnum):
    """Progress of one instrument in a work order."""

    RECEIVED = "received"
    IN_PROGRESS = "in_progress"
    MEASURED = "measured"
    CERTIFIED = "certified"
    RETURNED = "returned"


class ReleaseStatus(StrEnum):
    """Release status of a regulation table or procedure version."""

    DRAFT = "draft"
    RELEASED = "released"
    WITHDRAWN = "withdrawn"


class RunStatus(StrEnum):
    """States of a bench run."""

    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    ABORTED = "aborted"
    FAILED = "failed"
    REFUSED = "refused"


class CertificateStatus(StrEnum):
    """Life cycle of a certificate."""

    DRAFT = "draft"
    PERFORMED = "performed"
    REVIEWED = "reviewed"
    ISSUED = "issued"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"
    REVOKED = "revoked"
