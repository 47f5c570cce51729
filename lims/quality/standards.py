"""Measurement standards: calibration history with external certificates, status,
intermediate checks (期间核查) and their control charts."""

from __future__ import annotations

import statistics
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
from lims.models.users import User
from lims.quality.archive import store_file
from lims.quality.errors import NotFoundError, QualityError
from lims.quality.permissions import Permission, require
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
) -> ExternalCertificate:
    """Record a calibration certificate of a piece of the lab's equipment.

    The certificate's file (PDF) is stored by hash under ``archive_dir``. A
    correction is a new revision that names the certificate it replaces
    (``replaces_id``); certificates themselves are never changed.
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
        values={"items": values or []},
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
