"""The instrument I/O record: every exchange a transport makes, reported to observers.

Every transport (VISA, serial, Modbus, scripted) reports each exchange — a query, a write,
a line read, a register read or write, successful or failed — as one frozen
:class:`IoExchange` to the callbacks added with ``add_io_observer``. Drivers offer the same
method (:class:`ObservableDriver`), and :func:`drivers.bench.open_instruments` takes an
``io_observer`` it attaches to every driver before the first exchange::

    def record(exchange: IoExchange) -> None:
        queue.put(exchange)          # keep it quick: it runs inside the transport's lock

    drivers = open_instruments(bench, addresses, io_observer=record)

A callback runs in the calling thread while the transport's lock is held, so the record
of one connection is in the order of the exchanges; an exception in a callback is logged
and never reaches the instrument call. Without observers a transport skips all of this.

Bytes: line transports report the command with its terminator and the raw reply line
(or, on a serial line, whatever arrived before a timeout); Modbus transports report the
request and response PDUs (function code, address, count, values; an exception response
as ``function | 0x80, code``; nothing received on a timeout).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, TypeVar, runtime_checkable

from drivers.errors import InstrumentProtocolError

__all__ = ["IoExchange", "IoObservable", "IoObserver", "IoObservers", "ObservableDriver"]

_log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class IoExchange:
    """One exchange with an instrument.

    ``at`` is when it started (UTC, the computer's clock), ``operation`` what the
    transport did (``query``, ``write``, ``read``, ``read_holding_registers``,
    ``read_input_registers``, ``write_registers``), ``error`` empty on success, else the
    exception's class and message.
    """

    at: datetime
    instrument: str
    operation: str
    sent: bytes
    received: bytes
    duration_s: float
    error: str = ""


IoObserver = Callable[[IoExchange], None]
"""A callback that receives every :class:`IoExchange` of a transport."""


class IoObservers:
    """The observers of one transport (``callbacks`` empty: nothing to report)."""

    __slots__ = ("callbacks",)

    def __init__(self) -> None:
        self.callbacks: tuple[IoObserver, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.callbacks)

    def add(self, callback: IoObserver) -> None:
        """Report every later exchange to ``callback`` as well."""
        self.callbacks = (*self.callbacks, callback)

    def remove(self, callback: IoObserver) -> None:
        """Stop reporting to ``callback`` (nothing if it was not added); a bound method
        matches the same method of the same object (``queue.put``)."""
        self.callbacks = tuple(c for c in self.callbacks if c != callback)

    def emit(self, exchange: IoExchange) -> None:
        """Give ``exchange`` to every observer; a failing observer is logged, not raised."""
        for callback in self.callbacks:
            try:
                callback(exchange)
            except Exception:
                _log.exception("instrument I/O observer %r failed", callback)

    def record(
        self,
        instrument: str,
        operation: str,
        sent: bytes,
        exchange: Callable[[], bytes],
        decode: Callable[[bytes], T],
    ) -> T:
        """Run ``exchange`` (→ raw bytes received), then ``decode`` them; report both.

        A failure is reported with what was received (an unparseable reply's raw bytes)
        and re-raised.
        """
        at = datetime.now(UTC)
        started = time.perf_counter()
        received = b""
        error = ""
        try:
            received = exchange()
            return decode(received)
        except BaseException as exc:
            if not received and isinstance(exc, InstrumentProtocolError):
                received = exc.raw
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self.emit(
                IoExchange(
                    at,
                    instrument,
                    operation,
                    sent,
                    received,
                    time.perf_counter() - started,
                    error,
                )
            )


@runtime_checkable
class IoObservable(Protocol):
    """Something whose instrument exchanges can be observed (a transport or a driver)."""

    def add_io_observer(self, callback: IoObserver) -> None:
        """Report every later exchange to ``callback``."""
        ...

    def remove_io_observer(self, callback: IoObserver) -> None:
        """Stop reporting to ``callback``."""
        ...


class _HasTransport(Protocol):
    @property
    def transport(self) -> IoObservable: ...


class ObservableDriver:
    """Mixin for drivers: ``add_io_observer`` / ``remove_io_observer`` on ``self.transport``."""

    def add_io_observer(self: _HasTransport, callback: IoObserver) -> None:
        """Report every later exchange of this instrument to ``callback``."""
        self.transport.add_io_observer(callback)

    def remove_io_observer(self: _HasTransport, callback: IoObserver) -> None:
        """Stop reporting this instrument's exchanges to ``callback``."""
        self.transport.remove_io_observer(callback)
