"""The main window: one tab per view (enabled by the permission matrix, a tooltip saying why
not), the user menu, the language switch, remembered layout."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QSettings, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence, QShowEvent
from PySide6.QtWidgets import QLabel, QMainWindow, QSplitter, QTabWidget

from lims.quality.permissions import Permission
from ui.access import refusal, roles_text
from ui.context import AppContext
from ui.i18n import Lang, set_language, tr, translator
from ui.login import ChangePasswordDialog
from ui.views.audit import AuditView
from ui.views.bench import BenchView
from ui.views.history import HistoryView
from ui.views.home import HomeView
from ui.views.quality import QualityView
from ui.views.records import RecordsView
from ui.views.regulation import RegulationView
from ui.views.review import ReviewView
from ui.views.standards import StandardsView
from ui.views.users import UsersView
from ui.views.work_orders import WorkOrdersView

P = Permission


#: A main view; each offers the window ``retranslate()`` and ``refresh()``.
View = (
    HomeView
    | BenchView
    | WorkOrdersView
    | ReviewView
    | HistoryView
    | StandardsView
    | RegulationView
    | RecordsView
    | QualityView
    | AuditView
    | UsersView
)


@dataclass(frozen=True)
class ViewSpec:
    """A tab: its key, its title's text key and the permissions that open it (any of)."""

    key: str
    title: str
    needs: tuple[Permission, ...]


#: The tabs in order. A tab whose permissions the user lacks is disabled, with the reason.
VIEWS = (
    ViewSpec("home", "tab.home", ()),
    ViewSpec("bench", "tab.bench", (P.RUN_PROCEDURE,)),
    ViewSpec("work_orders", "tab.work_orders", (P.VIEW_RECORDS,)),
    ViewSpec("review", "tab.review", (P.SIGN_PERFORMED, P.SIGN_REVIEWED, P.SIGN_APPROVED)),
    ViewSpec("history", "tab.history", (P.VIEW_RECORDS,)),
    ViewSpec("standards", "tab.standards", (P.VIEW_RECORDS,)),
    ViewSpec("regulation", "tab.regulation", (P.VIEW_RECORDS,)),
    ViewSpec("records", "tab.records", (P.VIEW_RECORDS,)),
    ViewSpec("quality", "tab.quality", (P.RECORD_FINDING, P.CLOSE_INCIDENT)),
    ViewSpec("audit", "tab.audit", (P.REVIEW_AUDIT,)),
    ViewSpec("users", "tab.users", (P.MANAGE_USERS, P.MANAGE_AUTHORIZATIONS)),
)


def mnemonic(text: str, letter: str) -> str:
    """``text`` with an Alt+``letter`` mnemonic: ``&User`` in English, ``用户(&U)`` otherwise."""
    if translator.lang is Lang.EN:
        i = text.lower().find(letter.lower())
        return f"{text[:i]}&{text[i:]}" if i >= 0 else f"{text} (&{letter})"
    return f"{text} (&{letter.upper()})"


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
        self.home = HomeView(ctx)
        self.standards = StandardsView(ctx)
        self.work_orders = WorkOrdersView(ctx)
        self.bench = BenchView(ctx)
        self.regulation = RegulationView(ctx)
        self.review = ReviewView(ctx)
        self.history = HistoryView(ctx)
        self.quality = QualityView(ctx)
        self.audit = AuditView(ctx)
        self.users = UsersView(ctx)
        self.records = RecordsView(ctx)
        self.by_key: dict[str, View] = {
            "home": self.home,
            "bench": self.bench,
            "work_orders": self.work_orders,
            "review": self.review,
            "history": self.history,
            "standards": self.standards,
            "regulation": self.regulation,
            "records": self.records,
            "quality": self.quality,
            "audit": self.audit,
            "users": self.users,
        }
        self.bench.drafted.connect(self._drafted)
        self.bench.recovery_offered.connect(lambda _n: self.show_view("bench"))
        self.home.navigate.connect(self.show_view)
        self.standards.impact_opened.connect(self._impact_opened)
        self.work_orders.registered.connect(self.bench.refresh)
        self.views: list[tuple[str, View]] = [(s.title, self.by_key[s.key]) for s in VIEWS]
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
        index = int(str(tab)) if str(tab).isdigit() else 0
        self.tabs.setCurrentIndex(index if self.tabs.isTabEnabled(index) else 0)
        self._loaded: set[int] = set()
        self.tabs.currentChanged.connect(self._tab_shown)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        self.user_menu = bar.addMenu("")
        self.passwd_action = QAction(self)
        self.passwd_action.triggered.connect(self.change_password)
        self.logout_action = QAction(self)
        self.logout_action.setShortcut(QKeySequence("Ctrl+Shift+Q"))
        self.logout_action.triggered.connect(self.log_out)
        self.user_menu.addAction(self.passwd_action)
        self.user_menu.addAction(self.logout_action)
        self.view_menu = bar.addMenu("")
        self.view_actions: list[QAction] = []
        for i, spec in enumerate(VIEWS):
            action = QAction(self)
            if i < 10:  # Ctrl+1 … Ctrl+0
                action.setShortcut(QKeySequence(f"Ctrl+{(i + 1) % 10}"))
            action.triggered.connect(lambda _=False, k=spec.key: self.show_view(k))
            self.view_menu.addAction(action)
            self.view_actions.append(action)
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
        user = self.ctx.user
        for i, (spec, (_key, view)) in enumerate(zip(VIEWS, self.views, strict=True)):
            self.tabs.setTabText(i, tr(spec.title))
            reason = refusal(user, spec.needs) if spec.needs else None
            self.tabs.setTabEnabled(i, reason is None)
            self.tabs.setTabToolTip(i, reason or "")
            self.view_actions[i].setText(tr(spec.title))
            self.view_actions[i].setEnabled(reason is None)
            view.retranslate()
        self.user_menu.setTitle(mnemonic(tr("menu.user"), "u"))
        self.view_menu.setTitle(mnemonic(tr("menu.view"), "v"))
        self.passwd_action.setText(mnemonic(tr("menu.passwd"), "p"))
        self.logout_action.setText(mnemonic(tr("menu.logout"), "o"))
        self.lang_menu.setTitle(mnemonic(tr("menu.language"), "l"))
        for lang, action in self.lang_actions.items():
            action.setText(tr(f"lang.{lang.value}"))
        if user is not None:
            self.user_label.setText(
                f"{tr('status.logged_in')}: {user.full_name} ({roles_text(user)})"
            )

    def switch_language(self, lang: Lang) -> None:
        """Show every text in ``lang`` and remember the choice."""
        set_language(lang)
        self.lang_actions[lang].setChecked(True)
        self.settings.setValue("language", lang.value)
        self.retranslate()

    def show_view(self, key: str) -> None:
        """Bring the view ``key`` to the front (``materials``: the reference-material stock)."""
        if key == "materials":
            self.standards.inner.setCurrentIndex(1)
            key = "standards"
        view = self.by_key[key]
        index = self.tabs.indexOf(view)
        if self.tabs.isTabEnabled(index):
            self.tabs.setCurrentIndex(index)

    def refresh_all(self) -> None:
        """Load the shown view's data, and the bench's (it offers interrupted runs).

        The other views load when first shown, so the window is usable sooner.
        """
        self._loaded = {self.tabs.currentIndex()}
        self.views[self.tabs.currentIndex()][1].refresh()
        bench = self.tabs.indexOf(self.bench)
        if self.bench is not self.tabs.currentWidget() and self.tabs.isTabEnabled(bench):
            self.bench.refresh(benches=False)  # the benches load when the bench is shown

    def _tab_shown(self, index: int) -> None:
        if self.ctx.user is None or index < 0:
            return
        view = self.views[index][1]
        # what waits for someone is counted again whenever it is looked at
        again = (self.home, self.review, self.quality, self.users)
        if index not in self._loaded or view in again:
            self._loaded.add(index)
            view.refresh()

    def _impact_opened(self, impact_id: int) -> None:
        """Show the impact assessment a finding has just opened."""
        self.quality.pending_impact = impact_id
        self.show_view("quality")
        self.quality.refresh()

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
        """Forget the user and tell the application (which shows the login and closes this).

        A run still going is paused first (after the operator confirms), never aborted.
        """
        if not self.bench.confirm_leave():
            return
        self.bench.shutdown()
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
        """Ask before closing during a run (the run is paused, never aborted); save the layout."""
        if not self.bench.confirm_leave():
            event.ignore()
            return
        self.bench.shutdown()
        self.save_layout()
        super().closeEvent(event)
