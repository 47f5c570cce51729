"""The bench cannot strand a run: Esc on every kind of prompt (confirm, value, text) leaves
it asked and answerable; closing the window during a run asks, and yes pauses the run
(offered again at the next login) instead of aborting it; automatic answers show no
prompt; another item resets the view; the live plot keeps one labelled axis per kind of
quantity, does not bridge gaps and centres the band on the current readings."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from lims.db import Database
from lims.models import Run
from lims.models.enums import RunStatus
from lims.quality.accounts import login
from lims.security import PasswordPolicy
from lims.services.demo import DEMO_USERS
from lims.services.work_orders import status_board
from lims.units import parse_quantity
from tests.ui.conftest import log_in, settle
from tests.ui.test_bench_view import BENCHES, FAST, _co2_item
from ui.app import LimsApp
from ui.main_window import MainWindow
from ui.readings import plot_point
from ui.views.bench import BenchView

ZHANG = next(u for u in DEMO_USERS if u.username == "zhang")


def _item(db: Database, procedure: str) -> int:
    user = login(db, ZHANG.username, ZHANG.password, PasswordPolicy())
    with db.read() as s:
        return next(
            it.item_id
            for wo in status_board(s, user)
            for it in wo.items
            if it.procedure_id == procedure
        )


def _bench(qtbot: QtBot, gui: LimsApp, item: int, bench: str) -> tuple[MainWindow, BenchView]:
    window = log_in(qtbot, gui, ZHANG.username, ZHANG.password)
    assert isinstance(window, MainWindow)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show_view("bench")
    settle(qtbot, gui.runner, timeout=60_000)
    view = window.bench
    view.select_item(item)
    view.select_bench(bench)
    view.preflight()
    settle(qtbot, gui.runner, timeout=60_000)
    assert view.plan is not None
    assert view.plan.ready, [str(c) for c in view.plan.checks]
    return window, view


#: Answers a person would type, in turn, for the AC pile's prompts (a refused one is
#: asked again with the next).
ANSWERS = {
    "pile.display_energy": ["0.500 kWh"] * 4,
    "pile.display_energy_after": ["10.500 kWh", "11.000 kWh", "12.000 kWh", "13.000 kWh"],
    "pile.payment_amount": ["0.60"] * 4,
    "pile.payment_amount_after": ["12.60", "13.20", "14.40", "15.60"],
    "pile.clock": ["2026-12-05 08:00:02"] * 4,
    "pile.reference_clock": ["2026-12-05 08:00:00"] * 4,
}


def test_escape_never_strands_a_prompt(
    qtbot: QtBot, gui: LimsApp, demo_db: Database, tmp_path: Path, screenshot_dir: Path
) -> None:
    # The AC pile bench without its automatic answers: every prompt is for the operator.
    text = (BENCHES / "ac-pile.toml").read_text(encoding="utf-8")
    manual = tmp_path / "ac-pile-manual.toml"
    manual.write_text(text[: text.index("[auto]")], encoding="utf-8")
    window, view = _bench(qtbot, gui, _item(demo_db, "jjg1148-ac-pile"), "ac-pile.toml")
    view.bench.addItem("manual AC pile", str(manual))
    view.select_bench(str(manual))
    view.preflight()
    settle(qtbot, gui.runner, timeout=60_000)
    assert view.plan is not None
    assert view.plan.ready
    assert not view.auto_keys
    view.auto.setChecked(False)
    view.start_run(time_scale=FAST)
    panel = view.prompt_panel
    given = {k: iter(v) for k, v in ANSWERS.items()}
    escaped: set[int] = set()
    kinds: set[str] = set()
    asked_to_close = 0
    deadline = time.monotonic() + 240
    while view.session is not None and (view.session.running or not view.session.events.empty()):
        assert time.monotonic() < deadline, "the run did not finish in time"
        qtbot.wait(20)
        p = panel.prompt
        if p is None:
            continue
        if p.prompt_id not in escaped:
            escaped.add(p.prompt_id)
            kinds.add(p.kind)
            focus = QApplication.focusWidget() or panel
            qtbot.keyClick(focus, Qt.Key.Key_Escape)
            qtbot.keyClick(window, Qt.Key.Key_Escape)
            qtbot.wait(30)
            assert panel.prompt is p  # still asked, still answerable
            assert panel.isVisible()
            if not asked_to_close:
                shot = screenshot_dir / "bench_prompt_panel.png"
                window.grab().save(str(shot))
                view.confirm = lambda _t, _x: False  # type: ignore[assignment]
                window.close()  # ✕ during the run: asked, and "no" keeps everything
                asked_to_close += 1
                assert window.isVisible()
                assert view.session.running
        if p.kind == "confirm":
            assert panel.submit()
        else:
            panel.value.setText(next(given[p.key]))
            assert panel.submit(), panel.message.text()
    view.drain()
    assert kinds == {"confirm", "value", "text"}
    assert asked_to_close == 1
    assert view.status is RunStatus.COMPLETED, view.status_reason
    assert not panel.isVisible()
    assert view.banner.isVisible()  # the overall verdict
    assert view.results_table.rowCount() == len(view.lines) > 0
    window.grab().save(str(screenshot_dir / "bench_ac_pile_done.png"))


def test_auto_answers_show_no_prompt_and_another_item_resets(
    qtbot: QtBot, gui: LimsApp, demo_db: Database, screenshot_dir: Path
) -> None:
    window, view = _bench(qtbot, gui, _co2_item(demo_db), "gas-analyzer.toml")
    assert {"gas.analyzer_ready", "gas.zero_gas_connected"} <= view.auto_keys
    view.auto.setChecked(True)
    view.start_run(time_scale=FAST)
    shown: list[str] = []
    deadline = time.monotonic() + 240
    while view.session is not None and (view.session.running or not view.session.events.empty()):
        assert time.monotonic() < deadline
        qtbot.wait(20)
        if view.prompt_panel.prompt is not None:
            shown.append(view.prompt_panel.prompt.key)
            view.prompt_panel.value.setText("21.5 degC")
            view.prompt_panel.submit()
    view.drain()
    assert view.status is RunStatus.COMPLETED, view.status_reason
    assert not [k for k in shown if k in view.auto_keys]
    assert view.draft_button.isEnabled()
    assert view.banner.isVisible()
    # the overall verdict: any fail fails; results without a statement do not count
    stated = {ln.verdict.value for ln in view.lines} - {"not_stated"}
    assert view.banner.verdict is not None
    expected = "fail" if "fail" in stated else "pass" if stated == {"pass"} else None
    if expected is not None:
        assert view.banner.verdict.value == expected
    assert "indication.sample" not in view.live.legend.text()  # names, not keys
    headers = [view.results_table.horizontalHeaderItem(c).text() for c in range(7)]
    assert headers[1].startswith("标准值")
    assert headers[6].startswith("结论")
    assert any(view.results_table.item(r, 1).text() for r in range(view.results_table.rowCount()))
    # plot: µmol/mol readings on their own labelled axis
    live = view.live
    labels = [p.plot.getAxis("left").labelText for p in live.panels.values()]
    assert "含量 fraction (µmol/mol)" in labels
    window.grab().save(str(screenshot_dir / "bench_results.png"))

    # another item: nothing of the finished run stays, the draft cannot be made for it
    others = [view.item.itemData(i) for i in range(view.item.count())]
    view.select_item(next(i for i in others if i != _co2_item(demo_db)))
    assert view.plan is None
    assert view.results_table.rowCount() == 0
    assert not view.banner.isVisible()
    assert not view.draft_button.isEnabled()
    assert not view.start_button.isEnabled()
    assert view.steps.count() == 0
    assert view.live.readings == 0


def test_closing_during_a_run_pauses_it(qtbot: QtBot, gui: LimsApp, demo_db: Database) -> None:
    window, view = _bench(qtbot, gui, _co2_item(demo_db), "gas-analyzer.toml")
    view.auto.setChecked(True)
    view.start_run(time_scale=100.0)
    qtbot.waitUntil(lambda: view.status is RunStatus.RUNNING, timeout=60_000)
    assert view.session is not None
    qtbot.waitUntil(lambda: view.session.handle is not None, timeout=60_000)
    run_id = view.session.handle.run_id  # type: ignore[union-attr]
    asked: list[str] = []
    view.confirm = lambda title, _t: asked.append(title) or True  # type: ignore[assignment]
    window.close()
    assert asked
    assert not window.isVisible()

    def paused() -> bool:
        with demo_db.read() as s:
            run = s.get(Run, run_id)
            return run is not None and run.status is RunStatus.PAUSED

    qtbot.waitUntil(paused, timeout=60_000)  # never aborted
    view.session.abort()  # end the test's run thread (the process would end here)
    view.session.join(30)


def test_live_plot_axes_gaps_and_band(qtbot: QtBot, screenshot_dir: Path) -> None:
    from ui.app import qt_application
    from ui.live_plot import LivePlot

    qt_application()  # the bundled CJK font
    plot = LivePlot()
    qtbot.addWidget(plot)
    plot.resize(900, 700)
    plot.reset("ampere", None, 0.05, 5)
    seq = 0
    currents = [10.0, 10.2, 9.9, 10.1, 10.05, 10.0, 9.95]
    for step, values in (("s1", currents), ("s2", [20.0, 20.1, 19.9])):
        for a in values:
            seq += 1
            for q, v in (
                ("current", f"{a} A"),
                ("voltage", "220.1 V"),
                ("energy", f"{seq / 100} kWh"),
                ("pulses", str(seq * 3)),
            ):
                p = plot_point(q, seq, parse_quantity(v), "ampere", step)
                assert p is not None
                plot.add(p)
    plot.redraw()
    labels = {k: p.plot.getAxis("left").labelText for k, p in plot.panels.items()}
    assert len(plot.panels) == 4  # A, V, kWh and a count: one axis each
    assert sorted(labels.values()) == sorted(
        ["电流 current (A)", "电压 voltage (V)", "电能 energy (kWh)", "计数 count"]
    )
    xs, ys = list(plot.curves["current"].xs), list(plot.curves["current"].ys)
    breaks = [i for i, y in enumerate(ys) if math.isnan(y)]
    assert len(breaks) == 1  # between the two steps, not bridged
    assert xs[breaks[0]] == len(currents) + 0.5
    # the band: around the mean of the current step's last 5 readings (only 3 so far)
    assert plot.band_centre() == pytest.approx((20.0 + 20.1 + 19.9) / 3)
    assert plot.band_region is not None
    low, high = plot.band_region
    assert (low + high) / 2 == pytest.approx((20.0 + 20.1 + 19.9) / 3)
    assert high - low == pytest.approx(0.1)
    plot.grab().save(str(screenshot_dir / "live_plot_axes.png"))
