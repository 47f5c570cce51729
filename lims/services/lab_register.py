"""The lab's own register: equipment and measurement standards (quality managers), the
accounts and authorizations listed for their managers, and withdrawing an authorization.

Registering checks everything before writing anything; every write is audited by the
session it runs in (``Database.write`` with the actor and a reason).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.db.types import utcnow
from lims.models.enums import EquipmentStatus, Role
from lims.models.equipment import Equipment, MeasurementStandard, StandardMember
from lims.models.users import Authorization, User
from lims.quality.errors import NotFoundError, QualityError
from lims.quality.permissions import Permission, can, require


@dataclass(frozen=True)
class EquipmentInput:
    """A piece of the lab's equipment (a standard's member or an auxiliary instrument)."""

    asset_tag: str
    kind: str
    description: str
    manufacturer: str
    model: str
    serial_number: str
    role: str = ""  # the bench role it plays in a standard, e.g. gas_dilutor
    location: str = ""


@dataclass(frozen=True)
class StandardInput:
    """A new measurement standard with the equipment it is made of."""

    tag: str
    name_zh: str
    name_en: str
    members: tuple[EquipmentInput, ...]
    approval_certificate: str = ""
    measurand: str = ""
    range_text: str = ""
    uncertainty_text: str = ""
    intermediate_check_interval_days: int = 180


def check_equipment(data: EquipmentInput, where: str = "") -> list[str]:
    """What is wrong with ``data`` (empty when it can be registered)."""
    problems = []
    for name in ("asset_tag", "kind", "description", "manufacturer", "model", "serial_number"):
        if not str(getattr(data, name)).strip():
            problems.append(f"{where}{name}: 必填 is required")
    return problems


def register_equipment(session: Session, actor: User, data: EquipmentInput) -> Equipment:
    """Register a piece of the lab's equipment (refused if the asset tag is taken)."""
    require(actor, Permission.MANAGE_STANDARDS)
    problems = check_equipment(data)
    if problems:
        raise QualityError("; ".join(problems))
    tag = data.asset_tag.strip()
    if session.scalar(select(Equipment.id).where(Equipment.asset_tag == tag)) is not None:
        raise QualityError(f"asset_tag: 资产编号已存在 equipment {tag} is registered already")
    eq = Equipment(
        asset_tag=tag,
        kind=data.kind.strip(),
        description=data.description.strip(),
        manufacturer=data.manufacturer.strip(),
        model=data.model.strip(),
        serial_number=data.serial_number.strip(),
        location=data.location.strip(),
    )
    session.add(eq)
    session.flush()
    return eq


def register_standard(session: Session, actor: User, data: StandardInput) -> MeasurementStandard:
    """Register a measurement standard and its member equipment, all or nothing.

    A member whose asset tag is registered already joins as it is; new ones are
    registered. A standard needs at least one member and a unique tag.
    """
    require(actor, Permission.MANAGE_STANDARDS)
    problems = [
        f"{n}: 必填 is required"
        for n in ("tag", "name_zh", "name_en")
        if not getattr(data, n).strip()
    ]
    if not data.members:
        problems.append(
            "members: 计量标准至少需要一台设备 a standard needs at least one piece of equipment"
        )
    if data.intermediate_check_interval_days <= 0:
        problems.append("intermediate_check_interval_days: must be positive")
    for i, m in enumerate(data.members):
        existing = session.scalars(
            select(Equipment).where(Equipment.asset_tag == m.asset_tag.strip())
        ).one_or_none()
        if existing is None:
            problems += check_equipment(m, f"members[{i}].")
        elif existing.owner_customer_id is not None:
            problems.append(f"members[{i}]: {m.asset_tag} belongs to a customer")
        if not m.role.strip():
            problems.append(f"members[{i}].role: 必填 is required (e.g. gas_dilutor)")
    tag = data.tag.strip()
    if tag and session.scalar(select(MeasurementStandard.id).where(MeasurementStandard.tag == tag)):
        problems.append(f"tag: 计量标准编号已存在 standard {tag} is registered already")
    if problems:
        raise QualityError("; ".join(problems))
    std = MeasurementStandard(
        tag=tag,
        name_zh=data.name_zh.strip(),
        name_en=data.name_en.strip(),
        approval_certificate=data.approval_certificate.strip(),
        measurand=data.measurand.strip(),
        range_text=data.range_text.strip(),
        uncertainty_text=data.uncertainty_text.strip(),
        intermediate_check_interval_days=data.intermediate_check_interval_days,
    )
    session.add(std)
    session.flush()
    for m in data.members:
        eq = session.scalars(
            select(Equipment).where(Equipment.asset_tag == m.asset_tag.strip())
        ).one_or_none()
        if eq is None:
            eq = register_equipment(session, actor, m)
        session.add(StandardMember(standard_id=std.id, equipment_id=eq.id, role=m.role.strip()))
    session.flush()
    return std


@dataclass(frozen=True)
class EquipmentRow:
    """One piece of the lab's own equipment (for choosing a certificate's equipment)."""

    asset_tag: str
    description: str
    model: str
    serial_number: str
    status: EquipmentStatus


def lab_equipment(session: Session, actor: User) -> list[EquipmentRow]:
    """The lab's own equipment (with an asset tag), by asset tag."""
    require(actor, Permission.VIEW_RECORDS)
    rows = session.scalars(
        select(Equipment)
        .where(Equipment.owner_customer_id.is_(None), Equipment.asset_tag.is_not(None))
        .order_by(Equipment.asset_tag)
    )
    return [
        EquipmentRow(e.asset_tag or "", e.description, e.model, e.serial_number, e.status)
        for e in rows
    ]


@dataclass(frozen=True)
class UserRow:
    """One account as its managers see it (no password hash)."""

    username: str
    full_name: str
    full_name_en: str
    roles: tuple[Role, ...]
    active: bool
    locked_at: datetime | None
    failed_logins: int
    password_changed_at: datetime
    valid_until: date | None


@dataclass(frozen=True)
class AuthorizationRow:
    """One authorization of a technician for a procedure."""

    id: int
    username: str
    full_name: str
    procedure_id: str
    competence_certificate: str
    valid_from: date
    valid_until: date
    revoked_at: datetime | None
    revoked_reason: str | None

    def valid_on(self, day: date) -> bool:
        """Whether it covers ``day`` and was not withdrawn."""
        return self.revoked_at is None and self.valid_from <= day <= self.valid_until


def list_users(session: Session, actor: User) -> list[UserRow]:
    """Every account, by user name (administrators and quality managers)."""
    if not (can(actor, Permission.MANAGE_USERS) or can(actor, Permission.MANAGE_AUTHORIZATIONS)):
        require(actor, Permission.MANAGE_USERS)
    return [
        UserRow(
            u.username,
            u.full_name,
            u.full_name_en,
            tuple(sorted(u.role_set)),
            u.active,
            u.locked_at,
            u.failed_logins,
            u.password_changed_at,
            u.valid_until,
        )
        for u in session.scalars(select(User).order_by(User.username))
    ]


def list_authorizations(session: Session, actor: User) -> list[AuthorizationRow]:
    """Every authorization (withdrawn ones too), by user and procedure."""
    require(actor, Permission.MANAGE_AUTHORIZATIONS)
    rows = session.scalars(
        select(Authorization)
        .join(User, User.id == Authorization.user_id)
        .order_by(User.username, Authorization.procedure_id, Authorization.id)
    )
    return [
        AuthorizationRow(
            a.id,
            a.user.username,
            a.user.full_name,
            a.procedure_id,
            a.competence_certificate,
            a.valid_from,
            a.valid_until,
            a.revoked_at,
            a.revoked_reason,
        )
        for a in rows
    ]


def withdraw_authorization(
    session: Session, actor: User, authorization_id: int, reason: str
) -> Authorization:
    """Withdraw an authorization with a reason (quality managers); the record stays."""
    require(actor, Permission.MANAGE_AUTHORIZATIONS)
    if not reason.strip():
        raise QualityError("reason: 撤销授权须填写原因 withdrawing an authorization needs a reason")
    auth = session.get(Authorization, authorization_id)
    if auth is None:
        raise NotFoundError(f"authorization {authorization_id} does not exist")
    if auth.revoked_at is not None:
        raise QualityError(f"authorization {authorization_id} is withdrawn already")
    auth.revoked_at = utcnow()
    auth.revoked_reason = reason.strip()[:500]
    session.info["reason"] = session.info.get("reason") or reason.strip()
    session.flush()
    return auth
