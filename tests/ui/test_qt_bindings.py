"""The Qt bindings keep Python's reference counts: a Python override of a Qt virtual method
(pyqtgraph's views repaint through one) must not take a reference from None or True per
call, or the interpreter aborts ("deallocating None") after some thousand repaints — as
PySide6 6.12.0 did, hence the pin in pyproject.toml."""

from __future__ import annotations

import sys

from PySide6.QtGui import QPaintEvent
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot


class _Painted(QWidget):
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        super().paintEvent(event)


def _counts() -> tuple[int, int, int]:
    return sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False)


def test_repaints_through_python_overrides_keep_reference_counts(qtbot: QtBot) -> None:
    import pyqtgraph as pg

    plot = pg.PlotWidget()
    plot.plot([1.0, 2.0, 3.0], [1.0, 4.0, 9.0])
    widget = _Painted()
    for w in (plot, widget):
        qtbot.addWidget(w)
        w.resize(300, 200)
        w.grab()
    before = _counts()
    for _ in range(300):
        plot.grab()
        widget.grab()
    after = _counts()
    lost = [b - a for a, b in zip(after, before, strict=True)]
    assert all(n < 30 for n in lost), f"references lost (None, True, False): {lost}"
