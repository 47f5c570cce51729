"""Dialogs shared by the views."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from ui.i18n import tr
from ui.widgets import MessageLine


class ReasonDialog(QDialog):
    """Ask for a required reason; ``on_reason`` does the work and may refuse with a message.

    The dialog stays open until the work succeeds, showing any refusal inline.
    """

    def __init__(
        self,
        title: str,
        prompt: str,
        on_reason: Callable[[str, ReasonDialog], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("reason_dialog")
        self.setWindowTitle(title)
        self._on_reason = on_reason
        self.prompt = QLabel(prompt)
        self.prompt.setWordWrap(True)
        self.reason = QLineEdit()
        self.reason.setPlaceholderText(tr("common.reason"))
        self.message = MessageLine()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText(tr("common.ok"))
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setText(tr("common.cancel"))
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.prompt)
        layout.addWidget(QLabel(tr("common.reason")))
        layout.addWidget(self.reason)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(420)

    def submit(self) -> None:
        """Refuse an empty reason inline; otherwise hand it to the work."""
        text = self.reason.text().strip()
        if not text:
            self.message.error(tr("common.reason_required"))
            return
        self.buttons.setEnabled(False)
        self._on_reason(text, self)

    def refused(self, message: str) -> None:
        """The work refused: show why and let the user correct it."""
        self.buttons.setEnabled(True)
        self.message.error(message)

    def succeeded(self) -> None:
        """The work is done: close."""
        self.buttons.setEnabled(True)
        self.accept()
