"""Sites, visits and portable standards: validity for the visit dates, no double check-out,
check-in recorded once, a run marked on site only inside its visit and with what it used
checked out; the CLI's refusals are one line. Every database test on both backends."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lims.audit import verify
from lims.db import Database
from lims.lab_time import DEFAULT_TIME_ZONE, local_date
from lims.models import (
    Checkout,
    Customer,
    Equipment,
    ExternalCertificate,
    MeasurementStandard,
    ReferenceMaterial,
    Run,
    RunResource,
    StandardMember,
    User,
)
from lims.quality.errors import NotFoundError, PermissionDenied
from lims.security import PasswordPolicy
from lims.services import onsite
from lims.services.demo import seed_demo
from tests.lims._cli import clean_env, one_error_line, run_main

#: The demo lab's calendar day (its zone is China Standard Time, not the machine's).
TODAY = local_date(datetime.now(UTC), DEFAULT_TIME_ZONE)


@pytest.fixture
def lab(db: Database) -> Database:
    with db.write(actor="test-setup") as s:
        seed_demo(s, PasswordPolicy(), TODAY)
    return db


def minimal_run(s: Session, operator: User, kind: str, resource_id: int, tag: str) -> Run:
    """A run recorded through the ORM (the demo lab has none) that used one resource."""
    pv = s.scalars(select(Run.procedure_version_id)).first()
    if pv is None:
        from lims.engine.engine import register_procedure
        from lims.engine.sdk import discover_procedures

        pv = register_procedure(s, discover_procedures().get("jjg635")())
    run = Run(procedure_version_id=pv, operator_id=operator.id, bench_name="onsite")
    s.add(run)
    s.flush()
    s.add(RunResource(run_id=run.id, kind=kind, resource_id=resource_id, tag=tag))
    return run


def actor(db: Database, name: str) -> User:
    with db.read() as s:
        u = s.scalars(select(User).where(User.username == name)).one()
        s.expunge(u)
        return u


def standard_validity(db: Database, tag: str) -> date:
    """The earliest of the members' latest certificate validity, computed here."""
    with db.read() as s:
        std = s.scalars(select(MeasurementStandard).where(MeasurementStandard.tag == tag)).one()
        members = s.scalars(select(StandardMember).where(StandardMember.standard_id == std.id))
        return min(
            s.scalar(
                select(func.max(ExternalCertificate.valid_until)).where(
                    ExternalCertificate.equipment_id == m.equipment_id
                )
            )
            for m in members
        )


def test_checkout_validity_and_checkin(lab: Database) -> None:
    zhang = actor(lab, "zhang")
    valid = standard_validity(lab, "STD-GAS-001")
    with lab.read() as s:
        rm_expiry = s.scalars(
            select(ReferenceMaterial.expires_on).where(ReferenceMaterial.tag == "RM-CO2-0400")
        ).one()
    with lab.write(actor=zhang) as s:
        customer = s.scalars(select(Customer)).first()
        assert customer is not None
        site = onsite.add_site(s, zhang, customer.name, "Coal yard", "belt C3")
        ok = onsite.plan_visit(s, zhang, site.id, TODAY, min(valid, rm_expiry))
        late = onsite.plan_visit(s, zhang, site.id, TODAY, valid + timedelta(days=1))
        rm_late = onsite.plan_visit(s, zhang, site.id, TODAY, rm_expiry + timedelta(days=1))
        ids = ok.id, late.id, rm_late.id
    ok_id, late_id, rm_late_id = ids
    with lab.write(actor=zhang) as s, pytest.raises(onsite.SiteError, match=f"valid until {valid}"):
        onsite.check_out(s, zhang, late_id, "standard", "STD-GAS-001")
    with lab.write(actor=zhang) as s, pytest.raises(onsite.SiteError, match="before the visit"):
        onsite.check_out(s, zhang, rm_late_id, "reference_material", "RM-CO2-0400")
    with lab.write(actor=zhang) as s:
        co = onsite.check_out(s, zhang, ok_id, "standard", "STD-GAS-001")
        assert co.valid_until == valid
    with lab.write(actor=zhang) as s, pytest.raises(onsite.SiteError, match="checked out already"):
        onsite.check_out(s, zhang, ok_id, "standard", "STD-GAS-001")
    with lab.write(actor=zhang) as s:
        back = onsite.check_in(s, zhang, ok_id, "STD-GAS-001", "seal intact")
        assert back.checked_in_at is not None
    with lab.write(actor=zhang) as s, pytest.raises(onsite.SiteError, match="checked in already"):
        onsite.check_in(s, zhang, ok_id, "STD-GAS-001")
    with lab.write(actor=zhang) as s, pytest.raises(NotFoundError):
        onsite.check_out(s, zhang, ok_id, "standard", "NO-SUCH")
    with lab.write(actor=zhang) as s, pytest.raises(onsite.SiteError, match="ends"):
        onsite.plan_visit(s, zhang, site.id, TODAY, TODAY - timedelta(days=1))
    auditor = actor(lab, "zhao")  # an auditor reads records, never takes standards out
    with lab.write(actor=auditor) as s, pytest.raises(PermissionDenied):
        onsite.check_out(s, auditor, ok_id, "standard", "STD-GAS-001")
    with lab.read() as s:
        summary = onsite.visit_summary(s, ok_id)
        assert [c.tag for c in summary.checkouts] == ["STD-GAS-001"]
        assert summary.location["point / 测点"] == "belt C3"
        assert (
            s.scalar(select(func.count()).select_from(Checkout).where(Checkout.visit_id == ok_id))
            == 1
        )
        assert verify(s).ok


def test_run_marked_on_site_only_inside_its_visit_with_what_it_used(lab: Database) -> None:
    zhang = actor(lab, "zhang")
    with lab.write(actor=zhang) as s:
        customer = s.scalars(select(Customer)).first()
        assert customer is not None
        site = onsite.add_site(s, zhang, customer.name, "Plant", "stack 2")
        visit = onsite.plan_visit(s, zhang, site.id, TODAY, TODAY + timedelta(days=1))
        earlier = onsite.plan_visit(
            s, zhang, site.id, TODAY - timedelta(days=10), TODAY - timedelta(days=9)
        )
        run = minimal_run(s, zhang, "standard", 1, "STD-GAS-001")
        ids = run.id, visit.id, earlier.id
    run_id, visit_id, earlier_id = ids
    with lab.write(actor=zhang) as s, pytest.raises(onsite.SiteError, match="outside visit"):
        onsite.mark_run_on_site(s, zhang, run_id, earlier_id)
    with lab.write(actor=zhang) as s, pytest.raises(onsite.SiteError, match="not checked out"):
        onsite.mark_run_on_site(s, zhang, run_id, visit_id)
    with lab.write(actor=zhang) as s:
        onsite.check_out(s, zhang, visit_id, "standard", "STD-GAS-001")
        onsite.mark_run_on_site(s, zhang, run_id, visit_id)
    with lab.write(actor=zhang) as s, pytest.raises(onsite.SiteError, match="already"):
        onsite.mark_run_on_site(s, zhang, run_id, visit_id)
    with lab.read() as s:
        assert onsite.visit_summary(s, visit_id).runs == (run_id,)
        assert verify(s).ok


def test_a_run_falls_on_the_lab_s_calendar_day_not_the_utc_one(lab: Database) -> None:
    """20:00 UTC is 04:00 the next day in Beijing: the run belongs to that day's visit."""
    zhang = actor(lab, "zhang")
    beijing_day = TODAY + timedelta(days=3)
    utc_evening = datetime.combine(beijing_day - timedelta(days=1), time(20, 0), tzinfo=UTC)
    assert utc_evening.date() != beijing_day  # the two calendars disagree at that moment
    with lab.write(actor=zhang) as s:
        customer = s.scalars(select(Customer)).first()
        assert customer is not None
        site = onsite.add_site(s, zhang, customer.name, "Plant", "stack 4")
        eve = onsite.plan_visit(s, zhang, site.id, utc_evening.date(), utc_evening.date())
        visit = onsite.plan_visit(s, zhang, site.id, beijing_day, beijing_day)
        onsite.check_out(s, zhang, visit.id, "standard", "STD-GAS-001")
        run = minimal_run(s, zhang, "standard", 1, "STD-GAS-001")
        run.started_at = utc_evening
        ids = run.id, eve.id, visit.id
    run_id, eve_id, visit_id = ids
    with lab.write(actor=zhang) as s, pytest.raises(onsite.SiteError, match="outside visit"):
        onsite.mark_run_on_site(s, zhang, run_id, eve_id)
    with lab.write(actor=zhang) as s:
        onsite.mark_run_on_site(s, zhang, run_id, visit_id)
    with lab.read() as s:
        assert onsite.visit_summary(s, visit_id).runs == (run_id,)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["sync", "push", "--from", "sqlite:///{tmp}/missing.sqlite3"], "no laptop database"),
        (["sync", "push", "--from", "not a url"], "is not a database URL"),
        (["site", "checkout", "1"], "exactly one of --standard and --material"),
        (["site", "visit", "1", "--from", "2026-13-01", "--to", "2026-12-02"], "--from"),
    ],
)
def test_cli_refusals_are_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    expected: str,
) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args] + ["--user", "zhang"]
    out = run_main(argv, clean_env(tmp_path), monkeypatch, capsys)
    assert expected in one_error_line(out)
    assert not (tmp_path / "missing.sqlite3").exists()  # nothing created on the way


def test_other_equipment_checked_out_and_a_run_after_check_in_refused(lab: Database) -> None:
    """A portable monitor (equipment outside any standard) goes out only with a certificate
    valid through the visit; a run that used something already checked back in is not
    marked on site."""
    zhang = actor(lab, "zhang")
    with lab.read() as s:
        env_id = s.scalars(select(Equipment.id).where(Equipment.asset_tag == "STD-ENV-02")).one()
        until = s.scalar(
            select(func.max(ExternalCertificate.valid_until)).where(
                ExternalCertificate.equipment_id == env_id
            )
        )
        customer = s.scalars(select(Customer)).first()
        assert customer is not None
        assert until is not None
        customer_name = customer.name
    with lab.write(actor=zhang) as s:
        site = onsite.add_site(s, zhang, customer_name, "Plant", "stack 3")
        late = onsite.plan_visit(s, zhang, site.id, TODAY, until + timedelta(days=1))
        visit = onsite.plan_visit(s, zhang, site.id, TODAY, TODAY + timedelta(days=1))
        ids = late.id, visit.id
    late_id, visit_id = ids
    with lab.write(actor=zhang) as s, pytest.raises(onsite.SiteError, match=f"valid until {until}"):
        onsite.check_out(s, zhang, late_id, "equipment", "STD-ENV-02")
    with lab.write(actor=zhang) as s, pytest.raises(NotFoundError):
        onsite.check_out(s, zhang, visit_id, "equipment", "NO-SUCH-TAG")
    # the demo's on-site visit holds STD-ENV-02 already: back in first, then out again
    with lab.read() as s:
        demo_visit = s.scalars(select(Checkout.visit_id).where(Checkout.tag == "STD-ENV-02")).one()
    with lab.write(actor=zhang) as s:
        onsite.check_in(s, zhang, demo_visit, "STD-ENV-02", "seal intact")
        co = onsite.check_out(s, zhang, visit_id, "equipment", "STD-ENV-02")
        assert co.valid_until == until
        run_id = minimal_run(s, zhang, "equipment", env_id, "STD-ENV-02").id
    with lab.write(actor=zhang) as s:  # back in the lab before the run was marked … and run
        onsite.check_in(s, zhang, visit_id, "STD-ENV-02")
        row = s.get(Run, run_id)
        assert row is not None
        row.started_at = datetime.now(UTC) + timedelta(minutes=5)
    with lab.write(actor=zhang) as s, pytest.raises(onsite.SiteError, match="checked back in"):
        onsite.mark_run_on_site(s, zhang, run_id, visit_id)
    with lab.read() as s:
        assert verify(s).ok
