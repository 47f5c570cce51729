"""An on-site run recorded on a laptop's SQLite database, synchronized into the lab's
database (SQLite and PostgreSQL): nothing lost, nothing duplicated, chains kept, conflicts
reported and never overwritten, tampering on either side refused.

The laptop is prepared as the lab does it: a backup of the lab restored into an empty
SQLite file. The site, the visit and the portable standards' check-outs are recorded in
the lab before the backup; the run (JJG 635 on the simulated CO2 bench) and its on-site
mark are recorded on the laptop.
"""

from __future__ import annotations

import itertools
import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from lims.audit import GENESIS_SHA256, canonical_json, verify
from lims.db import Database
from lims.db.base import Base
from lims.engine.io_record import io_rows
from lims.models import (
    AuditEvent,
    AuditHead,
    Customer,
    Reading,
    Result,
    Run,
    RunOrigin,
    RunResource,
    RunSite,
    SyncedAuditEvent,
    SyncImport,
    User,
)
from lims.models.enums import Role
from lims.quality.backup import backup, restore
from lims.security import PasswordPolicy
from lims.services import onsite, sync
from lims.services.demo import seed_demo
from lims.services.users import create_user
from tests.lims._lab import drop_guard
from tests.procedures.gas_bench import analyzer_bench, run

TAGS = {
    "standard": ["STD-GAS-001"],
    "reference_material": ["RM-N2-0001", "RM-CO2-0400", "RM-CO2-1000", "RM-CO2-1600"],
}


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


def copy_laptop(src: Path, dst: Path) -> Database:
    shutil.copyfile(src, dst)
    return Database(f"sqlite:///{dst}")


def assert_verified(db: Database) -> None:
    with db.read() as s:
        report = verify(s)
        assert report.ok, [str(p) for p in report.problems]


@pytest.fixture
def lab(db: Database) -> Database:
    with db.write(actor="test-setup") as s:
        seed_demo(s, PasswordPolicy(), date.today())
        create_user(s, "admin", "Admin", "Root#Lims-2026", [Role.ADMINISTRATOR], PasswordPolicy())
    return db


def test_on_site_run_synchronized_twice_and_tampering_refused(
    lab: Database, tmp_path: Path
) -> None:
    zhang, admin = user(lab, "zhang"), user(lab, "admin")
    # --- in the lab, before the trip: site, visit, portable standards out
    with lab.write(actor=zhang) as s:
        customer = s.scalars(select(Customer).order_by(Customer.id)).first()
        assert customer is not None
        site = onsite.add_site(s, zhang, customer.name, "Power station 2", "stack 1, port A")
        visit = onsite.plan_visit(s, zhang, site.id, date.today(), date.today() + timedelta(1))
        visit_id, visit_uid = visit.id, visit.uid
        for kind, tags in TAGS.items():
            for tag in tags:
                onsite.check_out(s, zhang, visit_id, kind, tag)
    # --- the laptop: the lab's backup restored into its own SQLite file
    archive = tmp_path / "archive"
    archive.mkdir()
    backup(lab, admin, archive, tmp_path / "lab.zip")
    laptop_path = tmp_path / "laptop.sqlite3"
    laptop = Database(f"sqlite:///{laptop_path}")
    restore(laptop, tmp_path / "laptop-archive", tmp_path / "lab.zip")
    with laptop.read() as ls, lab.read() as s:
        assert sync.database_uid(ls) != sync.database_uid(s)  # the identity is not copied
    # --- on site: a JJG 635 run recorded on the laptop, marked on site
    bench = analyzer_bench(tmp_path, "gas-analyzer", "onsite", time_scale=1000)
    stored, _clock = run(laptop, "jjg635", bench, item=1)
    laptop_run = stored.run_id
    with laptop.write(actor=user(laptop, "zhang")) as ls:
        onsite.mark_run_on_site(ls, user(laptop, "zhang"), laptop_run, visit_id)
    with laptop.read() as ls:
        laptop_readings = readings_of(ls, laptop_run)
        laptop_io = [
            (r.seq, r.instrument, r.operation, r.sent, r.received) for r in io_rows(ls, laptop_run)
        ]
        laptop_results = sorted(
            (r.test_point, r.item, canonical_json(r.values), r.verdict.value)
            for r in ls.scalars(select(Result).where(Result.run_id == laptop_run))
        )
        head_event = ls.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert head_event is not None
        laptop_head = head_event.sha256
        laptop_uid = sync.database_uid(ls)
    assert len(laptop_readings) > 100
    assert_verified(laptop)
    laptop.dispose()

    # --- a laptop whose readings were altered is refused, the lab unchanged
    before = counts(lab)
    bad = copy_laptop(laptop_path, tmp_path / "bad.sqlite3")
    with bad.engine.begin() as conn:
        drop_guard(conn, "readings")
        conn.execute(
            text("UPDATE readings SET magnitude = magnitude + 1 WHERE run_id = :r AND seq = 5"),
            {"r": laptop_run},
        )
    with pytest.raises(sync.SyncError, match="fails audit verification"):
        sync.push(lab, bad, zhang)
    bad.dispose()
    assert counts(lab) == before

    # --- the trip back: first synchronization
    laptop = Database(f"sqlite:///{laptop_path}")
    report = sync.push(lab, laptop, zhang)
    assert [src for src, _, _ in report.runs] == [laptop_run]
    _, lab_run, uid = report.runs[0]
    assert uid == sync.run_uid(laptop_uid, laptop_run)
    assert report.readings == len(laptop_readings)
    with lab.read() as s:
        # nothing lost: the same readings in the same order, the same results
        assert readings_of(s, lab_run) == laptop_readings
        assert (
            sorted(
                (r.test_point, r.item, canonical_json(r.values), r.verdict.value)
                for r in s.scalars(select(Result).where(Result.run_id == lab_run))
            )
            == laptop_results
        )
        assert {
            (r.kind, r.tag)
            for r in s.scalars(select(RunResource).where(RunResource.run_id == lab_run))
        } == {(k, t) for k, tags in TAGS.items() for t in tags}
        mark = s.get(RunSite, lab_run)
        assert mark is not None
        assert mark.visit_id == visit_id
        origin = s.get(RunOrigin, lab_run)
        assert origin is not None
        assert (origin.uid, origin.source_uid, origin.source_run_id) == (
            uid,
            laptop_uid,
            laptop_run,
        )
        assert origin.reading_count == len(laptop_readings)
        # the instruments' raw I/O travels with the run, byte for byte
        lab_io = [
            (r.seq, r.instrument, r.operation, r.sent, r.received) for r in io_rows(s, lab_run)
        ]
        assert lab_io == laptop_io
        assert origin.io_count == len(laptop_io) > 0
        # the laptop's trail since the backup, imported as one segment chained to the lab's
        imp = s.scalars(select(SyncImport)).one()
        segment = list(
            s.scalars(select(SyncedAuditEvent).order_by(SyncedAuditEvent.source_event_id))
        )
        assert len(segment) == report.events == imp.events > 0
        assert segment[-1].sha256 == laptop_head == imp.last_sha256
        assert segment[0].prev_sha256 == imp.anchor_sha256 != GENESIS_SHA256
        lab_anchor = s.scalars(select(AuditEvent).where(AuditEvent.id == imp.anchor_event_id)).one()
        assert lab_anchor.sha256 == imp.anchor_sha256  # the last event both share
        for a, b in itertools.pairwise(segment):
            assert b.prev_sha256 == a.sha256
        # the lab's own chain records the import
        recorded = s.scalars(
            select(AuditEvent).where(
                AuditEvent.table_name == "sync_imports", AuditEvent.record_id == str(imp.id)
            )
        ).one()
        assert recorded.state["last_sha256"] == laptop_head
        assert recorded.actor == "zhang"
        assert sync.verify_origins(s) == []
        run_row = s.get(Run, lab_run)
        assert run_row is not None
        assert run_row.status.value == stored.status.value
    assert_verified(lab)
    assert_verified(laptop)
    assert visit_uid

    # --- a second synchronization changes nothing
    before = counts(lab)
    again = sync.push(lab, laptop, zhang)
    assert not again.changed
    assert counts(lab) == before
    laptop.dispose()

    # --- the same run changed on the laptop afterwards: a conflict, nothing overwritten
    changed = copy_laptop(laptop_path, tmp_path / "changed.sqlite3")
    with changed.write(actor="zhang") as ls:
        ls.add(Result(run_id=laptop_run, item="extra", test_point="P20", values={}))
    with pytest.raises(sync.SyncConflictError, match=f"laptop run {laptop_run}.*not overwritten"):
        sync.push(lab, changed, zhang)
    changed.dispose()
    assert counts(lab) == before

    # --- the imported records altered in the lab: the same laptop is refused
    with lab.engine.begin() as conn:
        drop_guard(conn, "readings")
        conn.execute(
            text("UPDATE readings SET magnitude = magnitude * 2 WHERE run_id = :r AND seq = 7"),
            {"r": lab_run},
        )
    laptop = Database(f"sqlite:///{laptop_path}")
    with pytest.raises(sync.SyncError, match="altered in the lab"):
        sync.push(lab, laptop, zhang)
    laptop.dispose()
    with lab.read() as s:
        assert not verify(s).ok
        assert any("readings no longer reproduce" in p for p in sync.verify_origins(s))
