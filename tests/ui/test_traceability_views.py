"""The interval, comparison and budget views over the services, with screenshots."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from lims.calc import Coverage, Distribution, type_b_half_width, uncertainty_budget
from lims.config import Settings, sqlite_url_for
from lims.db import Database
from lims.db.migrate import upgrade
from lims.models import IntermediateCheck, IntervalDecision, Result, Role
from lims.quality.comparisons import ComparisonInput, ParticipantResult, record_comparison
from lims.units import Q_
from tests.calc.legacy_budgets import budget_record
from tests.quality._build import SYSTEM, Lab, add_run, add_standard, build_lab
from ui.context import AppContext
from ui.views.budget import BudgetView
from ui.views.comparisons import ComparisonsView
from ui.views.intervals import IntervalsView
from ui.worker import Runner

from .conftest import settle

T0 = date(2025, 1, 1)
TODAY = T0 + timedelta(days=330)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[Database, Settings, Lab, int]]:
    settings = Settings(data_dir=tmp_path / "data", database_url=sqlite_url_for(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    db = Database(settings.database_url)
    upgrade(db.engine)
    built = build_lab(db, [Role.QUALITY_MANAGER, Role.TECHNICIAN])
    with db.write(actor=SYSTEM, reason="fixture") as s:
        std_id, _ = add_standard(s, "STD-FLOW-001", "FLOW-01")
        for i, d in enumerate(range(0, 330, 30)):
            s.add(
                IntermediateCheck(
                    standard_id=std_id,
                    performed_on=T0 + timedelta(days=d),
                    quantity="flow at 10 m³/h",
                    nominal=10.0,
                    measured=10.0 + 0.00008 * d + (0.002 if i % 3 == 0 else -0.001),
                    limit=0.05,
                    unit="meter ** 3 / hour",
                    passed=True,
                )
            )
        run = add_run(s, built, TODAY, ["STD-FLOW-001"])
        for point, hw in (("q 4 m³/h", 0.25), ("q 16 m³/h", 0.02)):
            b = uncertainty_budget(
                Q_(0.31, "percent"),
                [
                    type_b_half_width(
                        "流量标准装置 flow standard", Q_(hw, "percent"), Distribution.RECTANGULAR
                    ),
                    type_b_half_width(
                        "重复性 repeatability", Q_(0.05, "percent"), Distribution.NORMAL, k=1.0
                    ),
                ],
                measurand="E",
                coverage=Coverage.fixed(2.0),
            )
            s.add(
                Result(
                    run_id=run, item="error", test_point=point, values={}, budget=budget_record(b)
                )
            )
    qm = built.users[Role.QUALITY_MANAGER]
    with db.write(actor=qm, reason="PT") as s:
        record_comparison(
            s,
            qm,
            ComparisonInput(
                kind="proficiency_test",
                scheme="CNAS T0456",
                round_code="2025-A",
                measurand="CO2 in N2",
                unit="µmol/mol",
                performed_on=T0 + timedelta(days=100),
                reference=ParticipantResult("NIM", 1000.0, 2.0),
                results=(
                    ParticipantResult("本室 us", 1003.0, 4.0, own_lab=True),
                    ParticipantResult("Lab B", 1009.0, 3.0),
                ),
                sigma_pt=2.0,
            ),
        )
    try:
        yield db, settings, built, run
    finally:
        db.dispose()


def _ctx(db: Database, settings: Settings, lab_: Lab, role: Role) -> AppContext:
    from ui.app import qt_application

    qt_application()  # the bundled CJK font
    return AppContext(db, settings, Runner(), lab_.users[role], lambda: TODAY)


def _shot(view: object, qtbot: QtBot, path: Path) -> None:
    view.resize(1280, 820)  # type: ignore[attr-defined]
    view.show()  # type: ignore[attr-defined]
    qtbot.waitExposed(view)
    view.grab().save(str(path))  # type: ignore[attr-defined]
    assert path.stat().st_size > 10_000


def test_intervals_view_plots_and_accepts(
    qtbot: QtBot, lab: tuple[Database, Settings, Lab, int], screenshot_dir: Path
) -> None:
    db, settings, built, _run = lab
    tech_view = IntervalsView(_ctx(db, settings, built, Role.TECHNICIAN))
    qtbot.addWidget(tech_view)
    tech_view.refresh()
    settle(qtbot, tech_view.ctx.runner)
    assert not tech_view.accept_button.isEnabled()  # a technician may not accept
    view = IntervalsView(_ctx(db, settings, built, Role.QUALITY_MANAGER))
    qtbot.addWidget(view)
    view.tag.setText("STD-FLOW-001")
    view.refresh()
    settle(qtbot, view.ctx.runner)
    assert len(view.proposals) == 1
    proposal = view.proposals[0]
    assert proposal.proposed_due is not None
    assert view.table.item(0, 6).text() == proposal.proposed_due.isoformat()
    assert len(view.plot.listDataItems()) >= 5  # data, U bars, fit, bounds, limits
    _shot(view, qtbot, screenshot_dir / "intervals_view.png")
    view.reason.setText("x")
    view.accept_selected()
    assert view.message.is_error
    view.reason.setText("drift analysis of 2025 checks")
    view.accept_selected()
    settle(qtbot, view.ctx.runner)
    assert not view.message.is_error, view.message.text()
    with db.read() as s:
        decision = s.scalars(select(IntervalDecision)).one()
        assert decision.next_due == proposal.proposed_due


def test_comparisons_view(
    qtbot: QtBot, lab: tuple[Database, Settings, Lab, int], screenshot_dir: Path
) -> None:
    db, settings, built, _run = lab
    view = ComparisonsView(_ctx(db, settings, built, Role.TECHNICIAN))
    qtbot.addWidget(view)
    view.refresh()
    settle(qtbot, view.ctx.runner)
    assert view.table.rowCount() == 1
    assert view.results.rowCount() == 2
    # our En = 3/√(4² + 2²) = 0.67; Lab B's z = 9/2 = 4.5
    assert view.results.item(0, 4).text() == f"{3 / (4**2 + 2**2) ** 0.5:+.2f}"
    assert view.results.item(1, 5).text() == "+4.50"
    assert view.results.item(1, 7).text() == "unsatisfactory"
    _shot(view, qtbot, screenshot_dir / "comparisons_view.png")


def test_budget_view_with_mcm(
    qtbot: QtBot, lab: tuple[Database, Settings, Lab, int], screenshot_dir: Path
) -> None:
    db, settings, built, run = lab
    view = BudgetView(_ctx(db, settings, built, Role.TECHNICIAN))
    qtbot.addWidget(view)
    view.show_run(run)
    settle(qtbot, view.ctx.runner)
    assert view.point.count() == 2
    assert view.table.rowCount() == 4  # two components, u_c, U
    assert view.table.item(0, 2).text() == "均匀 rectangular"
    view.run_mcm()
    settle(qtbot, view.ctx.runner, timeout=60_000)
    assert "差异超出容差 differs beyond δ" in view.mcm.text()
    _shot(view, qtbot, screenshot_dir / "budget_view.png")
    view.run.setValue(run + 100)
    view.refresh()
    settle(qtbot, view.ctx.runner)
    assert view.message.is_error
