"""The live plot of a run: one panel per kind of quantity, each with its own vertical axis
labelled with the quantities and their unit, readings drawn cheaply.

Drawing is what costs the GUI thread most during a run, so the plot keeps to what is
cheap to repaint: the plan's quantity has the item's range as fixed vertical extent, the
horizontal extent (reading number, shared by the panels) grows in steps, there is no
grid, and the legend is an ordinary widget. A curve is broken where its readings stop
(a new step, or readings of other quantities in between), never bridged by a line. The
stability band is drawn around the mean of the latest readings of the current step.
Points are added as they come and drawn by :meth:`LivePlot.redraw`, which the bench view
calls at most ten times a second.
"""

from __future__ import annotations

import html
import math
from collections import deque
from dataclasses import dataclass, field

import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import QGraphicsRectItem, QGroupBox, QLabel, QVBoxLayout, QWidget

from ui.i18n import STRINGS, name_text, tr
from ui.readings import PlotPoint
from ui.widgets import drop_export_menu, short_unit

#: Points kept per curve.
MAX_POINTS = 2000
#: How far the horizontal extent reaches beyond the last point when it grows.
X_HEADROOM = 0.25
#: Readings a kind of quantity needs before it gets a panel (the plan's has one at once).
MIN_POINTS = 5
#: A jump of more reading numbers than this between two points of a curve breaks it.
GAP_READINGS = 20
_COLOURS = ("#1565c0", "#c62828", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f")


@dataclass
class _Curve:
    item: pg.PlotDataItem
    xs: deque[float] = field(default_factory=lambda: deque(maxlen=MAX_POINTS))
    ys: deque[float] = field(default_factory=lambda: deque(maxlen=MAX_POINTS))
    step: str = ""
    last_seq: int = -1
    colour: str = ""
    dirty: bool = False


@dataclass
class _Panel:
    widget: pg.PlotWidget
    plot: pg.PlotItem
    unit: str
    kind: str
    names: list[str] = field(default_factory=list)


class LivePlot(QGroupBox):
    """Curves of readings (one per quantity), panels per kind, the band on the plan's."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("live_plot")
        self.legend = QLabel()
        self.legend.setWordWrap(True)
        self.view = QWidget()  # one plot per kind of quantity, stacked
        self.stack = QVBoxLayout(self.view)
        self.stack.setContentsMargins(0, 0, 0, 0)
        self.stack.setSpacing(2)
        layout = QVBoxLayout(self)
        layout.addWidget(self.legend)
        layout.addWidget(self.view, 1)
        self.panels: dict[str, _Panel] = {}
        self._waiting: dict[str, list[PlotPoint]] = {}
        self.curves: dict[str, _Curve] = {}
        self.readings = 0
        self.unit: str | None = None
        self.y_range: tuple[float, float] | None = None
        self.band_halfwidth: float | None = None
        self.band_samples = 20
        self.band: QGraphicsRectItem | None = None  # made with the panel it is drawn on
        self.band_region: tuple[float, float] | None = None
        self._band_panel: _Panel | None = None
        self._latest: str | None = None
        self._x_max = 0.0
        self._dirty = False
        self.retranslate()

    def retranslate(self) -> None:
        """Set the texts in the current language."""
        self.setTitle(tr("bench.readings"))
        for panel in self.panels.values():
            self._label(panel)
        self._show_legend()

    def reset(
        self,
        unit: str | None,
        y_range: tuple[float, float] | None,
        band_halfwidth: float | None,
        band_samples: int,
    ) -> None:
        """Forget the curves and panels; set the plan's unit, its fixed extent and the band."""
        self._band_panel = None
        self.band = None
        self.band_region = None
        for panel in self.panels.values():
            self.stack.removeWidget(panel.widget)
            panel.widget.deleteLater()
        self.panels.clear()
        self._waiting.clear()
        self.curves.clear()
        self.readings = 0
        self._latest = None
        self._x_max = 0.0
        self.unit = unit
        self.y_range = y_range
        self.band_halfwidth = band_halfwidth
        self.band_samples = band_samples
        self._show_legend()

    def _panel(self, p: PlotPoint) -> _Panel:
        unit = p.unit if p.unit is not None else (self.unit or "")
        kind = p.kind or unit
        panel = self.panels.get(kind)
        if panel is not None:
            return panel
        widget = pg.PlotWidget()
        widget.setBackground("w")
        drop_export_menu(widget)
        self.stack.addWidget(widget, 1)
        plot = widget.getPlotItem()
        plot.setMenuEnabled(False)
        plot.setMouseEnabled(x=False, y=False)
        plot.setDownsampling(auto=True, mode="peak")
        plot.setClipToView(True)
        plot.hideButtons()
        plot.getAxis("left").setWidth(72)
        plot.setXRange(0, max(100.0, self._x_max), padding=0)
        panel = _Panel(widget, plot, unit, kind)
        if self.y_range is not None and self.unit is not None and unit == self.unit:
            plot.disableAutoRange(axis="y")
            plot.setYRange(*self.y_range, padding=0.03)
        else:
            plot.enableAutoRange(axis="y")
        if unit == self.unit and self.band_halfwidth is not None and self._band_panel is None:
            # A plain Qt rectangle (no Python overrides): cheap to repaint, safe at exit.
            self.band = QGraphicsRectItem(QRectF(0.0, 0.0, 0.0, 0.0))
            self.band.setBrush(pg.mkBrush(46, 125, 50, 45))
            pen = pg.mkPen("#2e7d32", width=1, style=Qt.PenStyle.DashLine)
            pen.setCosmetic(True)
            self.band.setPen(pen)
            self.band.setZValue(-10)
            self.band.hide()
            plot.addItem(self.band, ignoreBounds=True)
            self._band_panel = panel
        self.panels[kind] = panel
        return panel

    def _label(self, panel: _Panel) -> None:
        unit = short_unit(panel.unit)
        kind = tr(f"axis.{panel.kind}") if f"axis.{panel.kind}" in STRINGS else ""
        what = kind or ", ".join(name_text("qty", n) for n in panel.names)
        panel.plot.setLabel("left", f"{what} ({unit})" if unit else what)
        panel.plot.setLabel("bottom", tr("bench.reading_no"))

    def add(self, p: PlotPoint) -> None:
        """Take one point (drawn at the next :meth:`redraw`).

        A kind of quantity other than the plan's gets its panel once it has
        :data:`MIN_POINTS` readings: a single entered value (a displayed temperature) or a
        few derived times are no stream worth a plot of their own.
        """
        self.readings += 1
        kind = p.kind or (p.unit if p.unit is not None else (self.unit or ""))
        if kind not in self.panels and (p.unit is None or p.unit != self.unit):
            waiting = self._waiting.setdefault(kind, [])
            waiting.append(p)
            if len(waiting) < MIN_POINTS:
                return
            del self._waiting[kind]
            for early in waiting[:-1]:
                self._add(early)
        self._add(p)

    def _add(self, p: PlotPoint) -> None:
        curve = self.curves.get(p.quantity)
        if curve is None:
            panel = self._panel(p)
            colour = _COLOURS[len(self.curves) % len(_COLOURS)]
            item = panel.plot.plot([], [], pen=pg.mkPen(colour, width=1.5), connect="finite")
            curve = _Curve(item, colour=colour, step=p.step)
            self.curves[p.quantity] = curve
            panel.names.append(p.quantity)
            self._label(panel)
            self._show_legend()
        elif p.step != curve.step or p.seq - curve.last_seq > GAP_READINGS:
            curve.xs.append(float(p.seq) - 0.5)  # a break: the line is not drawn across
            curve.ys.append(math.nan)
        curve.xs.append(float(p.seq))
        curve.ys.append(p.y)
        curve.step = p.step
        curve.last_seq = p.seq
        curve.dirty = True
        self._latest = p.quantity
        self._dirty = True

    def redraw(self) -> None:
        """Draw what arrived since the last call (the extent grows in steps)."""
        if not self._dirty:
            return
        self._dirty = False
        first, last = None, 0.0
        for c in self.curves.values():
            if c.dirty:  # only what changed: a panel without news is not repainted
                c.dirty = False
                c.item.setData(list(c.xs), list(c.ys), connect="finite")
            if c.xs:
                first = c.xs[0] if first is None else min(first, c.xs[0])
                last = max(last, c.xs[-1])
        if last > self._x_max:
            start = first or 0.0
            self._x_max = last + max(50.0, (last - start) * X_HEADROOM)
            for panel in self.panels.values():
                panel.plot.setXRange(start, self._x_max, padding=0)
        self._draw_band()

    def band_centre(self) -> float | None:
        """Where the band is drawn: the mean of the latest readings of the current step."""
        panel = self._band_panel
        if panel is None or self.band_halfwidth is None:
            return None
        if not panel.names:
            return None
        latest = max(panel.names, key=lambda name: self.curves[name].last_seq)
        ys: list[float] = []
        for y in reversed(self.curves[latest].ys):
            if math.isnan(y):  # the current segment only
                break
            ys.append(y)
            if len(ys) == self.band_samples:
                break
        return sum(ys) / len(ys) if ys else None

    def _draw_band(self) -> None:
        centre = self.band_centre()
        if centre is None or self.band_halfwidth is None or self.band is None:
            return
        low, high = centre - self.band_halfwidth, centre + self.band_halfwidth
        self.band_region = (low, high)
        panel = self._band_panel
        assert panel is not None  # a band has a panel
        latest = self.curves[max(panel.names, key=lambda name: self.curves[name].last_seq)]
        start = latest.xs[0]
        for x, y in zip(reversed(latest.xs), reversed(latest.ys), strict=True):
            if math.isnan(y):  # the band spans the current step's readings only
                break
            start = x
        end = latest.xs[-1]
        self.band.setRect(QRectF(start, low, max(end - start, 1.0), high - low))
        self.band.show()

    def _show_legend(self) -> None:
        items = [
            f"<span style='color:{c.colour}'>━</span> {html.escape(name_text('qty', name))}"
            for name, c in self.curves.items()
        ]
        if self.band_halfwidth is not None:
            items.append(
                f"<span style='color:#2e7d32'>▮</span> {tr('bench.band')} "
                f"±{self.band_halfwidth:g} {html.escape(short_unit(self.unit))}"
            )
        self.legend.setText(" &nbsp; ".join(items))
