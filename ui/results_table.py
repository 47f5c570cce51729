"""The bench's results: one typed row per result (point, reference, indication, error,
limit, U (k), verdict) and the overall verdict banner.

The table is built against :class:`ResultLine`, filled from the engine's typed result
records (:func:`line_from_record`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtWidgets import QAbstractItemView, QLabel, QTableWidget, QWidget

from lims.certificates.numbers import k_text, limit_text, uncertainty_text, value_text, with_unit
from lims.results import ResultRecord
from lims.vocabulary import Verdict, worst_verdict
from ui.i18n import name_text, pair, tr
from ui.widgets import AMBER, GREEN, RED, fill_table, short_unit

_COLOURS = {Verdict.PASS: GREEN, Verdict.FAIL: RED, Verdict.CONDITIONAL_FAIL: RED}


def verdict_text(verdict: Verdict | str) -> str:
    """A verdict in words (合格 Pass …) from the shared vocabulary, never the stored value."""
    try:
        v = Verdict(verdict)
    except ValueError:
        return str(verdict)
    return pair(v.zh, v.en)


@dataclass(frozen=True)
class ResultLine:
    """One row of the results table (texts already formatted with their units)."""

    point: str
    item: str
    reference: str
    indication: str
    error: str
    limit: str
    uncertainty: str  # "U (k=2)"
    verdict: Verdict
    details: str = ""  # every value of the result, for the tooltip


def format_value(v: Any) -> str:
    """A value as people write it: a quantity with its short unit, a number, a text."""
    if isinstance(v, Mapping) and {"value", "unit"} <= set(v):
        return f"{v['value']:.6g} {short_unit(v['unit'])}".strip()
    if hasattr(v, "magnitude") and hasattr(v, "units"):
        return f"{v.magnitude:.6g} {short_unit(str(v.units))}".strip()
    if isinstance(v, float):
        return f"{v:.6g}"
    return "" if v is None else str(v)


def line_from_record(rec: ResultRecord) -> ResultLine:
    """A row from a typed result: its point, reference, indication, value, limit, U (k)."""
    label = rec.point.label
    u = ""
    u_mag: float | None = None
    if rec.uncertainty is not None and rec.uncertainty.expanded.magnitude > 0:
        expanded = rec.uncertainty.expanded
        u_mag = float(expanded.magnitude)
        u = f"{with_unit(uncertainty_text(u_mag), expanded)} (k={k_text(rec.uncertainty.k)})"
    return ResultLine(
        point=pair(label.zh, label.en) if label.zh != label.en else label.zh,
        item=pair(rec.characteristic.caption.zh, rec.characteristic.caption.en),
        reference=format_value(rec.reference),
        indication=format_value(rec.indication),
        # written as the certificate writes it (lims.certificates.numbers)
        error=with_unit(value_text(float(rec.value.magnitude), u_mag), rec.value),
        limit=limit_text(rec.limit.value, rec.limit.kind) if rec.limit is not None else "",
        uncertainty=u,
        verdict=rec.verdict,
        details="\n".join(
            f"{pair(e.label.zh, e.label.en)} = {format_value(e.value)}" for e in rec.extras
        ),
    )


def overall(lines: Sequence[ResultLine]) -> Verdict | None:
    """The run's verdict from its rows (the lab's one rule for it); None without rows."""
    return worst_verdict(ln.verdict for ln in lines) if lines else None


class ResultsTable(QTableWidget):
    """The results, the verdict column coloured; every value in a row's tooltip."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("results_table")
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.lines: list[ResultLine] = []

    def show_lines(self, lines: Sequence[ResultLine]) -> None:
        """Show ``lines`` (the headers in the current language)."""
        self.lines = list(lines)
        headers = [
            tr(k)
            for k in (
                "results.point",
                "results.reference",
                "results.indication",
                "results.error",
                "results.limit",
                "results.uncertainty",
                "bench.col.verdict",
            )
        ]
        rows = [
            [
                f"{ln.point} · {name_text('item', ln.item)}"
                if ln.item and ln.item != ln.point
                else ln.point,
                ln.reference,
                ln.indication,
                ln.error,
                ln.limit,
                ln.uncertainty,
                verdict_text(ln.verdict),
            ]
            for ln in self.lines
        ]
        fill_table(self, headers, rows)
        for r, ln in enumerate(self.lines):
            cell = self.item(r, 6)
            if cell is not None and ln.verdict in _COLOURS:
                cell.setBackground(_COLOURS[ln.verdict])
            for c in range(self.columnCount()):
                item = self.item(r, c)
                if item is not None:
                    item.setToolTip(ln.details)


class OverallResultBanner(QLabel):
    """The run's overall verdict in large letters (hidden until the run has results)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("verdict_banner")
        self.verdict: Verdict | None = None
        self.hide()

    def show_verdict(self, verdict: Verdict | None) -> None:
        """Show ``verdict`` (None hides the banner)."""
        self.verdict = verdict
        if verdict is None:
            self.hide()
            return
        colour = _COLOURS.get(verdict, AMBER).name()
        self.setStyleSheet(
            f"background: {colour}; font-size: 15pt; font-weight: bold; padding: 6px;"
        )
        self.setText(f"{tr('results.overall')}: {verdict_text(verdict)}")
        self.show()
