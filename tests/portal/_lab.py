"""A demo lab with two customers' issued, superseded, revoked, simulated and draft certificates,
two customer accounts with API tokens, and the portal over it on a read-only path."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from lims.certificates.model import Meaning
from lims.db import Database
from lims.db.readonly import open_read_only
from lims.models import (
    Certificate,
    Customer,
    Equipment,
    ServiceKind,
    Verdict,
    WorkOrder,
    WorkOrderItem,
)
from lims.portal.config import PortalConfig, RateLimit
from lims.services.certificates import (
    amend_certificate,
    draft_certificate,
    revoke_certificate,
    sign_certificate,
)
from lims.services.customer_accounts import create_account, issue_token
from tests.certificate_service.builder import PASSWORDS, POLICY, Point, make_gas_run, user
from tests.conftest import PG_URL

SIGNERS = (("zhang", Meaning.PERFORMED), ("li", Meaning.REVIEWED), ("wang", Meaning.APPROVED))
PASSING = [
    Point("zero", 0.0, 1.2, 4.0, Verdict.PASS),
    Point("P20", 400.0, 6.3, 9.1, Verdict.PASS),
    Point("P50", 1000.0, -12.7, 15.3, Verdict.PASS),
]
ENV_CUSTOMER = "绿源环境监测站 Green Source Environmental Monitoring"
POWER_CUSTOMER = "华北电力检测有限公司 North China Power Testing Co."
ACCOUNT_PASSWORDS = {"green.qa": "Green#Portal-2026", "power.qa": "Power#Portal-2026"}
REVOKE_REASON = "参考气体证书撤回 reference gas certificate withdrawn"
AMEND_REASON = "客户地址更正 customer address corrected"


@dataclass(frozen=True)
class PortalLab:
    """The lab's database, what it holds, and how the portal reaches it."""

    url: str
    read_url: str
    """A read-only path: a SELECT-only role on PostgreSQL (the SQLite file otherwise)."""
    accounts_url: str
    """The minimally privileged path for account events."""
    env_id: int
    power_id: int
    superseded: str
    amendment: str
    simulated: str
    revoked: str
    other: str
    """The power company's certificate."""
    draft: str
    env_token: str
    power_token: str

    @property
    def env_numbers(self) -> set[str]:
        """Every certificate the environment customer may see."""
        return {self.superseded, self.amendment, self.simulated, self.revoked}

    def content_sha256(self, number: str) -> str:
        """The content hash the certificate's QR code carries (read from the record)."""
        db = Database(self.url)
        try:
            with db.read() as s:
                return str(
                    s.scalar(select(Certificate.content_sha256).where(Certificate.number == number))
                )
        finally:
            db.dispose()

    def portal_config(self, **overrides: object) -> PortalConfig:
        """The portal's settings for this lab (rate limits off unless given)."""
        values: dict[str, object] = {
            "read_url": self.read_url,
            "accounts_url": self.accounts_url,
            "policy": POLICY,
            "login_rate": RateLimit(0),
            "verify_rate": RateLimit(0),
            "api_rate": RateLimit(0),
        }
        values.update(overrides)
        return PortalConfig(**values)  # type: ignore[arg-type]

    def open_read(self) -> Database:
        """The portal's read-only database."""
        return open_read_only(self.read_url)


def issue(db: Database, run_id: int) -> str:
    """Draft and sign a run's certificate three times; its number."""
    info = draft_certificate(db, user(db, "zhang"), run_id)
    for username, meaning in SIGNERS:
        info = sign_certificate(db, info.number, username, PASSWORDS[username], meaning, POLICY)
    return info.number


def sign_all(db: Database, number: str) -> None:
    """Sign a drafted amendment three times (it is issued)."""
    for username, meaning in SIGNERS:
        sign_certificate(db, number, username, PASSWORDS[username], meaning, POLICY)


def _power_item(db: Database, power_id: int) -> int:
    """A CO2 analyzer of the power company, received for verification."""
    with db.write(actor="system:test", reason="second customer's analyzer") as s:
        eq = Equipment(
            kind="gas_analyzer",
            description="红外二氧化碳分析仪 NDIR CO2 analyzer",
            manufacturer="Sim Instruments",
            model="CA-2000",
            serial_number="CA2000-7001",
            owner_customer_id=power_id,
        )
        s.add(eq)
        s.flush()
        wo = WorkOrder(number="WO-PORTAL-0001", customer_id=power_id, received_on=date.today())
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
        return item.id


def build_portal_lab(db: Database, url: str, read_url: str, accounts_url: str) -> PortalLab:
    """Fill a demo lab (``lab_database``) with what the portal tests need."""
    with db.read() as s:
        ids = {c.name: c.id for c in s.scalars(select(Customer))}
    env_id, power_id = ids[ENV_CUSTOMER], ids[POWER_CUSTOMER]
    superseded = issue(db, make_gas_run(db, 1, PASSING, simulated=False))
    amendment = amend_certificate(db, user(db, "wang"), superseded, AMEND_REASON).number
    sign_all(db, amendment)
    simulated = issue(db, make_gas_run(db, 2, PASSING))
    revoked = issue(db, make_gas_run(db, 1, PASSING, simulated=False))
    revoke_certificate(db, user(db, "chen"), revoked, REVOKE_REASON)
    other = issue(db, make_gas_run(db, _power_item(db, power_id), PASSING, simulated=False))
    draft = draft_certificate(db, user(db, "zhang"), make_gas_run(db, 1, PASSING)).number
    admin = user(db, "admin")
    with db.write(actor=admin, reason="portal accounts") as s:
        create_account(
            s, admin, env_id, "green.qa", "孙丽 Sun Li", ACCOUNT_PASSWORDS["green.qa"], POLICY
        )
        create_account(
            s, admin, power_id, "power.qa", "刘强 Liu Qiang", ACCOUNT_PASSWORDS["power.qa"], POLICY
        )
        env_token = issue_token(s, admin, "green.qa", "LIMS of Green Source").secret
        power_token = issue_token(s, admin, "power.qa", "ERP").secret
    return PortalLab(
        url=url,
        read_url=read_url,
        accounts_url=accounts_url,
        env_id=env_id,
        power_id=power_id,
        superseded=superseded,
        amendment=amendment,
        simulated=simulated,
        revoked=revoked,
        other=other,
        draft=draft,
        env_token=env_token,
        power_token=power_token,
    )


# --------------------------------------------------------------------------- PostgreSQL roles

#: What the portal's account-event connection needs, and nothing more.
ACCOUNT_EVENT_GRANTS = (
    "GRANT SELECT, UPDATE ON customer_accounts TO {role}",
    "GRANT SELECT ON customers TO {role}",
    "GRANT SELECT, UPDATE ON audit_head TO {role}",
    "GRANT INSERT ON audit_events TO {role}",
)


@contextmanager
def pg_roles(schema: str) -> Iterator[tuple[str, str]]:
    """A SELECT-only role and an account-event role on ``schema``: their URLs."""
    tag = f"{os.getpid()}_{abs(hash(schema)) % 10**6}"
    reader, writer = f"portal_ro_{tag}", f"portal_ev_{tag}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for role in (reader, writer):
            conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
            conn.execute(text(f"CREATE ROLE {role} LOGIN"))
            conn.execute(text(f'GRANT USAGE ON SCHEMA "{schema}" TO {role}'))
        conn.execute(text(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO {reader}'))
        conn.execute(text(f'SET search_path TO "{schema}"'))
        for grant in ACCOUNT_EVENT_GRANTS:
            conn.execute(text(grant.format(role=writer)))

    def url_for(role: str) -> str:
        base = make_url(PG_URL).set(username=role, password=None)
        return base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )

    try:
        yield url_for(reader), url_for(writer)
    finally:
        with admin.connect() as conn:
            for role in (reader, writer):
                conn.execute(text(f'REVOKE ALL ON ALL TABLES IN SCHEMA "{schema}" FROM {role}'))
                conn.execute(text(f'REVOKE ALL ON SCHEMA "{schema}" FROM {role}'))
                conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
        admin.dispose()
