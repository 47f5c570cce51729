"""Certificate search: each criterion alone and combined returns exactly the expected
certificates, newest first (issued date, or drafting date until issued)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import inspect, select

from lims.db import Database
from lims.models import (
    Certificate,
    CertificateStatus,
    CertificateType,
    Customer,
    Equipment,
    Role,
    Run,
    ServiceKind,
    WorkOrder,
    WorkOrderItem,
)
from lims.quality.certificate_search import CertificateHit, search_certificates
from lims.quality.errors import QualityError
from tests.quality._build import SYSTEM, build_lab


def _t(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=UTC)


CUSTOMERS = {
    "A": "绿源环境监测站 Green Source Monitoring",
    "B": "Blue Sky Energy Co.",
    "C": "蓝天能源 BLUE SKY Power",
    "D": "100% Green_Labs",
    "E": "100X GreenXLabs",  # what "100%" and "n_L" would match if % and _ were wildcards
}
# key: (customer, manufacturer, model, serial number)
EQUIPMENT = {
    "e1": ("A", "Sim", "CA-2000", "SN-001"),
    "e2": ("A", "Sim", "CA-2000", "SN-002"),
    "e3": ("C", "Other", "IR-9", "SN-001"),  # same serial number, another maker
    "e4": ("B", "Sim", "FM-10", "FM-77"),
    "e5": ("D", "Sim", "CA-2000", "X-1"),
    "e6": ("E", "Sim", "CA-2000", "X-2"),
}


@dataclass(frozen=True)
class Spec:
    """One certificate of the test lab."""

    equipment: str
    status: CertificateStatus
    created_at: datetime
    issued_at: datetime | None
    replaces: str | None = None


SPECS = {
    "c1": Spec("e1", CertificateStatus.SUPERSEDED, _t(2024, 3, 8), _t(2024, 3, 10, 8)),
    "c2": Spec("e1", CertificateStatus.ISSUED, _t(2024, 4, 1), _t(2024, 4, 2, 10), "c1"),
    "c3": Spec("e2", CertificateStatus.ISSUED, _t(2025, 1, 14), _t(2025, 1, 15, 23, 30)),
    "c4": Spec("e2", CertificateStatus.DRAFT, _t(2025, 6, 1, 9), None),
    "c5": Spec("e4", CertificateStatus.ISSUED, _t(2024, 12, 30), _t(2024, 12, 31, 23, 59, 59)),
    "c6": Spec("e4", CertificateStatus.REJECTED, _t(2023, 5, 5, 12), None),
    "c7": Spec("e3", CertificateStatus.REVOKED, _t(2022, 12, 30), _t(2023, 1, 1)),
    "c8": Spec("e3", CertificateStatus.ISSUED, _t(2025, 2, 1), _t(2025, 2, 1, 12)),
    "c9": Spec("e5", CertificateStatus.ISSUED, _t(2025, 3, 1), _t(2025, 3, 1, 6)),
    "c10": Spec("e6", CertificateStatus.ISSUED, _t(2025, 3, 2), _t(2025, 3, 2, 6)),
}


def _number(key: str) -> str:
    return f"CM2099-{int(key[1:]):05d}"


@dataclass(frozen=True)
class SearchLab:
    """The database, and customer ids by key."""

    db: Database
    customer_ids: dict[str, int]


@pytest.fixture
def lab(db: Database) -> SearchLab:
    """Five customers, six instruments, ten certificates in every status that matters."""
    base = build_lab(db, [Role.TECHNICIAN])
    operator_id = base.users[Role.TECHNICIAN].id
    with db.write(actor=SYSTEM, reason="certificate search fixture") as s:
        customers = {k: Customer(name=name) for k, name in CUSTOMERS.items()}
        s.add_all(customers.values())
        s.flush()
        equipment = {
            k: Equipment(
                kind="gas_analyzer",
                description=f"instrument {k}",
                manufacturer=maker,
                model=model,
                serial_number=serial,
                owner_customer_id=customers[owner].id,
            )
            for k, (owner, maker, model, serial) in EQUIPMENT.items()
        }
        s.add_all(equipment.values())
        s.flush()
        certs: dict[str, Certificate] = {}
        for i, (key, spec) in enumerate(SPECS.items(), start=1):
            owner = customers[EQUIPMENT[spec.equipment][0]]
            eq = equipment[spec.equipment]
            wo = WorkOrder(
                number=f"WO-{key}", customer_id=owner.id, received_on=spec.created_at.date()
            )
            s.add(wo)
            s.flush()
            item = WorkOrderItem(
                work_order_id=wo.id,
                equipment_id=eq.id,
                service=ServiceKind.VERIFICATION,
                procedure_id="jjg635",
            )
            s.add(item)
            s.flush()
            run = Run(
                procedure_version_id=base.procedure_version_id,
                operator_id=operator_id,
                bench_name="bench-1",
                work_order_item_id=item.id,
                started_at=spec.created_at,
            )
            s.add(run)
            s.flush()
            cert = Certificate(
                number=_number(key),
                year=2099,
                sequence=i,
                type=CertificateType.VERIFICATION,
                status=spec.status,
                revision=1 if spec.replaces else 0,
                replaces_id=certs[spec.replaces].id if spec.replaces else None,
                run_id=run.id,
                content_sha256="c" * 64,
                issued_at=spec.issued_at,
                valid_until=spec.issued_at.date().replace(year=2100) if spec.issued_at else None,
                customer_id=owner.id,
                equipment_id=eq.id,
                created_at=spec.created_at,
            )
            s.add(cert)
            s.flush()
            certs[key] = cert
        ids = {k: c.id for k, c in customers.items()}
    return SearchLab(db, ids)


def _keys(hits: list[CertificateHit]) -> list[str]:
    by_number = {_number(k): k for k in SPECS}
    return [by_number[h.number] for h in hits]


def _search(lab: SearchLab, **criteria: object) -> list[str]:
    with lab.db.read() as s:
        return _keys(search_certificates(s, **criteria))  # type: ignore[arg-type]


NEWEST_FIRST = ["c4", "c10", "c9", "c8", "c3", "c5", "c2", "c1", "c6", "c7"]


def test_no_criteria_lists_everything_newest_first(lab: SearchLab) -> None:
    assert _search(lab) == NEWEST_FIRST


def test_limit_keeps_the_newest_across_drafts_and_issued(lab: SearchLab) -> None:
    assert _search(lab, limit=1) == ["c4"]  # a draft, dated by when it was drafted
    assert _search(lab, limit=3) == ["c4", "c10", "c9"]
    # Customer B: the issued c5 (2024-12-31) is newer than the rejected draft c6 (2023).
    assert _search(lab, customer=lab.customer_ids["B"], limit=1) == ["c5"]


def test_by_number(lab: SearchLab) -> None:
    assert _search(lab, number=_number("c2")) == ["c2"]
    assert _search(lab, number=" " + _number("c6") + " ") == ["c6"]
    assert _search(lab, number="CM2099-99999") == []


def test_by_customer_id(lab: SearchLab) -> None:
    assert _search(lab, customer=lab.customer_ids["A"]) == ["c4", "c3", "c2", "c1"]
    assert _search(lab, customer=lab.customer_ids["E"]) == ["c10"]
    assert _search(lab, customer=max(lab.customer_ids.values()) + 100) == []


def test_by_customer_name_part_case_insensitive(lab: SearchLab) -> None:
    # "blue sky" is in B's and C's names, in different letter case.
    assert _search(lab, customer="blue sky") == ["c8", "c5", "c6", "c7"]
    assert _search(lab, customer="绿源") == ["c4", "c3", "c2", "c1"]
    assert _search(lab, customer="nobody at all") == []


def test_customer_name_wildcards_are_literal(lab: SearchLab) -> None:
    assert _search(lab, customer="100%") == ["c9"]
    assert _search(lab, customer="n_L") == ["c9"]


def test_by_serial_number(lab: SearchLab) -> None:
    # SN-001 is on two instruments of different makers and customers.
    assert _search(lab, serial="SN-001") == ["c8", "c2", "c1", "c7"]
    assert _search(lab, serial="FM-77") == ["c5", "c6"]
    assert _search(lab, serial="SN-00") == []  # exact, not a prefix
    assert _search(lab, serial="SN-001", customer="绿源") == ["c2", "c1"]


def test_date_range_is_inclusive_utc_days_on_issue_date(lab: SearchLab) -> None:
    # c5 issued 2024-12-31 23:59:59 and c3 issued 2025-01-15 23:30: both ends count.
    assert _search(lab, date_from=date(2024, 12, 31), date_to=date(2025, 1, 15)) == ["c3", "c5"]
    assert _search(lab, date_from=date(2025, 1, 1), date_to=date(2025, 1, 15)) == ["c3"]
    assert _search(lab, date_from=date(2025, 1, 16), date_to=date(2025, 1, 16)) == []
    # Issued certificates are dated by issue, not by drafting (c1 drafted 03-08, issued 03-10).
    assert _search(lab, date_from=date(2024, 3, 8), date_to=date(2024, 3, 9)) == []
    assert _search(lab, date_from=date(2024, 3, 10), date_to=date(2024, 3, 10)) == ["c1"]


def test_date_range_uses_drafting_date_until_issued(lab: SearchLab) -> None:
    assert _search(lab, date_from=date(2025, 1, 16)) == ["c4", "c10", "c9", "c8"]
    assert _search(lab, date_to=date(2023, 5, 5)) == ["c6", "c7"]
    assert _search(lab, date_from=date(2025, 6, 1), date_to=date(2025, 6, 1)) == ["c4"]


def test_customer_and_date_range(lab: SearchLab) -> None:
    a = lab.customer_ids["A"]
    assert _search(lab, customer=a, date_from=date(2024, 1, 1), date_to=date(2024, 12, 31)) == [
        "c2",
        "c1",
    ]
    assert _search(
        lab, customer="blue sky", date_from=date(2023, 1, 1), date_to=date(2023, 12, 31)
    ) == [
        "c6",
        "c7",
    ]


def test_by_status(lab: SearchLab) -> None:
    assert _search(lab, status=CertificateStatus.DRAFT) == ["c4"]
    assert _search(lab, status=CertificateStatus.REJECTED) == ["c6"]
    assert _search(lab, status=CertificateStatus.SUPERSEDED) == ["c1"]
    assert _search(lab, status=CertificateStatus.ISSUED) == ["c10", "c9", "c8", "c3", "c5", "c2"]
    assert _search(lab, status=CertificateStatus.ISSUED, customer="blue") == ["c8", "c5"]


def test_hit_carries_the_certificate_and_its_instrument(lab: SearchLab) -> None:
    with lab.db.read() as s:
        (hit,) = search_certificates(s, number=_number("c2"))
    assert hit.type is CertificateType.VERIFICATION
    assert hit.status is CertificateStatus.ISSUED
    assert hit.revision == 1
    assert hit.replaces == _number("c1")
    assert hit.customer == CUSTOMERS["A"]
    assert (hit.instrument, hit.manufacturer, hit.model, hit.serial_number) == (
        "instrument e1",
        "Sim",
        "CA-2000",
        "SN-001",
    )
    assert hit.issued_at == _t(2024, 4, 2, 10)
    assert hit.created_at == _t(2024, 4, 1)
    assert hit.valid_until == date(2100, 4, 2)
    with lab.db.read() as s:
        work_order = s.scalar(
            select(WorkOrder.number)
            .join(WorkOrderItem, WorkOrderItem.work_order_id == WorkOrder.id)
            .join(Run, Run.work_order_item_id == WorkOrderItem.id)
            .where(Run.id == hit.run_id)
        )
    assert work_order == "WO-c2"
    as_json = hit.as_json()
    assert as_json["issued_at"] == "2024-04-02T10:00:00+00:00"
    assert as_json["replaces"] == _number("c1")
    with lab.db.read() as s:
        (draft,) = search_certificates(s, number=_number("c4"))
    assert draft.issued_at is None
    assert draft.as_json()["issued_at"] is None
    assert draft.replaces is None


@pytest.mark.parametrize(
    ("criteria", "message"),
    [
        (
            {"date_from": date(2025, 2, 1), "date_to": date(2025, 1, 31)},
            "--to 2025-01-31 is before",
        ),
        ({"limit": 0}, "--limit: 0"),
        ({"customer": "   "}, "--customer: empty"),
        ({"serial": ""}, "--serial: empty"),
        ({"number": " "}, "--number: empty"),
    ],
)
def test_bad_criteria_are_refused_by_name(
    lab: SearchLab, criteria: dict[str, object], message: str
) -> None:
    with lab.db.read() as s, pytest.raises(QualityError, match=message):
        search_certificates(s, **criteria)  # type: ignore[arg-type]


def test_search_indexes_exist(db: Database) -> None:
    indexes = {i["name"]: i["column_names"] for i in inspect(db.engine).get_indexes("certificates")}
    assert indexes["ix_certificates_customer_issued_at"] == ["customer_id", "issued_at"]
    assert indexes["ix_certificates_equipment_issued_at"] == ["equipment_id", "issued_at"]
