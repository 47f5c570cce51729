"""Child process of the X11 start-up test: the application on a real X server.

``python -m tests.ui.x11_child DATA_DIR USER PASSWORD SCREENSHOT`` opens the application
on the demo lab in DATA_DIR with the platform Qt picks from the environment (the test
sets ``QT_QPA_PLATFORM=xcb`` and the ``DISPLAY`` of its own Xvfb), logs in, waits until the
main window has loaded, grabs the window from the X server's screen into SCREENSHOT and
prints one JSON line: the platform, the window's size and the screen's geometry.
"""

from __future__ import annotations

import json
import sys
import time

from PySide6.QtWidgets import QApplication


def main(data_dir: str, username: str, password: str, screenshot: str) -> int:
    """Open, log in, screenshot, close; the exit status is 0 when everything was shown."""
    from lims.config import load_settings
    from lims.services.lab import open_database
    from ui.app import LimsApp, qt_application

    app = qt_application()
    settings = load_settings(
        {"LIMS_DATA_DIR": data_dir, "LIMS_DATABASE_URL": f"sqlite:///{data_dir}/lims.sqlite3"}
    )
    db = open_database(settings)
    lims_app = LimsApp(db, settings)
    dialog = lims_app.start()
    dialog.username.setText(username)
    dialog.password.setText(password)
    dialog.try_login()
    deadline = time.monotonic() + 60
    while lims_app.window is None or lims_app.runner.pending:
        if time.monotonic() > deadline:
            print(json.dumps({"error": "the main window did not load in 60 s"}))
            return 1
        app.processEvents()
        time.sleep(0.01)
    window = lims_app.window
    window.resize(1200, 800)
    for _ in range(50):  # let the window manager-less X server map and paint it
        app.processEvents()
        time.sleep(0.02)
    screen = window.screen()
    shot = screen.grabWindow(window.winId())
    shot.save(screenshot)
    geometry = screen.geometry()
    print(
        json.dumps(
            {
                "platform": QApplication.platformName(),
                "window": [window.width(), window.height()],
                "screen": [geometry.width(), geometry.height()],
                "shot": [shot.width(), shot.height()],
                "visible": window.isVisible(),
            }
        )
    )
    lims_app.shutdown()
    db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
