"""Service calls off the GUI thread: a thread pool whose results come back as Qt signals.

Every call that touches the database or an instrument goes through :class:`Runner`;
the GUI thread only receives the plain result (or the exception) and draws it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot


class _Signals(QObject):
    """Created on the GUI thread; its slots run there (queued from the worker thread)."""

    done = Signal(object)
    failed = Signal(object)

    def __init__(self, on_done: Callable[[Any], None], on_error: Callable[[Any], None]) -> None:
        super().__init__()
        self._on_done = on_done
        self._on_error = on_error
        self.done.connect(self._deliver_done)
        self.failed.connect(self._deliver_error)

    @Slot(object)
    def _deliver_done(self, value: Any) -> None:
        self._on_done(value)

    @Slot(object)
    def _deliver_error(self, value: Any) -> None:
        self._on_error(value)


class _Task(QRunnable):
    def __init__(self, fn: Callable[[], Any], signals: _Signals) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self._fn = fn
        self.signals = signals

    def run(self) -> None:
        try:
            result = self._fn()
        except Exception as exc:  # handed to the GUI thread, which reports it
            self.signals.failed.emit(exc)
        else:
            self.signals.done.emit(result)


class Runner(QObject):
    """Runs service calls on a worker thread pool; results arrive on the GUI thread."""

    #: Emitted on the GUI thread whenever the number of pending calls changes.
    busy_changed = Signal(int)

    def __init__(self, parent: QObject | None = None, max_threads: int = 2) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max_threads)
        self._pending: dict[int, _Task] = {}
        self._next = 0
        self._generation = 0

    @property
    def pending(self) -> int:
        """How many submitted calls have not delivered their result yet."""
        return len(self._pending)

    def submit(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[Exception], None],
    ) -> None:
        """Call ``fn()`` on a worker thread; then ``on_done(result)`` or ``on_error(exc)``."""
        key = self._next
        self._next += 1
        generation = self._generation

        def finish(callback: Callable[[Any], None], value: Any) -> None:
            self._pending.pop(key, None)
            self.busy_changed.emit(len(self._pending))
            if generation == self._generation:  # not for a window closed meanwhile
                callback(value)

        signals = _Signals(lambda r: finish(on_done, r), lambda e: finish(on_error, e))
        task = _Task(fn, signals)
        self._pending[key] = task
        self.busy_changed.emit(len(self._pending))
        self._pool.start(task)

    def forget_pending(self) -> None:
        """The calls submitted so far still run, but their results are not delivered.

        For logging out: the window that asked for them is about to be deleted.
        """
        self._generation += 1

    def wait(self, msecs: int = 30_000) -> bool:
        """Block until the pool is idle (for shutting down; never called while drawing)."""
        return bool(self._pool.waitForDone(msecs))
