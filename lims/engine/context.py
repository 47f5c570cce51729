"""The step context: what a procedure step may do during a run.

Every instrument call, wait and prompt goes through a *checkpoint*: there the run holds
if a pause was requested, and raises :class:`~lims.engine.errors.RunAborted` if it was
aborted. A step therefore never needs to look at the run's state itself.

**Acknowledgement.** :meth:`StepContext.take_reading` queues the reading to the writer
and returns at once. The reading is *acknowledged* when the writer has durably committed
it (event :class:`~lims.engine.events.ReadingsCommitted`). The engine does not let a step
pass its boundary (step finished, next step started) before every reading of the step
is acknowledged; :meth:`StepContext.acknowledge` waits for that inside a step.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

from lims.engine.clock import CALL_SECONDS, RunClock, ScaledClock
from lims.engine.errors import RunAborted
from lims.engine.events import EventBus, Message, PromptRequested, ReadingTaken
from lims.engine.regulation import RegulationTable
from lims.engine.stability import StabilityCriteria, StabilityDetector, StabilityResult
from lims.engine.writer import ReadingWriter
from lims.messages import bilingual
from lims.results import ResultRecord
from lims.units import UnitParseError, display_quantity, parse_quantity, to_storage, ureg

R = TypeVar("R")

__all__ = [
    "AutoAnswerer",
    "PendingResult",
    "RecordedReading",
    "RunControl",
    "StepContext",
]

AutoAnswerer = Callable[[PromptRequested], "str | bool | float | None"]

_YES = {"y", "yes", "ok", "true", "1", "是", "确认", "好"}


@dataclass(frozen=True)
class RecordedReading:
    """A reading of this run, as the procedure sees it."""

    seq: int
    step: str
    test_point: str
    quantity: str
    value: Any
    taken_at: datetime
    source: str


@dataclass(frozen=True)
class PendingResult:
    """A result recorded in a step, committed with the step's completion."""

    record: ResultRecord


class RunControl:
    """Signals between the operator (any thread) and the run's worker thread.

    ``clock`` is the run's :class:`~lims.engine.clock.RunClock`: real (scaled) time, or a
    simulator's virtual time that waits advance.
    """

    SLICE_S = 0.05

    def __init__(self, run_id: int, bus: EventBus, clock: RunClock | float) -> None:
        if not isinstance(clock, int | float):
            self.clock: RunClock = clock
        else:
            self.clock = ScaledClock(float(clock))
        self.run_id = run_id
        self.bus = bus
        self.abort_event = threading.Event()
        self.stop_event = threading.Event()
        self.pause_event = threading.Event()
        self.detach_event = threading.Event()
        self._answers: dict[int, Any] = {}
        self._answer_lock = threading.Condition()
        self._prompt_ids = itertools.count(1)
        #: called by the worker thread when it starts / stops holding for a pause
        self.on_hold: Callable[[bool, str], None] = lambda holding, why: None

    # ------------------------------------------------------------- operator side

    def request_pause(self) -> None:
        """Hold at the next safe point."""
        self.pause_event.set()

    def request_resume(self) -> None:
        """Continue after a pause."""
        self.pause_event.clear()
        with self._answer_lock:
            self._answer_lock.notify_all()

    def request_stop(self) -> None:
        """Finish gracefully at the next step boundary."""
        self.stop_event.set()
        self.request_resume()

    def request_detach(self) -> None:
        """Leave a paused run paused: its thread ends, it is resumed later (another process)."""
        self.detach_event.set()
        with self._answer_lock:
            self._answer_lock.notify_all()

    def request_abort(self) -> None:
        """Abort at once: every wait and prompt is cancelled."""
        self.abort_event.set()
        with self._answer_lock:
            self._answer_lock.notify_all()

    def answer(self, prompt_id: int, value: Any) -> None:
        """Answer a prompt (from the CLI, the GUI, or a test)."""
        with self._answer_lock:
            self._answers[prompt_id] = value
            self._answer_lock.notify_all()

    # ------------------------------------------------------------- worker side

    def now(self) -> float:
        """Seconds on the run's clock (simulated on a simulated bench)."""
        return self.clock.now()

    def checkpoint(self) -> bool:
        """Raise RunAborted if aborted; hold while paused. Returns True if it held."""
        if self.abort_event.is_set():
            raise RunAborted
        if not self.pause_event.is_set():
            return False
        self.on_hold(True, bilingual("run.paused"))
        while self.pause_event.is_set():
            if self.abort_event.wait(self.SLICE_S):
                raise RunAborted
        self.on_hold(False, "")
        if self.abort_event.is_set():
            raise RunAborted
        return True

    def sleep(self, seconds: float) -> bool:
        """Wait ``seconds`` on the run's clock, holding for pauses; True if it held.

        A virtual clock is advanced (after any pacing sleep); a real one is waited for.
        """
        held = False
        remaining = self.clock.wall_seconds(seconds)
        while remaining > 0:
            held = self.checkpoint() or held
            chunk = min(remaining, self.SLICE_S)
            if self.abort_event.wait(chunk):
                raise RunAborted
            remaining -= chunk
        held = self.checkpoint() or held
        self.clock.advance(seconds)
        return self.checkpoint() or held

    def instrument_call(self) -> None:
        """An instrument exchange takes a moment of (virtual) time."""
        if self.clock.virtual:
            self.clock.advance(CALL_SECONDS)

    def wait_answer(self, prompt_id: int) -> Any:
        """Block until ``prompt_id`` is answered (holding for pauses, raising on abort)."""
        while True:
            self.checkpoint()
            with self._answer_lock:
                if prompt_id in self._answers:
                    return self._answers.pop(prompt_id)
                self._answer_lock.wait(self.SLICE_S)

    def next_prompt_id(self) -> int:
        """A new prompt id."""
        return next(self._prompt_ids)


class _GuardedInstrument:
    """An instrument whose every method call passes a checkpoint before and after."""

    def __init__(self, inner: Any, control: RunControl) -> None:
        self._inner = inner
        self._control = control

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr
        control = self._control

        def call(*args: Any, **kwargs: Any) -> Any:
            control.checkpoint()
            control.instrument_call()
            result = attr(*args, **kwargs)
            control.checkpoint()
            return result

        return call


class StepContext:
    """What a step may do: prompt, wait, read, record (see the module docstring)."""

    def __init__(
        self,
        *,
        run_id: int,
        step: str,
        table: RegulationTable,
        parameters: Mapping[str, Any],
        simulated: bool,
        instruments: Mapping[str, Any],
        control: RunControl,
        writer: ReadingWriter,
        seq: Callable[[], int],
        earlier: Sequence[RecordedReading],
        auto_answer: AutoAnswerer | None,
    ) -> None:
        self.run_id = run_id
        self.step = step
        self.table = table
        self.parameters = dict(parameters)
        self.simulated = simulated
        self._instruments = {k: _GuardedInstrument(v, control) for k, v in instruments.items()}
        self._control = control
        self._writer = writer
        self._seq = seq
        self._earlier = list(earlier)
        self.taken: list[RecordedReading] = []
        self.results: list[PendingResult] = []
        self._auto = auto_answer
        self.stability: list[dict[str, Any]] = []

    # ------------------------------------------------------------ instruments

    def instrument(self, role: type[R], slot: str) -> R:
        """The instrument bound to role slot ``slot``, typed as its role Protocol (from
        :mod:`drivers.roles`); every call is a checkpoint."""
        try:
            inst = self._instruments[slot]
        except KeyError:
            raise KeyError(
                f"no instrument for role {slot!r} (bound: {', '.join(self._instruments)})"
            ) from None
        if not isinstance(inst, role):
            raise TypeError(f"instrument {slot!r} is not a {role.__name__}")
        return cast(R, inst)

    def now(self) -> Any:
        """The run's clock (simulated seconds on a simulated bench) as a time Quantity."""
        return ureg.Quantity(self._control.now(), "s")

    def message(self, text: str, level: str = "info") -> None:
        """Tell the operator something (a text the procedure composed, bilingual)."""
        self._control.bus.publish(Message(self.run_id, text, level))

    def notice(self, key: str, level: str = "info", **params: Any) -> None:
        """Tell the operator a message of the catalogue (:mod:`lims.messages`)."""
        shown = {k: str(v) for k, v in params.items()}
        self._control.bus.publish(
            Message(
                self.run_id,
                bilingual(key, **shown),
                level,
                key=key,
                params=tuple(sorted(shown.items())),
            )
        )

    # ------------------------------------------------------------ prompts

    def _ask(
        self, key: str, text_zh: str, text_en: str, kind: str, unit: str | None, error: str
    ) -> Any:
        pid = self._control.next_prompt_id()
        event = PromptRequested(self.run_id, pid, key, text_zh, text_en, kind, unit, error)
        self._control.bus.publish(event)
        if self._auto is not None:
            self._control.checkpoint()
            auto = self._auto(event)
            if auto is not None:
                return auto
        return self._control.wait_answer(pid)

    def confirm(self, key: str, text_zh: str, text_en: str) -> None:
        """Show an instruction and wait until the operator confirms it was done."""
        error = ""
        while True:
            answer = self._ask(key, text_zh, text_en, "confirm", None, error)
            if answer is True or str(answer).strip().lower() in _YES:
                return
            error = bilingual("prompt.confirm_again")

    def enter_value(
        self,
        key: str,
        text_zh: str,
        text_en: str,
        *,
        like: str,
        plausible: tuple[Any, Any],
        test_point: str = "",
    ) -> Any:
        """Ask for a value with its unit (e.g. read from a display) and record it as a reading.

        A wrong unit, a missing unit or a value outside ``plausible`` is refused with a
        clear message and asked again.
        """
        lo, hi = plausible
        error = ""
        while True:
            answer = self._ask(key, text_zh, text_en, "value", like, error)
            try:
                q = parse_quantity(str(answer), like=like)
            except UnitParseError as exc:
                error = bilingual("prompt.invalid", key=key, error=exc)
            else:
                if lo <= q <= hi:
                    self.take_reading(key, q, source="operator", test_point=test_point)
                    return q
                error = bilingual(
                    "prompt.implausible",
                    key=key,
                    value=display_quantity(q),
                    low=display_quantity(lo),
                    high=display_quantity(hi),
                )
            self.message(error, "warning")

    def enter_text(
        self, key: str, text_zh: str, text_en: str, *, parse: Callable[[str], Any]
    ) -> Any:
        """Ask for an entry that is not a Quantity (a date-time, an amount of money).

        ``parse`` turns the text into a value or raises ValueError saying why; the entry
        is then refused with that message and asked again. Nothing is recorded here: the
        procedure records what it derives from the value.
        """
        error = ""
        while True:
            answer = self._ask(key, text_zh, text_en, "text", None, error)
            try:
                return parse(str(answer))
            except ValueError as exc:
                error = bilingual("prompt.invalid", key=key, error=exc)
            self.message(error, "warning")

    # ------------------------------------------------------------ waits

    def wait(self, duration: Any) -> None:
        """Wait a fixed time (a time Quantity, simulated seconds on a simulated bench)."""
        seconds = float(duration.to("s").magnitude)
        if seconds < 0:
            raise ValueError(f"cannot wait a negative time {duration!r}")
        self._control.sleep(seconds)

    def wait_for_stability(
        self,
        read: Callable[[], Any],
        criteria: StabilityCriteria,
        *,
        quantity: str,
        source: str,
        test_point: str = "",
        record_samples: bool = False,
    ) -> StabilityResult:
        """Read every ``criteria.interval`` until stable (or for ``criteria.fixed``).

        Ends at the timeout with ``stable=False``. The time taken is recorded as a
        reading ``<quantity>.stabilization_time`` (in s); with ``record_samples`` every
        sample is recorded as a reading as well. A pause restarts the window.
        """
        detector = StabilityDetector(criteria)
        interval = float(criteria.interval.to("s").magnitude)
        timeout = float(criteria.timeout.to("s").magnitude)
        fixed = float(criteria.fixed.to("s").magnitude) if criteria.fixed is not None else None
        start = self._control.now()
        stable = False
        while True:
            value = read()
            now = self._control.now() - start
            if record_samples:
                self.take_reading(quantity, value, source=source, test_point=test_point)
            if fixed is not None:
                detector.last_value, detector.count = value, detector.count + 1
                stable = now >= fixed
            else:
                stable = detector.add(now, value)
            if stable or now >= timeout:
                break
            if self._control.sleep(interval):
                detector.reset()
        elapsed = ureg.Quantity(self._control.now() - start, "s")
        self.take_reading(
            f"{quantity}.stabilization_time",
            elapsed,
            source="engine",
            test_point=test_point,
        )
        result = StabilityResult(
            stable=stable,
            elapsed=elapsed,
            samples=detector.count,
            last_value=detector.last_value,
            slope=detector.slope,
            spread=detector.spread,
            mode="fixed" if fixed is not None else "window",
        )
        self.stability.append(
            {
                "quantity": quantity,
                "test_point": test_point,
                "stable": stable,
                "elapsed_s": elapsed.magnitude,
            }
        )
        if not stable:
            self.notice(
                "run.not_stable",
                "warning",
                quantity=quantity,
                point=test_point or self.step,
                elapsed=display_quantity(elapsed, ".4g"),
            )
        return result

    # ------------------------------------------------------------ readings

    def take_reading(
        self, quantity: str, value: Any, *, source: str, test_point: str = ""
    ) -> RecordedReading:
        """Record a Quantity as a reading: queued to the writer at once (see module docs)."""
        if not hasattr(value, "units"):
            raise TypeError(f"reading {quantity!r} must be a pint Quantity, got {value!r}")
        self._control.checkpoint()
        magnitude, unit = to_storage(value)
        seq = self._seq()
        taken_at = self._control.clock.timestamp()
        self._writer.put(
            {
                "seq": seq,
                "step": self.step,
                "test_point": test_point,
                "quantity": quantity,
                "magnitude": magnitude,
                "unit": unit,
                "taken_at": taken_at,
                "source": source,
            }
        )
        rec = RecordedReading(seq, self.step, test_point, quantity, value, taken_at, source)
        self.taken.append(rec)
        self._control.bus.publish(
            ReadingTaken(self.run_id, seq, self.step, test_point, quantity, value, source)
        )
        return rec

    def measure(
        self, slot: str, method: str, quantity: str, *, test_point: str = "", **kwargs: Any
    ) -> RecordedReading:
        """Call ``instrument(slot).method(**kwargs)`` and record the Quantity it returns."""
        try:
            inst = self._instruments[slot]
        except KeyError:
            raise KeyError(
                f"no instrument for role {slot!r} (bound: {', '.join(self._instruments)})"
            ) from None
        value = getattr(inst, method)(**kwargs)
        return self.take_reading(quantity, value, source=slot, test_point=test_point)

    def acknowledge(self) -> int:
        """Wait until every reading taken so far is durably committed; return the last seq."""
        return self._writer.flush()

    def readings(
        self,
        *,
        step: str | None = None,
        test_point: str | None = None,
        quantity: str | None = None,
    ) -> list[RecordedReading]:
        """Readings of completed steps and of this step so far, filtered."""
        return [
            r
            for r in itertools.chain(self._earlier, self.taken)
            if (step is None or r.step == step)
            and (test_point is None or r.test_point == test_point)
            and (quantity is None or r.quantity == quantity)
        ]

    # ------------------------------------------------------------ results

    def record(self, result: ResultRecord, *, readings: Sequence[RecordedReading] = ()) -> None:
        """Record a typed result computed from ``readings``; committed with the step."""
        if not isinstance(result, ResultRecord):
            raise TypeError(f"record() takes a ResultRecord, got {type(result).__name__}")
        self.results.append(PendingResult(result.with_readings([r.seq for r in readings])))
