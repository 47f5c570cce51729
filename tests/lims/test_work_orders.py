"""Receiving instruments into work orders and the status board, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

import lims.security
from lims.db import Database
from lims.models import Customer, Equipment, Role, WorkOrder, WorkOrderItem
from lims.models.enums import ServiceKind
from lims.models.users import User
from lims.quality.errors import PermissionDenied
from lims.security import PasswordPolicy
from lims.services.users import create_user
from lims.services.work_orders import (
    InstrumentInput,
    ReceiptInput,
    WorkOrderError,
    customer_names,
    parse_range_bound,
    receive_instruments,
    status_board,
)
from lims.units import Q_

TODAY = date(2026, 5, 18)


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


def _item(serial: str = "CA-1", **kw: object) -> InstrumentInput:
    base: dict[str, object] = {
        "kind": "gas_analyzer",
        "description": "CO2 analyzer",
        "manufacturer": "Sim",
        "model": "CA",
        "serial_number": serial,
        "service": ServiceKind.VERIFICATION,
        "procedure_id": "jjg635",
        "range_min": Q_(0, "umol/mol"),
        "range_max": Q_(0.2, "percent"),
    }
    base.update(kw)
    return InstrumentInput(**base)  # type: ignore[arg-type]


def _receipt(*items: InstrumentInput, **kw: object) -> ReceiptInput:
    base: dict[str, object] = {
        "customer_name": "客户 Customer A",
        "received_on": TODAY,
        "due_on": TODAY + timedelta(days=10),
        "items": items,
        "contact_name": "刘 Liu",
    }
    base.update(kw)
    return ReceiptInput(**base)  # type: ignore[arg-type]


def _counts(db: Database) -> tuple[int, ...]:
    with db.read() as s:
        return tuple(
            int(s.scalar(select(func.count()).select_from(m)) or 0)
            for m in (Customer, Equipment, WorkOrder, WorkOrderItem)
        )


def test_receive_numbers_and_board(db: Database) -> None:
    tech = _user(db, "tech", Role.TECHNICIAN)
    with db.write(actor=tech, reason="receive") as s:
        first = receive_instruments(s, tech, _receipt(_item("A1"), _item("A2")), TODAY)
    with db.write(actor=tech, reason="receive") as s:
        second = receive_instruments(s, tech, _receipt(_item("A3")), TODAY)
    assert (first.number, second.number) == ("WO2026-0001", "WO2026-0002")
    assert _counts(db) == (1, 3, 2, 3)  # the customer is found again by name
    with db.read() as s:
        eq = s.scalars(select(Equipment).where(Equipment.serial_number == "A1")).one()
        # 0.2 % = 2000 µmol/mol, stored in the minimum's unit
        assert (eq.range_min, eq.range_max, eq.range_unit) == (
            0.0,
            pytest.approx(2000.0),
            "micromole / mole",
        )
        board = status_board(s, tech)
        assert [r.number for r in board] == ["WO2026-0002", "WO2026-0001"]
        assert [i.serial_number for i in board[1].items] == ["A1", "A2"]
        assert customer_names(s, tech) == ["客户 Customer A"]


@pytest.mark.parametrize(
    ("receipt", "field", "words"),
    [
        (_receipt(_item(), customer_name=" "), "customer_name", "required"),
        (_receipt(_item(), received_on=TODAY + timedelta(days=1)), "received_on", "future"),
        (_receipt(_item(), due_on=TODAY - timedelta(days=1)), "due_on", "before"),
        (_receipt(), "items", "at least one"),
        (_receipt(_item(serial_number="")), "items[0].serial_number", "required"),
        (_receipt(_item(range_max=Q_(5, "L/min"))), "items[0].range_max", "does not match"),
        (_receipt(_item(range_max=Q_(0, "umol/mol"))), "items[0].range_max", "exceed"),
        (_receipt(_item(range_max=None)), "items[0].range", "both"),
        (_receipt(_item("X"), _item("X")), "items[1].serial_number", "twice"),
    ],
)
def test_bad_receipts_save_nothing(
    db: Database, receipt: ReceiptInput, field: str, words: str
) -> None:
    tech = _user(db, "tech", Role.TECHNICIAN)
    before = _counts(db)
    with pytest.raises(WorkOrderError) as err, db.write(actor=tech, reason="receive") as s:
        receive_instruments(s, tech, receipt, TODAY)
    assert any(p.field == field and words in p.message for p in err.value.problems), err.value
    assert _counts(db) == before


def test_instrument_of_another_owner_refused(db: Database) -> None:
    tech = _user(db, "tech", Role.TECHNICIAN)
    with db.write(actor=tech, reason="receive") as s:
        receive_instruments(s, tech, _receipt(_item("Z9")), TODAY)
    before = _counts(db)
    with pytest.raises(WorkOrderError, match="another owner"), db.write(actor=tech) as s:
        receive_instruments(s, tech, _receipt(_item("Z9"), customer_name="Other"), TODAY)
    assert _counts(db) == before


def test_auditor_may_not_receive(db: Database) -> None:
    auditor = _user(db, "aud", Role.AUDITOR)
    with pytest.raises(PermissionDenied), db.write(actor=auditor) as s:
        receive_instruments(s, auditor, _receipt(_item()), TODAY)
    assert _counts(db) == (0, 0, 0, 0)


def test_parse_range_bound_needs_a_unit() -> None:
    assert parse_range_bound("2000 µmol/mol", "range_max") == Q_(2000, "umol/mol")
    with pytest.raises(WorkOrderError, match=r"range_max: .*missing unit"):
        parse_range_bound("2000", "range_max")
    with pytest.raises(WorkOrderError, match=r"range_min: .*bananas"):
        parse_range_bound("1 bananas", "range_min")
