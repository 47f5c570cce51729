"""Acceptance: a CO2 CEMS run recorded on site on a laptop's SQLite database, brought back
and synchronized into the lab's database (SQLite and PostgreSQL) twice — the second time
changes nothing — with ``lims audit verify`` intact on both sides; the same run is refused
by a lab whose imported records were altered; its certificate states the site.

The lab prepares the trip as it does: the demo lab's on-site order, its visit to the power
station and the portable standards and gases checked out for it (seeded), then a backup
restored into the laptop's empty SQLite file. On site the laptop runs hj75-co2-cems on the
simulated stack and marks the run as done during the visit.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from lims.audit import canonical_json, verify
from lims.db import Database
from lims.db.base import Base
from lims.engine.io_record import io_rows
from lims.models import (
    AuditHead,
    Reading,
    Result,
    RunOrigin,
    RunResource,
    RunSite,
    SiteVisit,
    User,
    WorkOrder,
    WorkOrderItem,
)
from lims.models.enums import Role
from lims.quality.backup import backup, restore
from lims.security import PasswordPolicy
from lims.services import onsite, sync
from lims.services.demo import seed_demo
from lims.services.demo_onsite import ONSITE_ORDER
from lims.services.users import create_user
from tests.lims._cli import clean_env, run_main
from tests.lims._lab import drop_guard
from tests.procedures.gas_bench import run
from tests.procedures.simrun import EXAMPLES


def user(db: Database, name: str) -> User:
    with db.read() as s:
        u = s.scalars(select(User).where(User.username == name)).one()
        s.expunge(u)
        return u


def counts(db: Database) -> dict[str, int]:
    with db.read() as s:
        out = {
            t.name: int(s.scalar(select(func.count()).select_from(t)) or 0)
            for t in Base.metadata.sorted_tables
        }
        head = s.get(AuditHead, 1)
        assert head is not None
        out["audit_head"] = head.last_id
        return out


def readings_of(s: Session, run_id: int) -> list[tuple[Any, ...]]:
    return [
        (r.seq, r.step, r.test_point, r.quantity, r.magnitude, r.unit, r.taken_at, r.source)
        for r in s.scalars(select(Reading).where(Reading.run_id == run_id).order_by(Reading.seq))
    ]


def results_of(s: Session, run_id: int) -> list[tuple[Any, ...]]:
    return sorted(
        (r.test_point, r.item, canonical_json(r.values), r.verdict.value)
        for r in s.scalars(select(Result).where(Result.run_id == run_id))
    )


def audit_verify_cli(
    url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any, *, anchor: bool
) -> str:
    """``lims audit verify`` on the database at ``url`` (anchored first when asked)."""
    env = clean_env(data_dir, LIMS_DATABASE_URL=url)
    if anchor:
        r = run_main(["audit", "anchor"], env, monkeypatch, capsys)
        assert r.code == 0, r.out + r.err
    r = run_main(["audit", "verify"], env, monkeypatch, capsys)
    assert r.code == 0, r.out + r.err
    assert "audit trail intact" in r.out
    return r.out


@pytest.fixture
def lab(db: Database) -> Database:
    with db.write(actor="test-setup") as s:
        seed_demo(s, PasswordPolicy(), date.today())
        create_user(s, "admin", "Admin", "Root#Lims-2026", [Role.ADMINISTRATOR], PasswordPolicy())
    return db


def test_on_site_cems_run_synchronized_twice_and_refused_after_tampering(
    lab: Database,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    zhang, admin = user(lab, "zhang"), user(lab, "admin")
    with lab.read() as s:
        visit = s.scalars(
            select(SiteVisit)
            .join(WorkOrder, WorkOrder.id == SiteVisit.work_order_id)
            .where(WorkOrder.number == ONSITE_ORDER)
        ).one()
        visit_id = visit.id
        item_id = s.scalars(
            select(WorkOrderItem.id).where(WorkOrderItem.procedure_id == "hj75-co2-cems")
        ).one()
        checked_out = {(c.kind, c.tag) for c in onsite.visit_summary(s, visit_id).checkouts}
    # --- the laptop: the lab's backup restored into its own SQLite file
    archive = tmp_path / "archive"
    archive.mkdir()
    backup(lab, admin, archive, tmp_path / "lab.zip")
    laptop_path = tmp_path / "laptop.sqlite3"
    laptop_url = f"sqlite:///{laptop_path}"
    laptop = Database(laptop_url)
    restore(laptop, tmp_path / "laptop-archive", tmp_path / "lab.zip")
    # --- at the stack: the CEMS run recorded on the laptop, marked on site
    stored, _clock = run(laptop, "hj75-co2-cems", EXAMPLES / "co2-cems.toml", item=item_id)
    assert stored.status.value == "completed", stored.reason
    laptop_run = stored.run_id
    with laptop.write(actor=user(laptop, "zhang")) as ls:
        onsite.mark_run_on_site(ls, user(laptop, "zhang"), laptop_run, visit_id)
    with laptop.read() as ls:
        laptop_readings = readings_of(ls, laptop_run)
        laptop_io = [
            (r.seq, r.instrument, r.operation, r.sent, r.received) for r in io_rows(ls, laptop_run)
        ]
        laptop_results = results_of(ls, laptop_run)
        used = {
            (r.kind, r.tag)
            for r in ls.scalars(select(RunResource).where(RunResource.run_id == laptop_run))
        }
        laptop_uid = sync.database_uid(ls)
    assert len(laptop_readings) > 1000
    assert len(laptop_io) > 1000
    assert used <= checked_out  # every portable standard, gas and monitor went out for it
    assert {k for k, _ in used} == {"standard", "equipment", "reference_material"}
    laptop_dir = tmp_path / "laptop-data"
    audit_verify_cli(laptop_url, laptop_dir, monkeypatch, capsys, anchor=True)
    laptop.dispose()

    # --- the trip back: synchronized into the lab
    laptop = Database(laptop_url)
    report = sync.push(lab, laptop, zhang)
    assert [src for src, _, _ in report.runs] == [laptop_run]
    _, lab_run, uid = report.runs[0]
    assert uid == sync.run_uid(laptop_uid, laptop_run)
    with lab.read() as s:
        assert readings_of(s, lab_run) == laptop_readings  # nothing lost, same order
        assert results_of(s, lab_run) == laptop_results
        assert [
            (r.seq, r.instrument, r.operation, r.sent, r.received) for r in io_rows(s, lab_run)
        ] == laptop_io
        mark = s.get(RunSite, lab_run)
        assert mark is not None
        assert mark.visit_id == visit_id
        origin = s.get(RunOrigin, lab_run)
        assert origin is not None
        assert origin.reading_count == len(laptop_readings)
        assert sync.verify_origins(s) == []
        assert verify(s).ok

    # --- a second synchronization changes nothing
    before = counts(lab)
    again = sync.push(lab, laptop, zhang)
    assert not again.changed
    assert counts(lab) == before
    laptop.dispose()
    # `lims audit verify` intact on both (the laptop unchanged by the synchronization)
    audit_verify_cli(db_url, tmp_path / "lab-data", monkeypatch, capsys, anchor=True)
    audit_verify_cli(laptop_url, laptop_dir, monkeypatch, capsys, anchor=False)

    # --- the lab's imported readings altered behind the application: refused
    with lab.engine.begin() as conn:
        drop_guard(conn, "readings")
        conn.execute(
            text("UPDATE readings SET magnitude = magnitude * 2 WHERE run_id = :r AND seq = 9"),
            {"r": lab_run},
        )
    before = counts(lab)
    laptop = Database(laptop_url)
    with pytest.raises(sync.SyncError, match="altered in the lab"):
        sync.push(lab, laptop, zhang)
    laptop.dispose()
    assert counts(lab) == before
    with lab.read() as s:
        assert any("readings no longer reproduce" in p for p in sync.verify_origins(s))


def test_a_copy_of_the_laptop_with_altered_readings_is_refused(
    lab: Database, tmp_path: Path
) -> None:
    admin = user(lab, "admin")
    with lab.read() as s:
        item_id = s.scalars(
            select(WorkOrderItem.id).where(WorkOrderItem.procedure_id == "hj75-co2-cems")
        ).one()
    archive = tmp_path / "archive"
    archive.mkdir()
    backup(lab, admin, archive, tmp_path / "lab.zip")
    laptop = Database(f"sqlite:///{tmp_path / 'laptop.sqlite3'}")
    restore(laptop, tmp_path / "laptop-archive", tmp_path / "lab.zip")
    stored, _ = run(laptop, "hj75-co2-cems", EXAMPLES / "co2-cems.toml", item=item_id)
    laptop.dispose()
    shutil.copyfile(tmp_path / "laptop.sqlite3", tmp_path / "bad.sqlite3")
    bad = Database(f"sqlite:///{tmp_path / 'bad.sqlite3'}")
    with bad.engine.begin() as conn:
        drop_guard(conn, "readings")
        conn.execute(
            text("UPDATE readings SET magnitude = magnitude + 1 WHERE run_id = :r AND seq = 5"),
            {"r": stored.run_id},
        )
    before = counts(lab)
    with pytest.raises(sync.SyncError, match="fails audit verification"):
        sync.push(lab, bad, user(lab, "zhang"))
    bad.dispose()
    assert counts(lab) == before
