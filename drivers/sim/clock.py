"""The simulator's clock: one source of simulated time for every model, fault and control op.

* :class:`WallClock` — simulated seconds = wall seconds since start × ``time_scale`` (a bench
  served on its own, ``lims sim serve``, runs in scaled real time);
* :class:`VirtualClock` — time moves only when :meth:`VirtualClock.advance` or
  :meth:`VirtualClock.set` is called (the run engine drives it: waits cost no wall time and
  the same calls give the same replies whatever the machine load). In-process it is a
  plain object; across processes it lives in a small memory-mapped file that one process
  creates (:meth:`VirtualClock.create`) and others attach to (:meth:`VirtualClock.attach`).

``datetime()`` is the simulated date and time (UTC): the clock's start instant (whole
seconds) plus ``now()``.
"""

from __future__ import annotations

import datetime as dt
import math
import mmap
import os
import struct
import threading
import time
from pathlib import Path
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "ClockFileError", "VirtualClock", "WallClock"]


@runtime_checkable
class Clock(Protocol):
    """Simulated time as every simulator model reads it."""

    def now(self) -> float:
        """Simulated seconds since the clock's start."""
        ...

    def datetime(self) -> dt.datetime:
        """The simulated date and time (UTC)."""
        ...


def _whole_seconds(when: dt.datetime | None) -> dt.datetime:
    when = dt.datetime.now(dt.UTC) if when is None else when
    if when.tzinfo is None:
        raise ValueError("the clock's start must be timezone-aware")
    return when.astimezone(dt.UTC).replace(microsecond=0)


class WallClock:
    """Scaled real time: ``now()`` = wall seconds since construction × ``time_scale``."""

    def __init__(self, time_scale: float, start: dt.datetime | None = None) -> None:
        if not time_scale > 0 or not math.isfinite(time_scale):
            raise ValueError(f"time_scale must be a positive number, got {time_scale!r}")
        self.time_scale = time_scale
        self.start_datetime = _whole_seconds(start)
        self._t0 = time.monotonic()

    def now(self) -> float:
        """Simulated seconds since start."""
        return (time.monotonic() - self._t0) * self.time_scale

    def datetime(self) -> dt.datetime:
        """The simulated date and time (UTC)."""
        return self.start_datetime + dt.timedelta(seconds=self.now())


class ClockFileError(OSError):
    """A virtual-clock file that cannot be created or attached (one line says which and why)."""


# File layout (little-endian, 32 bytes): magic, sequence counter, simulated seconds, start
# (POSIX seconds). The writer makes the sequence odd while it writes and even afterwards; a
# reader retries until it sees the same even sequence before and after reading the value.
_MAGIC = b"SIMCLK01"
_LAYOUT = struct.Struct("<8sQdd")
_SEQ = struct.Struct("<Q")
_VALUE = struct.Struct("<d")
_SEQ_AT, _NOW_AT, _START_AT = 8, 16, 24
_RETRIES = 10_000


class VirtualClock:
    """Simulated time that moves only when told to (see the module docstring).

    ``VirtualClock()`` is an in-process clock; :meth:`create` / :meth:`attach` share one
    through a file. Every process may read it; the engine that drives the run is the
    only writer (writers in several processes are not serialised).
    """

    def __init__(
        self,
        now: float = 0.0,
        start: dt.datetime | None = None,
        *,
        _buffer: mmap.mmap | bytearray | None = None,
        _path: Path | None = None,
    ) -> None:
        self.path = _path
        self._write_lock = threading.Lock()
        if _buffer is None:
            _buffer = bytearray(_LAYOUT.size)
            _LAYOUT.pack_into(
                _buffer, 0, _MAGIC, 0, _check_time(now), _whole_seconds(start).timestamp()
            )
        self._buf = _buffer

    # --- sharing ------------------------------------------------------------------

    @classmethod
    def create(
        cls, path: str | Path, now: float = 0.0, start: dt.datetime | None = None
    ) -> VirtualClock:
        """Create the clock file at ``path`` (it must not exist) and return the clock."""
        path = Path(path)
        data = _LAYOUT.pack(_MAGIC, 0, _check_time(now), _whole_seconds(start).timestamp())
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise ClockFileError(f"{path}: cannot create the clock file: {exc.strerror}") from None
        try:
            os.write(fd, data)
            buffer = mmap.mmap(fd, _LAYOUT.size)
        finally:
            os.close(fd)
        return cls(_buffer=buffer, _path=path)

    @classmethod
    def attach(cls, path: str | Path) -> VirtualClock:
        """Attach to the clock file another process created."""
        path = Path(path)
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError as exc:
            raise ClockFileError(f"{path}: cannot open the clock file: {exc.strerror}") from None
        try:
            if os.fstat(fd).st_size != _LAYOUT.size:
                raise ClockFileError(f"{path}: not a simulator clock file (wrong size)")
            buffer = mmap.mmap(fd, _LAYOUT.size)
        finally:
            os.close(fd)
        if buffer[:8] != _MAGIC:
            buffer.close()
            raise ClockFileError(f"{path}: not a simulator clock file")
        return cls(_buffer=buffer, _path=path)

    def close(self) -> None:
        """Unmap the file (the clock may not be used afterwards; the file stays)."""
        if isinstance(self._buf, mmap.mmap) and not self._buf.closed:
            self._buf.close()

    # --- reading ------------------------------------------------------------------

    def now(self) -> float:
        """Simulated seconds."""
        buf = self._buf
        for _ in range(_RETRIES):
            (seq,) = _SEQ.unpack_from(buf, _SEQ_AT)
            if seq & 1:
                continue
            (value,) = _VALUE.unpack_from(buf, _NOW_AT)
            if _SEQ.unpack_from(buf, _SEQ_AT)[0] == seq:
                return float(value)
        # a writer that died half-way leaves the sequence odd: its value is still whole
        return float(_VALUE.unpack_from(buf, _NOW_AT)[0])

    @property
    def start_datetime(self) -> dt.datetime:
        """The instant simulated time 0 stands for (UTC, whole seconds)."""
        (start,) = _VALUE.unpack_from(self._buf, _START_AT)
        return dt.datetime.fromtimestamp(start, dt.UTC)

    def datetime(self) -> dt.datetime:
        """The simulated date and time (UTC)."""
        return self.start_datetime + dt.timedelta(seconds=self.now())

    # --- writing ------------------------------------------------------------------

    def set(self, seconds: float) -> None:
        """Set simulated time to ``seconds`` (e.g. a resumed run's stored time)."""
        value = _check_time(seconds)
        with self._write_lock:
            buf = self._buf
            (seq,) = _SEQ.unpack_from(buf, _SEQ_AT)
            _SEQ.pack_into(buf, _SEQ_AT, seq + 1)
            _VALUE.pack_into(buf, _NOW_AT, value)
            _SEQ.pack_into(buf, _SEQ_AT, seq + 2)

    def advance(self, seconds: float) -> float:
        """Move simulated time forward by ``seconds`` (≥ 0); returns the new time."""
        if not seconds >= 0 or not math.isfinite(seconds):
            raise ValueError(f"a clock advances by a finite non-negative time, got {seconds!r}")
        with self._write_lock:
            new = self.now() + seconds
            buf = self._buf
            (seq,) = _SEQ.unpack_from(buf, _SEQ_AT)
            _SEQ.pack_into(buf, _SEQ_AT, seq + 1)
            _VALUE.pack_into(buf, _NOW_AT, new)
            _SEQ.pack_into(buf, _SEQ_AT, seq + 2)
        return new


def _check_time(seconds: float) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise ValueError(f"simulated time must be a number of seconds, got {seconds!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"simulated time must be finite and non-negative, got {seconds!r}")
    return float(seconds)
