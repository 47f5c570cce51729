"""The work-order board: open work, a page at a time, filtered on the database server.

A page is ONE statement: the page of work orders (filtered, ordered newest received first,
``LIMIT``/``OFFSET``, with the number of matching orders as a window count) is a subquery
joined to its items, their instruments and the customer. Nothing is loaded per row, so a
page costs the same with 100 or 100 000 work orders in the lab's history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lims.models.enums import WorkOrderStatus
from lims.models.equipment import Equipment
from lims.models.lab import Customer
from lims.models.users import User
from lims.models.work import WorkOrder, WorkOrderItem
from lims.quality.permissions import Permission, require
from lims.services.work_order_status import OPEN_STATES
from lims.services.work_orders import ItemRow, WorkOrderRow

__all__ = ["DEFAULT_PAGE_SIZE", "BoardFilter", "BoardPage", "board_page"]

#: Work orders per page of the board.
DEFAULT_PAGE_SIZE = 50


@dataclass(frozen=True)
class BoardFilter:
    """What the board shows: states (open work by default), a customer, a text, overdue."""

    states: tuple[WorkOrderStatus, ...] = OPEN_STATES
    #: Part of the customer's name (case-insensitive).
    customer: str = ""
    #: Part of the work-order number.
    number: str = ""
    #: Only orders due before this day (overdue on it), when set.
    due_before: date | None = None


@dataclass(frozen=True)
class BoardPage:
    """One page of the board and where it stands in the whole."""

    rows: list[WorkOrderRow]
    offset: int
    limit: int | None
    #: Work orders matching the filter, all pages together (0 for a page past the end).
    total: int

    @property
    def has_more(self) -> bool:
        """Whether a next page exists."""
        return self.limit is not None and self.offset + len(self.rows) < self.total


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def board_page(
    session: Session,
    actor: User,
    filters: BoardFilter | None = None,
    *,
    offset: int = 0,
    limit: int | None = DEFAULT_PAGE_SIZE,
) -> BoardPage:
    """One page of the board (``limit=None``: every matching work order), in one query."""
    require(actor, Permission.VIEW_RECORDS)
    f = filters or BoardFilter()
    if offset < 0 or (limit is not None and limit < 1):
        raise ValueError(f"board page: offset {offset} and limit {limit} must be ≥ 0 and ≥ 1")
    page = select(
        WorkOrder.id.label("wo_id"),
        WorkOrder.received_on.label("received_on"),
        WorkOrder.number.label("number"),
        func.count().over().label("total"),
    ).join(Customer, Customer.id == WorkOrder.customer_id)
    if f.states:
        page = page.where(WorkOrder.status.in_(list(f.states)))
    if f.customer.strip():
        page = page.where(Customer.name.ilike(_like(f.customer.strip()), escape="\\"))
    if f.number.strip():
        page = page.where(WorkOrder.number.ilike(_like(f.number.strip()), escape="\\"))
    if f.due_before is not None:
        page = page.where(WorkOrder.due_on < f.due_before)
    page = page.order_by(WorkOrder.received_on.desc(), WorkOrder.number.desc()).offset(offset)
    if limit is not None:
        page = page.limit(limit)
    sub = page.subquery("page")
    query = (
        select(
            sub.c.total,
            WorkOrder.number,
            Customer.name,
            WorkOrder.received_on,
            WorkOrder.due_on,
            WorkOrder.status,
            WorkOrderItem.id,
            Equipment.description,
            Equipment.model,
            Equipment.serial_number,
            WorkOrderItem.service,
            WorkOrderItem.procedure_id,
            WorkOrderItem.status,
        )
        .select_from(sub)
        .join(WorkOrder, WorkOrder.id == sub.c.wo_id)
        .join(Customer, Customer.id == WorkOrder.customer_id)
        .outerjoin(WorkOrderItem, WorkOrderItem.work_order_id == WorkOrder.id)
        .outerjoin(Equipment, Equipment.id == WorkOrderItem.equipment_id)
        .order_by(sub.c.received_on.desc(), sub.c.number.desc(), WorkOrderItem.id)
    )
    rows: dict[str, WorkOrderRow] = {}
    total = 0
    for r in session.execute(query):
        total = int(r[0])
        row = rows.get(r[1])
        if row is None:
            row = rows[r[1]] = WorkOrderRow(r[1], r[2], r[3], r[4], r[5], [])
        if r[6] is not None:
            row.items.append(ItemRow(r[6], r[7], r[8], r[9], r[10], r[11], r[12]))
    return BoardPage(list(rows.values()), offset, limit, total)
