"""Events a run publishes; the CLI and the GUI subscribe alike.

Subscribers are called on the thread that publishes (the run's worker thread or the
writer thread); a GUI must hand them over to its own thread. A subscriber that raises
is unsubscribed after its error is reported as a :class:`Message`, so one broken
listener never stops a run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lims.db.types import utcnow
from lims.messages import text as message_text
from lims.models.enums import RunStatus
from lims.results import ResultRecord

__all__ = [
    "Event",
    "EventBus",
    "Message",
    "PromptRequested",
    "ReadingTaken",
    "ReadingsCommitted",
    "ResultRecorded",
    "StateChanged",
    "StepFinished",
    "StepStarted",
]


@dataclass(frozen=True)
class Event:
    """Base of every run event."""

    run_id: int
    at: datetime = field(default_factory=utcnow, kw_only=True)


@dataclass(frozen=True)
class StateChanged(Event):
    """The run changed state; ``reason`` says why (a refusal, an error, an operator action)."""

    old: RunStatus | None
    new: RunStatus
    reason: str = ""


@dataclass(frozen=True)
class StepStarted(Event):
    """A step began (``attempt`` counts retries after an instrument error)."""

    step: str
    title: str
    index: int
    total: int
    attempt: int = 1


@dataclass(frozen=True)
class StepFinished(Event):
    """A step completed; all its readings and results are committed."""

    step: str
    index: int
    total: int


@dataclass(frozen=True)
class ReadingTaken(Event):
    """A reading was queued to the writer (not yet durable: see :class:`ReadingsCommitted`)."""

    seq: int
    step: str
    test_point: str
    quantity: str
    value: Any
    source: str


@dataclass(frozen=True)
class ReadingsCommitted(Event):
    """Every reading up to ``last_seq`` is durably committed (acknowledged)."""

    last_seq: int
    count: int


@dataclass(frozen=True)
class PromptRequested(Event):
    """The procedure waits for the operator; answer with ``RunHandle.answer(prompt_id, ...)``."""

    prompt_id: int
    key: str
    text_zh: str
    text_en: str
    kind: str  # "confirm", "value" or "text"
    unit: str | None = None
    error: str = ""  # set when a previous answer was refused


@dataclass(frozen=True)
class ResultRecorded(Event):
    """A result was recorded for a test point (committed at the end of its step)."""

    test_point: str
    item: str
    record: ResultRecord
    verdict: str


@dataclass(frozen=True)
class Message(Event):
    """Information or a warning for the operator.

    ``key`` and ``params`` name the message in :mod:`lims.messages` (empty for a text a
    procedure composed itself); ``text`` is the bilingual text.
    """

    text: str
    level: str = "info"
    key: str = ""
    params: tuple[tuple[str, str], ...] = ()

    def in_language(self, lang: str) -> str:
        """The message in one language when it is from the catalogue, else as recorded."""
        if not self.key:
            return self.text
        return message_text(self.key, lang, **dict(self.params))


Subscriber = Callable[[Event], None]


class EventBus:
    """Thread-safe publish/subscribe for one run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Add a subscriber; returns a function that removes it."""
        with self._lock:
            self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            with self._lock:
                if subscriber in self._subscribers:
                    self._subscribers.remove(subscriber)

        return unsubscribe

    def publish(self, event: Event) -> None:
        """Deliver ``event`` to every subscriber, in subscription order."""
        with self._lock:
            subscribers = list(self._subscribers)
        broken: list[tuple[Subscriber, Exception]] = []
        for sub in subscribers:
            try:
                sub(event)
            except Exception as exc:  # a listener's bug must not stop the run
                broken.append((sub, exc))
        if broken:
            with self._lock:
                for sub, _ in broken:
                    if sub in self._subscribers:
                        self._subscribers.remove(sub)
            for _, error in broken:
                self.publish(
                    Message(
                        event.run_id, f"event subscriber removed after error: {error!r}", "warning"
                    )
                )
