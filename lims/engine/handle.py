"""Control and observe a run from any thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from lims.engine.context import RunControl
from lims.engine.events import Event, EventBus
from lims.models import RunStatus

__all__ = ["RunHandle"]


class RunHandle:
    """Control and observe one run from any thread."""

    def __init__(self, run_id: int, bus: EventBus, control: RunControl) -> None:
        self.run_id = run_id
        self.bus = bus
        self._control = control
        self._thread: threading.Thread | None = None
        self.final_status: RunStatus | None = None
        self.final_reason = ""

    def subscribe(self, subscriber: Callable[[Event], None]) -> Callable[[], None]:
        """Receive the run's events; returns an unsubscribe function."""
        return self.bus.subscribe(subscriber)

    def pause(self) -> None:
        """Hold at the next safe point."""
        self._control.request_pause()

    def resume(self) -> None:
        """Continue a paused run (after an instrument error: retry the step)."""
        self._control.request_resume()

    def stop(self) -> None:
        """Finish the current step, then end the run (aborted by operator; data kept)."""
        self._control.request_stop()

    def detach(self) -> None:
        """A run paused for an instrument error stays paused; this process lets it go (its
        lease is released) so that ``lims run resume`` can continue it."""
        self._control.request_detach()

    def abort(self) -> None:
        """Abort at once; instruments go to their safe state."""
        self._control.request_abort()

    def answer(self, prompt_id: int, value: Any) -> None:
        """Answer a prompt."""
        self._control.answer(prompt_id, value)

    def wait(self, timeout_s: float | None = None) -> RunStatus | None:
        """Wait for the run's thread to end; the final status (None if still running)."""
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                return None
        return self.final_status
