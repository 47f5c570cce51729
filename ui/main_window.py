"""The main window: one tab per view, the user menu, the language switch, remembered layout."""

from __future__ import annotations

from typing import Protocol

from PySide6.QtCore import QSettings, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent
from PySide6.QtWidgets import QLabel, QMainWindow, QTabWidget, QWidget

from ui.context import AppContext
from ui.i18n import Lang, set_language, tr, translator
from ui.login import ChangePasswordDialog
from ui.views.bench import BenchView
from ui.views.standards import StandardsView
from ui.views.work_orders import WorkOrdersView


class View(Protocol):
    """What a main view offers the window."""

    def retranslate(self) -> None: ...

    def refresh(self) -> None: ...


class MainWindow(QMainWindow):
    """Tabs for the views; ``logged_out`` is emitted when the user logs out."""

    logged_out = Signal()

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.setObjectName("main_window")
        self.settings = QSettings(str(ctx.ui_settings_file), QSettings.Format.IniFormat)
        stored = self.settings.value("language", Lang.BILINGUAL.value)
        set_language(Lang(stored) if stored in {x.value for x in Lang} else Lang.BILINGUAL)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("tabs")
        self.standards = StandardsView(ctx)
        self.work_orders = WorkOrdersView(ctx)
        self.bench = BenchView(ctx)
        self.bench.recovery_offered.connect(lambda _n: self.tabs.setCurrentWidget(self.bench))
        self.views: list[tuple[str, QWidget]] = [
            ("tab.standards", self.standards),
            ("tab.work_orders", self.work_orders),
            ("tab.bench", self.bench),
        ]
        for _key, view in self.views:
            self.tabs.addTab(view, "")
        self.setCentralWidget(self.tabs)
        self.user_label = QLabel()
        self.statusBar().addPermanentWidget(self.user_label)
        self._build_menus()
        self.retranslate()
        self.resize(1280, 800)
        geometry = self.settings.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = self.settings.value("state")
        if state is not None:
            self.restoreState(state)
        tab = self.settings.value("tab", 0)
        self.tabs.setCurrentIndex(int(tab) if str(tab).isdigit() else 0)  # type: ignore[call-overload]

    def _build_menus(self) -> None:
        bar = self.menuBar()
        self.user_menu = bar.addMenu("")
        self.passwd_action = QAction(self)
        self.passwd_action.triggered.connect(self.change_password)
        self.logout_action = QAction(self)
        self.logout_action.triggered.connect(self.log_out)
        self.user_menu.addAction(self.passwd_action)
        self.user_menu.addAction(self.logout_action)
        self.lang_menu = bar.addMenu("")
        self.lang_group = QActionGroup(self)
        self.lang_actions: dict[Lang, QAction] = {}
        for lang in Lang:
            action = QAction(self, checkable=True)
            action.setChecked(lang is translator.lang)
            action.triggered.connect(lambda _=False, lg=lang: self.switch_language(lg))
            self.lang_group.addAction(action)
            self.lang_menu.addAction(action)
            self.lang_actions[lang] = action

    def retranslate(self) -> None:
        """Set every text in the current language, here and in every view."""
        self.setWindowTitle(tr("app.title"))
        for i, (key, view) in enumerate(self.views):
            self.tabs.setTabText(i, tr(key))
            view.retranslate()  # type: ignore[attr-defined]
        self.user_menu.setTitle(tr("menu.user"))
        self.passwd_action.setText(tr("menu.passwd"))
        self.logout_action.setText(tr("menu.logout"))
        self.lang_menu.setTitle(tr("menu.language"))
        for lang, action in self.lang_actions.items():
            action.setText(tr(f"lang.{lang.value}"))
        user = self.ctx.user
        if user is not None:
            roles = ", ".join(sorted(r.value for r in user.role_set))
            self.user_label.setText(f"{tr('status.logged_in')}: {user.full_name} ({roles})")

    def switch_language(self, lang: Lang) -> None:
        """Show every text in ``lang`` and remember the choice."""
        set_language(lang)
        self.lang_actions[lang].setChecked(True)
        self.settings.setValue("language", lang.value)
        self.retranslate()

    def refresh_all(self) -> None:
        """Reload every view's data (on worker threads)."""
        for _key, view in self.views:
            view.refresh()  # type: ignore[attr-defined]

    def change_password(self) -> None:
        """Open the change-password dialog."""
        self.passwd_dialog = ChangePasswordDialog(self.ctx, self)
        self.passwd_dialog.open()

    def save_layout(self) -> None:
        """Remember the window geometry, toolbars/docks and the current tab."""
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("state", self.saveState())
        self.settings.setValue("tab", self.tabs.currentIndex())
        self.settings.sync()

    def log_out(self) -> None:
        """Forget the user and tell the application (which shows the login and closes this)."""
        self.ctx.user = None
        self.logged_out.emit()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        """Remember the layout when the window closes (a run still going is aborted)."""
        self.bench.shutdown()
        self.save_layout()
        super().closeEvent(event)
