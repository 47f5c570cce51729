"""The live plot of a run: readings per quantity and the stability band, drawn cheaply.

Drawing is what costs the GUI thread most during a run, so the plot keeps to what is
cheap to repaint: the vertical extent is the item's range (fixed), the horizontal
extent grows in steps, there is no grid, and the title and legend are ordinary widgets
outside the plot. Points are added as they come and drawn by :meth:`LivePlot.redraw`,
which the bench view calls at most ten times a second.
"""

from __future__ import annotations

import html
from collections import deque

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGroupBox, QLabel, QVBoxLayout, QWidget

from ui.i18n import tr
from ui.readings import PlotPoint
from ui.widgets import drop_export_menu, short_unit

#: Points kept per curve.
MAX_POINTS = 2000
#: How far the horizontal extent reaches beyond the last point when it grows.
X_HEADROOM = 0.25
_COLOURS = ("#1565c0", "#c62828", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f")


class LivePlot(QGroupBox):
    """Curves of readings (one per quantity) with the stability band of the latest one."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("live_plot")
        self.legend = QLabel()
        self.plot = pg.PlotWidget()
        self.plot.setBackground("w")
        self.plot.setMenuEnabled(False)
        drop_export_menu(self.plot)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.setDownsampling(auto=True, mode="peak")
        self.plot.setClipToView(True)
        self.band = pg.LinearRegionItem(
            (0.0, 0.0),
            orientation="horizontal",
            movable=False,
            brush=pg.mkBrush(46, 125, 50, 45),
            pen=pg.mkPen("#2e7d32", width=1, style=Qt.PenStyle.DashLine),
        )
        self.band.setZValue(-10)
        self.band.hide()
        self.plot.addItem(self.band)
        layout = QVBoxLayout(self)
        layout.addWidget(self.legend)
        layout.addWidget(self.plot, 1)
        self.curves: dict[str, tuple[pg.PlotDataItem, deque[float], deque[float]]] = {}
        self.readings = 0
        self.band_halfwidth: float | None = None
        self.band_samples = 20
        self._latest: str | None = None
        self._x_max = 0.0
        self._dirty = False
        self.retranslate()

    def retranslate(self) -> None:
        """Set the texts in the current language."""
        self.setTitle(tr("bench.readings"))
        self._show_legend()

    def reset(
        self,
        unit: str | None,
        y_range: tuple[float, float] | None,
        band_halfwidth: float | None,
        band_samples: int,
    ) -> None:
        """Forget the curves; set the unit, the fixed vertical extent and the band."""
        for curve, _xs, _ys in self.curves.values():
            self.plot.removeItem(curve)
        self.curves.clear()
        self.readings = 0
        self._latest = None
        self._x_max = 0.0
        self.band_halfwidth = band_halfwidth
        self.band_samples = band_samples
        self.band.hide()
        self.plot.setLabel("left", short_unit(unit))
        self.plot.disableAutoRange()
        if y_range is not None:
            low, high = y_range
            self.plot.setYRange(low, high, padding=0.03)
        else:
            self.plot.enableAutoRange(axis="y")
        self.plot.setXRange(0, 100, padding=0)
        self._show_legend()

    def add(self, p: PlotPoint) -> None:
        """Take one point (drawn at the next :meth:`redraw`)."""
        self.readings += 1
        entry = self.curves.get(p.quantity)
        if entry is None:
            pen = pg.mkPen(_COLOURS[len(self.curves) % len(_COLOURS)], width=1.5)
            curve = self.plot.plot([], [], pen=pen)
            entry = (curve, deque(maxlen=MAX_POINTS), deque(maxlen=MAX_POINTS))
            self.curves[p.quantity] = entry
            self._show_legend()
        entry[1].append(float(p.seq))
        entry[2].append(p.y)
        self._latest = p.quantity
        self._dirty = True

    def redraw(self) -> None:
        """Draw what arrived since the last call (the extent grows in steps)."""
        if not self._dirty:
            return
        self._dirty = False
        first, last = None, 0.0
        for curve, xs, ys in self.curves.values():
            curve.setData(list(xs), list(ys))
            if xs:
                first = xs[0] if first is None else min(first, xs[0])
                last = max(last, xs[-1])
        if last > self._x_max:
            start = first or 0.0
            self._x_max = last + max(50.0, (last - start) * X_HEADROOM)
            self.plot.setXRange(start, self._x_max, padding=0)
        self._draw_band()

    def _draw_band(self) -> None:
        if self.band_halfwidth is None or self._latest is None:
            return
        ys = list(self.curves[self._latest][2])[-self.band_samples :]
        centre = sum(ys) / len(ys)
        self.band.setRegion((centre - self.band_halfwidth, centre + self.band_halfwidth))
        self.band.show()

    def _show_legend(self) -> None:
        items = [
            f"<span style='color:{_COLOURS[i % len(_COLOURS)]}'>━</span> {html.escape(name)}"
            for i, name in enumerate(self.curves)
        ]
        if self.band_halfwidth is not None:
            items.append(
                f"<span style='color:#2e7d32'>▮</span> {tr('bench.band')} ±{self.band_halfwidth:g}"
            )
        self.legend.setText(" &nbsp; ".join(items))
