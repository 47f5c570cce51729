"""The home page: what waits for the signed-in user, one tile per topic with its count.

The topics and counts come from :func:`lims.services.home.home_summary` (the permission
matrix decides which a user gets); a tile opens the view where the work is done. The
counts refresh when the page is shown and every :data:`REFRESH_MS` while it is.
"""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from lims.services.home import HomeCount, HomeSettings, HomeTopic, home_summary
from ui.context import AppContext
from ui.i18n import tr
from ui.widgets import MessageLine

#: How often the counts refresh while the home page is shown.
REFRESH_MS = 30_000

#: Where each topic's work is done: the main window's view key (see MainWindow.VIEWS).
TARGETS: dict[HomeTopic, str] = {
    HomeTopic.MY_ITEMS: "bench",
    HomeTopic.MY_RUNS: "bench",
    HomeTopic.INTERRUPTED_RUNS: "bench",
    HomeTopic.REJECTED_DRAFTS: "history",
    HomeTopic.AWAITING_SIGNATURE: "review",
    HomeTopic.STANDARDS_OVERDUE: "standards",
    HomeTopic.STANDARDS_DUE: "standards",
    HomeTopic.FAILED_CHECKS: "standards",
    HomeTopic.MATERIALS_EXPIRED: "materials",
    HomeTopic.MATERIALS_DUE: "materials",
    HomeTopic.MATERIALS_LOW: "materials",
    HomeTopic.OPEN_INCIDENTS: "quality",
    HomeTopic.OPEN_IMPACTS: "quality",
    HomeTopic.TABLES_TO_RELEASE: "regulation",
    HomeTopic.AUDIT_EVENTS: "audit",
    HomeTopic.CERTIFICATES_ISSUED: "history",
    HomeTopic.ACTIVE_USERS: "users",
    HomeTopic.LOCKED_USERS: "users",
}

_URGENT = "QPushButton { background: #f4b4b4; border: 1px solid #b00020; text-align: left; }"
_CALM = "QPushButton { background: #eef3f8; border: 1px solid #b0bec5; text-align: left; }"
_ZERO = "QPushButton { background: #f5f5f5; border: 1px solid #d0d0d0; text-align: left; }"


class HomeView(QWidget):
    """Tiles of counts; ``navigate`` is emitted with the view key a tile leads to."""

    navigate = Signal(str)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("home_view")
        self.counts: list[HomeCount] = []
        self.tiles: dict[HomeTopic, QPushButton] = {}
        self.loaded_at: datetime | None = None
        self.box = QGroupBox()
        self.grid = QGridLayout(self.box)
        self.grid.setSpacing(10)
        self.empty = QLabel()
        self.refresh_button = QPushButton()
        self.refresh_button.setObjectName("home_refresh")
        self.refresh_button.clicked.connect(self.refresh)
        self.updated = QLabel()
        self.message = MessageLine()
        top = QHBoxLayout()
        top.addWidget(self.updated, 1)
        top.addWidget(self.refresh_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.box)
        layout.addWidget(self.empty)
        layout.addWidget(self.message)
        layout.addStretch(1)
        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self._tick)
        self.timer.start()
        self.retranslate()

    def retranslate(self) -> None:
        """Set every text in the current language."""
        self.box.setTitle(tr("home.title"))
        self.refresh_button.setText(tr("home.refresh"))
        self.empty.setText(tr("home.nothing"))
        self._show()

    def _tick(self) -> None:
        if self.isVisible() and self.ctx.user is not None:
            self.refresh()

    def refresh(self) -> None:
        """Count again on a worker thread."""
        if self.ctx.user is None:
            return
        db, user, today = self.ctx.db, self.ctx.actor, self.ctx.today()
        settings = self.ctx.settings
        cfg = HomeSettings(settings.due_warning_days, settings.low_stock_percent)
        self.ctx.runner.submit(
            lambda: home_summary(db, user, today, cfg),
            self._loaded,
            lambda exc: self.message.error(str(exc)),
        )

    def _loaded(self, counts: list[HomeCount]) -> None:
        self.counts = counts
        self.loaded_at = datetime.now()
        self.message.clear_message()
        self._show()

    def count(self, topic: HomeTopic) -> int | None:
        """The last count of ``topic`` (None when the user does not get it)."""
        return next((c.count for c in self.counts if c.topic is topic), None)

    def _show(self) -> None:
        for tile in self.tiles.values():
            self.grid.removeWidget(tile)
            tile.deleteLater()
        self.tiles.clear()
        for i, c in enumerate(self.counts):
            tile = QPushButton(f"{c.count}\n{tr(f'home.{c.topic.value}')}")
            tile.setObjectName(f"home_{c.topic.value}")
            tile.setMinimumHeight(72)
            tile.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            font = tile.font()
            font.setPointSize(font.pointSize() + 2)
            tile.setFont(font)
            tile.setStyleSheet(_URGENT if c.urgent else _CALM if c.count else _ZERO)
            tile.setCursor(Qt.CursorShape.PointingHandCursor)
            target = TARGETS[c.topic]
            tile.clicked.connect(lambda _=False, t=target: self.navigate.emit(t))
            self.grid.addWidget(tile, i // 3, i % 3)
            self.tiles[c.topic] = tile
        self.empty.setVisible(self.loaded_at is not None and not any(c.count for c in self.counts))
        if self.loaded_at is not None:
            self.updated.setText(f"{tr('home.updated')} {self.loaded_at:%H:%M:%S}")
