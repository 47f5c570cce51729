"""Builders for a small lab used by the foundation tests (through the services)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, text

from lims.audit import append_readings
from lims.db import Database
from lims.models import (
    Certificate,
    CertificateSequence,
    CertificateStatus,
    CertificateType,
    Customer,
    Equipment,
    Procedure,
    ProcedureVersion,
    RegulationTable,
    Result,
    Role,
    Run,
    ServiceKind,
    Signature,
    SignatureMeaning,
    User,
    Verdict,
)
from lims.security import PasswordPolicy
from lims.services.users import create_user

POLICY = PasswordPolicy(min_length=10, max_age_days=180, lockout_threshold=3)
PASSWORD = "Bench#2026-xx"
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Lab:
    """Ids of the records a test lab holds."""

    user_id: int
    customer_id: int
    equipment_id: int
    run_id: int
    result_id: int
    certificate_id: int
    signature_id: int


def reading_rows(first: int, last: int) -> list[dict[str, object]]:
    """Readings ``first..last`` of a run: a CO2 analyzer's indications in µmol/mol."""
    return [
        {
            "seq": i,
            "step": "indication",
            "test_point": "400 umol/mol",
            "quantity": "amount_fraction",
            "magnitude": 400.0 + i / 10,
            "unit": "micromole / mole",
            "taken_at": T0 + timedelta(seconds=i),
            "source": "analyzer",
        }
        for i in range(first, last + 1)
    ]


def build_lab(db: Database, *, issued: bool = True) -> Lab:
    """Create a user, customer, instrument, run with 3 readings, result, certificate, signature."""
    with db.write(actor="system:test", reason="test lab") as s:
        user = create_user(s, "zhang", "张伟", PASSWORD, [Role.TECHNICIAN], POLICY)
        customer = Customer(name="绿源环境监测站", address="石家庄")
        s.add(customer)
        s.flush()
        eq = Equipment(
            kind="gas_analyzer",
            description="NDIR CO2 analyzer",
            manufacturer="Sim",
            model="CA-2000",
            serial_number="0001",
            owner_customer_id=customer.id,
            range_min=0,
            range_max=2000,
            range_unit="micromole / mole",
        )
        proc = Procedure(
            id="jjg635",
            title_zh="一氧化碳、二氧化碳红外气体分析器",
            title_en="NDIR CO/CO2 analyzers",
            kind=ServiceKind.VERIFICATION,
            regulation="JJG 635-2011",
        )
        s.add_all([eq, proc])
        s.flush()
        table = RegulationTable(procedure_id="jjg635", version="1", sha256="a" * 64, content="x")
        s.add(table)
        s.flush()
        pv = ProcedureVersion(
            procedure_id="jjg635",
            version="1.0",
            source_sha256="b" * 64,
            regulation_table_id=table.id,
        )
        s.add(pv)
        s.flush()
        run = Run(
            procedure_version_id=pv.id,
            operator_id=user.id,
            bench_name="bench-1",
            simulated=True,
            started_at=T0,
        )
        s.add(run)
        s.flush()
        append_readings(s, run.id, reading_rows(1, 3))
        result = Result(
            run_id=run.id,
            item="indication error",
            test_point="400 umol/mol",
            values={"error": {"value": 0.2, "unit": "micromole / mole"}},
            verdict=Verdict.PASS,
            first_seq=1,
            last_seq=3,
        )
        cert = Certificate(
            number="CM2026-00001",
            year=2026,
            sequence=1,
            type=CertificateType.VERIFICATION,
            run_id=run.id,
            content_sha256="c" * 64,
        )
        s.add_all([result, cert, CertificateSequence(year=2026, last=1)])
        s.flush()
        sig = Signature(
            certificate_id=cert.id,
            signer_id=user.id,
            printed_name="张伟",
            meaning=SignatureMeaning.PERFORMED,
            signed_at=T0,
            content_sha256="c" * 64,
            pdf_sha256="d" * 64,
        )
        s.add(sig)
        s.flush()
        if issued:
            cert.status = CertificateStatus.ISSUED
            cert.issued_at = T0
            cert.pdf_sha256 = "d" * 64
        s.flush()
        return Lab(user.id, customer.id, eq.id, run.id, result.id, cert.id, sig.id)


def get_user(db: Database, user_id: int) -> User:
    """A detached user (to act as the actor of a write session)."""
    with db.read() as s:
        user = s.get(User, user_id)
        assert user is not None
        s.expunge(user)
        return user


def drop_guard(conn: Connection, table: str) -> None:
    """Drop the trigger(s) that protect ``table`` (what an attacker with DB rights can do)."""
    if conn.dialect.name == "sqlite":
        names = conn.execute(
            text("SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name=:t"),
            {"t": table},
        ).scalars()
        for name in list(names):
            conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
    else:
        names = conn.execute(
            text(
                "SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE c.relname = :t AND c.relnamespace = current_schema()::regnamespace "
                "AND NOT t.tgisinternal"
            ),
            {"t": table},
        ).scalars()
        for name in list(names):
            conn.exec_driver_sql(f'DROP TRIGGER "{name}" ON "{table}"')


def today() -> date:
    """A fixed 'today' for validity checks."""
    return date(2026, 3, 1)
