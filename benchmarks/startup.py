"""Time from launching the desktop application to a usable main window.

Run: ``uv run python benchmarks/startup.py [--runs N]``. A demo lab is created in a
temporary directory first (not timed). Then, N times, a fresh Python process is
launched that imports the application, creates the Qt application with the bundled
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
    from PySide6.QtWidgets import QApplication

    from lims.config import load_settings
    from lims.services.lab import open_database
    from ui.app import LimsApp, qt_application

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


def _make_demo(data_dir: Path) -> None:
    from lims.config import load_settings
    from lims.services.demo import DEMO_ADMIN, DEMO_LAB, seed_demo
    from lims.services.lab import initialize, open_database, policy_from

    s = load_settings(
        {"LIMS_DATA_DIR": str(data_dir), "LIMS_DATABASE_URL": f"sqlite:///{data_dir}/lims.sqlite3"}
    )
    db = open_database(s)
    initialize(db, s, DEMO_LAB, *DEMO_ADMIN)
    with db.write(actor="system:demo", reason="demo lab seed") as session:
        seed_demo(session, policy_from(s), date.today())
    db.dispose()


def main() -> None:
    """Print the launch-to-usable-window time of each run and their median."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
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
        _make_demo(data_dir)
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
