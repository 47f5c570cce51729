"""Builders for the quality-system tests: one user per role, standards, runs, certificates."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy.orm import Session

from lims.db import Database
from lims.models import (
    Certificate,
    CertificateStatus,
    CertificateType,
    Customer,
    Equipment,
    ExternalCertificate,
    MeasurementStandard,
    Procedure,
    ProcedureVersion,
    RegulationTable,
    Role,
    Run,
    RunResource,
    ServiceKind,
    StandardMember,
    User,
    WorkOrder,
    WorkOrderItem,
)
from lims.security import PasswordPolicy
from lims.services.materials import ReferenceMaterialInput
from lims.services.numbering import take_sequence
from lims.services.users import create_user
from lims.units import parse_quantity

POLICY = PasswordPolicy(min_length=10, max_age_days=180, lockout_threshold=3)
PASSWORD = "Bench#2026-xx"
SYSTEM = "system:test"


@dataclass
class Lab:
    """Users by role and a procedure version to hang runs on."""

    users: dict[Role, User]
    procedure_version_id: int
    customer_id: int
    ids: dict[str, int] = field(default_factory=dict)


def detached(db: Database, user_id: int) -> User:
    """A user loaded with its roles and detached, to act in later sessions."""
    with db.read() as s:
        user = s.get(User, user_id)
        assert user is not None
        s.expunge(user)
        return user


def build_lab(db: Database, roles: list[Role] | None = None) -> Lab:
    """Create one user per role (username = role value), a procedure version and a customer."""
    with db.write(actor=SYSTEM, reason="test lab") as s:
        ids = {}
        for role in roles if roles is not None else list(Role):
            ids[role] = create_user(
                s, role.value.replace("_", ""), role.value, PASSWORD, [role], POLICY
            ).id
        s.add(
            Procedure(
                id="jjg635",
                title_zh="红外气体分析器",
                title_en="IR gas analyzers",
                kind=ServiceKind.VERIFICATION,
                regulation="JJG 635-2011",
            )
        )
        s.flush()
        table = RegulationTable(procedure_id="jjg635", version="1", sha256="a" * 64, content="x")
        s.add(table)
        s.flush()
        pv = ProcedureVersion(
            procedure_id="jjg635", version="1", source_sha256="b" * 64, regulation_table_id=table.id
        )
        customer = Customer(name="绿源环境监测站")
        s.add_all([pv, customer])
        s.flush()
        pv_id, customer_id = pv.id, customer.id
    return Lab({r: detached(db, i) for r, i in ids.items()}, pv_id, customer_id)


def add_standard(s: Session, tag: str, asset_tag: str) -> tuple[int, int]:
    """A standard with one member equipment; returns (standard id, equipment id)."""
    eq = Equipment(
        kind="gas_dilutor",
        description=f"dilutor of {tag}",
        manufacturer="Sim",
        model="GD-1",
        serial_number=asset_tag,
        asset_tag=asset_tag,
    )
    std = MeasurementStandard(tag=tag, name_zh=f"标准 {tag}", name_en=f"standard {tag}")
    s.add_all([eq, std])
    s.flush()
    s.add(StandardMember(standard_id=std.id, equipment_id=eq.id, role="gas_dilutor"))
    s.flush()
    return std.id, eq.id


def add_run(
    s: Session,
    lab: Lab,
    day: date,
    tags: list[str],
    operator: Role = Role.TECHNICIAN,
    serial: str | None = None,
) -> int:
    """A run started on ``day`` that used resources ``tags`` (for a customer item if serial)."""
    item_id = None
    if serial is not None:
        eq = Equipment(
            kind="gas_analyzer",
            description="NDIR CO2 analyzer",
            manufacturer="Sim",
            model="CA-2000",
            serial_number=serial,
            owner_customer_id=lab.customer_id,
        )
        wo = WorkOrder(number=f"WO-{serial}", customer_id=lab.customer_id, received_on=day)
        s.add_all([eq, wo])
        s.flush()
        item = WorkOrderItem(
            work_order_id=wo.id,
            equipment_id=eq.id,
            service=ServiceKind.VERIFICATION,
            procedure_id="jjg635",
        )
        s.add(item)
        s.flush()
        item_id = item.id
    run = Run(
        procedure_version_id=lab.procedure_version_id,
        operator_id=lab.users[operator].id,
        bench_name="bench-1",
        work_order_item_id=item_id,
        started_at=datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC),
    )
    s.add(run)
    s.flush()
    for i, tag in enumerate(tags):
        s.add(
            RunResource(
                run_id=run.id,
                kind="standard" if tag.startswith("STD") else "reference_material",
                resource_id=i + 1,
                tag=tag,
            )
        )
    s.flush()
    return run.id


def add_certificate(
    s: Session, run_id: int, *, valid_until: date | None = None, issued: bool = True
) -> int:
    """A certificate of a run (issued unless told otherwise), numbered by the lab's counter."""
    seq = take_sequence(s, 2026)
    cert = Certificate(
        number=f"CM2026-{seq:05d}",
        year=2026,
        sequence=seq,
        type=CertificateType.VERIFICATION,
        run_id=run_id,
        content_sha256="c" * 64,
        valid_until=valid_until,
    )
    s.add(cert)
    s.flush()
    if issued:
        cert.status = CertificateStatus.ISSUED
        cert.issued_at = datetime(2026, 3, 1, tzinfo=UTC)
        s.flush()
    return cert.id


def add_in_house_certificate(s: Session, equipment_id: int, run_id: int, day: date) -> int:
    """An in-house calibration certificate of the lab's equipment, produced by ``run_id``."""
    cert = ExternalCertificate(
        equipment_id=equipment_id,
        issuer="本实验室 in-house",
        number=f"IH-{run_id}",
        calibrated_on=day,
        issued_on=day,
        valid_until=date(day.year + 1, day.month, 1),
        in_house_run_id=run_id,
    )
    s.add(cert)
    s.flush()
    return cert.id


def cylinder_input(
    tag: str, *, expires: date = date(2027, 1, 1), unit: str = "MPa"
) -> ReferenceMaterialInput:
    """A CO2-in-N2 cylinder (400 µmol/mol, U = 4, k = 2) holding 10 ``unit``, minimum 1."""
    return ReferenceMaterialInput(
        tag=tag,
        gbw_number="GBW08123",
        name="氮中二氧化碳",
        component="CO2",
        certified=parse_quantity("400 umol/mol"),
        expanded_uncertainty=parse_quantity("4 umol/mol"),
        coverage_factor=2.0,
        received_on=date(2026, 1, 1),
        expires_on=expires,
        certificate_number=f"CERT-{tag}",
        cylinder_number=tag,
        remaining=parse_quantity(f"10 {unit}"),
        minimum=parse_quantity(f"1 {unit}"),
    )
