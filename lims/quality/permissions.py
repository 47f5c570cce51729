"""Roles and what each may do: the permission matrix, checked inside the services.

The auditor is read-only: it may read records and review the audit trail, and
nothing else. A locked, deactivated or expired account holds no permission at
all, so such a user can neither sign nor run.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from lims.account_policy import (
    ACCOUNT_DEACTIVATED,
    ACCOUNT_EXPIRED,
    ACCOUNT_LOCKED,
    account_refusal,
)
from lims.models.enums import Role
from lims.models.users import User
from lims.quality.errors import PermissionDenied


class Permission(StrEnum):
    """One thing a user may be allowed to do."""

    VIEW_RECORDS = "view_records"
    REVIEW_AUDIT = "review_audit"
    VIEW_SECURITY = "view_security"
    MANAGE_USERS = "manage_users"
    MANAGE_AUTHORIZATIONS = "manage_authorizations"
    RUN_PROCEDURE = "run_procedure"
    SIGN_PERFORMED = "sign_performed"
    SIGN_REVIEWED = "sign_reviewed"
    SIGN_APPROVED = "sign_approved"
    MANAGE_STANDARDS = "manage_standards"
    RECORD_INTERMEDIATE_CHECK = "record_intermediate_check"
    MANAGE_REFERENCE_MATERIALS = "manage_reference_materials"
    RELEASE_REGULATION_TABLE = "release_regulation_table"
    USE_REFERENCE_MATERIALS = "use_reference_materials"
    RECORD_FINDING = "record_finding"
    RECORD_PROFICIENCY = "record_proficiency"
    REPORT_INCIDENT = "report_incident"
    CLOSE_INCIDENT = "close_incident"
    BACKUP = "backup"
    DELIVER_WORK_ORDER = "deliver_work_order"
    CANCEL_WORK_ORDER = "cancel_work_order"


P = Permission

#: What each role may do. A user holding several roles has the union.
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.TECHNICIAN: frozenset(
        {
            P.VIEW_RECORDS,
            P.RUN_PROCEDURE,
            P.SIGN_PERFORMED,
            P.RECORD_INTERMEDIATE_CHECK,
            P.USE_REFERENCE_MATERIALS,
            P.REPORT_INCIDENT,
            P.DELIVER_WORK_ORDER,
        }
    ),
    Role.REVIEWER: frozenset({P.VIEW_RECORDS, P.SIGN_REVIEWED, P.REPORT_INCIDENT}),
    Role.APPROVER: frozenset({P.VIEW_RECORDS, P.SIGN_APPROVED, P.REPORT_INCIDENT}),
    Role.QUALITY_MANAGER: frozenset(
        {
            P.VIEW_RECORDS,
            P.REVIEW_AUDIT,
            P.VIEW_SECURITY,
            P.MANAGE_AUTHORIZATIONS,
            P.MANAGE_STANDARDS,
            P.RECORD_INTERMEDIATE_CHECK,
            P.MANAGE_REFERENCE_MATERIALS,
            P.RELEASE_REGULATION_TABLE,
            P.USE_REFERENCE_MATERIALS,
            P.RECORD_FINDING,
            P.RECORD_PROFICIENCY,
            P.REPORT_INCIDENT,
            P.CLOSE_INCIDENT,
            P.DELIVER_WORK_ORDER,
            P.CANCEL_WORK_ORDER,
        }
    ),
    Role.ADMINISTRATOR: frozenset(
        {
            P.VIEW_RECORDS,
            P.REVIEW_AUDIT,
            P.VIEW_SECURITY,
            P.MANAGE_USERS,
            P.REPORT_INCIDENT,
            P.BACKUP,
        }
    ),
    Role.AUDITOR: frozenset({P.VIEW_RECORDS, P.REVIEW_AUDIT}),
}


def permissions_of(user: User) -> frozenset[Permission]:
    """Every permission the user's roles grant (ignoring the account's state)."""
    granted: set[Permission] = set()
    for role in user.role_set:
        granted |= ROLE_PERMISSIONS[role]
    return frozenset(granted)


def account_problem(user: User, today: date | None = None) -> str | None:
    """Why the account cannot act at all (locked, deactivated, expired), or None."""
    why = account_refusal(user, today)
    if why == ACCOUNT_LOCKED:
        return f"account {user.username} is locked / 账户已锁定"
    if why == ACCOUNT_DEACTIVATED:
        return f"account {user.username} is deactivated / 账户已停用"
    if why == ACCOUNT_EXPIRED and user.valid_until is not None:
        return f"account {user.username} expired on {user.valid_until.isoformat()} / 账户已过期"
    return None if why is None else f"account {user.username}: {why}"


def can(user: User, permission: Permission, today: date | None = None) -> bool:
    """Whether ``user`` may do ``permission`` today."""
    return account_problem(user, today) is None and permission in permissions_of(user)


def require(user: User, permission: Permission, today: date | None = None) -> None:
    """Raise :class:`PermissionDenied` unless ``user`` may do ``permission`` today."""
    problem = account_problem(user, today)
    if problem is not None:
        raise PermissionDenied(f"{problem}: cannot {permission.value.replace('_', ' ')}")
    if permission not in permissions_of(user):
        roles = ", ".join(sorted(r.value for r in user.role_set)) or "no role"
        raise PermissionDenied(
            f"权限不足 permission denied: {user.username} ({roles}) may not "
            f"{permission.value.replace('_', ' ')}"
        )
