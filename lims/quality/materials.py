"""Reference materials after receipt: opening, consumption, expiry and disposal.

Receipt is :func:`receive_material` (the permission check around
:func:`lims.services.materials.receive_reference_material`). Each
event is also kept as an append-only :class:`ReferenceMaterialEvent`. Whether a
material may be used is :meth:`ReferenceMaterial.usable_on` (expired, below its
minimum, exhausted or disposed: no).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.models.enums import ReferenceMaterialStatus
from lims.models.materials import ReferenceMaterial
from lims.models.quality import ReferenceMaterialEvent
from lims.models.users import User
from lims.quality.errors import NotFoundError, QualityError
from lims.quality.permissions import Permission, require
from lims.services.materials import ReferenceMaterialInput, receive_reference_material
from lims.units import UnitParseError, check_dimension, parse_unit

_GONE = {ReferenceMaterialStatus.DISPOSED, ReferenceMaterialStatus.EXHAUSTED}


def get_material(session: Session, tag: str) -> ReferenceMaterial:
    """The reference material with this tag, or :class:`NotFoundError`."""
    rm = session.scalars(
        select(ReferenceMaterial).where(ReferenceMaterial.tag == tag)
    ).one_or_none()
    if rm is None:
        raise NotFoundError(f"reference material {tag!r} does not exist")
    return rm


def _event(
    session: Session, rm: ReferenceMaterial, actor: User, kind: str, day: date, note: str
) -> ReferenceMaterialEvent:
    ev = ReferenceMaterialEvent(
        reference_material_id=rm.id,
        kind=kind,
        happened_on=day,
        remaining_before=rm.remaining,
        remaining_after=rm.remaining,
        unit=rm.remaining_unit,
        user_id=actor.id,
        note=note,
    )
    session.add(ev)
    return ev


def receive_material(
    session: Session, actor: User, data: ReferenceMaterialInput
) -> ReferenceMaterial:
    """Record a received reference material with its certificate data (quality managers)."""
    require(actor, Permission.MANAGE_REFERENCE_MATERIALS)
    rm = receive_reference_material(session, data)
    _event(session, rm, actor, "received", data.received_on, data.certificate_number)
    session.flush()
    return rm


def open_material(session: Session, actor: User, tag: str, day: date) -> ReferenceMaterial:
    """Open (start using) a material; refused when it is not usable on ``day``."""
    require(actor, Permission.USE_REFERENCE_MATERIALS)
    rm = get_material(session, tag)
    if rm.opened_on is not None:
        raise QualityError(f"reference material {tag} was opened on {rm.opened_on} already")
    if day < rm.received_on:
        raise QualityError(f"--on: {day} is before the receipt on {rm.received_on}")
    ok, why = rm.usable_on(day)
    if not ok:
        raise QualityError(f"cannot open: {why}")
    rm.opened_on = day
    rm.status = ReferenceMaterialStatus.IN_USE
    _event(session, rm, actor, "opened", day, "")
    session.flush()
    return rm


def record_consumption(
    session: Session, actor: User, tag: str, remaining: Any, day: date, note: str = ""
) -> ReferenceMaterial:
    """Record what is left (cylinder pressure or mass, a pint Quantity) after use.

    The amount cannot grow. When it falls below the minimum the material
    becomes exhausted and can no longer be used.
    """
    require(actor, Permission.USE_REFERENCE_MATERIALS)
    rm = get_material(session, tag)
    if rm.status in _GONE:
        raise QualityError(f"reference material {tag} is {rm.status.value}")
    if rm.remaining_unit is None or rm.remaining is None:
        raise QualityError(
            f"reference material {tag} has no recorded amount (pressure or mass) to consume from"
        )
    stored_unit = parse_unit(rm.remaining_unit)
    try:
        check_dimension(remaining, stored_unit, what="--remaining")
    except UnitParseError as exc:
        raise QualityError(str(exc)) from exc
    except AttributeError as exc:
        raise QualityError("--remaining must be a quantity with a unit") from exc
    value = float(remaining.to(stored_unit).magnitude)
    if value < 0:
        raise QualityError("--remaining cannot be negative")
    if value > rm.remaining:
        raise QualityError(
            f"--remaining: {value:g} {rm.remaining_unit} is more than the "
            f"{rm.remaining:g} {rm.remaining_unit} recorded; the amount cannot grow"
        )
    ev = _event(session, rm, actor, "consumed", day, note)
    ev.remaining_after = value
    rm.remaining = value
    if rm.opened_on is None:
        rm.opened_on = day
    rm.status = ReferenceMaterialStatus.IN_USE
    if rm.minimum is not None and value < rm.minimum:
        rm.status = ReferenceMaterialStatus.EXHAUSTED
        rm.status_reason = f"{value:g} {rm.remaining_unit} left, below minimum {rm.minimum:g}"
    session.flush()
    return rm


def mark_expired(session: Session, actor: User, today: date) -> list[ReferenceMaterial]:
    """Set every material past its expiry date to ``expired`` (returns those changed)."""
    require(actor, Permission.MANAGE_REFERENCE_MATERIALS)
    changed = []
    for rm in session.scalars(
        select(ReferenceMaterial)
        .where(
            ReferenceMaterial.expires_on < today,
            ReferenceMaterial.status.in_(
                [ReferenceMaterialStatus.IN_STOCK, ReferenceMaterialStatus.IN_USE]
            ),
        )
        .order_by(ReferenceMaterial.tag)
    ):
        rm.status = ReferenceMaterialStatus.EXPIRED
        rm.status_reason = f"expired on {rm.expires_on.isoformat()}"
        _event(session, rm, actor, "expired", today, "")
        changed.append(rm)
    session.flush()
    return changed


def dispose_material(
    session: Session, actor: User, tag: str, day: date, reason: str
) -> ReferenceMaterial:
    """Dispose of a material (returned cylinder, discarded CRM) with a reason."""
    require(actor, Permission.MANAGE_REFERENCE_MATERIALS)
    if not reason.strip():
        raise QualityError("--reason: disposal needs a reason")
    rm = get_material(session, tag)
    if rm.status == ReferenceMaterialStatus.DISPOSED:
        raise QualityError(f"reference material {tag} is disposed already")
    rm.status = ReferenceMaterialStatus.DISPOSED
    rm.status_reason = reason.strip()
    _event(session, rm, actor, "disposed", day, reason.strip())
    session.flush()
    return rm
