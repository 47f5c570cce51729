"""Out-of-tolerance impact on a member instrument (decisions, notifications, closing) and
the quality manager's override, through the services and the commands."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from lims.cli.main import app
from lims.db import Database
from lims.db.migrate import upgrade
from lims.models import AuditEvent, Certificate, Equipment, EquipmentStatus, Role, RuleOverride, Run
from lims.quality.errors import PermissionDenied, QualityError
from lims.quality.oot import decide_certificate, impact_of, record_notification
from lims.quality.overrides import grant_run_override, run_rules
from lims.quality.trace import close_impact, record_out_of_tolerance
from tests.quality._build import (
    PASSWORD,
    SYSTEM,
    Lab,
    add_certificate,
    add_run,
    add_standard,
    build_lab,
)


def test_oot_of_a_member_instrument(db: Database) -> None:
    lab = build_lab(db, [Role.QUALITY_MANAGER, Role.TECHNICIAN])
    qm, tech = lab.users[Role.QUALITY_MANAGER], lab.users[Role.TECHNICIAN]
    with db.write(actor=SYSTEM, reason="fixture") as s:
        add_standard(s, "STD-O", "O-01")
        before = add_run(s, lab, date(2026, 1, 5), ["STD-O"], serial="A1")
        add_certificate(s, before)
        after = [add_run(s, lab, date(2026, 2, d), ["STD-O"], serial=f"B{d}") for d in (3, 9)]
        numbers = []
        for run in after:
            cid = add_certificate(s, run)
            cert = s.get(Certificate, cid)
            assert cert is not None
            numbers.append(cert.number)
    with pytest.raises(PermissionDenied), db.write(actor=tech) as s:
        record_out_of_tolerance(s, tech, "O-01", finding="x", found_on=date(2026, 3, 1))
    with db.write(actor=qm, reason="check failed") as s:
        rec = record_out_of_tolerance(
            s, qm, "O-01", finding="dilution ratio 1.2 % off", found_on=date(2026, 3, 1),
            since=date(2026, 2, 1),
        )  # fmt: skip
        impact_id = rec.id
        assert rec.resource_kind == "equipment"
    with db.read() as s:
        impact = impact_of(s, qm, impact_id)
        assert sorted(impact.runs) == sorted(after)
        assert [c.number for c in impact.certificates] == numbers
        assert {c.via for c in impact.certificates} == {("O-01", "STD-O")}
        eq = s.scalars(select(Equipment).where(Equipment.asset_tag == "O-01")).one()
        assert eq.status == EquipmentStatus.OUT_OF_SERVICE
    with pytest.raises(QualityError, match="has no decision"), db.write(actor=qm) as s:
        close_impact(s, qm, impact_id, "done")
    with db.write(actor=qm, reason="decisions") as s:
        decide_certificate(s, qm, impact_id, numbers[0], "no_impact", "error within 1/3 MPE")
        decide_certificate(s, qm, impact_id, numbers[1], "amend", "error shifts the verdict")
        with pytest.raises(QualityError, match="not affected"):
            decide_certificate(s, qm, impact_id, "CM-NOPE", "amend", "no such certificate")
    with pytest.raises(QualityError, match="not notified"), db.write(actor=qm) as s:
        close_impact(s, qm, impact_id, "done")
    with pytest.raises(QualityError, match="before the finding"), db.write(actor=qm) as s:
        record_notification(s, qm, impact_id, numbers[1], notified_on=date(2026, 2, 1),
                            channel="email")  # fmt: skip
    with db.write(actor=qm, reason="customer told") as s:
        record_notification(s, qm, impact_id, numbers[1], notified_on=date(2026, 3, 2),
                            channel="letter", reference="QM-2026-017")  # fmt: skip
    with db.write(actor=qm, reason="closed") as s:
        close_impact(s, qm, impact_id, "one certificate amended, customer informed")
    with db.read() as s:
        tables = set(s.scalars(select(AuditEvent.table_name)))
        assert {"impact_dispositions", "customer_notifications", "impact_assessments"} <= tables
        assert impact_of(s, qm, impact_id).certificates[1].notified == (
            "2026-03-02 letter (QM-2026-017)",
        )


def _run_with_failure(db: Database) -> tuple[int, Lab]:
    lab = build_lab(db, [Role.QUALITY_MANAGER, Role.TECHNICIAN])
    with db.write(actor=SYSTEM, reason="fixture") as s:
        run = add_run(s, lab, date(2026, 3, 1), ["STD-X"])
        row = s.get(Run, run)
        assert row is not None
        row.provenance = {"rule_failures": {"standard:STD-X": "certificate expired 2026-02-28"}}
    return run, lab


def test_override_through_the_service(db: Database) -> None:
    run, lab = _run_with_failure(db)
    qm = lab.users[Role.QUALITY_MANAGER]
    tech = lab.users[Role.TECHNICIAN]
    with pytest.raises(PermissionDenied):
        grant_run_override(db, tech, run, "standard:STD-X", "needed urgently")
    with pytest.raises(QualityError, match="no failed rule 'operator'"):
        grant_run_override(db, qm, run, "operator", "needed urgently")
    with pytest.raises(QualityError, match="written reason"):
        grant_run_override(db, qm, run, "standard:STD-X", "ok")
    grant_run_override(db, qm, run, "standard:STD-X", "recalibration booked; last check passed")
    with db.read() as s:
        (rule,) = run_rules(s, qm, run)
        assert rule.overridden_by == "qualitymanager"
        assert rule.detail == "certificate expired 2026-02-28"
        assert s.scalars(select(RuleOverride)).one().reason.startswith("recalibration")


def test_override_and_oot_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'lims.sqlite3'}"
    monkeypatch.setenv("LIMS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LIMS_DATABASE_URL", url)
    db = Database(url)
    upgrade(db.engine)
    run, _lab = _run_with_failure(db)
    db.dispose()
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n", encoding="utf-8")
    qm = ["--user", "qualitymanager", "--password-file", str(pw)]
    runner = CliRunner()
    out = runner.invoke(app, ["override", "list", str(run), *qm])
    assert "FAILED" in out.output
    out = runner.invoke(app, ["override", "grant", str(run), "--rule", "standard:STD-X",
                              "--reason", "recalibration booked", *qm])  # fmt: skip
    assert out.exit_code == 0, out.output
    out = runner.invoke(app, ["override", "list", str(run), *qm])
    assert "overridden by qualitymanager: recalibration booked" in out.output
    wrong = tmp_path / "wrong"
    wrong.write_text("not the password\n", encoding="utf-8")
    out = runner.invoke(app, ["override", "grant", str(run), "--rule", "standard:STD-X",
                              "--reason", "again", "--user", "qualitymanager",
                              "--password-file", str(wrong)])  # fmt: skip
    assert out.exit_code != 0
    out = runner.invoke(app, ["standards", "oot", "STD-X", "--finding", "span 2 % off", *qm])
    assert out.exit_code == 0, out.output
    assert f"runs: {run}" in out.output
