"""Work-order life cycle and the paged board (one query per page), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import event, select

import lims.security
from lims.audit import verify
from lims.db import Database
from lims.models import AuditEvent, Role, WorkOrder, WorkOrderItem
from lims.models.enums import ItemStatus, ServiceKind, WorkOrderStatus
from lims.models.users import User
from lims.quality.errors import PermissionDenied
from lims.security import PasswordPolicy
from lims.services.users import create_user
from lims.services.work_order_board import BoardFilter, board_page
from lims.services.work_order_status import (
    WorkOrderStateError,
    cancel,
    deliver,
    item_certified,
    run_started,
)
from lims.services.work_orders import (
    InstrumentInput,
    ReceiptInput,
    receive_instruments,
    status_board,
)
from lims.units import Q_

TODAY = date(2026, 5, 18)
S = WorkOrderStatus


@pytest.fixture(autouse=True)
def _cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        lims.security, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


def _user(db: Database, name: str, role: Role) -> User:
    with db.write(actor="system:test", reason="test user") as s:
        u = create_user(s, name, name, "Passw0rd#long", [role], PasswordPolicy())
        s.flush()
        s.expunge(u)
    return u


def _receive(
    db: Database, actor: User, customer: str, serials: list[str], received: date, due: date
) -> str:
    items = tuple(
        InstrumentInput(
            kind="gas_analyzer",
            description="CO2 analyzer",
            manufacturer="Sim",
            model="CA",
            serial_number=serial,
            service=ServiceKind.VERIFICATION,
            procedure_id="jjg635",
            range_min=Q_(0, "umol/mol"),
            range_max=Q_(2000, "umol/mol"),
        )
        for serial in serials
    )
    receipt = ReceiptInput(customer, received, due, items)
    with db.write(actor=actor, reason="instruments received") as s:
        return receive_instruments(s, actor, receipt, TODAY).number


@contextmanager
def _selects(db: Database) -> Iterator[list[str]]:
    """The SELECT statements sent to the database inside the block."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def test_board_pages_filters_and_costs_one_query_per_page(db: Database) -> None:
    tech = _user(db, "tech", Role.TECHNICIAN)
    # 9 work orders: customers A and B alternating, 1–3 items, received one day apart
    made: list[tuple[str, str, date, date, int]] = []
    for i in range(9):
        customer = "客户 Customer A" if i % 2 == 0 else "客户 Customer B"
        received = TODAY - timedelta(days=9 - i)
        due = received + timedelta(days=5)
        n_items = 1 + i % 3
        number = _receive(db, tech, customer, [f"S{i}-{k}" for k in range(n_items)], received, due)
        made.append((number, customer, received, due, n_items))
    newest_first = sorted(made, key=lambda m: (m[2], m[0]), reverse=True)

    seen_numbers: list[str] = []
    with db.read() as s:
        s.scalar(select(1))  # the session's own start-up is not the board's cost
        for offset in (0, 4, 8):
            with _selects(db) as statements:
                page = board_page(s, tech, offset=offset, limit=4)
            assert len(statements) == 1, statements
            assert page.total == 9
            expected = newest_first[offset : offset + 4]
            assert [r.number for r in page.rows] == [m[0] for m in expected]
            assert [len(r.items) for r in page.rows] == [m[4] for m in expected]
            assert page.has_more == (offset + 4 < 9)
            seen_numbers += [r.number for r in page.rows]
        assert sorted(seen_numbers) == sorted(m[0] for m in made)

        # filters run on the server: customer, number, overdue
        b_only = board_page(s, tech, BoardFilter(customer="customer b"), limit=100)
        assert [r.number for r in b_only.rows] == [m[0] for m in newest_first if m[1].endswith("B")]
        overdue_day = TODAY - timedelta(days=1)
        overdue = board_page(s, tech, BoardFilter(due_before=overdue_day), limit=100)
        assert [r.number for r in overdue.rows] == [
            m[0] for m in newest_first if m[3] < overdue_day
        ]
        one = board_page(s, tech, BoardFilter(number=made[3][0]), limit=100)
        assert [r.number for r in one.rows] == [made[3][0]]
        # the unpaged board is one query too
        with _selects(db) as statements:
            everything = status_board(s, tech)
        assert len(statements) == 1
        assert len(everything) == 9


def test_life_cycle_received_to_delivered_and_cancelled(db: Database) -> None:
    tech = _user(db, "tech", Role.TECHNICIAN)
    qm = _user(db, "qm", Role.QUALITY_MANAGER)
    auditor = _user(db, "aud", Role.AUDITOR)
    due = TODAY + timedelta(days=7)
    first = _receive(db, tech, "客户 Customer A", ["L1", "L2"], TODAY, due)
    second = _receive(db, tech, "客户 Customer A", ["L3"], TODAY, due)

    def state(number: str) -> tuple[WorkOrderStatus, list[ItemStatus], str]:
        with db.read() as s:
            wo = s.scalars(select(WorkOrder).where(WorkOrder.number == number)).one()
            return (
                wo.status,
                [i.status for i in sorted(wo.items, key=lambda i: i.id)],
                (wo.status_reason),
            )

    def items(number: str) -> list[int]:
        with db.read() as s:
            return list(
                s.scalars(
                    select(WorkOrderItem.id)
                    .join(WorkOrder)
                    .where(WorkOrder.number == number)
                    .order_by(WorkOrderItem.id)
                )
            )

    assert state(first)[0] is S.RECEIVED
    with (
        pytest.raises(WorkOrderStateError, match="only a certified"),
        db.write(actor=tech, reason="deliver") as s,
    ):
        deliver(s, tech, first)
    a, b = items(first)
    with db.write(actor=tech, reason="run started") as s:
        run_started(s, a)
    assert state(first)[:2] == (S.IN_PROGRESS, [ItemStatus.IN_PROGRESS, ItemStatus.RECEIVED])
    with db.write(actor="system:test", reason="certificate issued") as s:
        item_certified(s, s.get(WorkOrderItem, a))  # type: ignore[arg-type]
    assert state(first)[0] is S.IN_PROGRESS  # one item is still to do
    with db.write(actor="system:test", reason="certificate issued") as s:
        item_certified(s, s.get(WorkOrderItem, b))  # type: ignore[arg-type]
    assert state(first)[:2] == (S.CERTIFIED, [ItemStatus.CERTIFIED] * 2)
    with pytest.raises(PermissionDenied), db.write(actor=auditor, reason="deliver") as s:
        deliver(s, auditor, first)
    with db.write(actor=tech, reason="handed over") as s:
        deliver(s, tech, first)
    assert state(first)[:2] == (S.DELIVERED, [ItemStatus.RETURNED] * 2)
    with (
        pytest.raises(WorkOrderStateError, match="cannot be cancelled"),
        db.write(actor=qm, reason="cancel") as s,
    ):
        cancel(s, qm, first, "too late")

    # cancelling needs the permission and a reason; it is kept
    with pytest.raises(PermissionDenied), db.write(actor=tech, reason="cancel") as s:
        cancel(s, tech, second, "customer withdrew")
    with (
        pytest.raises(WorkOrderStateError, match="reason"),
        db.write(actor=qm, reason="cancel") as s,
    ):
        cancel(s, qm, second, "  ")
    with db.write(actor=qm, reason="customer withdrew the order") as s:
        cancel(s, qm, second, "customer withdrew")
    assert state(second)[0] is S.CANCELLED
    assert state(second)[2] == "customer withdrew"

    with db.read() as s:
        # closed work leaves the board; every transition is in the audit trail
        assert [r.number for r in status_board(s, tech)] == []
        assert {r.number for r in status_board(s, tech, include_closed=True)} == {first, second}
        changes = [
            (ev.changes["status"], ev.reason)
            for ev in s.scalars(
                select(AuditEvent)
                .where(AuditEvent.table_name == "work_orders", AuditEvent.action == "update")
                .order_by(AuditEvent.id)
            )
            if "status" in (ev.changes or {})
        ]
        assert changes == [
            (["received", "in_progress"], "run started"),
            (["in_progress", "certified"], "certificate issued"),
            (["certified", "delivered"], "handed over"),
            (["received", "cancelled"], "customer withdrew the order"),
        ]
        assert verify(s).ok
