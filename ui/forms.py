"""A form dialog for the quality and account tasks: labelled fields, the work done on a
worker thread, the service's refusal shown inline (the dialog stays open), sized to its
text.

Fields are described by :class:`Field`; :meth:`FormDialog.values` gives their values
(text as typed, a combo's data, a multi-choice's checked data). The work receives the
values and returns what ``on_done`` gets; any exception it raises is shown as one line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from ui.context import AppContext
from ui.i18n import tr
from ui.widgets import MessageLine

_ERROR_STYLE = "border: 2px solid #b00020;"


class FormError(ValueError):
    """A value typed in a form that cannot be used; ``key`` names the field."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class Field:
    """One field: its key, its label's text key and how it is entered."""

    key: str
    label: str
    kind: str = "text"  # text, password, date, combo, multi
    choices: Sequence[tuple[str, Any]] = field(default=())
    default: str = ""
    placeholder: str = ""
    required: bool = True


def parse_day(values: dict[str, Any], key: str) -> date | None:
    """The date typed in field ``key`` (None when empty); FormError when it is no date."""
    text = str(values.get(key) or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise FormError(key, f"{text!r}: {tr('history.bad_date')}") from None


class FormDialog(QDialog):
    """Fields, a message line and OK/Cancel; OK runs the work, which may refuse."""

    def __init__(
        self,
        ctx: AppContext,
        title: str,
        fields: Sequence[Field],
        work: Callable[[dict[str, Any]], Any],
        on_done: Callable[[Any], None],
        parent: QWidget | None = None,
        *,
        intro: str = "",
        ok_text: str = "",
    ) -> None:
        super().__init__(parent)
        self.setObjectName("form_dialog")
        self.setWindowTitle(title)
        self.ctx = ctx
        self.work = work
        self.on_done = on_done
        self.fields = list(fields)
        self.widgets: dict[str, QWidget] = {}
        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        for f in self.fields:
            widget = self._widget(f)
            widget.setObjectName(f"field_{f.key}")
            self.widgets[f.key] = widget
            label = QLabel(tr(f.label) + ("" if f.required else f" ({tr('form.optional')})"))
            form.addRow(label, widget)
        self.intro = QLabel(intro)
        self.intro.setWordWrap(True)
        self.intro.setVisible(bool(intro))
        self.message = MessageLine()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText(ok_text or tr("common.ok"))
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setText(tr("common.cancel"))
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(560)

    @staticmethod
    def _widget(f: Field) -> QWidget:
        if f.kind == "combo":
            combo = QComboBox()
            for text, data in f.choices:
                combo.addItem(text, data)
            if f.default:
                combo.setCurrentIndex(max(0, combo.findData(f.default)))
            return combo
        if f.kind == "multi":
            box = QWidget()
            row = QHBoxLayout(box)
            row.setContentsMargins(0, 0, 0, 0)
            for text, data in f.choices:
                check = QCheckBox(text)
                check.setProperty("choice", data)
                check.setChecked(data == f.default)
                row.addWidget(check)
            row.addStretch(1)
            return box
        line = QLineEdit(f.default)
        if f.kind == "password":
            line.setEchoMode(QLineEdit.EchoMode.Password)
        line.setPlaceholderText(f.placeholder or ("YYYY-MM-DD" if f.kind == "date" else ""))
        return line

    def set_value(self, key: str, value: Any) -> None:
        """Fill field ``key`` (text, a combo's data, or a multi-choice's list of data)."""
        w = self.widgets[key]
        if isinstance(w, QLineEdit):
            w.setText(str(value))
        elif isinstance(w, QComboBox):
            w.setCurrentIndex(w.findData(value))
        else:
            for check in w.findChildren(QCheckBox):
                check.setChecked(check.property("choice") in value)

    def values(self) -> dict[str, Any]:
        """Every field's value."""
        out: dict[str, Any] = {}
        for f in self.fields:
            w = self.widgets[f.key]
            if isinstance(w, QLineEdit):
                out[f.key] = w.text() if f.kind == "password" else w.text().strip()
            elif isinstance(w, QComboBox):
                out[f.key] = w.currentData()
            else:
                out[f.key] = [
                    c.property("choice") for c in w.findChildren(QCheckBox) if c.isChecked()
                ]
        return out

    def submit(self) -> None:
        """Refuse missing fields inline; otherwise run the work on a worker thread."""
        values = self.values()
        for f in self.fields:
            self.widgets[f.key].setStyleSheet("")
        missing = [f for f in self.fields if f.required and values[f.key] in ("", None, [])]
        if missing:
            for f in missing:
                self.widgets[f.key].setStyleSheet(_ERROR_STYLE)
            names = ", ".join(tr(f.label) for f in missing)
            self.message.error(f"{tr('form.required')}: {names}")
            return
        self.buttons.setEnabled(False)
        self.message.info(tr("common.loading"))
        self.ctx.runner.submit(lambda: self.work(values), self._done, self._refused)

    def _done(self, result: Any) -> None:
        self.buttons.setEnabled(True)
        self.accept()
        self.on_done(result)

    def _refused(self, exc: Exception) -> None:
        self.buttons.setEnabled(True)
        for f in self.fields:
            if f.kind == "password":
                w = self.widgets[f.key]
                assert isinstance(w, QLineEdit)
                w.clear()
        if isinstance(exc, FormError) and exc.key in self.widgets:
            self.widgets[exc.key].setStyleSheet(_ERROR_STYLE)
        self.message.error(str(exc))
