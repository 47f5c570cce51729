"""A demo lab with completed runs whose results are built from injected errors.

The certificate layer is tested on these runs: every number a certificate
should show is computed here, independently, from the injected errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from lims.config import load_settings
from lims.db import Database
from lims.db.migrate import upgrade
from lims.engine import discover_procedures
from lims.engine.engine import register_procedure
from lims.engine.provenance import build_provenance
from lims.models import Result, Run, RunStatus, User, Verdict, WorkOrderItem
from lims.security import PasswordPolicy
from lims.services.demo import DEMO_ADMIN, DEMO_LAB, seed_demo
from lims.services.lab import initialize
from lims.units import ureg

POLICY = PasswordPolicy(min_length=10, max_age_days=0, lockout_threshold=3)
PASSWORDS = {
    "zhang": "Bench#2026-zw",
    "li": "Review#2026-ln",
    "wang": "Approve#2026-wf",
    "chen": "Quality#2026-cj",
    "zhao": "Audit#2026-zm",
}
FULL_SCALE = 2000.0  # µmol/mol, the CO2 analyzer's range
MPE_FS = 2.0  # %FS, the jjg635 table's (unverified) MPE
ENV = {"temperature": (21.5, "degC"), "humidity": (45.0, "percent"), "pressure": (101.3, "kPa")}


@dataclass(frozen=True)
class Point:
    """An injected indication error at a reference value, with the expanded uncertainty."""

    name: str
    reference: float  # µmol/mol
    error: float  # µmol/mol
    u: float  # expanded uncertainty, µmol/mol (k = 2)
    verdict: Verdict


def q(value: float, unit: str) -> dict[str, Any]:
    """A stored quantity."""
    return {"value": value, "unit": f"{ureg.Unit(unit):D}"}


def lab_database(url: str) -> Database:
    """A migrated database holding the demo lab (users with signing keys)."""
    db = Database(url)
    upgrade(db.engine)
    settings = load_settings({"LIMS_DATABASE_URL": url})
    initialize(db, settings, DEMO_LAB, *DEMO_ADMIN)
    with db.write(actor="system:test", reason="demo lab") as s:
        seed_demo(s, POLICY, date.today())
    return db


def user(db: Database, username: str) -> User:
    """A user, detached, ready to act."""
    with db.read() as s:
        u = s.scalars(select(User).where(User.username == username)).one()
        s.expunge(u)
        return u


def make_gas_run(
    db: Database,
    item_id: int,
    points: list[Point],
    *,
    started: datetime | None = None,
    simulated: bool = True,
    budgets: dict[str, dict[str, Any]] | None = None,
) -> int:
    """A completed jjg635 / gas-analyzer-cal run on ``item_id`` with the given points
    (``budgets``: a stored uncertainty budget per point name)."""
    started = started or datetime.now(UTC) - timedelta(hours=1)
    with db.write(actor="system:test", reason="fabricated run") as s:
        item = s.get(WorkOrderItem, item_id)
        assert item is not None
        procedure = discover_procedures().get(item.procedure_id)()
        pv_id = register_procedure(s, procedure)
        env = {k: ureg.Quantity(v, u) for k, (v, u) in ENV.items()}
        provenance = build_provenance(
            s,
            procedure=procedure,
            table=procedure.table,
            instruments={},
            standards=["STD-GAS-001"],
            reference_materials=["RM-N2-0001", "RM-CO2-0400"],
            operator="zhang",
            environment=env,
            simulated=simulated,
            practice=False,
            bench_name="test bench",
            time_scale=60.0,
        )
        operator = s.scalars(select(User).where(User.username == "zhang")).one()
        run = Run(
            procedure_version_id=pv_id,
            work_order_item_id=item_id,
            operator_id=operator.id,
            bench_name="test bench",
            simulated=simulated,
            status=RunStatus.COMPLETED,
            started_at=started,
            ended_at=started + timedelta(minutes=40),
            environment={k: q(v, u) for k, (v, u) in ENV.items()},
            provenance=provenance,
            parameters={"span": f"{FULL_SCALE} micromole / mole"},
        )
        s.add(run)
        s.flush()
        calibration = item.service.value == "calibration"
        for p in points:
            values: dict[str, Any] = {
                "reference": q(p.reference, "umol/mol"),
                "indication": q(p.reference + p.error, "umol/mol"),
                "error": q(p.error, "umol/mol"),
                "error_fs": q(p.error / FULL_SCALE * 100, "percent_FS"),
                "expanded_uncertainty": q(p.u, "umol/mol"),
                "expanded_uncertainty_fs": q(p.u / FULL_SCALE * 100, "percent_FS"),
                "k": 2.0,
            }
            if not calibration:
                values["mpe"] = q(MPE_FS, "percent_FS")
            s.add(
                Result(
                    run_id=run.id,
                    item="indication_error",
                    test_point=p.name,
                    values=values,
                    verdict=Verdict.NOT_STATED if calibration else p.verdict,
                    decision_rule=None if calibration else "JJF1094-2002",
                    budget=(budgets or {}).get(p.name) or {},
                )
            )
        s.flush()
        return run.id
