"""The quality manager's daily tasks in the desktop application, end to end on the demo lab:
a standard's new external certificate, an intermediate check and its verdict, a reference
material consumed, an out-of-tolerance finding that takes the standard out of service and
opens an impact assessment listing the certificate that used it (disposition, customer
notification, closed), a rule override signed with the password, a new standard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from pytestqt.qtbot import QtBot
from sqlalchemy import select

from lims.db import Database
from lims.models import (
    Certificate,
    CertificateStatus,
    CertificateType,
    EquipmentStatus,
    ExternalCertificate,
    ImpactAssessment,
    IntermediateCheck,
    MeasurementStandard,
    Procedure,
    ProcedureVersion,
    ReferenceMaterial,
    RegulationTable,
    Run,
    RunResource,
    RunStatus,
    ServiceKind,
    User,
    WorkOrderItem,
)
from lims.models.runs import RuleOverride
from lims.models.traceability import ImpactDisposition
from lims.services.demo import DEMO_USERS
from lims.services.impact import undecided
from lims.units import parse_quantity
from tests.ui.conftest import TODAY, log_in, settle
from ui.app import LimsApp
from ui.forms import FormDialog
from ui.main_window import MainWindow
from ui.views.standards import StandardsView

CHEN = next(u for u in DEMO_USERS if u.username == "chen")


def _window(qtbot: QtBot, gui: LimsApp) -> MainWindow:
    window = log_in(qtbot, gui, CHEN.username, CHEN.password)
    assert isinstance(window, MainWindow)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show_view("standards")
    settle(qtbot, gui.runner, timeout=60_000)
    return window


def _submit(qtbot: QtBot, gui: LimsApp, dialog: FormDialog | None, **values: object) -> None:
    assert isinstance(dialog, FormDialog)
    for key, value in values.items():
        dialog.set_value(key, value)
    dialog.submit()
    settle(qtbot, gui.runner, timeout=60_000)
    assert not dialog.isVisible(), dialog.message.text()
    settle(qtbot, gui.runner, timeout=60_000)


def _select(qtbot: QtBot, gui: LimsApp, view: StandardsView, tag: str) -> None:
    view.select(tag)
    settle(qtbot, gui.runner)
    assert view.detail is not None
    assert view.detail.tag == tag


def test_certificate_check_and_consumption(
    qtbot: QtBot, gui: LimsApp, demo_db: Database, screenshot_dir: Path
) -> None:
    window = _window(qtbot, gui)
    view = window.standards
    _select(qtbot, gui, view, "STD-GAS-001")
    before = [c.number for c in view.detail.history]  # type: ignore[union-attr]
    dialog = view.ask_certificate()
    dialog.grab().save(str(screenshot_dir / "task_external_certificate.png"))
    valid_until = TODAY + timedelta(days=365)
    _submit(
        qtbot,
        gui,
        dialog,
        issuer="中国计量科学研究院 NIM",
        number="NIM-2026-0815",
        calibrated_on=TODAY.isoformat(),
        issued_on=TODAY.isoformat(),
        valid_until=valid_until.isoformat(),
    )
    assert view.detail is not None
    assert [c.number for c in view.detail.history] == [*before, "NIM-2026-0815"]
    with demo_db.read() as s:
        cert = s.scalars(
            select(ExternalCertificate).where(ExternalCertificate.number == "NIM-2026-0815")
        ).one()
        assert cert.valid_until == valid_until

    # An intermediate check: |403 - 400| = 3 µmol/mol is within the 4 µmol/mol limit.
    nominal, measured, limit = "400 µmol/mol", "403 µmol/mol", "4 µmol/mol"
    expected = abs(parse_quantity(measured) - parse_quantity(nominal)) <= parse_quantity(limit)
    _submit(
        qtbot,
        gui,
        view.ask_check(),
        quantity="amount_fraction",
        nominal=nominal,
        measured=measured,
        limit=limit,
    )
    assert ("合格" in view.message.text()) == expected
    with demo_db.read() as s:
        check = s.scalars(select(IntermediateCheck).order_by(IntermediateCheck.id.desc())).first()
        assert check is not None
        assert check.passed is expected
    window.grab().save(str(screenshot_dir / "task_intermediate_check.png"))

    # A bad quantity is refused in the dialog, which stays open; nothing is written.
    dialog = view.ask_check()
    assert dialog is not None
    dialog.set_value("quantity", "amount_fraction")
    dialog.set_value("nominal", "400 bananas")
    dialog.set_value("measured", "401 µmol/mol")
    dialog.set_value("limit", "4 µmol/mol")
    dialog.submit()
    settle(qtbot, gui.runner)
    assert dialog.isVisible()
    assert "bananas" in dialog.message.text()
    dialog.reject()

    # Reference material used: what is left recorded; the amount cannot grow.
    view.inner.setCurrentIndex(1)
    material = next(m for m in view.materials if m.left is not None)
    view.select_material(material.tag)
    with demo_db.read() as s:
        unit = s.scalars(
            select(ReferenceMaterial.remaining_unit).where(ReferenceMaterial.tag == material.tag)
        ).one()
    assert unit is not None
    left = (material.left or 0) * 0.6
    _submit(qtbot, gui, view.ask_material("consume"), remaining=f"{left} {unit}")
    with demo_db.read() as s:
        rm = s.scalars(select(ReferenceMaterial).where(ReferenceMaterial.tag == material.tag)).one()
        assert rm.remaining == left
    view.select_material(material.tag)
    dialog = view.ask_material("consume")
    assert dialog is not None
    dialog.set_value("remaining", f"{left * 2} {unit}")
    dialog.submit()
    settle(qtbot, gui.runner)
    assert dialog.isVisible()
    assert "cannot grow" in dialog.message.text()
    dialog.reject()
    window.grab().save(str(screenshot_dir / "task_materials.png"))


def _used_by_a_certificate(db: Database, tag: str) -> tuple[int, str]:
    """A completed run of a customer's item that used standard ``tag``, and its issued
    certificate (as the bench and the signatures would have left them)."""
    with db.write(actor="system:test", reason="history") as s:
        if s.get(Procedure, "jjg635") is None:
            s.add(
                Procedure(
                    id="jjg635",
                    title_zh="红外气体分析器",
                    title_en="IR gas analyzers",
                    kind=ServiceKind.VERIFICATION,
                    regulation="JJG 635-2011",
                )
            )
            s.flush()
        table = RegulationTable(procedure_id="jjg635", version="t1", sha256="a" * 64, content="")
        s.add(table)
        s.flush()
        pv = ProcedureVersion(
            procedure_id="jjg635",
            version="t1",
            source_sha256="b" * 64,
            regulation_table_id=table.id,
        )
        s.add(pv)
        s.flush()
        item = s.scalars(
            select(WorkOrderItem).where(WorkOrderItem.procedure_id == "jjg635")
        ).first()
        assert item is not None
        zhang = s.scalars(select(User).where(User.username == "zhang")).one()
        std = s.scalars(select(MeasurementStandard).where(MeasurementStandard.tag == tag)).one()
        when = datetime.now(UTC) - timedelta(days=3)
        run = Run(
            procedure_version_id=pv.id,
            operator_id=zhang.id,
            bench_name="bench-1",
            work_order_item_id=item.id,
            status=RunStatus.COMPLETED,
            started_at=when,
        )
        s.add(run)
        s.flush()
        s.add(RunResource(run_id=run.id, kind="standard", resource_id=std.id, tag=tag))
        cert = Certificate(
            number="DEMO2026-90001",
            year=2026,
            sequence=90001,
            type=CertificateType.VERIFICATION,
            run_id=run.id,
            content_sha256="c" * 64,
            customer_id=item.work_order.customer_id,
        )
        s.add(cert)
        s.flush()
        cert.status = CertificateStatus.ISSUED
        cert.issued_at = when
        s.flush()
        return run.id, cert.number


def test_out_of_service_opens_an_impact_assessment(
    qtbot: QtBot, gui: LimsApp, demo_db: Database, screenshot_dir: Path
) -> None:
    run_id, number = _used_by_a_certificate(demo_db, "STD-GAS-001")
    window = _window(qtbot, gui)
    view = window.standards
    _select(qtbot, gui, view, "STD-GAS-001")
    dialog = view.ask_finding()
    assert dialog is not None
    dialog.grab().save(str(screenshot_dir / "task_out_of_service.png"))
    _submit(
        qtbot,
        gui,
        dialog,
        finding="零点漂移超出允许误差 zero drift beyond the MPE",
        since=(TODAY - timedelta(days=30)).isoformat(),
    )
    with demo_db.read() as s:
        std = s.scalars(
            select(MeasurementStandard).where(MeasurementStandard.tag == "STD-GAS-001")
        ).one()
        assert std.status is EquipmentStatus.OUT_OF_SERVICE
    # the impact assessment is shown, with the run and the certificate that used it
    quality = window.quality
    assert window.tabs.currentWidget() is quality
    impact = quality.selected_impact()
    assert impact is not None
    assert impact.tag == "STD-GAS-001"
    assert impact.runs == (run_id,)
    assert [c.number for c in impact.certificates] == [number]
    assert quality.affected.item(0, 0).text() == number
    assert quality.affected.item(0, 1).text() == impact.certificates[0].customer != ""
    window.grab().save(str(screenshot_dir / "task_impact_assessment.png"))
    quality.affected.selectRow(0)
    quality.ask_disposition()
    _submit(
        qtbot,
        gui,
        quality.dialog,  # type: ignore[arg-type]
        disposition="revoke",
        reason="零点漂移使示值误差超差 the drift makes the error exceed the MPE",
        notified_on=TODAY.isoformat(),
        channel="phone",
        reference="QM-2026-07",
    )
    impact = quality.selected_impact()
    assert impact is not None
    assert impact.certificates[0].disposition == "revoke"
    assert impact.certificates[0].notified  # the customer's notification is recorded
    assert undecided(impact) == 0
    quality.ask_close_impact()
    quality.dialog.reason.setText("客户已通知，证书已撤销 customers told, certificate revoked")  # type: ignore[union-attr]
    quality.dialog.submit()  # type: ignore[union-attr]
    settle(qtbot, gui.runner)
    with demo_db.read() as s:
        record = s.scalars(select(ImpactAssessment)).one()
        assert record.status == "closed"
        decision = s.scalars(select(ImpactDisposition)).one()
        assert decision.disposition == "revoke"


def test_rule_override_needs_the_password(
    qtbot: QtBot, gui: LimsApp, demo_db: Database, screenshot_dir: Path
) -> None:
    run_id, _number = _used_by_a_certificate(demo_db, "STD-GAS-001")
    key = "reference_material:RM-CO2-0400"
    with demo_db.write(actor="system:test", reason="refused") as s:
        run = s.get(Run, run_id)
        assert run is not None
        run.status = RunStatus.REFUSED
        run.provenance = {"rule_failures": {key: "expired on 2026-01-01"}}
    window = _window(qtbot, gui)
    window.show_view("quality")
    settle(qtbot, gui.runner)
    quality = window.quality
    quality.inner.setCurrentIndex(1)
    assert [r.run_id for r in quality.data.refused] == [run_id]
    quality.refused.selectRow(0)
    quality.ask_override()
    dialog = quality.dialog
    assert isinstance(dialog, FormDialog)
    dialog.set_value("key", key)
    dialog.set_value("reason", "延期证明已存档 extension letter on file")
    dialog.set_value("password", "wrong-password")
    dialog.submit()
    settle(qtbot, gui.runner)
    assert dialog.isVisible()
    assert dialog.message.is_error
    dialog.grab().save(str(screenshot_dir / "task_rule_override.png"))
    _submit(qtbot, gui, dialog, password=CHEN.password)
    with demo_db.read() as s:
        ov = s.scalars(select(RuleOverride)).one()
        assert (ov.run_id, ov.rule) == (run_id, key)


def test_register_a_standard(
    qtbot: QtBot, gui: LimsApp, demo_db: Database, screenshot_dir: Path
) -> None:
    window = _window(qtbot, gui)
    view = window.standards
    dialog = view.ask_register()
    dialog.grab().save(str(screenshot_dir / "task_register_standard.png"))
    _submit(
        qtbot,
        gui,
        dialog,
        tag="STD-GAS-009",
        name_zh="二氧化碳标准装置",
        name_en="CO2 standard",
        asset_tag="EQ-GD-009",
        role="gas_dilutor",
        kind="gas_dilutor",
        description="动态配气仪 gas dilutor",
        manufacturer="Sim",
        model="GD-9",
        serial_number="GD9-0001",
    )
    assert "STD-GAS-009" in [r.tag for r in view.standards]
    with demo_db.read() as s:
        std = s.scalars(
            select(MeasurementStandard).where(MeasurementStandard.tag == "STD-GAS-009")
        ).one()
        assert [m.equipment.asset_tag for m in std.members] == ["EQ-GD-009"]
