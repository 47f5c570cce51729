"""The main window: one tab per view, the user menu, the language switch, remembered layout."""

from __future__ import annotations

from typing import Protocol

from PySide6.QtCore import QSettings, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QShowEvent
from PySide6.QtWidgets import QLabel, QMainWindow, QSplitter, QTabWidget, QWidget

from ui.context import AppContext
from ui.i18n import Lang, set_language, tr, translator
from ui.login import ChangePasswordDialog
from ui.views.bench import BenchView
from ui.views.history import HistoryView
from ui.views.regulation import RegulationView
from ui.views.review import ReviewView
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
        self.regulation = RegulationView(ctx)
        self.review = ReviewView(ctx)
        self.history = HistoryView(ctx)
        self.bench.drafted.connect(self._drafted)
        self.bench.recovery_offered.connect(lambda _n: self.tabs.setCurrentWidget(self.bench))
        self.views: list[tuple[str, QWidget]] = [
            ("tab.standards", self.standards),
            ("tab.work_orders", self.work_orders),
            ("tab.bench", self.bench),
            ("tab.review", self.review),
            ("tab.history", self.history),
            ("tab.regulation", self.regulation),
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
        self._splitters_restored = False
        tab = self.settings.value("tab", 0)
        self.tabs.setCurrentIndex(int(tab) if str(tab).isdigit() else 0)  # type: ignore[call-overload]
        self._loaded: set[int] = set()
        self.tabs.currentChanged.connect(self._tab_shown)

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
        """Load the shown view's data, and the bench's (it offers interrupted runs).

        The other views load when first shown, so the window is usable sooner.
        """
        self._loaded = {self.tabs.currentIndex()}
        self.views[self.tabs.currentIndex()][1].refresh()  # type: ignore[attr-defined]
        if self.bench is not self.tabs.currentWidget():
            self._loaded.add(self.tabs.indexOf(self.bench))
            self.bench.refresh()

    def _tab_shown(self, index: int) -> None:
        if self.ctx.user is not None and index >= 0 and index not in self._loaded:
            self._loaded.add(index)
            self.views[index][1].refresh()  # type: ignore[attr-defined]

    def _drafted(self, number: str) -> None:
        """Show the new draft in the review queue, where it is signed."""
        self.tabs.setCurrentWidget(self.review)
        self.review.pending_select = number
        self.review.refresh()

    def change_password(self) -> None:
        """Open the change-password dialog."""
        self.passwd_dialog = ChangePasswordDialog(self.ctx, self)
        self.passwd_dialog.open()

    def save_layout(self) -> None:
        """Remember the window geometry, toolbars/docks, the current tab and splitter sizes."""
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("state", self.saveState())
        self.settings.setValue("tab", self.tabs.currentIndex())
        for splitter in self._splitters():
            self.settings.setValue(f"splitter/{splitter.objectName()}", splitter.saveState())
        self.settings.sync()

    def _splitters(self) -> list[QSplitter]:
        """The views' named splitters (their sizes are part of the layout)."""
        return [w for w in self.findChildren(QSplitter) if w.objectName()]

    def log_out(self) -> None:
        """Forget the user and tell the application (which shows the login and closes this)."""
        self.ctx.user = None
        self.logged_out.emit()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt override)
        """Restore the splitters' sizes once the window is laid out."""
        super().showEvent(event)
        if not self._splitters_restored:
            self._splitters_restored = True
            for splitter in self._splitters():
                state = self.settings.value(f"splitter/{splitter.objectName()}")
                if state is not None:
                    splitter.restoreState(state)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        """Remember the layout when the window closes (a run still going is aborted)."""
        self.bench.shutdown()
        self.save_layout()
        super().closeEvent(event)
