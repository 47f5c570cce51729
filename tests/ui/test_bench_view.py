"""The bench view: preflight, a complete gas-analyzer run on the simulated bench with the
operator prompts answered in dialogs, the live plot, the results table, and the GUI
event-loop latency while readings stream in (printed: maximum and p99)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pytestqt.qtbot import QtBot

from lims.config import Settings
from lims.db import Database
from lims.models import Run
from lims.models.enums import RunStatus
from lims.quality.accounts import login
from lims.quality.standards import take_out_of_service
from lims.security import PasswordPolicy
from lims.services.demo import DEMO_USERS
from lims.services.work_orders import status_board
from tests.ui.conftest import log_in, settle
from tests.ui.latency import LatencyProbe
from ui.app import LimsApp
from ui.i18n import STRINGS
from ui.main_window import MainWindow
from ui.views.bench import BenchView
from ui.widgets import GREEN, RED

ZHANG = next(u for u in DEMO_USERS if u.username == "zhang")
CHEN = next(u for u in DEMO_USERS if u.username == "chen")
ROOT = Path(__file__).resolve().parents[2]
BENCHES = ROOT / "examples" / "benches"
#: Simulated seconds per wall second for the test run (the bench file says 120).
FAST = 3000.0


def _co2_item(db: Database) -> int:
    user = login(db, ZHANG.username, ZHANG.password, PasswordPolicy())
    with db.read() as s:
        return next(
            it.item_id
            for wo in status_board(s, user)
            for it in wo.items
            if it.procedure_id == "jjg635"
        )


def _open_bench(qtbot: QtBot, gui: LimsApp, db: Database) -> BenchView:
    window = log_in(qtbot, gui, ZHANG.username, ZHANG.password)
    assert isinstance(window, MainWindow)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.tabs.setCurrentWidget(window.bench)
    settle(qtbot, gui.runner)  # the bench loads its benches when first shown
    view = window.bench
    view.select_item(_co2_item(db))
    view.select_bench("gas-analyzer.toml")
    settle(qtbot, gui.runner)
    view.preflight()
    settle(qtbot, gui.runner, timeout=60_000)
    return view


def test_preflight_red_when_a_standard_is_out_of_service(
    qtbot: QtBot, gui: LimsApp, demo_db: Database
) -> None:
    chen = login(demo_db, CHEN.username, CHEN.password, PasswordPolicy())
    with demo_db.write(actor=chen, reason="leak") as s:
        take_out_of_service(s, chen, "STD-GAS-001", "稀释器漏气 dilutor leaks")
    view = _open_bench(qtbot, gui, demo_db)
    plan = view.plan
    assert plan is not None
    assert not plan.ready
    bad = [c for c in plan.checks if not c.ok]
    assert [c.what for c in bad] == ["计量标准 standard STD-GAS-001"]
    assert "out_of_service" in bad[0].reason or "停用" in bad[0].reason
    texts = [view.checks.item(i) for i in range(view.checks.count())]
    red = [t for t in texts if t.background().color() == RED]
    assert len(red) == 1
    assert "STD-GAS-001" in red[0].text()
    assert not view.start_button.isEnabled()


def test_preflight_red_when_the_environment_is_outside_the_limits(
    qtbot: QtBot, gui: LimsApp, demo_db: Database, tmp_path: Path
) -> None:
    # The same bench in a damp room: JJG 635's table allows at most 80 % humidity.
    text = (BENCHES / "gas-analyzer.toml").read_text(encoding="utf-8")
    assert 'humidity = "45 %"' in text
    damp = tmp_path / "damp-gas-analyzer.toml"
    damp.write_text(text.replace('humidity = "45 %"', 'humidity = "92 %"'), encoding="utf-8")
    window = log_in(qtbot, gui, ZHANG.username, ZHANG.password)
    assert isinstance(window, MainWindow)
    qtbot.addWidget(window)
    view = window.bench
    view.bench.addItem(damp.name, str(damp))
    view.select_item(_co2_item(demo_db))
    view.select_bench(damp.name)
    view.preflight()
    settle(qtbot, gui.runner, timeout=60_000)
    plan = view.plan
    assert plan is not None
    bad = [c for c in plan.checks if not c.ok]
    assert len(bad) == 1, [str(c) for c in plan.checks]
    assert bad[0].what.startswith("环境条件 environment")
    assert "humidity" in bad[0].reason
    assert "80" in bad[0].reason  # the limit is named
    red = [
        view.checks.item(i)
        for i in range(view.checks.count())
        if view.checks.item(i).background().color() == RED
    ]
    assert len(red) == 1
    assert "humidity" in red[0].text()
    assert not view.start_button.isEnabled()


def test_gas_analyzer_run_with_prompts_and_latency(
    qtbot: QtBot, gui: LimsApp, demo_db: Database, screenshot_dir: Path
) -> None:
    view = _open_bench(qtbot, gui, demo_db)
    plan = view.plan
    assert plan is not None
    assert plan.ready, [str(c) for c in plan.checks]
    assert all(
        view.checks.item(i).background().color() == GREEN for i in range(view.checks.count())
    )
    assert view.start_button.isEnabled()
    env = [c for c in plan.checks if c.what.startswith("环境条件 environment")]
    assert len(env) == 1
    assert "temperature" in env[0].what  # read from the bench's monitor at preflight

    probe = LatencyProbe()
    probe.start()
    view.auto.setChecked(False)  # every prompt is a dialog for the operator
    view.start_run(time_scale=FAST)
    answered: list[str] = []
    refused_once = False
    deadline = time.monotonic() + 240
    while view.session is not None and (view.session.running or not view.session.events.empty()):
        assert time.monotonic() < deadline, "the run did not finish in time"
        qtbot.wait(20)
        panel = view.prompt_panel
        p = panel.prompt
        if p is not None:
            assert panel.isVisible()
            if p.kind == "value":
                if not refused_once:
                    panel.value.setText("21.5 bananas")
                    assert not panel.submit()
                    assert panel.prompt is p  # still asked
                    assert "bananas" in panel.message.text()
                    refused_once = True
                panel.value.setText(f"21.5 {p.unit}")
            assert panel.submit()
            answered.append(p.key)
    probe.stop()
    view.drain()
    assert view.status is RunStatus.COMPLETED, view.status_reason
    assert refused_once
    assert {"gas.analyzer_ready", "gas.zero_gas_connected"} <= set(answered)
    assert view.readings > 0
    assert view.curves
    assert view.progress.value() == len(plan.steps)
    assert view.results_table.rowCount() == len(view.results) > 0
    verdicts = {r.verdict for r in view.results}
    assert "pass" in verdicts
    window = view.window()
    window.grab().save(str(screenshot_dir / "bench.png"))

    report = probe.report()
    print(f"\nGUI event-loop latency during the run ({view.readings} readings): {report.line()}")
    assert report.samples > 10  # the probe ran during the run


def test_interrupted_run_offered_and_resumed(
    qtbot: QtBot, gui: LimsApp, demo_db: Database, lab_settings: Settings, tmp_path: Path
) -> None:
    # A headless run on the simulated bench, killed once its first step has finished.
    pw = tmp_path / "pw"
    pw.write_text(ZHANG.password + "\n", encoding="utf-8")
    item_id = _co2_item(demo_db)
    env = {
        **os.environ,
        "LIMS_DATA_DIR": str(lab_settings.data_dir),
        "LIMS_DATABASE_URL": lab_settings.database_url,
        "PYTHONUNBUFFERED": "1",
    }
    command = [
        sys.executable,
        "-m",
        "lims.cli.main",
        "run",
        "jjg635",
        "--bench",
        str(BENCHES / "gas-analyzer.toml"),
        "--item",
        str(item_id),
        "--operator",
        "zhang",
        "--password-file",
        str(pw),
        "--auto",
        "--json-stream",
    ]
    out: list[str] = []
    with subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            out.append(line)
            if "step_finished" in line:
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert "step_finished" in out[-1], "".join(out)

    window = log_in(qtbot, gui, ZHANG.username, ZHANG.password)
    assert isinstance(window, MainWindow)
    qtbot.addWidget(window)
    view = window.bench
    assert window.tabs.currentWidget() is view  # the offer is shown at start-up
    assert view.recovery_box.isVisible()
    assert len(view.interrupted) == 1
    run = view.interrupted[0]
    assert run.last_completed_step == "setup"
    view.recover()
    settle(qtbot, gui.runner, timeout=60_000)
    assert view.plan is not None
    assert view.plan.resume_run_id == run.run_id
    assert view.plan.ready
    view.auto.setChecked(True)
    view.start_run(time_scale=FAST)
    deadline = time.monotonic() + 240
    while view.session is not None and (view.session.running or not view.session.events.empty()):
        assert time.monotonic() < deadline, "the resumed run did not finish in time"
        qtbot.wait(20)
    view.drain()
    assert view.status is RunStatus.COMPLETED, view.status_reason
    with demo_db.read() as s:
        assert s.get(Run, run.run_id).status is RunStatus.COMPLETED  # type: ignore[union-attr]
    assert any(r.verdict == "pass" for r in view.results)


def test_pause_resume_abort(qtbot: QtBot, gui: LimsApp, demo_db: Database) -> None:
    view = _open_bench(qtbot, gui, demo_db)
    view.auto.setChecked(True)
    view.start_run(time_scale=200.0)  # slow enough to catch it mid-run
    qtbot.waitUntil(lambda: view.status is RunStatus.RUNNING, timeout=60_000)
    qtbot.waitUntil(lambda: view.pause_button.isEnabled(), timeout=10_000)
    view.pause_button.click()
    qtbot.waitUntil(lambda: view.status is RunStatus.PAUSED, timeout=60_000)
    assert view.resume_button.isEnabled()
    assert not view.pause_button.isEnabled()
    view.resume_button.click()
    qtbot.waitUntil(lambda: view.status is RunStatus.RUNNING, timeout=60_000)
    asked: list[str] = []

    def answer(answer: bool) -> object:
        return lambda title, _text: asked.append(title) or answer

    view.confirm = answer(False)  # type: ignore[assignment]
    view.abort_button.click()  # asked, and the operator says no: the run goes on
    assert asked == [" ".join(STRINGS["bench.abort.title"])]
    qtbot.wait(300)
    assert view.session is not None
    assert view.session.running
    view.confirm = answer(True)  # type: ignore[assignment]
    view.abort_button.click()
    qtbot.waitUntil(lambda: view.session is not None and not view.session.running, timeout=60_000)
    view.drain()
    assert view.status is RunStatus.ABORTED, view.status_reason
    assert view.session is not None
    assert view.session.handle is not None
    with demo_db.read() as s:
        run = s.get(Run, view.session.handle.run_id)
        assert run is not None
        assert run.status is RunStatus.ABORTED
    assert not view.abort_button.isEnabled()
    assert view.start_button.isEnabled()


def test_preflight_shows_the_plan_with_each_parameters_source(
    qtbot: QtBot, gui: LimsApp, demo_db: Database
) -> None:
    """The desktop shows the frozen plan as ``lims run --plan`` prints it."""
    from lims.services.planning.describe import describe_plan

    view = _open_bench(qtbot, gui, demo_db)
    plan = view.plan
    assert plan is not None
    shown = [view.plan_lines.item(i).text() for i in range(view.plan_lines.count())]
    described = describe_plan(plan.planned)
    assert shown[: len(described.heading)] == list(described.heading)
    assert plan.planned.plan.sha256[:16] in shown[0]
    for p in plan.planned.plan.parameters:
        line = next(t for t in shown if t.startswith(f"{p.name} = "))
        assert p.source.text.zh in line
        assert p.source.text.en in line
