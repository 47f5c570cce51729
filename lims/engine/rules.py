"""Rules checked before a run starts and again before each step that uses them.

Each failed check is a :class:`RuleFailure` with a stable ``key`` (``standard:STD-GAS-001``,
``reference_material:RM-CO2-0400``, ``operator``, ``environment:temperature``,
``regulation_table``). A quality manager may override one key for one run with a written
reason (:func:`grant_override`); the override is stored as a :class:`RuleOverride` row,
audited, and printed on the certificate.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.db import Database
from lims.engine.errors import EngineError
from lims.engine.regulation import EnvironmentLimit, RegulationTable
from lims.models import (
    Authorization,
    Equipment,
    EquipmentStatus,
    ExternalCertificate,
    IntermediateCheck,
    MeasurementStandard,
    ReferenceMaterial,
    Role,
    RuleOverride,
    Run,
    StandardMember,
    User,
)
from lims.models.enums import RunStatus
from lims.quality.permissions import Permission, permissions_of
from lims.quality.standards import UsedRange, check_standard_use, current_certificate
from lims.services.planning.model import PlannedUse
from lims.units import UnitParseError, parse_quantity

__all__ = [
    "ENVIRONMENT_READERS",
    "RuleFailure",
    "check_environment",
    "check_equipment",
    "check_operator",
    "check_reference_material",
    "check_regulation_table",
    "check_standard",
    "grant_override",
    "latest_certificate",
    "overridden_keys",
    "read_environment",
]

#: Environment quantity name (as in the regulation table) → EnvironmentMonitor method.
ENVIRONMENT_READERS = {
    "temperature": "read_temperature",
    "humidity": "read_humidity",
    "pressure": "read_pressure",
}


@dataclass(frozen=True)
class RuleFailure:
    """One failed rule: a key a quality manager can override, and the reason."""

    key: str
    reason: str

    def __str__(self) -> str:
        return f"[{self.key}] {self.reason}"


def check_standard(
    session: Session, tag: str, day: date, uses: Sequence[PlannedUse] = ()
) -> list[RuleFailure]:
    """A measurement standard is usable: active, every member active with a certificate valid
    on ``day`` and no accepted interval fallen due, each planned use inside a calibrated range
    its certificates state, its last intermediate check passed and not overdue."""
    key = f"standard:{tag}"
    std = session.scalars(
        select(MeasurementStandard).where(MeasurementStandard.tag == tag)
    ).one_or_none()
    if std is None:
        return [RuleFailure(key, f"计量标准不存在 measurement standard {tag} is not registered")]
    out: list[RuleFailure] = []
    if std.status != EquipmentStatus.ACTIVE:
        out.append(
            RuleFailure(
                key, f"计量标准停用 standard {tag} is {std.status.value}: {std.status_reason}"
            )
        )
    members = session.scalars(
        select(StandardMember).where(StandardMember.standard_id == std.id)
    ).all()
    if not members:
        out.append(RuleFailure(key, f"standard {tag} has no equipment"))
    for m in members:
        eq = m.equipment
        if eq.status != EquipmentStatus.ACTIVE:
            out.append(
                RuleFailure(
                    key, f"设备停用 equipment {eq.asset_tag or eq.id} of {tag} is {eq.status.value}"
                )
            )
    used = []
    for use in uses:
        try:
            used.append(UsedRange(use.quantity, parse_quantity(use.low), parse_quantity(use.high)))
        except UnitParseError as exc:
            out.append(RuleFailure(key, f"planned use of {tag} ({use.quantity}) unreadable: {exc}"))
    out += [RuleFailure(p.key, p.reason) for p in check_standard_use(session, tag, day, used)]
    check = session.scalars(
        select(IntermediateCheck)
        .where(IntermediateCheck.standard_id == std.id)
        .order_by(IntermediateCheck.performed_on.desc(), IntermediateCheck.id.desc())
        .limit(1)
    ).one_or_none()
    if check is None:
        out.append(RuleFailure(key, f"无期间核查 standard {tag} has no intermediate check"))
    elif not check.passed:
        out.append(
            RuleFailure(
                key,
                f"期间核查不合格 last intermediate check of {tag} "
                f"({check.performed_on.isoformat()}) failed",
            )
        )
    elif (day - check.performed_on).days > std.intermediate_check_interval_days:
        out.append(
            RuleFailure(
                key,
                f"期间核查逾期 intermediate check of {tag} overdue: last on "
                f"{check.performed_on.isoformat()}, interval "
                f"{std.intermediate_check_interval_days} days",
            )
        )
    return out


def check_equipment(session: Session, asset_tag: str, day: date) -> list[RuleFailure]:
    """A piece of the lab's equipment used on its own (an environment monitor, a balance)
    is usable: registered, active, and its latest certificate valid on ``day``."""
    key = f"equipment:{asset_tag}"
    eq = session.scalars(select(Equipment).where(Equipment.asset_tag == asset_tag)).one_or_none()
    if eq is None:
        return [RuleFailure(key, f"设备未登记 equipment {asset_tag} is not registered")]
    out: list[RuleFailure] = []
    if eq.status != EquipmentStatus.ACTIVE:
        out.append(
            RuleFailure(
                key, f"设备停用 equipment {asset_tag} is {eq.status.value}: {eq.status_reason}"
            )
        )
    cert = latest_certificate(session, eq.id)
    if cert is None:
        out.append(RuleFailure(key, f"无有效证书 equipment {asset_tag} has no certificate"))
    elif not cert.calibrated_on <= day <= cert.valid_until:
        out.append(
            RuleFailure(
                key,
                f"证书过期 certificate {cert.number} of {asset_tag} is valid "
                f"{cert.calibrated_on.isoformat()} … {cert.valid_until.isoformat()}, "
                f"not on {day.isoformat()}",
            )
        )
    return out


def latest_certificate(session: Session, equipment_id: int) -> ExternalCertificate | None:
    """The certificate in force for a piece of equipment: the newest calibration that no
    later revision replaces (:func:`lims.quality.standards.current_certificate`)."""
    return current_certificate(session, equipment_id)


def check_reference_material(session: Session, tag: str, day: date) -> list[RuleFailure]:
    """A reference material is usable: neither expired nor exhausted nor disposed."""
    key = f"reference_material:{tag}"
    rm = session.scalars(
        select(ReferenceMaterial).where(ReferenceMaterial.tag == tag)
    ).one_or_none()
    if rm is None:
        return [RuleFailure(key, f"标准物质不存在 reference material {tag} is not registered")]
    ok, why = rm.usable_on(day)
    return [] if ok else [RuleFailure(key, f"标准物质不可用 {why}")]


def check_operator(
    session: Session, username: str, procedure_id: str, day: date
) -> list[RuleFailure]:
    """The operator exists, is active and not locked, holds a role that runs procedures
    and is authorized for the procedure."""
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    if user is None:
        return [RuleFailure("operator", f"用户不存在 unknown user {username!r}")]
    out: list[RuleFailure] = []
    if not user.active:
        out.append(RuleFailure("operator", f"账户停用 account {username} is deactivated"))
    if user.locked_at is not None:
        out.append(RuleFailure("operator", f"账户锁定 account {username} is locked"))
    if user.valid_until is not None and day > user.valid_until:
        out.append(
            RuleFailure("operator", f"账户过期 account {username} expired {user.valid_until}")
        )
    if Permission.RUN_PROCEDURE not in permissions_of(user):
        roles = ", ".join(sorted(r.value for r in user.role_set)) or "no role"
        out.append(
            RuleFailure("operator", f"无操作权限 {username} ({roles}) may not run procedures")
        )
    auths = session.scalars(
        select(Authorization).where(
            Authorization.user_id == user.id, Authorization.procedure_id == procedure_id
        )
    ).all()
    if not any(a.is_valid_on(day) for a in auths):
        out.append(
            RuleFailure(
                "operator",
                f"未授权 {username} holds no authorization for procedure {procedure_id} "
                f"valid on {day.isoformat()}",
            )
        )
    return out


def read_environment(monitor: Any, names: Iterable[str]) -> dict[str, Any]:
    """Read the named environmental quantities from an EnvironmentMonitor."""
    values: dict[str, Any] = {}
    for name in names:
        method = ENVIRONMENT_READERS.get(name)
        if method is None:
            raise EngineError(
                f"environment limit {name!r} cannot be read "
                f"(known: {', '.join(ENVIRONMENT_READERS)})"
            )
        values[name] = getattr(monitor, method)()
    return values


def check_environment(
    values: Mapping[str, Any], limits: Mapping[str, EnvironmentLimit]
) -> list[RuleFailure]:
    """Every environmental quantity lies inside the procedure's limits."""
    out: list[RuleFailure] = []
    for name, lim in limits.items():
        value = values.get(name)
        if value is None:
            out.append(RuleFailure(f"environment:{name}", f"环境 {name} was not measured"))
            continue
        if not lim.contains(value):
            out.append(
                RuleFailure(
                    f"environment:{name}",
                    f"环境条件超限 {name} {value:~P} outside {lim.describe()}",
                )
            )
    return out


def check_regulation_table(
    table: RegulationTable, *, simulated: bool, practice: bool
) -> list[RuleFailure]:
    """A draft table runs only as a simulated or practice run."""
    if table.release.released or simulated or practice:
        return []
    return [
        RuleFailure(
            "regulation_table",
            f"规程表未发布 regulation table {table.procedure} {table.version} is a draft: "
            "only simulated or practice runs may use it",
        )
    ]


def overridden_keys(session: Session, run_id: int) -> set[str]:
    """The rule keys a quality manager has overridden for this run."""
    return set(session.scalars(select(RuleOverride.rule).where(RuleOverride.run_id == run_id)))


def grant_override(db: Database, run_id: int, key: str, reason: str, quality_manager: str) -> int:
    """Store a quality manager's written override of rule ``key`` for one run.

    The caller has authenticated ``quality_manager`` (21 CFR 11.200). Refused (EngineError,
    nothing written) unless the user holds the quality-manager role, the reason is
    written, and the run is not finished. Returns the override's id.
    """
    reason = reason.strip()
    if len(reason) < 5:
        raise EngineError("an override needs a written reason (at least 5 characters)")
    with db.write(actor=quality_manager, reason=reason) as s:
        user = s.scalars(select(User).where(User.username == quality_manager)).one_or_none()
        if user is None or not user.active or not user.has_role(Role.QUALITY_MANAGER):
            raise EngineError(
                f"只有质量负责人可以豁免 only an active quality manager may override; "
                f"{quality_manager!r} is not one"
            )
        run = s.get(Run, run_id)
        if run is None:
            raise EngineError(f"no run {run_id}")
        if run.status in (RunStatus.COMPLETED, RunStatus.ABORTED):
            raise EngineError(f"run {run_id} is {run.status.value}; nothing to override")
        failures = run.provenance.get("rule_failures", {})
        if key not in failures:
            known = ", ".join(sorted(failures)) or "none"
            raise EngineError(
                f"run {run_id} has no failed rule {key!r} to override (failed: {known})"
            )
        ov = RuleOverride(
            run_id=run_id,
            rule=key,
            detail=str(failures[key]),
            reason=reason,
            quality_manager_id=user.id,
        )
        s.add(ov)
        s.flush()
        return ov.id
