"""The life cycle of a work order (委托单), driven where its work happens.

``received`` (instruments logged in) → ``in_progress`` (a run of one of its items starts:
:func:`run_started`, called by the run engine) → ``certified`` (every item that is not
returned uncalibrated has an issued certificate: :func:`item_certified`, called when a
certificate is issued) → ``delivered`` (:func:`deliver`, ``lims work-order deliver``);
``cancelled`` with a reason from any state before delivery (:func:`cancel`). Delivered
and cancelled are final. Every change is a write of an audited record (the session hook
records old → new with the write's reason); deliver and cancel need their permission.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.db.types import utcnow
from lims.messages import bilingual
from lims.models.enums import ItemStatus, WorkOrderStatus
from lims.models.users import User
from lims.models.work import WorkOrder, WorkOrderItem
from lims.quality.permissions import Permission, require

__all__ = [
    "CLOSED_STATES",
    "OPEN_STATES",
    "WorkOrderStateError",
    "cancel",
    "deliver",
    "item_certified",
    "run_started",
]

S = WorkOrderStatus
#: States of work still to do or to hand back (the board shows these).
OPEN_STATES = (S.RECEIVED, S.IN_PROGRESS, S.CERTIFIED)
#: Final states.
CLOSED_STATES = (S.DELIVERED, S.CANCELLED)


class WorkOrderStateError(ValueError):
    """A transition the work order's state does not allow (or an unknown work order)."""


def _set(wo: WorkOrder, status: WorkOrderStatus, reason: str = "") -> None:
    wo.status = status
    wo.status_reason = reason
    wo.status_changed_at = utcnow()


def _find(session: Session, number: str) -> WorkOrder:
    wo = session.scalars(select(WorkOrder).where(WorkOrder.number == number.strip())).first()
    if wo is None:
        raise WorkOrderStateError(bilingual("wo.unknown", number=number.strip()))
    return wo


def run_started(session: Session, item_id: int | None) -> None:
    """A run of work-order item ``item_id`` starts: the item and its order are in progress."""
    if item_id is None:
        return
    item = session.get(WorkOrderItem, item_id)
    if item is None:
        return
    if item.status is ItemStatus.RECEIVED:
        item.status = ItemStatus.IN_PROGRESS
    wo = item.work_order
    if wo.status is S.RECEIVED:
        _set(wo, S.IN_PROGRESS)


def item_certified(session: Session, item: WorkOrderItem) -> None:
    """An item's certificate was issued: the order is certified once all its items are."""
    item.status = ItemStatus.CERTIFIED
    wo = item.work_order
    if wo.status in CLOSED_STATES:
        return
    session.flush()
    states = session.scalars(
        select(WorkOrderItem.status).where(WorkOrderItem.work_order_id == wo.id)
    ).all()
    if all(s in (ItemStatus.CERTIFIED, ItemStatus.RETURNED) for s in states):
        _set(wo, S.CERTIFIED)
    elif wo.status is S.RECEIVED:
        _set(wo, S.IN_PROGRESS)


def deliver(session: Session, actor: User, number: str) -> WorkOrder:
    """Hand a certified work order's instruments and certificates back to the customer."""
    require(actor, Permission.DELIVER_WORK_ORDER)
    wo = _find(session, number)
    if wo.status is not S.CERTIFIED:
        raise WorkOrderStateError(
            bilingual("wo.deliver_state", number=wo.number, status=wo.status.value)
        )
    for item in wo.items:
        item.status = ItemStatus.RETURNED
    _set(wo, S.DELIVERED)
    session.flush()
    return wo


def cancel(session: Session, actor: User, number: str, reason: str) -> WorkOrder:
    """Cancel a work order that is not delivered yet; ``reason`` is required and kept."""
    require(actor, Permission.CANCEL_WORK_ORDER)
    if not reason.strip():
        raise WorkOrderStateError(bilingual("wo.cancel_reason"))
    wo = _find(session, number)
    if wo.status in CLOSED_STATES:
        raise WorkOrderStateError(
            bilingual("wo.cancel_state", number=wo.number, status=wo.status.value)
        )
    _set(wo, S.CANCELLED, reason.strip())
    session.flush()
    return wo
