"""The home page's counts per role (lims.services.home), on SQLite and PostgreSQL.

Each count is set up here record by record and the expected number follows from what
was added; the topics a user sees follow from the permission matrix alone.
"""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lims.db import Database
from lims.db.types import utcnow
from lims.models import (
    Authorization,
    Certificate,
    CertificateStatus,
    Equipment,
    MeasurementStandard,
    ReferenceMaterial,
    RegulationTable,
    Role,
    Run,
    RunStatus,
    ServiceKind,
    User,
    WorkOrder,
    WorkOrderItem,
)
from lims.quality.incidents import close_incident, report_incident
from lims.quality.materials import receive_material
from lims.quality.standards import record_intermediate_check
from lims.quality.trace import record_out_of_tolerance
from lims.services.home import HomeSettings, HomeTopic, home_summary
from lims.services.users import grant_authorization
from lims.units import parse_quantity
from tests.quality._build import SYSTEM, Lab, add_certificate, add_run, add_standard
from tests.quality._build import build_lab as _build_lab
from tests.quality._build import cylinder_input as _cylinder

TODAY = utcnow().date()
ROOT = Path(__file__).resolve().parents[2]
T = HomeTopic


def build_lab(db: Database) -> Lab:
    """The quality tests' lab, its stored regulation table made a real one (listed by QMs)."""
    lab = _build_lab(db)
    shipped = ROOT / "procedures" / "jjg635" / "jjg635.toml"
    with db.write(actor=SYSTEM, reason="real table") as s:
        row = s.query(RegulationTable).filter_by(procedure_id="jjg635").one()
        row.content = shipped.read_text(encoding="utf-8")
        row.version = "2026.2-draft"
        row.sha256 = hashlib.sha256(shipped.read_bytes()).hexdigest()
    return lab


def _counts(db: Database, user: User, cfg: HomeSettings | None = None) -> dict[HomeTopic, int]:
    return {c.topic: c.count for c in home_summary(db, user, TODAY, cfg)}


def test_each_role_sees_the_topics_its_permissions_allow(db: Database) -> None:
    lab = build_lab(db)
    topics = {role: set(_counts(db, user)) for role, user in lab.users.items()}
    assert topics[Role.TECHNICIAN] == {
        T.MY_ITEMS,
        T.MY_RUNS,
        T.INTERRUPTED_RUNS,
        T.REJECTED_DRAFTS,
        T.AWAITING_SIGNATURE,
    }
    assert topics[Role.REVIEWER] == {T.AWAITING_SIGNATURE}
    assert topics[Role.APPROVER] == {T.AWAITING_SIGNATURE}
    assert topics[Role.QUALITY_MANAGER] == {
        T.STANDARDS_OVERDUE,
        T.STANDARDS_DUE,
        T.FAILED_CHECKS,
        T.MATERIALS_EXPIRED,
        T.MATERIALS_DUE,
        T.MATERIALS_LOW,
        T.OPEN_INCIDENTS,
        T.OPEN_IMPACTS,
        T.AUDIT_EVENTS,
        T.CERTIFICATES_ISSUED,
        T.TABLES_TO_RELEASE,
    }
    assert topics[Role.AUDITOR] == {T.AUDIT_EVENTS, T.CERTIFICATES_ISSUED}
    assert topics[Role.ADMINISTRATOR] == {
        T.AUDIT_EVENTS,
        T.CERTIFICATES_ISSUED,
        T.ACTIVE_USERS,
        T.LOCKED_USERS,
    }


def _item(db: Database, customer_id: int, procedure: str, serial: str) -> None:
    with db.write(actor=SYSTEM, reason="item") as s:
        eq = Equipment(
            kind="gas_analyzer",
            description="analyzer",
            manufacturer="Sim",
            model="X",
            serial_number=serial,
            owner_customer_id=customer_id,
        )
        wo = WorkOrder(number=f"WO-{serial}", customer_id=customer_id, received_on=TODAY)
        s.add_all([eq, wo])
        s.flush()
        s.add(
            WorkOrderItem(
                work_order_id=wo.id,
                equipment_id=eq.id,
                service=ServiceKind.VERIFICATION,
                procedure_id=procedure,
            )
        )


def test_technician_items_runs_interrupted_and_rejected_drafts(db: Database) -> None:
    lab = build_lab(db)
    tech = lab.users[Role.TECHNICIAN]
    with db.write(actor=SYSTEM, reason="authorize") as s:
        user = s.get(User, tech.id)
        assert user is not None
        grant_authorization(s, user, "jjg635", TODAY - timedelta(days=10), TODAY)
        grant_authorization(s, user, "old-proc", TODAY - timedelta(days=10), TODAY)
        expired = grant_authorization(
            s, user, "expired-proc", TODAY - timedelta(days=10), TODAY - timedelta(days=1)
        )
        assert not expired.is_valid_on(TODAY)
    for i in range(3):
        _item(db, lab.customer_id, "jjg635", f"A{i}")
    _item(db, lab.customer_id, "old-proc", "B0")
    _item(db, lab.customer_id, "expired-proc", "C0")  # not authorized today
    _item(db, lab.customer_id, "unknown-proc", "D0")  # never authorized
    counts = _counts(db, tech)
    assert counts[T.MY_ITEMS] == 4
    assert counts[T.MY_RUNS] == counts[T.INTERRUPTED_RUNS] == counts[T.REJECTED_DRAFTS] == 0

    with db.write(actor=SYSTEM, reason="revoke") as s:
        auth = s.query(Authorization).filter_by(procedure_id="old-proc").one()
        auth.revoked_at = datetime.now(UTC)
        auth.revoked_reason = "competence lapsed"
    assert _counts(db, tech)[T.MY_ITEMS] == 3

    with db.write(actor=SYSTEM, reason="runs") as s:
        paused = add_run(s, lab, TODAY, [])
        done = add_run(s, lab, TODAY, [])
        add_run(s, lab, TODAY, [], operator=Role.REVIEWER)  # someone else's run
        for run_id, status in ((paused, RunStatus.PAUSED), (done, RunStatus.COMPLETED)):
            run = s.get(Run, run_id)
            assert run is not None
            run.status = status
        rejected = add_certificate(s, done, issued=False)
    with db.write(actor=SYSTEM, reason="reject") as s:
        from lims.models import Certificate

        cert = s.get(Certificate, rejected)
        assert cert is not None
        cert.status = CertificateStatus.REJECTED
    summary = {c.topic: c for c in home_summary(db, tech, TODAY)}
    assert summary[T.MY_RUNS].count == 2
    assert summary[T.INTERRUPTED_RUNS].count == 1
    assert summary[T.INTERRUPTED_RUNS].urgent
    assert summary[T.REJECTED_DRAFTS].count == 1
    with db.write(actor=SYSTEM, reason="redraft") as s:
        add_certificate(s, done, issued=False)  # the new draft replaces the rejected one
    assert _counts(db, tech)[T.REJECTED_DRAFTS] == 0


def test_quality_manager_standards_materials_checks_incidents_impacts(db: Database) -> None:
    lab = build_lab(db)
    qm, tech = lab.users[Role.QUALITY_MANAGER], lab.users[Role.TECHNICIAN]
    with db.write(actor=SYSTEM, reason="standards") as s:
        add_standard(s, "STD-NOCERT", "EQ-1")  # a member without certificate: overdue at once
        std_id, eq_id = add_standard(s, "STD-GAS", "EQ-2")
        from lims.models import ExternalCertificate

        s.add(
            ExternalCertificate(
                equipment_id=eq_id,
                issuer="NIM",
                number="N-1",
                calibrated_on=TODAY - timedelta(days=300),
                issued_on=TODAY - timedelta(days=300),
                valid_until=TODAY + timedelta(days=10),  # due within 30 days
            )
        )
        std = s.get(MeasurementStandard, std_id)
        assert std is not None
        std.intermediate_check_interval_days = 3650
    cfg = HomeSettings(warning_days=30, low_stock_percent=50)
    counts = _counts(db, qm, cfg)
    assert counts[T.STANDARDS_OVERDUE] == 1
    assert counts[T.STANDARDS_DUE] == 1
    assert _counts(db, qm, HomeSettings(warning_days=5))[T.STANDARDS_DUE] == 0

    def check(measured: str) -> None:
        with db.write(actor=qm, reason="check") as s:
            record_intermediate_check(
                s,
                qm,
                "STD-GAS",
                performed_on=TODAY,
                quantity="flow",
                nominal=parse_quantity("1 L/min"),
                measured=parse_quantity(measured),
                limit=parse_quantity("0.01 L/min"),
            )

    check("1.05 L/min")  # outside the limit: failed
    assert _counts(db, qm, cfg)[T.FAILED_CHECKS] == 1
    check("1.005 L/min")  # the latest check passed
    assert _counts(db, qm, cfg)[T.FAILED_CHECKS] == 0

    with db.write(actor=qm, reason="rm") as s:
        for tag, expires, remaining in (
            ("RM-OLD", TODAY + timedelta(days=200), "10 MPa"),
            ("RM-SOON", TODAY + timedelta(days=20), "10 MPa"),
            ("RM-LOW", TODAY + timedelta(days=200), "1.4 MPa"),  # minimum 1 MPa x 1.5
            ("RM-OK", TODAY + timedelta(days=200), "1.6 MPa"),
        ):
            data = dataclasses.replace(
                _cylinder(tag, expires=expires),
                received_on=TODAY - timedelta(days=400),
                remaining=parse_quantity(remaining),
            )
            receive_material(s, qm, data)
    with db.write(actor=SYSTEM, reason="expired") as s:
        rm = s.query(ReferenceMaterial).filter_by(tag="RM-OLD").one()
        rm.expires_on = TODAY - timedelta(days=1)
    counts = _counts(db, qm, cfg)
    assert (counts[T.MATERIALS_EXPIRED], counts[T.MATERIALS_DUE], counts[T.MATERIALS_LOW]) == (
        1,
        1,
        1,
    )

    with db.write(actor=tech, reason="incidents") as s:
        first = report_incident(s, tech, category="other", title="a", description="b")
        report_incident(s, tech, category="other", title="c", description="d")
    with db.write(actor=qm, reason="close") as s:
        close_incident(s, qm, first.id, "fixed")
    assert _counts(db, qm, cfg)[T.OPEN_INCIDENTS] == 1
    with db.write(actor=qm, reason="finding") as s:
        record_out_of_tolerance(s, qm, "STD-GAS", finding="drift", found_on=TODAY)
    assert _counts(db, qm, cfg)[T.OPEN_IMPACTS] == 1


def test_auditor_and_administrator_counts(db: Database) -> None:
    lab = build_lab(db)
    auditor, admin = lab.users[Role.AUDITOR], lab.users[Role.ADMINISTRATOR]
    with db.write(actor=SYSTEM, reason="runs") as s:
        # one certificate per run: issued long ago (March 2026), a draft, issued this week
        add_certificate(s, add_run(s, lab, TODAY, []), issued=True)
        add_certificate(s, add_run(s, lab, TODAY, []), issued=False)
        recent = s.get(Certificate, add_certificate(s, add_run(s, lab, TODAY, []), issued=False))
        assert recent is not None
        recent.status = CertificateStatus.ISSUED
        recent.issued_at = datetime.now(UTC) - timedelta(days=2)
    counts = _counts(db, auditor)
    assert counts[T.CERTIFICATES_ISSUED] == 1
    # everything of this fresh lab happened this week: every audit event counts
    with db.read() as s:
        from sqlalchemy import func, select

        from lims.models.audit import AuditEvent

        total = s.scalar(select(func.count(AuditEvent.id)))
    assert counts[T.AUDIT_EVENTS] == total > 0
    assert _counts(db, admin)[T.ACTIVE_USERS] == len(Role)
    with db.write(actor=SYSTEM, reason="lock") as s:
        user = s.get(User, lab.users[Role.TECHNICIAN].id)
        assert user is not None
        user.locked_at = datetime.now(UTC)
        other = s.get(User, lab.users[Role.REVIEWER].id)
        assert other is not None
        other.active = False
    counts = _counts(db, admin)
    assert counts[T.LOCKED_USERS] == 1
    assert counts[T.ACTIVE_USERS] == len(Role) - 1


def test_tables_to_release_counts_drafts_only(db: Database) -> None:
    lab = build_lab(db)
    qm = lab.users[Role.QUALITY_MANAGER]
    from lims.models.enums import ReleaseStatus
    from lims.services.regulation_tables import list_tables

    drafts = [v for v in list_tables(db, qm) if v.status == "draft"]
    assert _counts(db, qm)[T.TABLES_TO_RELEASE] == len(drafts) > 0
    with db.write(actor=SYSTEM, reason="released") as s:
        row = s.query(RegulationTable).filter_by(procedure_id="jjg635").one()
        row.status = ReleaseStatus.RELEASED
    assert _counts(db, qm)[T.TABLES_TO_RELEASE] == len(drafts) - 1
