"""The standards and reference-materials view on the demo lab, with dates made to fall due."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from lims.db import Database
from lims.models.enums import EquipmentStatus
from lims.models.users import User
from lims.quality.accounts import login
from lims.quality.standards import (
    calibration_history,
    get_standard,
    record_external_certificate,
    record_intermediate_check,
    take_out_of_service,
)
from lims.security import PasswordPolicy
from lims.services.demo import DEMO_USERS
from lims.services.materials import ReferenceMaterialInput, receive_reference_material
from lims.units import Q_
from tests.ui.conftest import TODAY, log_in, settle
from ui.app import LimsApp
from ui.main_window import MainWindow
from ui.widgets import AMBER, GREEN, RED

CHEN = next(u for u in DEMO_USERS if u.username == "chen")
#: The demo's standards: certificates valid 245 days, last check 30 days ago, every 180 days.
CHECK_DUE = TODAY - timedelta(days=30) + timedelta(days=180)
#: Intermediate checks recorded on STD-GAS-001: (days before today, measured) at nominal 400.
CHECKS = [(150, 400.8), (120, 399.5), (90, 400.3), (60, 401.1), (20, 399.9)]


@pytest.fixture
def chen(demo_db: Database) -> User:
    return login(demo_db, CHEN.username, CHEN.password, PasswordPolicy())


@pytest.fixture
def due_lab(demo_db: Database, chen: User, tmp_path: Path) -> Database:
    """The demo lab with the flow standard due in 10 days, the EA standard 3 days overdue,
    a cylinder expiring in 20 days and five intermediate checks of the gas standard."""
    with demo_db.write(actor=chen, reason="test set-up") as s:
        record_external_certificate(
            s,
            chen,
            tmp_path,
            equipment_asset_tag="STD-FLOW-01",
            issuer="NIM",
            number="NIM-SHORT-1",
            calibrated_on=TODAY - timedelta(days=5),
            issued_on=TODAY - timedelta(days=4),
            valid_until=TODAY + timedelta(days=10),
        )
        old = calibration_history(s, chen, "STD-EA-001")[0]
        record_external_certificate(
            s,
            chen,
            tmp_path,
            equipment_asset_tag="STD-BAL-01",
            issuer="NIM",
            number="NIM-OLD-2",
            calibrated_on=TODAY - timedelta(days=370),
            issued_on=TODAY - timedelta(days=365),
            valid_until=TODAY - timedelta(days=3),
            replaces_id=old.id,
        )
        for days, measured in CHECKS:
            record_intermediate_check(
                s,
                chen,
                "STD-GAS-001",
                performed_on=TODAY - timedelta(days=days),
                quantity="CO2 400",
                nominal=Q_(400.0, "umol/mol"),
                measured=Q_(measured, "umol/mol"),
                limit=Q_(2.0, "umol/mol"),
            )
        receive_reference_material(
            s,
            ReferenceMaterialInput(
                tag="RM-CO2-0800",
                gbw_number="GBW(E)062150",
                name="氮中二氧化碳 CO2 in N2",
                component="CO2",
                certified=Q_(800.0, "umol/mol"),
                expanded_uncertainty=Q_(8.0, "umol/mol"),
                coverage_factor=2.0,
                received_on=TODAY - timedelta(days=300),
                expires_on=TODAY + timedelta(days=20),
            ),
        )
    return demo_db


def _colour_of(days: int) -> object:
    # The view's rule, restated: overdue red, within 30 days amber, else green.
    return RED if days < 0 else AMBER if days <= 30 else GREEN


def _row(table: object, tag: str) -> int:
    for r in range(table.rowCount()):  # type: ignore[attr-defined]
        if table.item(r, 0).text() == tag:  # type: ignore[attr-defined]
            return r
    raise AssertionError(f"{tag} not in the table")


def test_standards_view_shows_due_dates_history_chart_and_changes_status(
    qtbot: QtBot, gui: LimsApp, due_lab: Database, chen: User, screenshot_dir: Path
) -> None:
    window = log_in(qtbot, gui, CHEN.username, CHEN.password)
    assert isinstance(window, MainWindow)
    qtbot.addWidget(window)
    window.show_view("standards")  # a view loads when first shown
    settle(qtbot, gui.runner)
    view = window.standards
    table = view.table
    expected_days = {
        # its newest check is the last of CHECKS
        "STD-GAS-001": min(245, 180 - CHECKS[-1][0]),
        "STD-EV-001": min(245, (CHECK_DUE - TODAY).days),
        "STD-FLOW-001": 10,
        "STD-EA-001": -3,
    }
    assert table.rowCount() == 5
    for tag, days in expected_days.items():
        r = _row(table, tag)
        assert table.item(r, 4).text() == str(days)
        assert table.item(r, 4).background().color() == _colour_of(days)
    assert {_colour_of(d).name() for d in expected_days.values()} == {
        RED.name(),
        AMBER.name(),
        GREEN.name(),
    }

    mt = view.materials_table
    r = _row(mt, "RM-CO2-0800")
    assert mt.item(r, 8).text() == "20"
    assert mt.item(r, 8).background().color() == AMBER
    assert mt.item(_row(mt, "RM-CO2-0400"), 8).background().color() == GREEN

    # Detail: the certificate history and the control chart of the five checks.
    view.select("STD-GAS-001")
    settle(qtbot, gui.runner)
    assert view.detail is not None
    assert view.detail.tag == "STD-GAS-001"
    assert view.history.rowCount() == 2  # dilutor and environment monitor
    chart = view.chart.chart
    assert chart is not None
    devs = [m - 400.0 for _d, m in CHECKS]
    mean = sum(devs) / len(devs)
    assert [p.deviation for p in chart.points] == pytest.approx(devs)
    assert chart.centre == pytest.approx(mean)
    sd = (sum((d - mean) ** 2 for d in devs) / (len(devs) - 1)) ** 0.5
    assert chart.upper_control == pytest.approx(mean + 3 * sd)
    window.resize(1280, 800)
    qtbot.wait(100)  # the chart (created at first use) and the detail laid out
    window.grab().save(str(screenshot_dir / "standards.png"))
    view.inner.setCurrentIndex(1)
    qtbot.wait(50)
    window.grab().save(str(screenshot_dir / "reference_materials.png"))
    view.inner.setCurrentIndex(0)

    # Out of service: an empty reason is refused inline and nothing changes.
    view.ask_status_change(out=True)
    dlg = view.reason_dialog
    assert dlg is not None
    assert dlg.isVisible()
    dlg.submit()
    assert dlg.message.is_error
    assert gui.runner.pending == 0
    with due_lab.read() as s:
        assert get_standard(s, "STD-GAS-001").status is EquipmentStatus.ACTIVE
    dlg.reason.setText("稀释器漏气 dilutor leaks")
    dlg.submit()
    settle(qtbot, gui.runner)
    assert not dlg.isVisible()
    with due_lab.read() as s:
        std = get_standard(s, "STD-GAS-001")
        assert std.status is EquipmentStatus.OUT_OF_SERVICE
        assert std.status_reason == "稀释器漏气 dilutor leaks"
    assert "STD-GAS-001" in view.message.text()


def test_back_in_service_refused_with_the_services_reason(
    qtbot: QtBot, gui: LimsApp, due_lab: Database, chen: User
) -> None:
    with due_lab.write(actor=chen, reason="balance drifted") as s:
        take_out_of_service(s, chen, "STD-EA-001", "balance drifted")
    window = log_in(qtbot, gui, CHEN.username, CHEN.password)
    assert isinstance(window, MainWindow)
    qtbot.addWidget(window)
    window.show_view("standards")  # a view loads when first shown
    settle(qtbot, gui.runner)
    view = window.standards
    view.select("STD-EA-001")
    settle(qtbot, gui.runner)
    view.ask_status_change(out=False)
    dlg = view.reason_dialog
    assert dlg is not None
    dlg.reason.setText("recalibrated")
    dlg.submit()
    settle(qtbot, gui.runner)
    assert dlg.isVisible()
    assert dlg.message.is_error
    expired = (TODAY - timedelta(days=3)).isoformat()
    assert f"expired on {expired}" in dlg.message.text()
    with due_lab.read() as s:
        assert get_standard(s, "STD-EA-001").status is EquipmentStatus.OUT_OF_SERVICE
