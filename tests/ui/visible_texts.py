"""Every text a person can see in a window, and the internal keys that must never be among
them: the stored values of the enumerations in :mod:`lims.models.enums` (``not_stated``,
``out_of_service``, ``quality_manager`` …) and the role names."""

from __future__ import annotations

import enum
import html
import re

from PySide6.QtWidgets import (
    QAbstractButton,
    QComboBox,
    QGroupBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QMainWindow,
    QTableWidget,
    QTabWidget,
    QTreeWidget,
    QWidget,
)

import lims.models.enums as model_enums
from lims.models.enums import Role

_TAGS = re.compile(r"<[^>]+>")
_BASES = (enum.Enum, enum.StrEnum, enum.IntEnum)


def internal_values() -> set[str]:
    """Every stored enum value of lims.models.enums, and the role names."""
    values: set[str] = {r.value for r in Role}
    for obj in vars(model_enums).values():  # defined there, or re-exported from lims.vocabulary
        if isinstance(obj, type) and issubclass(obj, enum.Enum) and obj not in _BASES:
            values |= {str(m.value) for m in obj}
    return values


def visible_texts(window: QWidget) -> dict[str, str]:
    """What a person can read in ``window`` now: titles, labels, buttons, tabs, tables,
    trees, lists, combo boxes' choices, line edits' texts and placeholders, menus."""
    out: dict[str, str] = {"window title": window.windowTitle()}

    def shown(w: QWidget) -> bool:
        return w.isVisibleTo(window) or w is window

    for w in window.findChildren(QWidget):
        if not shown(w):
            continue
        name = f"{type(w).__name__} {w.objectName() or id(w)}"
        if isinstance(w, QLabel):
            out[name] = html.unescape(_TAGS.sub(" ", w.text()))
        elif isinstance(w, QAbstractButton):
            out[name] = w.text()
        elif isinstance(w, QGroupBox):
            out[name] = w.title()
        elif isinstance(w, QLineEdit):
            out[name] = f"{w.text()} {w.placeholderText()}"
        elif isinstance(w, QComboBox):
            for i in range(w.count()):
                out[f"{name}[{i}]"] = w.itemText(i)
        elif isinstance(w, QTabWidget):
            for i in range(w.count()):
                out[f"{name} tab {i}"] = w.tabText(i)
        elif isinstance(w, QTableWidget):
            for c in range(w.columnCount()):
                h = w.horizontalHeaderItem(c)
                out[f"{name} header {c}"] = h.text() if h is not None else ""
                for r in range(w.rowCount()):
                    item = w.item(r, c)
                    out[f"{name} [{r},{c}]"] = item.text() if item is not None else ""
        elif isinstance(w, QTreeWidget):
            header = w.headerItem()
            for c in range(w.columnCount()):
                out[f"{name} header {c}"] = header.text(c)
            for i in range(w.topLevelItemCount()):
                top = w.topLevelItem(i)
                for c in range(w.columnCount()):
                    out[f"{name} {i}.{c}"] = top.text(c)
                for j in range(top.childCount()):
                    for c in range(w.columnCount()):
                        out[f"{name} {i}.{j}.{c}"] = top.child(j).text(c)
        elif isinstance(w, QListWidget):
            for i in range(w.count()):
                out[f"{name} {i}"] = w.item(i).text()
    if isinstance(window, QMainWindow):
        for action in window.menuBar().actions():
            out[f"menu {action.text()}"] = action.text()
            menu = action.menu()
            for sub in menu.actions() if menu is not None else []:  # type: ignore[union-attr]
                out[f"menu item {id(sub)}"] = sub.text()
    return {k: v for k, v in out.items() if v and v.strip()}


def leaked_keys(window: QWidget) -> dict[str, str]:
    """Visible texts that show an internal key as a word of their own (empty when none).

    A value written with ``_`` or ``.`` (``out_of_service``) is never a word people use;
    one-word values (``pass``, ``draft``) are English words too, so they count only
    where no English is shown (the Chinese mode: run with :func:`leaked_in_chinese`).
    """
    found: dict[str, str] = {}
    identifiers = [v for v in internal_values() if "_" in v or "." in v]
    for where, text in visible_texts(window).items():
        for v in identifiers:
            if re.search(rf"(?<![\w.]){re.escape(v)}(?![\w])", text):
                found[where] = f"{v!r} in {text!r}"
    return found


_SEGMENTS = re.compile(r"[:：·,;()（）|\n—]")


def leaked_in_chinese(window: QWidget) -> dict[str, str]:
    """In the Chinese mode: also a one-word internal value standing as a text or a part of
    one (between separators: a status ``draft``, ``状态: pass``). Names stored in both
    languages (``Gas analyzer verification standard``) are data, not keys, and pass."""
    found = leaked_keys(window)
    words = {v for v in internal_values() if "_" not in v and "." not in v}
    for where, text in visible_texts(window).items():
        for segment in _SEGMENTS.split(text):
            if segment.strip() in words:
                found[where] = f"{segment.strip()!r} in {text!r}"
    return found
