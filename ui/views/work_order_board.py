"""The work-order status board: open work, loaded a page at a time as it comes into view."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from lims.db import Database
from lims.models.enums import ItemStatus, WorkOrderStatus
from lims.models.users import User
from lims.services.work_order_board import DEFAULT_PAGE_SIZE, BoardPage, board_page
from lims.services.work_orders import WorkOrderRow
from ui.context import AppContext
from ui.i18n import tr
from ui.widgets import AMBER, GREEN


def load_page(db: Database, actor: User, offset: int) -> BoardPage:
    """The board's page that starts at ``offset`` (open work, newest received first)."""
    with db.read() as s:
        return board_page(s, actor, offset=offset, limit=DEFAULT_PAGE_SIZE)


class BoardPanel(QGroupBox):
    """The board's tree, how much of it is loaded, and the next page on demand.

    Scrolling to the end of the loaded rows (or "Load more") loads the next page on a
    worker thread; :attr:`page_loaded` carries it to the owner, which keeps the rows.
    """

    page_loaded = Signal(object)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self._loaded = 0
        self._total = 0
        self._loading = False
        self.tree = QTreeWidget()
        self.tree.setObjectName("status_board")
        self.tree.verticalScrollBar().valueChanged.connect(self._scrolled)
        self.refresh_button = QPushButton()
        self.more_button = QPushButton()
        self.more_button.setObjectName("board_more")
        self.more_button.clicked.connect(self.load_more)
        self.shown_label = QLabel()
        bv = QVBoxLayout(self)
        bv.addWidget(self.tree)
        row = QHBoxLayout()
        row.addWidget(self.shown_label)
        row.addStretch(1)
        row.addWidget(self.more_button)
        row.addWidget(self.refresh_button)
        bv.addLayout(row)

    def retranslate(self) -> None:
        """Set the panel's own texts in the current language."""
        self.setTitle(tr("wo.board"))
        self.refresh_button.setText(tr("common.refresh"))
        self.more_button.setText(tr("wo.more"))

    def load_more(self) -> None:
        """Load the next page on a worker thread (when there is one and none is loading)."""
        if self._loading or self._loaded >= self._total:
            return
        self._loading = True
        db, actor, offset = self.ctx.db, self.ctx.actor, self._loaded

        def done(page: BoardPage) -> None:
            self._loading = False
            self.page_loaded.emit(page)

        def failed(_error: BaseException) -> None:
            self._loading = False

        self.ctx.runner.submit(lambda: load_page(db, actor, offset), done, failed)

    def _scrolled(self, value: int) -> None:
        if value >= self.tree.verticalScrollBar().maximum() > 0:
            self.load_more()  # the end of the loaded pages is in view

    def show_rows(self, rows: list[WorkOrderRow], total: int) -> None:
        """Show ``rows`` (the pages loaded so far) afresh."""
        self.tree.clear()
        self.tree.setHeaderLabels(
            [
                tr("wo.col.number"),
                f"{tr('wo.customer')} / {tr('wo.instrument')}",
                f"{tr('wo.model')} / {tr('wo.serial')}",
                tr("wo.received_on"),
                tr("wo.due_on"),
                tr("wo.service"),
                tr("std.col.status"),
                tr("wo.procedure"),
            ]
        )
        self.add_rows(rows, total, len(rows))
        for c in range(self.tree.columnCount()):
            self.tree.resizeColumnToContents(c)

    def add_rows(self, rows: list[WorkOrderRow], total: int, loaded: int) -> None:
        """Append a page's rows (the scroll position stays where it is)."""
        self._loaded, self._total = loaded, total
        today = self.ctx.today()
        for wo in rows:
            top = QTreeWidgetItem(
                [
                    wo.number,
                    wo.customer,
                    f"{len(wo.items)} × {tr('wo.col.items')}",
                    wo.received_on.isoformat(),
                    wo.due_on.isoformat() if wo.due_on else "—",
                    "",
                    tr(f"status.{wo.status.value}"),
                    "",
                ]
            )
            late = wo.due_on is not None and wo.due_on < today
            if wo.status in (WorkOrderStatus.RECEIVED, WorkOrderStatus.IN_PROGRESS) and late:
                top.setBackground(4, AMBER)
            for it in wo.items:
                child = QTreeWidgetItem(
                    [
                        f"#{it.item_id}",
                        it.description,
                        f"{it.model} {it.serial_number}",
                        "",
                        "",
                        tr(f"service.{it.service.value}"),
                        tr(f"status.{it.status.value}"),
                        it.procedure_id,
                    ]
                )
                if it.status in (ItemStatus.CERTIFIED, ItemStatus.RETURNED):
                    child.setBackground(6, GREEN)
                top.addChild(child)
            self.tree.addTopLevelItem(top)
            top.setExpanded(True)
        self.shown_label.setText(tr("wo.shown").format(shown=loaded, total=total))
        self.more_button.setEnabled(loaded < total)
