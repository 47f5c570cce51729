"""Services the desktop application added for every role's daily work, on both databases:
the audit trail with named records, CSV and verification; registering standards;
withdrawing authorizations; impact dispositions; signed overrides and releases; renewing
an expired password."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from lims.config import Settings
from lims.db import Database
from lims.db.types import utcnow
from lims.models import Authorization, Certificate, MeasurementStandard, Role, Run, RunStatus, User
from lims.models.runs import RuleOverride
from lims.quality.errors import PermissionDenied, QualityError
from lims.quality.oot import decide_certificate
from lims.quality.trace import record_out_of_tolerance
from lims.security import AuthenticationError
from lims.services.audit_trail import TrailFilter, review_trail, verify_trail, write_trail_csv
from lims.services.impact import list_impacts, refused_runs, undecided
from lims.services.lab_register import (
    EquipmentInput,
    StandardInput,
    list_authorizations,
    register_standard,
    withdraw_authorization,
)
from lims.services.reauth import password_expired, renew_password, signed_override
from lims.services.users import grant_authorization
from tests.quality._build import (
    PASSWORD,
    POLICY,
    SYSTEM,
    add_certificate,
    add_run,
    add_standard,
    build_lab,
)

TODAY = utcnow().date()


def _member(tag: str, role: str = "gas_dilutor") -> EquipmentInput:
    return EquipmentInput(
        tag, "gas_dilutor", "动态配气仪 gas dilutor", "Sim", "GD-2", f"SN-{tag}", role
    )


def test_register_standard_all_or_nothing(db: Database) -> None:
    lab = build_lab(db)
    qm, tech = lab.users[Role.QUALITY_MANAGER], lab.users[Role.TECHNICIAN]
    data = StandardInput(
        "STD-NEW", "新标准", "new standard", (_member("EQ-A"), _member("EQ-B", "analyzer"))
    )
    with pytest.raises(PermissionDenied), db.write(actor=tech, reason="x") as s:
        register_standard(s, tech, data)
    bad = StandardInput("STD-BAD", "坏", "bad", (_member("EQ-C"), _member("EQ-D", role=" ")))
    with (
        pytest.raises(QualityError, match=r"members\[1\]\.role"),
        db.write(actor=qm, reason="x") as s,
    ):
        register_standard(s, qm, bad)
    with db.read() as s:  # nothing of the refused standard was written, not even EQ-C
        assert s.scalar(select(func.count()).select_from(MeasurementStandard)) == 0
    with db.write(actor=qm, reason="new standard") as s:
        std = register_standard(s, qm, data)
        assert [m.equipment.asset_tag for m in std.members] == ["EQ-A", "EQ-B"]
    with (
        pytest.raises(QualityError, match="registered already"),
        db.write(actor=qm, reason="x") as s,
    ):
        register_standard(s, qm, data)


def test_withdraw_authorization(db: Database) -> None:
    lab = build_lab(db)
    qm, tech = lab.users[Role.QUALITY_MANAGER], lab.users[Role.TECHNICIAN]
    with db.write(actor=qm, reason="grant") as s:
        user = s.get(User, tech.id)
        assert user is not None
        auth_id = grant_authorization(s, user, "jjg635", TODAY, TODAY + timedelta(days=30)).id
    with pytest.raises(QualityError, match="reason"), db.write(actor=qm, reason="x") as s:
        withdraw_authorization(s, qm, auth_id, "  ")
    with db.write(actor=qm, reason="competence lapsed") as s:
        withdraw_authorization(s, qm, auth_id, "competence lapsed")
    with db.read() as s:
        auth = s.get(Authorization, auth_id)
        assert auth is not None
        assert not auth.is_valid_on(TODAY)
        rows = list_authorizations(s, qm)
    assert [(r.username, r.procedure_id, r.valid_on(TODAY)) for r in rows] == [
        ("technician", "jjg635", False)
    ]


def test_trail_names_records_filters_and_exports(db: Database, tmp_path: Path) -> None:
    lab = build_lab(db)
    auditor, tech = lab.users[Role.AUDITOR], lab.users[Role.TECHNICIAN]
    with db.write(actor=tech, reason="a run") as s:
        run = add_run(s, lab, TODAY, [])
        cert_id = add_certificate(s, run, issued=False)
        number = s.get(Certificate, cert_id).number  # type: ignore[union-attr]
    everything = review_trail(db, auditor, TrailFilter()).rows
    assert {r.table_name for r in everything} >= {"users", "user_roles", "certificates", "runs"}
    unnamed = [r for r in everything if r.record_name == f"{r.table_name}:{r.record_id}"]
    assert [(r.table_name, r.record_id) for r in unnamed] == []  # every record by its name
    page = review_trail(db, auditor, TrailFilter(table="certificates"))
    assert {r.record_name for r in page.rows} == {number}
    assert not any(r.record_name.startswith("certificates:") for r in page.rows)
    users = review_trail(db, auditor, TrailFilter(table="users")).rows
    assert {r.record_name for r in users} >= {"technician (technician)"}
    by_name = review_trail(db, auditor, TrailFilter(record=number)).rows
    assert {(r.table_name, r.record_id) for r in by_name} == {("certificates", str(cert_id))}
    mine = review_trail(db, auditor, TrailFilter(user="technician")).rows
    assert mine
    assert {r.actor for r in mine} == {"technician"}
    later = review_trail(db, auditor, TrailFilter(start=datetime.now(UTC) + timedelta(hours=1)))
    assert later.rows == []
    out = tmp_path / "trail.csv"
    assert write_trail_csv(page.rows, out) == len(page.rows)
    with out.open(encoding="utf-8-sig", newline="") as fh:
        lines = list(csv.DictReader(fh))
    assert [x["record"] for x in lines] == [number] * len(page.rows)
    with pytest.raises(PermissionDenied):
        review_trail(db, tech, TrailFilter())


def test_verify_trail_reports_what_the_cli_reports(db: Database, tmp_path: Path) -> None:
    lab = build_lab(db)
    auditor = lab.users[Role.AUDITOR]
    settings = Settings(data_dir=tmp_path, database_url=str(db.engine.url))
    assert verify_trail(db, auditor, settings).ok
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE users SET full_name = 'forged' WHERE username = 'auditor'"))
    check = verify_trail(db, auditor, settings)
    assert not check.ok
    assert any("users" in str(p) for p in check.problems)
    with db.read() as s:
        from lims.integrity import check_integrity

        report = check_integrity(
            s, archive_dir=settings.archive_dir, anchor_file=settings.anchor_file
        )
        assert [str(p) for p in report.problems] == [str(p) for p in check.problems]


def test_impacts_listed_with_their_certificates_and_decisions(db: Database) -> None:
    lab = build_lab(db)
    qm = lab.users[Role.QUALITY_MANAGER]
    with db.write(actor=SYSTEM, reason="used") as s:
        add_standard(s, "STD-GAS", "EQ-1")
        run = add_run(s, lab, TODAY - timedelta(days=3), ["STD-GAS"], serial="SN-9")
        cert_id = add_certificate(s, run, issued=False)
        number = s.get(Certificate, cert_id).number  # type: ignore[union-attr]
    with db.write(actor=qm, reason="drift") as s:
        impact_id = record_out_of_tolerance(
            s, qm, "STD-GAS", finding="zero drift", found_on=TODAY
        ).id
    with db.read() as s:
        (impact,) = list_impacts(s, qm, open_only=True)
        assert s.scalars(select(MeasurementStandard.status)).one().value == "out_of_service"
    assert impact.runs == (run,)
    assert [(c.number, c.disposition) for c in impact.certificates] == [(number, None)]
    assert undecided(impact) == 1
    with db.write(actor=qm, reason="decided") as s:
        decide_certificate(s, qm, impact_id, number, "no_impact", "within the MPE anyway")
    with db.read() as s:
        (impact,) = list_impacts(s, qm)
        assert list_impacts(s, qm, open_only=True) == [impact]  # still open until closed
    assert undecided(impact) == 0
    with pytest.raises(PermissionDenied), db.read() as s:
        list_impacts(s, lab.users[Role.TECHNICIAN])


def test_signed_override_checks_the_password(db: Database) -> None:
    lab = build_lab(db)
    qm = lab.users[Role.QUALITY_MANAGER]
    key = "standard:STD-GAS"
    with db.write(actor=SYSTEM, reason="refused") as s:
        run_id = add_run(s, lab, TODAY, [])
        run = s.get(Run, run_id)
        assert run is not None
        run.status = RunStatus.REFUSED
        run.provenance = {"rule_failures": {key: "certificate expired"}}
    with db.read() as s:
        (listed,) = refused_runs(s, qm)
    assert (listed.run_id, listed.failures, listed.overridden) == (
        run_id,
        {key: "certificate expired"},
        frozenset(),
    )
    with pytest.raises(AuthenticationError):
        signed_override(db, "qualitymanager", "wrong-one", POLICY, run_id, key, "letter on file")
    with db.read() as s:
        assert (
            s.scalars(select(User.failed_logins).where(User.username == "qualitymanager")).one()
            == 1
        )
    with pytest.raises(PermissionDenied):  # a technician's password does not make an override
        signed_override(db, "technician", PASSWORD, POLICY, run_id, key, "letter on file")
    ov = signed_override(db, "qualitymanager", PASSWORD, POLICY, run_id, key, "letter on file")
    with db.read() as s:
        assert s.get(RuleOverride, ov) is not None
        assert refused_runs(s, qm)[0].overridden == {key}


def test_expired_password_is_renewed(db: Database) -> None:
    build_lab(db)
    with db.write(actor=SYSTEM, reason="age") as s:
        user = s.scalars(select(User).where(User.username == "technician")).one()
        user.password_changed_at = utcnow() - timedelta(days=POLICY.max_age_days + 1)
    assert password_expired(db, "technician", PASSWORD, POLICY)
    assert not password_expired(db, "technician", "not-the-password", POLICY)
    assert not password_expired(db, "reviewer", PASSWORD, POLICY)  # not expired
    with pytest.raises(AuthenticationError):
        renew_password(db, "technician", "not-the-password", "Fresh#2026-new", POLICY)
    user = renew_password(db, "technician", PASSWORD, "Fresh#2026-new", POLICY)
    assert user.username == "technician"
    assert not password_expired(db, "technician", "Fresh#2026-new", POLICY)
