"""The bench session as the bench view watches it: every reading becomes a plot point on
the axis of its kind of quantity (see :func:`ui.readings.plot_point`), in its own unit.

Loaded with the bench machinery at the first preflight (on a worker thread).
"""

from __future__ import annotations

from lims.engine import Event, ReadingTaken
from ui.bench_session import BenchSession
from ui.readings import plot_point


class WatchedSession(BenchSession):
    """A :class:`BenchSession` whose readings keep their unit and step for the live plot."""

    def _publish(self, ev: Event) -> None:
        if isinstance(ev, ReadingTaken):
            p = plot_point(ev.quantity, ev.seq, ev.value, self.plan.plot_unit, ev.step)
            if p is not None:
                self.events.put(p)
            return
        super()._publish(ev)
