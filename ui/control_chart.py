"""The intermediate-check control chart (pyqtgraph is loaded with this module)."""

from __future__ import annotations

from datetime import date, datetime, time, timezone

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from lims.quality.standards import ControlChart
from ui.widgets import drop_export_menu, short_unit


def _stamp(day: date) -> float:
    return datetime.combine(day, time(12), tzinfo=timezone.utc).timestamp()  # noqa: UP017


class ControlChartWidget(pg.PlotWidget):  # type: ignore[misc]  # pyqtgraph has no types
    """A Shewhart individuals chart: deviations, centre, ±2s, ±3s and the acceptance limit."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, axisItems={"bottom": pg.DateAxisItem()})
        self.setBackground("w")
        self.showGrid(x=True, y=True, alpha=0.3)
        # Two rows across the top, on white, above the data (see show_chart for the room).
        self.addLegend(
            offset=(10, 5),
            colCount=3,
            brush=pg.mkBrush(255, 255, 255, 230),
            pen=pg.mkPen("#b0bec5"),
            labelTextColor="#212121",
        )
        self.setMenuEnabled(False)  # pyqtgraph's menus are English only
        drop_export_menu(self)
        self.chart: ControlChart | None = None

    def show_chart(self, chart: ControlChart | None) -> None:
        """Draw ``chart`` (or clear the plot)."""
        self.clear()
        self.chart = chart
        if chart is None:
            return
        xs = [_stamp(p.performed_on) for p in chart.points]
        ys = [p.deviation for p in chart.points]
        lo, hi = min(xs), max(xs)

        def hline(y: float, colour: str, name: str, style: Qt.PenStyle) -> None:
            pen = pg.mkPen(colour, width=1.5, style=style)
            self.plot([lo, hi], [y, y], pen=pen, name=name or None)

        hline(chart.centre, "#1565c0", "中心线 centre", Qt.PenStyle.SolidLine)
        hline(chart.upper_warning, "#ef8f00", "警戒限 ±2s warning", Qt.PenStyle.DashLine)
        hline(chart.lower_warning, "#ef8f00", "", Qt.PenStyle.DashLine)
        hline(chart.upper_control, "#c62828", "控制限 ±3s control", Qt.PenStyle.SolidLine)
        hline(chart.lower_control, "#c62828", "", Qt.PenStyle.SolidLine)
        if chart.acceptance is not None:
            hline(chart.acceptance, "#2e7d32", "允许限 acceptance", Qt.PenStyle.DotLine)
            hline(-chart.acceptance, "#2e7d32", "", Qt.PenStyle.DotLine)
        brushes = [
            pg.mkBrush("#c62828" if (p.out_of_control or not p.passed) else "#1565c0")
            for p in chart.points
        ]
        self.plot(xs, ys, pen=pg.mkPen("#455a64", width=1), name="偏差 deviation")
        self.addItem(pg.ScatterPlotItem(xs, ys, size=9, brush=brushes, pen=None))
        levels = [*ys, chart.upper_control, chart.lower_control]
        if chart.acceptance is not None:
            levels += [chart.acceptance, -chart.acceptance]
        low, high = min(levels), max(levels)
        span = (high - low) or 1.0
        self.setYRange(low - 0.05 * span, high + 0.45 * span, padding=0)  # room for the legend
        self.setLabel("left", f"偏差 deviation ({short_unit(chart.unit)})")
        self.setTitle(f"{chart.standard_tag} · {chart.quantity}")
