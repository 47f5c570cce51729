"""The application starts on a real X11 server (Xvfb), not only on Qt's offscreen platform:
the system libraries Qt's xcb platform needs are present, the login and the main window
show, and a screenshot is taken from the X server's screen."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

from lims.config import Settings
from lims.db import Database
from lims.services.demo import DEMO_USERS
from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[2]
ZHANG = next(u for u in DEMO_USERS if u.username == "zhang")


def _start_xvfb() -> tuple[subprocess.Popen[bytes], str]:
    """An Xvfb server on a free display (Xvfb picks it and writes its number to a pipe)."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        why = "Xvfb is not installed (apt-get install xvfb)"
        if IN_CI:
            pytest.fail(f"CI=true: {why}")
        pytest.skip(why)
    read, write = os.pipe()
    proc = subprocess.Popen(
        [xvfb, "-displayfd", str(write), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    if not number:
        proc.kill()
        pytest.fail("Xvfb did not report a display number")
    return proc, f":{number}"


def test_the_application_starts_under_a_real_x_server(
    demo_db: Database, lab_settings: Settings, screenshot_dir: Path
) -> None:
    xvfb, display = _start_xvfb()
    shot = screenshot_dir / "x11_main_window.png"
    shot.unlink(missing_ok=True)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")
    }
    env.update({"DISPLAY": display, "QT_QPA_PLATFORM": "xcb", "PYTHONUNBUFFERED": "1"})
    try:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.ui.x11_child",
                str(lab_settings.data_dir),
                ZHANG.username,
                ZHANG.password,
                str(shot),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        xvfb.terminate()
        xvfb.wait(10)
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["platform"] == "xcb"
    assert report["visible"]
    assert report["screen"] == [1280, 1024]
    image = QImage(str(shot))
    assert (image.width(), image.height()) == tuple(report["window"])
    # a real picture of the window: many colours, not one flat fill
    colours = {image.pixel(x, y) for x in range(0, image.width(), 37) for y in range(0, 300, 11)}
    assert len(colours) > 5
