"""The lab the tamper suite attacks: every table an attacker could aim at holds records,
each made through the product's own services.

* On site: a site, a visit, the portable standard and cylinders checked out; a laptop
  prepared from the lab's backup records a JJG 635 run on the simulated bench, marks it
  on site and is synchronized back (sync import, run origin, on-site mark, synchronized
  audit events); the items are checked in.
* In the lab: a JJG 635 run on the simulated bench (readings, instrument I/O, its plan and
  plan hash, its lease) is refused after P20, during which a cylinder it uses was disposed
  of; a quality manager overrides the rule and the run is resumed to its end. Its
  certificate is drafted and signed through (PDF and DCC archived, the trail anchored).
* The quality records: an out-of-tolerance finding on the gas dilutor the run used (impact
  record, disposition, customer notification), a scope of accreditation imported and
  released, an interval decision, a comparison round and a proficiency test, an incident,
  a cylinder's consumption, a customer's portal account with an API token and a login,
  and a command-line session (``lims login``).
* The trail anchored once more at the end.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from lims.audit_anchors import write_anchor
from lims.certificates import Meaning
from lims.db import Database
from lims.engine import StepFinished
from lims.models import Customer, RunStatus, User
from lims.quality.backup import backup, restore
from lims.quality.comparisons import ComparisonInput, ParticipantResult, record_comparison
from lims.quality.incidents import report_incident
from lims.quality.intervals import accept_interval
from lims.quality.materials import dispose_material, record_consumption
from lims.quality.oot import decide_certificate, record_notification
from lims.quality.overrides import grant_run_override
from lims.quality.proficiency import record_proficiency_test
from lims.quality.scope import import_scope, release_scope
from lims.quality.trace import record_out_of_tolerance
from lims.services import onsite, sync
from lims.services.certificates import draft_certificate, sign_certificate
from lims.services.cli_sessions import Origin, open_session
from lims.services.customer_accounts import create_account, customer_login, issue_token
from lims.services.runs import SilentWatcher, execute_run
from lims.units import parse_quantity
from tests.certificate_service.builder import PASSWORDS, POLICY
from tests.procedures.simrun import item_of

BENCH = Path(__file__).resolve().parents[2] / "examples" / "benches" / "gas-analyzer.toml"
ADMIN = "admin"
PORTAL_PASSWORD = "Portal#2026-sl"
#: What the JJG 635 bench uses, all taken on site.
PORTABLE = {
    "standard": ["STD-GAS-001"],
    "reference_material": ["RM-N2-0001", "RM-CO2-0400", "RM-CO2-1000", "RM-CO2-1600"],
}
SCOPE = """
accreditation_number = "CNAS L12345"
version = "2026.1"
below_cmc = "raise"

[[entry]]
quantity = "CO2 amount fraction"
procedure = "jjg635"
method = "JJG 635-2011"
range = ["0 µmol/mol", "2000 µmol/mol"]
cmc = "2 µmol/mol"
cmc_relative = "0.2 %"
"""


@dataclass
class TamperLab:
    """The lab, where its files are, and what building it took."""

    db: Database
    data: Path
    run_id: int
    synced_run_id: int
    build_seconds: float

    @property
    def archive(self) -> Path:
        return self.data / "archive"

    @property
    def anchors(self) -> Path:
        return self.data / "audit-anchors.jsonl"


def _user(db: Database, username: str) -> User:
    with db.read() as s:
        u = s.scalars(select(User).where(User.username == username)).one()
        s.expunge(u)
        return u


def _on_site_and_synchronized(db: Database, data: Path) -> tuple[int, int]:
    """A visit whose run was recorded on a laptop and synchronized; (visit id, lab run id)."""
    zhang = _user(db, "zhang")
    today = date.today()
    with db.write(actor=zhang, reason="on-site visit planned") as s:
        customer = s.scalars(select(Customer).order_by(Customer.id)).first()
        assert customer is not None
        site = onsite.add_site(s, zhang, customer.name, "Power station 2", "stack 1, port A")
        visit = onsite.plan_visit(s, zhang, site.id, today, today + timedelta(days=1))
        visit_id = visit.id
        for kind, tags in PORTABLE.items():
            for tag in tags:
                onsite.check_out(s, zhang, visit_id, kind, tag)
    (data / "archive").mkdir(exist_ok=True)
    laptop_dir = data / "laptop"
    laptop_dir.mkdir()
    backup(db, _user(db, ADMIN), data / "archive", laptop_dir / "lab.zip")
    laptop = Database(f"sqlite:///{laptop_dir / 'laptop.sqlite3'}")
    try:
        restore(laptop, laptop_dir / "archive", laptop_dir / "lab.zip")
        outcome = execute_run(
            laptop,
            bench_path=BENCH,
            operator="zhang",
            item_id=item_of(laptop, "jjg635"),
            procedure_id="jjg635",
            auto=True,
            watcher=SilentWatcher(),
        )
        assert outcome is not None
        assert outcome.status is RunStatus.COMPLETED, outcome.reason
        with laptop.write(actor=_user(laptop, "zhang"), reason="run done on site") as ls:
            onsite.mark_run_on_site(ls, _user(laptop, "zhang"), outcome.run_id, visit_id)
        report = sync.push(db, laptop, zhang)
    finally:
        laptop.dispose()
    ((_src, lab_run, _uid),) = report.runs
    with db.write(actor=zhang, reason="back from site") as s:
        for tags in PORTABLE.values():
            for tag in tags:
                onsite.check_in(s, zhang, visit_id, tag, "sealed, undamaged")
    return visit_id, lab_run


class _Disposer(SilentWatcher):
    """Disposes of the 1000 µmol/mol cylinder once P20 is done (it was dropped)."""

    def __init__(self, db: Database) -> None:
        super().__init__()
        self.db = db

    def on_event(self, event: Any) -> None:
        super().on_event(event)
        if isinstance(event, StepFinished) and event.step == "P20":
            chen = _user(self.db, "chen")
            with self.db.write(actor=chen, reason="cylinder dropped in the lab") as s:
                dispose_material(s, chen, "RM-CO2-1000", date.today(), "valve damaged: dropped")


def _overridden_run(db: Database) -> int:
    """A run refused half-way, overridden by the quality manager and resumed to its end."""
    first = execute_run(
        db,
        bench_path=BENCH,
        operator="zhang",
        item_id=item_of(db, "jjg635"),
        procedure_id="jjg635",
        auto=True,
        watcher=_Disposer(db),
    )
    assert first is not None
    assert first.status is RunStatus.REFUSED, first.reason
    grant_run_override(
        db,
        _user(db, "chen"),
        first.run_id,
        "reference_material:RM-CO2-1000",
        "an identical cylinder of the same lot replaces it",
    )
    resumed = execute_run(
        db,
        bench_path=BENCH,
        operator="zhang",
        resume_run=first.run_id,
        auto=True,
        watcher=SilentWatcher(),
    )
    assert resumed is not None
    assert resumed.status is RunStatus.COMPLETED, resumed.reason
    return first.run_id


def _certificate(db: Database, data: Path, run_id: int) -> str:
    number = draft_certificate(db, _user(db, "zhang"), run_id).number
    for username, meaning in (
        ("zhang", Meaning.PERFORMED),
        ("li", Meaning.REVIEWED),
        ("wang", Meaning.APPROVED),
    ):
        sign_certificate(
            db,
            number,
            username,
            PASSWORDS[username],
            meaning,
            POLICY,
            archive_dir=data / "archive",
            anchor_file=data / "audit-anchors.jsonl",
        )
    return number


def _quality_records(db: Database, number: str) -> None:
    chen = _user(db, "chen")
    today = date.today()
    q = parse_quantity
    with db.write(actor=chen, reason="intermediate check failed") as s:
        impact = record_out_of_tolerance(
            s, chen, "STD-GD-01", finding="dilution ratio 1.2 % off", found_on=today
        )
        decide_certificate(s, chen, impact.id, number, "no_impact", "error within 1/3 of MPE")
        record_notification(
            s, chen, impact.id, number, notified_on=today, channel="letter", reference="QM-17"
        )
    with db.write(actor=chen, reason="scope of accreditation 2026.1") as s:
        import_scope(s, chen, SCOPE, "scope-2026.1.toml")
        release_scope(s, chen, "2026.1", "accreditation renewed by CNAS")
    with db.write(actor=chen, reason="interval review") as s:
        accept_interval(
            s,
            chen,
            "STD-GAS-001",
            next_due=today + timedelta(days=300),
            reason="drift well inside the limit over three calibrations",
            check_interval_days=60,
        )
    with db.write(actor=chen, reason="comparison and proficiency results") as s:
        record_comparison(
            s,
            chen,
            ComparisonInput(
                kind="interlaboratory",
                scheme="NIM CO2 2026",
                measurand="CO2 amount fraction",
                unit="umol/mol",
                performed_on=today,
                results=(
                    ParticipantResult("ours", 400.4, 1.2, own_lab=True),
                    ParticipantResult("lab B", 399.6, 1.5),
                    ParticipantResult("lab C", 400.1, 1.0),
                ),
                reference=ParticipantResult("NIM", 400.0, 0.6),
                round_code="R1",
                procedure_id="jjg635",
            ),
        )
        record_proficiency_test(
            s,
            chen,
            scheme="CNAS T0001",
            measurand="CO2",
            lab_value=q("400.5 umol/mol"),
            lab_uncertainty=q("2 umol/mol"),
            reference_value=q("400 umol/mol"),
            reference_uncertainty=q("1 umol/mol"),
            performed_on=today,
        )
        report_incident(
            s, chen, category="equipment_failure", title="analyzer fault", description="no reply"
        )
        record_consumption(s, chen, "RM-CO2-0400", q("9.0 MPa"), today, "after the run")
    admin = _user(db, ADMIN)
    with db.write(actor=admin, reason="portal account for the customer") as s:
        customer = s.scalars(select(Customer).order_by(Customer.id)).first()
        assert customer is not None
        create_account(s, admin, customer.id, "green.qa", "孙丽 Sun Li", PORTAL_PASSWORD, POLICY)
        issue_token(s, admin, "green.qa", "LIMS of Green Source")
    customer_login(db, "green.qa", PORTAL_PASSWORD, POLICY)
    open_session(db, admin, 30, Origin("lab-pc", "admin"))


def build_tamper_lab(db: Database, data: Path) -> TamperLab:
    """Fill the demo lab ``db`` (see the module docstring); files go under ``data``."""
    started = time.perf_counter()
    _visit, synced = _on_site_and_synchronized(db, data)
    run_id = _overridden_run(db)
    number = _certificate(db, data, run_id)
    _quality_records(db, number)
    write_anchor(db, data / "audit-anchors.jsonl")  # the trail anchored as it is now
    return TamperLab(db, data, run_id, synced, time.perf_counter() - started)
