"""Start the desktop application: font, login, main window, log-out back to login."""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QSettings
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import QApplication, QMessageBox

import lims
from lims.config import Settings, load_settings
from lims.db import Database
from lims.logs import configure_logging
from lims.services.lab import NoLabError, open_lab
from ui.context import AppContext
from ui.i18n import Lang, set_language, tr
from ui.login import LoginDialog
from ui.main_window import MainWindow
from ui.worker import Runner

logger = logging.getLogger(__name__)

#: How long a thread may hold the interpreter lock while another waits (Python's default
#: is 5 ms): the GUI thread gets it back sooner while a run's threads are busy.
GIL_SWITCH_INTERVAL_S = 0.001

#: The bundled CJK font (the lab's machines may have none).
FONT_FILE = Path(lims.__file__).resolve().parent / "certificates" / "fonts" / "wqy-microhei.ttf"


def qt_application(argv: Sequence[str] | None = None) -> QApplication:
    """The QApplication (created once), with the bundled CJK font as the application font."""
    app = QApplication.instance()
    if app is None:
        app = QApplication(list(argv) if argv is not None else sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("carbon-lims")
    app.setOrganizationName("carbon-lims")
    font_id = QFontDatabase.addApplicationFont(str(FONT_FILE))
    families = QFontDatabase.applicationFontFamilies(font_id) if font_id >= 0 else []
    if not families:
        raise RuntimeError(f"cannot load the bundled font {FONT_FILE}")
    app.setFont(QFont(families[0], 10))
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    return app


class LimsApp(QObject):
    """The login → main window → log out → login cycle of one database."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        today: Callable[[], date] = date.today,
    ) -> None:
        super().__init__()
        self.runner = Runner(self)
        self.ctx = AppContext(db=db, settings=settings, runner=self.runner, today=today)
        self.login_dialog: LoginDialog | None = None
        self.window: MainWindow | None = None
        stored = QSettings(str(self.ctx.ui_settings_file), QSettings.Format.IniFormat).value(
            "language", Lang.BILINGUAL.value
        )
        set_language(Lang(stored) if stored in {x.value for x in Lang} else Lang.BILINGUAL)

    def start(self) -> LoginDialog:
        """Show the login dialog (non-blocking)."""
        self.login_dialog = LoginDialog(self.ctx)
        self.login_dialog.accepted.connect(self._open_window)
        self.login_dialog.show()
        return self.login_dialog

    def _open_window(self) -> None:
        self.window = MainWindow(self.ctx)
        self.window.logged_out.connect(self._logged_out)
        self.window.show()
        self.window.refresh_all()
        # Everything built so far lives as long as the window: keep it out of the
        # collector's full passes, which would otherwise stop the GUI for 100+ ms.
        gc.freeze()

    def _logged_out(self) -> None:
        old, self.window = self.window, None
        self.runner.forget_pending()  # answers for the old window would reach deleted widgets
        self.start()  # before the window closes, so the application never has no window
        if old is not None:
            old.close()
            old.deleteLater()

    def shutdown(self) -> None:
        """Wait for pending service calls, then delete the window (it saves its layout when
        it closes) while Qt still runs, not at the interpreter's exit."""
        if self.window is not None:
            self.window.close()
        self.runner.wait()
        self.runner.forget_pending()
        if self.window is not None:
            self.window.deleteLater()
            self.window = None
        QCoreApplication.processEvents()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def main(argv: Sequence[str] | None = None, settings: Settings | None = None) -> int:
    """Run the application on ``settings``' database (default: the configured one).

    Returns the exit status once the last window has closed (2 at once when there is no
    lab at the configured location: it says so and creates nothing).
    """
    app = qt_application(argv)
    settings = settings or load_settings()
    try:
        db = open_lab(settings)
    except NoLabError as exc:  # no log file either: it would live in the lab's directory
        logger.error("%s", exc)
        QMessageBox.critical(None, tr("app.no_lab"), f"{tr('app.no_lab_body')}\n\n{exc}")
        return 2
    configure_logging(settings.log_file, settings.log_level)
    lims_app = LimsApp(db, settings)
    lims_app.start()  # closing the last window (or cancelling the login) quits
    try:
        return int(app.exec())
    finally:
        lims_app.shutdown()
        db.dispose()


if __name__ == "__main__":
    sys.exit(main())
