"""Operator prompts in a panel of the bench view, not in dialogs: nothing dismisses a
prompt but an answer (Esc and window buttons do not exist for it), and Pause and Abort
stay at hand beside it. A prompt the simulated bench answers itself is not shown."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from lims.engine.events import PromptRequested
from lims.units import UnitParseError, parse_quantity
from ui.i18n import tr
from ui.widgets import MessageLine, short_unit


class PromptPanel(QGroupBox):
    """The prompt the run waits for: its text, an entry (values with their unit), Answer.

    ``answer(prompt_id, value)`` is called with the operator's answer; the panel then
    waits for the next prompt (hidden meanwhile).
    """

    def __init__(self, answer: Callable[[int, Any], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("prompt_panel")
        self.setStyleSheet("QGroupBox#prompt_panel { background: #e3f2fd; font-weight: bold; }")
        self._answer = answer
        self.prompt: PromptRequested | None = None
        self.text = QLabel()
        self.text.setObjectName("prompt_text")
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.text.font()
        font.setPointSize(font.pointSize() + 2)
        self.text.setFont(font)
        self.value = QLineEdit()
        self.value.setObjectName("prompt_value")
        self.value.returnPressed.connect(self.submit)
        self.answer_button = QPushButton()
        self.answer_button.setObjectName("prompt_answer")
        self.answer_button.setDefault(True)
        self.answer_button.clicked.connect(self.submit)
        self.message = MessageLine()
        row = QHBoxLayout()
        row.addWidget(self.value, 1)
        row.addWidget(self.answer_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addLayout(row)
        layout.addWidget(self.message)
        self.hide()
        self.retranslate()

    def retranslate(self) -> None:
        """Set the texts in the current language."""
        self.setTitle(tr("bench.prompt"))
        self._show_button_text()

    def _show_button_text(self) -> None:
        confirm = self.prompt is not None and self.prompt.kind == "confirm"
        self.answer_button.setText(tr("bench.confirm_done" if confirm else "bench.answer"))

    def show_prompt(self, prompt: PromptRequested) -> None:
        """Ask ``prompt`` (replacing any earlier one: the run asks one thing at a time)."""
        self.prompt = prompt
        self.text.setText(f"{prompt.text_zh}\n{prompt.text_en}")
        entry = prompt.kind != "confirm"
        self.value.setVisible(entry)
        self.value.clear()
        unit = short_unit(prompt.unit) if prompt.unit else ""
        self.value.setPlaceholderText(f"{tr('bench.value_with_unit')} … {unit}".strip())
        if prompt.error:
            self.message.error(prompt.error)
        else:
            self.message.clear_message()
        self._show_button_text()
        self.show()
        (self.value if entry else self.answer_button).setFocus()

    def clear(self) -> None:
        """Nothing is asked (the run moved on or ended)."""
        self.prompt = None
        self.message.clear_message()
        self.hide()

    def submit(self) -> bool:
        """Check a value's unit here, then answer; True when the answer was sent."""
        p = self.prompt
        if p is None:
            return False
        answer: Any = True
        if p.kind != "confirm":
            text = self.value.text().strip()
            if not text:
                self.message.error(tr("bench.value_required"))
                return False
            if p.kind == "value" and p.unit:
                try:
                    parse_quantity(text, p.unit)
                except UnitParseError as exc:
                    self.message.error(str(exc))
                    return False
            answer = text
        self._answer(p.prompt_id, answer)
        self.clear()
        return True
