"""Standards (certificates by hash, revisions, status with reasons, intermediate checks and
control charts), reference materials (usable or not), due lists, the customer recall list,
En numbers and the incident log."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from lims.audit import verify
from lims.cli.main import app
from lims.db import Database
from lims.engine.rules import check_reference_material
from lims.models import (
    AuditEvent,
    EquipmentStatus,
    ExternalCertificate,
    IntermediateCheck,
    MeasurementStandard,
    ReferenceMaterialEvent,
    ReferenceMaterialStatus,
    Role,
)
from lims.quality import incidents, materials, proficiency, standards
from lims.quality.archive import archive_path, file_sha256
from lims.quality.due import due_list, recall_list
from lims.quality.errors import QualityError
from lims.units import parse_quantity
from tests.quality._build import (
    PASSWORD,
    SYSTEM,
    Lab,
    add_certificate,
    add_run,
    add_standard,
    build_lab,
    cylinder_input,
)

DAY = date(2026, 3, 1)
Q, T = Role.QUALITY_MANAGER, Role.TECHNICIAN


def _lab(db: Database) -> Lab:
    return build_lab(db, [T, Q, Role.AUDITOR])


# --------------------------------------------------------------------------- standards


def test_external_certificates_by_hash_with_immutable_revisions(
    db: Database, tmp_path: Path
) -> None:
    lab = _lab(db)
    qm = lab.users[Q]
    archive = tmp_path / "archive"
    pdf = tmp_path / "cert.pdf"
    pdf.write_bytes(b"%PDF-1.7 NIM certificate")
    with db.write(actor=SYSTEM, reason="fixture") as s:
        add_standard(s, "STD-F", "EQ-F")
    kwargs = {
        "equipment_asset_tag": "EQ-F",
        "issuer": "NIM",
        "calibrated_on": date(2026, 1, 5),
        "issued_on": date(2026, 1, 8),
    }
    with db.write(actor=qm, reason="certificate received") as s:
        first = standards.record_external_certificate(
            s, qm, archive, number="N-1", valid_until=date(2027, 1, 4), file=pdf, **kwargs
        )
        first_id, sha = first.id, first.file_sha256
    assert sha == file_sha256(pdf)
    stored = archive_path(archive, sha)
    assert stored.read_bytes() == pdf.read_bytes()
    with pytest.raises(QualityError, match="recorded already"), db.write(actor=qm) as s:
        standards.record_external_certificate(
            s, qm, archive, number="N-1", valid_until=date(2027, 1, 4), **kwargs
        )
    with db.write(actor=qm, reason="issuer corrected the validity") as s:
        rev = standards.record_external_certificate(
            s,
            qm,
            archive,
            number="N-1",
            valid_until=date(2027, 1, 3),
            replaces_id=first_id,
            **kwargs,
        )
        assert rev.revision == 2
    with pytest.raises(QualityError, match="already replaced"), db.write(actor=qm) as s:
        standards.record_external_certificate(
            s,
            qm,
            archive,
            number="N-1",
            valid_until=date(2027, 1, 2),
            replaces_id=first_id,
            **kwargs,
        )
    with db.read() as s:
        history = standards.calibration_history(s, lab.users[Role.AUDITOR], "STD-F")
        assert [(c.number, c.revision) for c in history] == [("N-1", 1), ("N-1", 2)]
        current = standards.current_certificate(s, history[0].equipment_id)
        assert current is not None
        assert (current.revision, current.valid_until) == (2, date(2027, 1, 3))
        original = s.get(ExternalCertificate, first_id)
        assert original is not None
        assert original.valid_until == date(2027, 1, 4)  # the first revision is unchanged
        assert verify(s).ok


def test_out_of_service_and_back_each_with_a_reason(db: Database) -> None:
    lab = _lab(db)
    qm = lab.users[Q]
    with db.write(actor=SYSTEM, reason="fixture") as s:
        _std_id, eq_id = add_standard(s, "STD-S", "EQ-S")
    with pytest.raises(QualityError, match="needs a reason"), db.write(actor=qm) as s:
        standards.take_out_of_service(s, qm, "STD-S", "  ")
    with db.write(actor=qm) as s:
        standards.take_out_of_service(s, qm, "STD-S", "dropped during transport")
    with db.read() as s:
        std = s.scalars(select(MeasurementStandard).where(MeasurementStandard.tag == "STD-S")).one()
        assert std.status == EquipmentStatus.OUT_OF_SERVICE
        assert std.status_reason == "dropped during transport"
        ev = s.scalars(
            select(AuditEvent)
            .where(AuditEvent.table_name == "measurement_standards")
            .order_by(AuditEvent.id.desc())
        ).first()
        assert ev is not None
        assert ev.reason == "dropped during transport"
        assert ev.changes["status"] == ["active", "out_of_service"]
    # back in service only with a valid certificate of every member, and a reason
    with pytest.raises(QualityError, match="has no certificate"), db.write(actor=qm) as s:
        standards.return_to_service(s, qm, "STD-S", "repaired", DAY)
    with db.write(actor=SYSTEM, reason="fixture") as s:
        s.add(
            ExternalCertificate(
                equipment_id=eq_id,
                issuer="NIM",
                number="N-S",
                calibrated_on=date(2026, 2, 1),
                issued_on=date(2026, 2, 2),
                valid_until=date(2026, 2, 27),
            )
        )
    with pytest.raises(QualityError, match="expired on 2026-02-27"), db.write(actor=qm) as s:
        standards.return_to_service(s, qm, "STD-S", "repaired", DAY)
    with pytest.raises(QualityError, match="needs a reason"), db.write(actor=qm) as s:
        standards.return_to_service(s, qm, "STD-S", "", date(2026, 2, 20))
    with db.write(actor=qm) as s:
        standards.return_to_service(s, qm, "STD-S", "repaired and recalibrated", date(2026, 2, 20))
    with db.read() as s:
        std = s.scalars(select(MeasurementStandard).where(MeasurementStandard.tag == "STD-S")).one()
        assert (std.status, std.status_reason) == (
            EquipmentStatus.ACTIVE,
            "repaired and recalibrated",
        )


def test_intermediate_checks_and_control_chart(db: Database) -> None:
    lab = _lab(db)
    tech = lab.users[T]
    with db.write(actor=SYSTEM, reason="fixture") as s:
        add_standard(s, "STD-C", "EQ-C")
    measured = ["1.001", "0.999", "1.002", "1.000", "0.998", "1.012"]  # the last one drifts
    with db.write(actor=tech, reason="期间核查") as s:
        for i, m in enumerate(measured):
            check = standards.record_intermediate_check(
                s,
                tech,
                "STD-C",
                performed_on=date(2026, 1, 1 + i),
                quantity="flow",
                nominal=parse_quantity("1 L/min"),
                measured=parse_quantity(f"{m} L/min"),
                limit=parse_quantity("10 mL/min"),  # another unit of the same dimension
            )
        assert check.passed is False  # 12 mL/min off > 10 mL/min
        assert check.limit == pytest.approx(0.01)
    with pytest.raises(QualityError, match="wrong dimension"), db.write(actor=tech) as s:
        standards.record_intermediate_check(
            s,
            tech,
            "STD-C",
            performed_on=DAY,
            quantity="flow",
            nominal=parse_quantity("1 L/min"),
            measured=parse_quantity("1 kPa"),
            limit=parse_quantity("0.01 L/min"),
        )
    with db.read() as s:
        chart = standards.control_chart(s, lab.users[Role.AUDITOR], "STD-C", "flow")
    devs = [float(m) - 1.0 for m in measured]
    assert [p.deviation for p in chart.points] == pytest.approx(devs)
    assert [p.passed for p in chart.points] == [True] * 5 + [False]
    assert chart.centre == pytest.approx(sum(devs) / len(devs))
    assert chart.upper_control == pytest.approx(chart.centre + 3 * chart.sigma)
    assert chart.lower_warning == pytest.approx(chart.centre - 2 * chart.sigma)
    assert chart.acceptance == pytest.approx(0.01)


# --------------------------------------------------------------------------- materials


def test_reference_material_below_minimum_or_expired_cannot_be_used(db: Database) -> None:
    lab = _lab(db)
    qm, tech = lab.users[Q], lab.users[T]
    with db.write(actor=qm, reason="received") as s:
        materials.receive_material(s, qm, cylinder_input("RM-P"))
        materials.receive_material(s, qm, cylinder_input("RM-OLD", expires=date(2026, 2, 28)))
        rm = materials.get_material(s, "RM-P")
        assert (rm.certified_value, rm.expanded_uncertainty, rm.coverage_factor) == (400, 4, 2)
    with db.write(actor=tech, reason="opened") as s:
        materials.open_material(s, tech, "RM-P", DAY)
    with pytest.raises(QualityError, match="cannot grow"), db.write(actor=tech) as s:
        materials.record_consumption(s, tech, "RM-P", parse_quantity("11 MPa"), DAY)
    with db.write(actor=tech, reason="used") as s:
        rm = materials.record_consumption(s, tech, "RM-P", parse_quantity("1.5 MPa"), DAY)
        assert rm.status == ReferenceMaterialStatus.IN_USE
    with db.read() as s:
        assert check_reference_material(s, "RM-P", DAY) == []
    with db.write(actor=tech, reason="used") as s:  # 0.9 MPa = 900 kPa: below the 1 MPa minimum
        rm = materials.record_consumption(s, tech, "RM-P", parse_quantity("900 kPa"), DAY)
        assert rm.status == ReferenceMaterialStatus.EXHAUSTED
        assert rm.remaining == pytest.approx(0.9)
    with db.read() as s:
        rm = materials.get_material(s, "RM-P")
        assert rm.usable_on(DAY)[0] is False
        assert "exhausted" in check_reference_material(s, "RM-P", DAY)[0].reason
        old = materials.get_material(s, "RM-OLD")
        ok, why = old.usable_on(DAY)
        assert not ok
        assert "expired on 2026-02-28" in why
        assert "expired on 2026-02-28" in check_reference_material(s, "RM-OLD", DAY)[0].reason
    with pytest.raises(QualityError, match="exhausted"), db.write(actor=tech) as s:
        materials.record_consumption(s, tech, "RM-P", parse_quantity("0.5 MPa"), DAY)
    with pytest.raises(QualityError, match=r"cannot open.*expired"), db.write(actor=tech) as s:
        materials.open_material(s, tech, "RM-OLD", DAY)
    with db.write(actor=qm) as s:
        assert [r.tag for r in materials.mark_expired(s, qm, DAY)] == ["RM-OLD"]
        materials.dispose_material(s, qm, "RM-P", DAY, "empty cylinder returned")
    with db.read() as s:
        rm_id = materials.get_material(s, "RM-P").id
        kinds = s.scalars(
            select(ReferenceMaterialEvent.kind)
            .where(ReferenceMaterialEvent.reference_material_id == rm_id)
            .order_by(ReferenceMaterialEvent.id)
        ).all()
        assert kinds == ["received", "opened", "consumed", "consumed", "disposed"]
        assert materials.get_material(s, "RM-P").status == ReferenceMaterialStatus.DISPOSED
        assert verify(s).ok


# --------------------------------------------------------------------------- due lists


def test_due_list_within_horizon(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab = _lab(db)
    qm = lab.users[Q]
    with db.write(actor=SYSTEM, reason="fixture") as s:
        for tag, valid_until in (
            ("STD-SOON", date(2026, 3, 20)),  # 19 days
            ("STD-LATE", date(2026, 6, 1)),  # 92 days
            ("STD-PAST", date(2026, 2, 20)),  # overdue
        ):
            std_id, eq_id = add_standard(s, tag, f"EQ-{tag}")
            s.add(
                ExternalCertificate(
                    equipment_id=eq_id,
                    issuer="NIM",
                    number=f"N-{tag}",
                    calibrated_on=date(2025, 3, 1),
                    issued_on=date(2025, 3, 2),
                    valid_until=valid_until,
                )
            )
            # checks: STD-SOON's is due in 10 days, the others' far away
            done = date(2025, 9, 12) if tag == "STD-SOON" else date(2026, 2, 1)
            s.add(IntermediateCheck(standard_id=std_id, performed_on=done, passed=True))
    with db.write(actor=qm, reason="received") as s:
        materials.receive_material(s, qm, cylinder_input("RM-SOON", expires=date(2026, 3, 31)))
        materials.receive_material(s, qm, cylinder_input("RM-FAR", expires=date(2026, 9, 1)))
    with db.read() as s:
        items = due_list(s, lab.users[Role.AUDITOR], DAY, 30)
        wide = due_list(s, lab.users[Role.AUDITOR], DAY, 100)
        with pytest.raises(QualityError, match="negative"):
            due_list(s, qm, DAY, -1)
    got = [(i.kind, i.tag, i.days_left) for i in items]
    assert got == [
        ("standard_certificate", "STD-PAST", -9),
        ("intermediate_check", "STD-SOON", 10),
        ("standard_certificate", "STD-SOON", 19),
        ("reference_material", "RM-SOON", 30),
    ]
    assert {("standard_certificate", "STD-LATE")} <= {(i.kind, i.tag) for i in wide}
    assert "RM-FAR" not in {i.tag for i in wide}
    # the command line: lims standards due --within 30d
    if db.is_sqlite:
        monkeypatch.setenv("LIMS_DATABASE_URL", str(db.engine.url))
        monkeypatch.setenv("LIMS_DATA_DIR", str(tmp_path))
        pw = tmp_path / "pw"
        pw.write_text(PASSWORD + "\n", encoding="utf-8")
        auth = ["--user", "auditor", "--password-file", str(pw)]
        out = CliRunner().invoke(
            app, ["standards", "due", "--within", "30d", "--today", "2026-03-01", *auth]
        )
        assert out.exit_code == 0, out.output
        lines = out.output.splitlines()
        assert len(lines) == 4
        assert "OVERDUE" in lines[0]
        assert "STD-PAST" in lines[0]
        assert "RM-SOON" in lines[3]
        assert "STD-LATE" not in out.output
        out = CliRunner().invoke(app, ["standards", "due", "--within", "soon", *auth])
        assert out.exit_code != 0


def test_customer_recall_list(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab = _lab(db)
    with db.write(actor=SYSTEM, reason="fixture") as s:
        r1 = add_run(s, lab, date(2025, 3, 10), ["STD-X"], serial="SN-1")
        add_certificate(s, r1, valid_until=date(2026, 3, 9))  # expires in 8 days
        r2 = add_run(s, lab, date(2025, 6, 1), ["STD-X"], serial="SN-2")
        add_certificate(s, r2, valid_until=date(2026, 5, 31))  # 91 days: not yet
        r3 = add_run(s, lab, date(2025, 2, 1), ["STD-X"], serial="SN-3")
        add_certificate(s, r3, valid_until=date(2026, 2, 15))  # expired already
        r4 = add_run(s, lab, date(2025, 3, 1), ["STD-X"], serial="SN-4")
        add_certificate(s, r4, valid_until=date(2026, 3, 5), issued=False)  # a draft: ignored
    with db.read() as s:
        items = recall_list(s, lab.users[Role.AUDITOR], DAY, 30)
    assert [(i.serial_number, i.days_left) for i in items] == [("SN-3", -14), ("SN-1", 8)]
    assert items[1].customer == "绿源环境监测站"
    assert items[1].valid_until == date(2026, 3, 9)
    if db.is_sqlite:  # lims standards recall --within 30d
        monkeypatch.setenv("LIMS_DATABASE_URL", str(db.engine.url))
        monkeypatch.setenv("LIMS_DATA_DIR", str(tmp_path))
        pw = tmp_path / "pw"
        pw.write_text(PASSWORD + "\n", encoding="utf-8")
        out = CliRunner().invoke(
            app,
            [
                *("standards", "recall", "--within", "30d", "--today", "2026-03-01"),
                *("--user", "auditor", "--password-file", str(pw)),
            ],
        )
        assert out.exit_code == 0, out.output
        assert "SN SN-1" in out.output
        assert "SN-2" not in out.output
        assert "2 instrument(s) to recall" in out.output


# --------------------------------------------------------------------------- En, incidents


@pytest.mark.parametrize(
    ("lab_value", "lab_u", "ref", "ref_u", "en", "ok"),
    [
        ("403 umol/mol", "4 umol/mol", "400 umol/mol", "3 umol/mol", 0.6, True),
        ("405 umol/mol", "4 umol/mol", "400 umol/mol", "3 umol/mol", 1.0, True),  # |En| = 1
        ("394 umol/mol", "4 umol/mol", "400 umol/mol", "3 umol/mol", -1.2, False),
        # units of one dimension: 0.0406 %mol = 406 µmol/mol
        ("406 umol/mol", "4 umol/mol", "0.04 percent", "3 umol/mol", 1.2, False),
    ],
)
def test_proficiency_en_number(
    db: Database, lab_value: str, lab_u: str, ref: str, ref_u: str, en: float, ok: bool
) -> None:
    lab = build_lab(db, [Q])
    qm = lab.users[Q]
    with db.write(actor=qm, reason="PT result") as s:
        pt = proficiency.record_proficiency_test(
            s,
            qm,
            scheme="CNAS T0123",
            measurand="CO2",
            lab_value=parse_quantity(lab_value),
            lab_uncertainty=parse_quantity(lab_u),
            reference_value=parse_quantity(ref),
            reference_uncertainty=parse_quantity(ref_u),
            performed_on=DAY,
        )
        assert pt.en == pytest.approx(en)
        assert pt.satisfactory is ok
    assert proficiency.en_number(10.0, 0.3, 10.4, 0.4) == pytest.approx(-0.8)
    with pytest.raises(QualityError, match="non-zero"):
        proficiency.en_number(1.0, 0.0, 1.0, 0.0)


def test_incident_log_with_corrective_action(db: Database) -> None:
    lab = _lab(db)
    tech, qm = lab.users[T], lab.users[Q]
    with db.write(actor=tech, reason="incident") as s:
        inc = incidents.report_incident(
            s,
            tech,
            category="system_failure",
            title="bench PC froze during run",
            description="the run paused; resumed after restart",
            occurred_at=datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
        )
        inc_id = inc.id
    with pytest.raises(QualityError, match="category"), db.write(actor=tech) as s:
        incidents.report_incident(s, tech, category="ufo", title="x", description="y")
    with pytest.raises(QualityError, match="corrective action"), db.write(actor=qm) as s:
        incidents.close_incident(s, qm, inc_id, " ")
    with db.write(actor=qm, reason="corrective action") as s:
        incidents.close_incident(s, qm, inc_id, "UPS installed; OS updates scheduled")
    with pytest.raises(QualityError, match="closed already"), db.write(actor=qm) as s:
        incidents.close_incident(s, qm, inc_id, "again")
    with db.read() as s:
        listed = incidents.list_incidents(s, lab.users[Role.AUDITOR])
        assert [(i.id, i.status, i.corrective_action) for i in listed] == [
            (inc_id, "closed", "UPS installed; OS updates scheduled")
        ]
        assert listed[0].action_by_id == qm.id
        assert incidents.list_incidents(s, qm, open_only=True) == []
