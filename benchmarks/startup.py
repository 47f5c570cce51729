"""Start-up: the command line's commands and the desktop application, on a grown lab.

Run: ``uv run python benchmarks/startup.py [--runs N] [--work-orders W] [--no-gui]``. A demo
lab is created in a temporary directory first, with W more open work orders (default
10 000, received through the work-order service in batches; not timed).

**Command line.** N rounds, each launching every measured command once in a fresh process
(interleaved: a drift of the machine's load hits every command alike): ``python -c
"import sqlalchemy"`` (the yardstick), ``lims --version``, ``lims --help``, ``lims
certificate list`` and ``lims work-order list`` (both log in: argon2 at its production
cost), and ``lims certificate list`` again identified by a session (``lims login`` once
before the rounds: no argon2; the session lasts 30 minutes). The figure is the whole
process, ``Popen`` to exit, measured by this process; medians are printed with their ratio
to the yardstick.

**Board.** The work-order board's first page and the whole open board, loaded in this
process from the grown lab (median of N).

**Desktop application.** N times, a fresh Python process is
launched that imports the application (as ``lims gui`` does: without the cycle collector,
``lims.cli.start_up``), creates the Qt application with the bundled
CJK font, logs in (technician ``zhang``, argon2 at its production cost), builds and
shows the main window, and waits until every view has loaded its data from the
database through the worker threads. The figure is wall-clock time measured by this
parent process from ``Popen`` to the moment the child reports the window usable; the
child also reports its phases. The Qt platform is ``offscreen`` unless
``QT_QPA_PLATFORM`` is set.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _child(data_dir: str, username: str, password: str) -> None:
    marks = {"process": time.perf_counter()}
    from lims.cli import start_up

    start_up.begin()  # as `lims gui` starts: its imports without the cycle collector
    from PySide6.QtWidgets import QApplication

    from lims.config import load_settings
    from lims.services.lab import open_database
    from ui.app import LimsApp, qt_application

    start_up.end()
    marks["imports"] = time.perf_counter()
    app = qt_application()
    settings = load_settings(
        {"LIMS_DATA_DIR": data_dir, "LIMS_DATABASE_URL": f"sqlite:///{data_dir}/lims.sqlite3"}
    )
    db = open_database(settings)
    lims_app = LimsApp(db, settings)
    dialog = lims_app.start()
    marks["login_shown"] = time.perf_counter()
    dialog.username.setText(username)
    dialog.password.setText(password)
    dialog.try_login()
    while lims_app.window is None or lims_app.runner.pending:
        app.processEvents()
        QApplication.sendPostedEvents()
        time.sleep(0.001)
    app.processEvents()
    marks["usable"] = time.perf_counter()
    done_wall = time.time()
    base = marks["process"]
    phases = {k: round((v - base) * 1000, 1) for k, v in marks.items()}
    print(json.dumps({"done_wall": done_wall, "phases_ms": phases}))
    lims_app.shutdown()
    db.dispose()


def _make_demo(data_dir: Path, work_orders: int) -> None:
    from lims.config import load_settings
    from lims.models import User
    from lims.models.enums import ServiceKind
    from lims.services.demo import DEMO_ADMIN, DEMO_LAB, seed_demo
    from lims.services.lab import initialize, open_database, policy_from
    from lims.services.work_orders import InstrumentInput, ReceiptInput, receive_instruments
    from lims.units import Q_

    s = load_settings(
        {"LIMS_DATA_DIR": str(data_dir), "LIMS_DATABASE_URL": f"sqlite:///{data_dir}/lims.sqlite3"}
    )
    db = open_database(s)
    initialize(db, s, DEMO_LAB, *DEMO_ADMIN)
    with db.write(actor="system:demo", reason="demo lab seed") as session:
        seed_demo(session, policy_from(s), date.today())
    today = date.today()
    done = 0
    while done < work_orders:
        with db.write(actor="system:benchmark", reason="work orders received") as session:
            zhang = session.query(User).filter_by(username="zhang").one()
            for i in range(done, min(done + 500, work_orders)):
                items = tuple(
                    InstrumentInput(
                        kind="gas_analyzer",
                        description="CO2 analyzer",
                        manufacturer="Sim",
                        model="CA",
                        serial_number=f"BM-{i}-{k}",
                        service=ServiceKind.VERIFICATION,
                        procedure_id="jjg635",
                        range_min=Q_(0, "umol/mol"),
                        range_max=Q_(2000, "umol/mol"),
                    )
                    for k in range(1 + i % 3)
                )
                customer = f"客户 Customer {i % 200:03d}"
                receive_instruments(
                    session, zhang, ReceiptInput(customer, today, None, items), today
                )
            done = min(done + 500, work_orders)
    db.dispose()


def _whole_process(argv: list[str], env: dict[str, str]) -> float:
    """Seconds from launching ``argv`` to its exit (it must succeed; no terminal)."""
    start = time.perf_counter()
    subprocess.run(argv, env=env, capture_output=True, check=True, stdin=subprocess.DEVNULL)
    return time.perf_counter() - start


def _cli(data_dir: Path, runs: int, password: str) -> None:
    lims_script = Path(sys.executable).with_name("lims")
    lims_cmd = [str(lims_script)]
    if not lims_script.exists():
        lims_cmd = [sys.executable, "-m", "lims.cli.main"]
    pw = data_dir / "pw"
    pw.write_text(password + "\n", encoding="utf-8")
    env = {
        **os.environ,
        "LIMS_DATA_DIR": str(data_dir),
        "LIMS_DATABASE_URL": f"sqlite:///{data_dir}/lims.sqlite3",
    }
    login = ["--user", "zhang", "--password-file", str(pw)]
    subprocess.run([*lims_cmd, "login", *login], env=env, capture_output=True, check=True)
    commands = {
        "python -c 'import sqlalchemy'": [sys.executable, "-c", "import sqlalchemy"],
        "lims --version": [*lims_cmd, "--version"],
        "lims --help": [*lims_cmd, "--help"],
        "lims certificate list": [*lims_cmd, "certificate", "list", *login],
        "lims work-order list": [*lims_cmd, "work-order", "list", *login],
        "lims certificate list (session)": [*lims_cmd, "certificate", "list", "--user", "zhang"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, argv in commands.items():
            times[name].append(_whole_process(argv, env))
    base = statistics.median(times["python -c 'import sqlalchemy'"])
    print(f"command line, whole process, median of {runs} interleaved rounds:")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:<32}{median * 1000:8.0f} ms   ×{median / base:5.2f} of import sqlalchemy")


def _board(data_dir: Path, runs: int) -> None:
    from lims.db import Database
    from lims.models import User
    from lims.services.work_order_board import board_page
    from lims.services.work_orders import status_board

    db = Database(f"sqlite:///{data_dir}/lims.sqlite3")
    page_s: list[float] = []
    all_s: list[float] = []
    with db.read() as s:
        zhang = s.query(User).filter_by(username="zhang").one()
        for _ in range(runs):
            start = time.perf_counter()
            page = board_page(s, zhang)
            page_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            everything = status_board(s, zhang)
            all_s.append(time.perf_counter() - start)
    db.dispose()
    print(
        f"board of {page.total} open work orders: first page ({len(page.rows)}) "
        f"{statistics.median(page_s) * 1000:.1f} ms, all {len(everything)} "
        f"{statistics.median(all_s) * 1000:.0f} ms (median of {runs})"
    )


def main() -> None:
    """Print the launch-to-usable-window time of each run and their median."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work-orders", type=int, default=10_000, help="open work orders added")
    parser.add_argument("--no-gui", action="store_true", help="skip the desktop application")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    from lims.services.demo import DEMO_USERS

    user = next(u for u in DEMO_USERS if u.username == "zhang")
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "demo"
        data_dir.mkdir()
        _make_demo(data_dir, args.work_orders)
        _cli(data_dir, args.runs, user.password)
        _board(data_dir, args.runs)
        if args.no_gui:
            return
        totals: list[float] = []
        shown: list[float] = []
        print(f"platform: {env['QT_QPA_PLATFORM']}; runs: {args.runs}")
        for i in range(args.runs):
            start = time.time()
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(data_dir), user.username, user.password],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            report = json.loads(out.stdout.strip().splitlines()[-1])
            total = (report["done_wall"] - start) * 1000
            totals.append(total)
            phases = ", ".join(f"{k} {v:.0f}" for k, v in report["phases_ms"].items())
            shown.append(report["phases_ms"]["login_shown"])
            print(f"run {i + 1}: launch → usable main window {total:.0f} ms  (child: {phases} ms)")
        print(f"median launch → usable main window: {statistics.median(totals):.0f} ms")
        print(f"median process start → login dialog shown: {statistics.median(shown):.0f} ms")


if __name__ == "__main__":
    main()
