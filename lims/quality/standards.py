"""Measurement standards: calibration history with external certificates, status,
intermediate checks (期间核查) and their control charts; whether a standard may be
used on a day over a range (:func:`check_standard_use`)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.models.enums import EquipmentStatus
from lims.models.equipment import (
    Equipment,
    ExternalCertificate,
    IntermediateCheck,
    MeasurementStandard,
    StandardMember,
)
from lims.models.traceability import IntervalDecision
from lims.models.users import User
from lims.quality.archive import store_file
from lims.quality.errors import NotFoundError, QualityError
from lims.quality.permissions import Permission, require
from lims.quality.standard_certificates import (
    CalibratedRange,
    CertificateData,
    certificate_content,
    stored_values,
)
from lims.units import UnitParseError, check_dimension, to_storage


def get_standard(session: Session, tag: str) -> MeasurementStandard:
    """The standard with this tag, or :class:`NotFoundError`."""
    std = session.scalars(
        select(MeasurementStandard).where(MeasurementStandard.tag == tag)
    ).one_or_none()
    if std is None:
        raise NotFoundError(f"measurement standard {tag!r} does not exist")
    return std


def get_equipment(session: Session, asset_tag: str) -> Equipment:
    """The lab's equipment with this asset tag, or :class:`NotFoundError`."""
    eq = session.scalars(select(Equipment).where(Equipment.asset_tag == asset_tag)).one_or_none()
    if eq is None:
        raise NotFoundError(f"equipment with asset tag {asset_tag!r} does not exist")
    return eq


def current_certificate(session: Session, equipment_id: int) -> ExternalCertificate | None:
    """The newest certificate of a piece of equipment that no later revision replaces."""
    replaced = select(ExternalCertificate.replaces_id).where(
        ExternalCertificate.replaces_id.is_not(None)
    )
    return session.scalars(
        select(ExternalCertificate)
        .where(
            ExternalCertificate.equipment_id == equipment_id,
            ExternalCertificate.id.not_in(replaced),
        )
        .order_by(ExternalCertificate.calibrated_on.desc(), ExternalCertificate.id.desc())
        .limit(1)
    ).first()


def record_external_certificate(
    session: Session,
    actor: User,
    archive_dir: Path,
    *,
    equipment_asset_tag: str,
    issuer: str,
    number: str,
    calibrated_on: date,
    issued_on: date,
    valid_until: date,
    values: list[dict[str, Any]] | None = None,
    file: Path | None = None,
    in_house_run_id: int | None = None,
    replaces_id: int | None = None,
    content: dict[str, Any] | None = None,
) -> ExternalCertificate:
    """Record a calibration certificate of a piece of the lab's equipment.

    The certificate's file (PDF or DCC) is stored by hash under ``archive_dir``. A
    correction is a new revision that names the certificate it replaces
    (``replaces_id``); certificates themselves are never changed. ``content`` is the
    stored form of typed values and ranges (:func:`add_certificate` gives it);
    otherwise ``values`` are kept as given.
    """
    require(actor, Permission.MANAGE_STANDARDS)
    if not number.strip():
        raise QualityError("--number: the certificate number is empty")
    if not issuer.strip():
        raise QualityError("--issuer: the issuer is empty")
    if issued_on < calibrated_on:
        raise QualityError("--issued: a certificate cannot be issued before the calibration")
    if valid_until <= calibrated_on:
        raise QualityError("--valid-until: must be after the calibration date")
    eq = get_equipment(session, equipment_asset_tag)
    if eq.owner_customer_id is not None:
        raise QualityError(f"equipment {equipment_asset_tag} belongs to a customer, not the lab")
    revision = 1
    if replaces_id is not None:
        old = session.get(ExternalCertificate, replaces_id)
        if old is None or old.equipment_id != eq.id:
            raise NotFoundError(
                f"--replaces: certificate {replaces_id} of {equipment_asset_tag} does not exist"
            )
        if session.scalars(
            select(ExternalCertificate.id).where(ExternalCertificate.replaces_id == old.id)
        ).first():
            raise QualityError(
                f"--replaces: certificate {old.number} rev {old.revision} is already replaced"
            )
        revision = old.revision + 1
    elif session.scalars(
        select(ExternalCertificate.id).where(
            ExternalCertificate.equipment_id == eq.id, ExternalCertificate.number == number
        )
    ).first():
        raise QualityError(
            f"--number: certificate {number} of {equipment_asset_tag} is recorded already; "
            "record a revision with --replaces"
        )
    sha = store_file(archive_dir, file) if file is not None else None
    cert = ExternalCertificate(
        equipment_id=eq.id,
        issuer=issuer.strip(),
        number=number.strip(),
        calibrated_on=calibrated_on,
        issued_on=issued_on,
        valid_until=valid_until,
        values=content if content is not None else {"items": values or []},
        file_sha256=sha,
        in_house_run_id=in_house_run_id,
        revision=revision,
        replaces_id=replaces_id,
    )
    session.add(cert)
    session.flush()
    return cert


def calibration_history(
    session: Session, actor: User, standard_tag: str
) -> list[ExternalCertificate]:
    """Every certificate (all revisions) of every member of a standard, oldest first."""
    require(actor, Permission.VIEW_RECORDS)
    std = get_standard(session, standard_tag)
    return list(
        session.scalars(
            select(ExternalCertificate)
            .join(StandardMember, StandardMember.equipment_id == ExternalCertificate.equipment_id)
            .where(StandardMember.standard_id == std.id)
            .order_by(ExternalCertificate.calibrated_on, ExternalCertificate.id)
        )
    )


def _set_status(
    session: Session, actor: User, tag: str, status: EquipmentStatus, reason: str
) -> MeasurementStandard:
    require(actor, Permission.MANAGE_STANDARDS)
    if not reason.strip():
        raise QualityError("--reason: a status change needs a reason")
    std = get_standard(session, tag)
    if std.status == status:
        raise QualityError(f"standard {tag} is {status.value} already")
    std.status = status
    std.status_reason = reason.strip()
    session.info["reason"] = session.info.get("reason") or reason.strip()
    session.flush()
    return std


def take_out_of_service(
    session: Session, actor: User, tag: str, reason: str
) -> MeasurementStandard:
    """Put a standard out of service (停用) with a reason; runs can no longer use it."""
    return _set_status(session, actor, tag, EquipmentStatus.OUT_OF_SERVICE, reason)


def return_to_service(
    session: Session, actor: User, tag: str, reason: str, today: date
) -> MeasurementStandard:
    """Put a standard back in service with a reason; every member needs a valid certificate."""
    require(actor, Permission.MANAGE_STANDARDS)  # refuse before revealing anything
    std = get_standard(session, tag)
    for member in std.members:
        cert = current_certificate(session, member.equipment_id)
        if cert is None or cert.valid_until < today:
            what = "has no certificate" if cert is None else f"expired on {cert.valid_until}"
            raise QualityError(
                f"standard {tag}: member {member.equipment.asset_tag or member.equipment_id} "
                f"{what}; record a valid certificate first"
            )
    return _set_status(session, actor, tag, EquipmentStatus.ACTIVE, reason)


def record_intermediate_check(
    session: Session,
    actor: User,
    tag: str,
    *,
    performed_on: date,
    quantity: str,
    nominal: Any,
    measured: Any,
    limit: Any,
    notes: str = "",
) -> IntermediateCheck:
    """Record an intermediate check: passed when |measured - nominal| <= limit.

    ``nominal``, ``measured`` and ``limit`` are pint Quantities of one dimension;
    they are stored in the nominal value's unit.
    """
    require(actor, Permission.RECORD_INTERMEDIATE_CHECK)
    if not quantity.strip():
        raise QualityError("--quantity: name the checked quantity")
    try:
        check_dimension(measured, nominal.units, what="--measured")
        check_dimension(limit, nominal.units, what="--limit")
    except AttributeError as exc:
        raise QualityError("--nominal/--measured/--limit must be quantities with units") from exc
    except UnitParseError as exc:
        raise QualityError(str(exc)) from exc
    lim = float(limit.to(nominal.units).magnitude)
    if lim <= 0:
        raise QualityError("--limit: the acceptance limit must be positive")
    std = get_standard(session, tag)
    nom, unit = to_storage(nominal)
    meas = float(measured.to(nominal.units).magnitude)
    check = IntermediateCheck(
        standard_id=std.id,
        performed_on=performed_on,
        performed_by_id=actor.id,
        quantity=quantity.strip(),
        nominal=nom,
        measured=meas,
        limit=lim,
        unit=unit,
        passed=abs(meas - nom) <= lim,
        notes=notes,
    )
    session.add(check)
    session.flush()
    return check


@dataclass(frozen=True)
class ChartPoint:
    """One intermediate check on the control chart: its deviation from nominal."""

    performed_on: date
    deviation: float
    passed: bool
    out_of_control: bool


@dataclass(frozen=True)
class ControlChart:
    """Control-chart data of one quantity of a standard (Shewhart individuals chart).

    Centre line: the mean deviation; warning limits ±2s and control limits ±3s
    around it (s: sample standard deviation of the deviations); ``acceptance``:
    the check's own limit (the latest one recorded).
    """

    standard_tag: str
    quantity: str
    unit: str
    points: list[ChartPoint]
    centre: float
    sigma: float
    upper_warning: float
    lower_warning: float
    upper_control: float
    lower_control: float
    acceptance: float | None


def control_chart(session: Session, actor: User, tag: str, quantity: str) -> ControlChart:
    """Control-chart data for the intermediate checks of one quantity of a standard."""
    require(actor, Permission.VIEW_RECORDS)
    std = get_standard(session, tag)
    checks = list(
        session.scalars(
            select(IntermediateCheck)
            .where(IntermediateCheck.standard_id == std.id, IntermediateCheck.quantity == quantity)
            .order_by(IntermediateCheck.performed_on, IntermediateCheck.id)
        )
    )
    if len(checks) < 2:
        raise QualityError(
            f"standard {tag}: {len(checks)} intermediate check(s) of {quantity!r}; "
            "a control chart needs at least 2"
        )
    units = {c.unit for c in checks}
    if len(units) != 1:
        raise QualityError(f"standard {tag}: checks of {quantity!r} use several units {units}")
    devs = [float(c.measured or 0.0) - float(c.nominal or 0.0) for c in checks]
    centre = statistics.fmean(devs)
    sigma = statistics.stdev(devs)
    ucl, lcl = centre + 3 * sigma, centre - 3 * sigma
    points = [
        ChartPoint(c.performed_on, d, c.passed, not (lcl <= d <= ucl))
        for c, d in zip(checks, devs, strict=True)
    ]
    return ControlChart(
        standard_tag=tag,
        quantity=quantity,
        unit=units.pop() or "",
        points=points,
        centre=centre,
        sigma=sigma,
        upper_warning=centre + 2 * sigma,
        lower_warning=centre - 2 * sigma,
        upper_control=ucl,
        lower_control=lcl,
        acceptance=checks[-1].limit,
    )


def certificate_holder(session: Session, tag: str, member: str | None = None) -> Equipment:
    """The equipment a certificate for ``tag`` belongs to.

    ``tag`` is a member's asset tag, or a standard's tag: a standard of one member
    means that member; a standard of several needs ``member`` (its asset tag).
    """
    eq = session.scalars(select(Equipment).where(Equipment.asset_tag == tag)).one_or_none()
    if eq is not None:
        if member is not None and member != tag:
            raise QualityError(f"--member {member}: {tag} is itself a piece of equipment")
        return eq
    std = session.scalars(
        select(MeasurementStandard).where(MeasurementStandard.tag == tag)
    ).one_or_none()
    if std is None:
        raise NotFoundError(f"no standard or equipment is tagged {tag!r}")
    tags = {m.equipment.asset_tag or str(m.equipment_id): m.equipment for m in std.members}
    if member is not None:
        if member not in tags:
            raise NotFoundError(
                f"--member {member}: not a member of {tag} (members: {', '.join(sorted(tags))})"
            )
        return tags[member]
    if len(tags) != 1:
        raise QualityError(
            f"standard {tag} has {len(tags)} members ({', '.join(sorted(tags))}): "
            "name the one the certificate is for with --member"
        )
    return next(iter(tags.values()))


def add_certificate(
    session: Session,
    actor: User,
    archive_dir: Path,
    tag: str,
    data: CertificateData,
    *,
    member: str | None = None,
    file: Path | None = None,
    replaces_id: int | None = None,
) -> ExternalCertificate:
    """Record a standard's (or a member's) new certificate with typed values and ranges.

    Append-only and audited through the session; see :func:`record_external_certificate`.
    """
    require(actor, Permission.MANAGE_STANDARDS)
    data.check()
    eq = certificate_holder(session, tag, member)
    if eq.asset_tag is None:
        raise QualityError(f"equipment {eq.id} of {tag} has no asset tag; give it one first")
    return record_external_certificate(
        session,
        actor,
        archive_dir,
        equipment_asset_tag=eq.asset_tag,
        issuer=data.issuer,
        number=data.number,
        calibrated_on=data.calibrated_on,
        issued_on=data.issued_on,
        valid_until=data.valid_until,
        file=file,
        replaces_id=replaces_id,
        content=certificate_content(data),
    )


@dataclass(frozen=True)
class UsedRange:
    """The span of one quantity over which a run uses a standard (``low`` ≤ ``high``)."""

    quantity: str
    low: Any
    high: Any


@dataclass(frozen=True)
class StandardUseProblem:
    """Why a standard may not be used as planned; ``key`` is the overridable rule key."""

    key: str
    reason: str

    def __str__(self) -> str:
        return f"[{self.key}] {self.reason}"


def accepted_due_date(session: Session, tag: str) -> date | None:
    """The due date a quality manager last accepted for ``tag`` (interval analysis), if any."""
    decision = session.scalars(
        select(IntervalDecision)
        .where(IntervalDecision.tag == tag)
        .order_by(IntervalDecision.created_at.desc(), IntervalDecision.id.desc())
        .limit(1)
    ).one_or_none()
    return decision.next_due if decision is not None else None


def check_standard_use(
    session: Session, tag: str, day: date, used: Sequence[UsedRange] = ()
) -> list[StandardUseProblem]:
    """Whether standard ``tag`` may be used on ``day`` over the ranges ``used``.

    Every member's current certificate (the newest revision) must cover ``day``
    (calibration date … end of validity) and no accepted interval may have fallen due
    (for the standard or the member). Each used range must lie inside a range some
    member's current certificate states for a quantity of that dimension; a used
    quantity no certificate states a range for is refused too. Status and
    intermediate checks are the run rules' concern (``lims.engine.rules``).
    """
    key = f"standard:{tag}"
    std = session.scalars(
        select(MeasurementStandard).where(MeasurementStandard.tag == tag)
    ).one_or_none()
    if std is None:
        return [
            StandardUseProblem(key, f"计量标准不存在 measurement standard {tag} is not registered")
        ]
    out: list[StandardUseProblem] = []
    due = accepted_due_date(session, tag)
    if due is not None and day > due:
        out.append(
            StandardUseProblem(key, f"到期未校准 standard {tag} fell due on {due.isoformat()}")
        )
    ranges: list[tuple[str, CalibratedRange]] = []
    for member in std.members:
        eq = member.equipment
        label = eq.asset_tag or f"{eq.model} {eq.serial_number}"
        cert = current_certificate(session, eq.id)
        if cert is None:
            out.append(StandardUseProblem(key, f"无有效证书 {label} of {tag} has no certificate"))
            continue
        if not cert.calibrated_on <= day <= cert.valid_until:
            out.append(
                StandardUseProblem(
                    key,
                    f"证书不在有效期内 certificate {cert.number} of {label} ({tag}) covers "
                    f"{cert.calibrated_on.isoformat()} … {cert.valid_until.isoformat()}, "
                    f"not {day.isoformat()}",
                )
            )
        member_due = accepted_due_date(session, eq.asset_tag) if eq.asset_tag else None
        if member_due is not None and day > member_due:
            out.append(
                StandardUseProblem(
                    key, f"到期未校准 {label} of {tag} fell due on {member_due.isoformat()}"
                )
            )
        ranges += [(f"{cert.number} of {label}", r) for r in stored_values(cert.values)[1]]
    for use in used:
        candidates = [(where, r) for where, r in ranges if r.same_dimension(use.low)]
        span = f"{use.low.magnitude:g} … {use.high:~P}"
        if not candidates:
            out.append(
                StandardUseProblem(
                    key,
                    f"无校准范围 no certificate of {tag} states a calibrated range for "
                    f"{use.quantity} ({span})",
                )
            )
        elif not any(r.contains(use.low, use.high) for _, r in candidates):
            stated = "; ".join(f"{r.describe()} ({where})" for where, r in candidates)
            out.append(
                StandardUseProblem(
                    key,
                    f"超出校准范围 {use.quantity} {span} lies outside the calibrated range of "
                    f"{tag}: {stated}",
                )
            )
    return out
