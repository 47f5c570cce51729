"""Measurement data of the lab: calibration intervals of its standards, comparisons
(proficiency tests, inter-laboratory and in-house) and uncertainty budgets of runs, one
inner tab each. Each inner view loads when first shown."""

from __future__ import annotations

from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from ui.context import AppContext
from ui.i18n import tr
from ui.views.budget import BudgetView
from ui.views.comparisons import ComparisonsView
from ui.views.intervals import IntervalsView


class RecordsView(QWidget):
    """Intervals | comparisons | budgets."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("records_view")
        self.intervals = IntervalsView(ctx)
        self.comparisons = ComparisonsView(ctx)
        self.budgets = BudgetView(ctx)
        self.pages: list[tuple[str, IntervalsView | ComparisonsView | BudgetView]] = [
            ("records.intervals", self.intervals),
            ("records.comparisons", self.comparisons),
            ("records.budgets", self.budgets),
        ]
        self.inner = QTabWidget()
        for _key, page in self.pages:
            self.inner.addTab(page, "")
        self._loaded: set[int] = set()
        self.inner.currentChanged.connect(self._shown)
        QVBoxLayout(self).addWidget(self.inner)
        self.retranslate()

    def retranslate(self) -> None:
        """Set the tab texts in the current language (and the pages', where they have it)."""
        for i, (key, page) in enumerate(self.pages):
            self.inner.setTabText(i, tr(key))
            again = getattr(page, "retranslate", None)
            if again is not None:
                again()

    def refresh(self) -> None:
        """Load the page shown."""
        self._loaded.discard(self.inner.currentIndex())
        self._shown(self.inner.currentIndex())

    def _shown(self, index: int) -> None:
        if self.ctx.user is None or index < 0 or index in self._loaded:
            return
        self._loaded.add(index)
        self.pages[index][1].refresh()
