"""Small shared widgets: a message line, colours for due dates, table helpers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QDialog,
    QGraphicsView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from lims.units import UnitParseError, display_unit, parse_unit

if TYPE_CHECKING:
    #: Base of a mixin that a QWidget subclass takes in: to the type checker the mixin is a
    #: QWidget (it may pass ``self`` as a parent); at run time it is a plain class, so the
    #: view that mixes it in stays a single QWidget.
    WidgetMixin = QWidget
else:
    WidgetMixin = object


def short_unit(unit: str | None) -> str:
    """A stored unit as people write it (``micromole / mole`` → ``µmol/mol``)."""
    if not unit:
        return ""
    try:
        return display_unit(parse_unit(unit))
    except UnitParseError:
        return unit


#: Background colours of due dates.
RED = QColor("#f4b4b4")
AMBER = QColor("#ffd98a")
GREEN = QColor("#bfe5bf")

#: Within this many days a due date is shown amber.
DUE_SOON_DAYS = 30


def due_colour(days_left: int | None, soon: int = DUE_SOON_DAYS) -> QColor:
    """Red when overdue (or nothing valid), amber when due within ``soon`` days, else green."""
    if days_left is None or days_left < 0:
        return RED
    if days_left <= soon:
        return AMBER
    return GREEN


def due_state(days_left: int | None) -> str:
    """``overdue``, ``due_soon`` or ``ok``: the meaning of :func:`due_colour`."""
    if days_left is None or days_left < 0:
        return "overdue"
    if days_left <= DUE_SOON_DAYS:
        return "due_soon"
    return "ok"


class MessageLine(QLabel):
    """One line that shows an error (red) or a confirmation (green)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.is_error = False

    def error(self, text: str) -> None:
        """Show ``text`` as an error."""
        self.is_error = True
        self.setStyleSheet("color: #b00020; font-weight: bold;")
        self._show(text)

    def info(self, text: str) -> None:
        """Show ``text`` as a confirmation."""
        self.is_error = False
        self.setStyleSheet("color: #1b5e20;")
        self._show(text)

    def _show(self, text: str) -> None:
        self.setText(text)
        dialog = self.window()
        if isinstance(dialog, QDialog):  # a dialog grows with its message, never cuts it
            dialog.adjustSize()

    def clear_message(self) -> None:
        """Show nothing."""
        self.is_error = False
        self.setText("")


def fill_table(
    table: QTableWidget, headers: Sequence[str], rows: Sequence[Sequence[object]]
) -> None:
    """Replace a table's contents (read-only cells)."""
    table.setSortingEnabled(False)
    table.clear()
    table.setColumnCount(len(headers))
    table.setHorizontalHeaderLabels(list(headers))
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            item = QTableWidgetItem("" if value is None else str(value))
            table.setItem(r, c, item)
    table.resizeColumnsToContents()


def drop_export_menu(plot: QGraphicsView) -> None:
    """Remove pyqtgraph's "Export..." context action (its dialog is English only)."""
    scene: Any = plot.scene()  # pyqtgraph's GraphicsScene (untyped), which holds the actions
    for action in getattr(scene, "contextMenu", []):
        action.setParent(None)  # out of the widget tree now; freed with the list
    scene.contextMenu = []
