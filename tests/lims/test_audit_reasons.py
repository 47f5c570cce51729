"""A reason on every audited change (EU GMP Annex 11 §9) and the review summary of a period."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from lims import audit
from lims.audit import AuditError, verify
from lims.db import Database
from lims.db.types import utcnow
from lims.models import AuditEvent, Customer, Role
from lims.quality.audit_review import NO_REASON, summarize_events
from tests.lims._cli import clean_env, run_main
from tests.quality._build import PASSWORD, build_lab


def test_each_part_of_a_transaction_carries_its_own_reason(db: Database) -> None:
    build_lab(db, [Role.AUDITOR])
    with db.write(actor="system:test", reason="customers received") as s:
        first = Customer(name="甲 A")
        s.add(first)
        with audit.reason(s, "second customer, referred by the first"):
            s.add(Customer(name="乙 B"))
        first.address = "北京"  # back to the transaction's reason
    with db.read() as s:
        events = s.scalars(
            select(AuditEvent).where(AuditEvent.table_name == "customers").order_by(AuditEvent.id)
        ).all()
        reasons = [(e.action, e.state.get("name"), e.reason) for e in events[-3:]]
    assert reasons == [
        ("create", "甲 A", "customers received"),
        ("create", "乙 B", "second customer, referred by the first"),
        ("update", "甲 A", "customers received"),
    ]
    with (
        pytest.raises(AuditError, match="cannot be empty"),
        db.write(actor="x") as s,
        audit.reason(s, "  "),
    ):
        pass


def test_a_change_without_a_reason_is_refused_when_required_and_counted_otherwise(
    db: Database, db_url: str
) -> None:
    build_lab(db, [Role.AUDITOR])
    strict = Database(db_url, require_reason=True)
    try:
        with strict.read() as s:
            before = s.scalar(select(func.count()).select_from(Customer))
        with (
            pytest.raises(AuditError, match=r"customers without a reason"),
            strict.write(actor="system:test") as s,
        ):
            s.add(Customer(name="无理由 no reason"))
        with strict.read() as s:
            assert s.scalar(select(func.count()).select_from(Customer)) == before
            start = verify(s).unreasoned
        # flagged, not refused, where reasons are not required yet: stored without one, counted
        with db.write(actor="system:test") as s:
            s.add(Customer(name="无理由 no reason"))
            s.flush()
            s.get(Customer, 1).address = "changed without a reason"  # type: ignore[union-attr]
        with db.read() as s:
            report = verify(s)
        assert report.ok
        assert report.unreasoned == start + 2
    finally:
        strict.dispose()


def test_summary_counts_a_period_by_table_actor_and_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "lab"
    url = f"sqlite:///{data / 'lims.sqlite3'}"
    data.mkdir()
    db = Database(url)
    from lims.db.migrate import upgrade

    upgrade(db.engine)
    lab = build_lab(db, [Role.AUDITOR, Role.TECHNICIAN])
    t0 = utcnow()
    tech = lab.users[Role.TECHNICIAN]
    made: list[tuple[str, str, str]] = []  # (table, actor, reason) of every event made below
    with db.write(actor=tech, reason="new customer") as s:
        s.add(Customer(name="丙 C"))
        made.append(("customers", "technician", "new customer"))
    with db.write(actor=tech, reason="address corrected") as s:
        c = s.scalars(select(Customer).where(Customer.name == "丙 C")).one()
        c.address = "天津"
        made.append(("customers", "technician", "address corrected"))
    with db.write(actor="system:test") as s:
        s.add(Customer(name="丁 D"))
        made.append(("customers", "system:test", NO_REASON))
    t1 = utcnow() + timedelta(seconds=1)
    with db.read() as s:
        auditor = s.get(type(tech), lab.users[Role.AUDITOR].id)
        assert auditor is not None
        summary = summarize_events(s, auditor, start=t0, end=t1)
    assert summary.events == len(made)
    assert summary.changes == 3
    assert summary.changes_without_reason == 1
    assert dict(summary.by_table) == dict(Counter(t for t, _, _ in made))
    assert dict(summary.by_actor) == dict(Counter(a for _, a, _ in made))
    assert dict(summary.by_reason) == dict(Counter(r for _, _, r in made))
    db.dispose()
    (tmp_path / "pw").write_text(PASSWORD + "\n", encoding="utf-8")
    args = ["audit", "show", "--summary", "--from", t0.isoformat(), "--to", t1.isoformat()]
    auth = ["--user", "auditor", "--password-file", str(tmp_path / "pw")]
    r = run_main([*args, *auth], clean_env(data, LIMS_DATABASE_URL=url), monkeypatch, capsys)
    assert r.code == 0, r.err
    assert f": {len(made)}" in r.out.splitlines()[0]
    assert "changes of records: 3, of which without a reason: 1" in r.out
    assert "        2  technician" in r.out
    assert "        1  address corrected" in r.out
    assert f"        1  {NO_REASON}" in r.out


def test_the_applications_database_refuses_a_change_without_a_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from lims.config import load_settings
    from lims.services.lab import open_lab

    data = tmp_path / "lab"
    assert run_main(["init", "--demo"], clean_env(data), monkeypatch, capsys).code == 0
    db = open_lab(load_settings({"LIMS_DATA_DIR": str(data)}))
    try:
        with pytest.raises(AuditError, match="without a reason"), db.write(actor="zhang") as s:
            s.add(Customer(name="无理由 no reason"))
        with db.read() as s:
            assert (
                s.scalar(
                    select(func.count())
                    .select_from(Customer)
                    .where(Customer.name == "无理由 no reason")
                )
                == 0
            )
    finally:
        db.dispose()
