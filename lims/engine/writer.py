"""The reading writer: a thread that drains readings into the database in batches.

Readings (and the instruments' I/O exchanges, :mod:`lims.engine.io_record`) are queued
by the run's worker thread the moment they are taken. The writer commits a batch at
least every ``max_latency_s`` (200 ms) and whenever :meth:`flush` is called (the engine
flushes at every step boundary), whatever the pacing. Commits are grouped for the audit
trail (:mod:`lims.engine.journal`): a batch that closes a group (a flush, the writer's
close, or ``seal_interval_s`` after the group's first item) is written into the audited
chains with the group's journaled batches, one audit event per chain; any other batch is
committed to the run's journal. At real-time pacing (one reading a second) a step of
twelve readings is one audit event, not twelve.

A batch retried after an uncertain commit (the connection dropped after COMMIT was sent)
finds its readings stored with the same content and skips them; a reading whose sequence
number is stored with *other* content means a second process records the run: that is
an error that stops the run, never a silent skip.

**Acknowledged** means: the reading's batch has been committed to the database (journal
or chain; on SQLite with ``synchronous=FULL``, on PostgreSQL with its default synchronous
commit), so it survives kill -9 and a power cut. The writer publishes
:class:`~lims.engine.events.ReadingsCommitted` with the last acknowledged sequence
number after every commit; :meth:`flush` returns only when every reading queued before it
is acknowledged and sealed. The engine never lets a step pass its boundary before that.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import select

from lims.audit import AuditError
from lims.db import Database
from lims.engine.errors import WriterError
from lims.engine.journal import seal, write_journal
from lims.models import Reading

__all__ = ["ReadingWriter"]

_STOP = object()


class _Barrier:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.error: BaseException | None = None


class ReadingWriter:
    """Background writer of one run's readings.

    ``on_commit(last_seq, count)`` is called on the writer thread after each commit.
    """

    def __init__(
        self,
        db: Database,
        run_id: int,
        actor: Any,
        *,
        max_latency_s: float = 0.2,
        seal_interval_s: float = 10.0,
        retries: int = 5,
        retry_delay_s: float = 0.05,
        on_commit: Callable[[int, int], None] | None = None,
    ) -> None:
        self.db = db
        self.run_id = run_id
        self.actor = actor
        self.max_latency_s = max_latency_s
        self.seal_interval_s = seal_interval_s
        self.retries = retries
        self.retry_delay_s = retry_delay_s
        self.on_commit = on_commit
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(
            target=self._loop, name=f"reading-writer-{run_id}", daemon=True
        )
        self._error: WriterError | None = None
        self.committed_seq = 0
        self.batches = 0
        #: Groups sealed into the audited chains (one audit event per chain each).
        self.seals = 0
        self._group_started: float | None = None  # first journaled item of the open group
        self._sealing = False

    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    def put(self, reading: dict[str, Any]) -> None:
        """Queue one reading (a dict as :func:`append_readings` takes) or, with
        ``"kind": "io"``, one instrument exchange (:func:`~lims.engine.io_record.append_io`)."""
        if self._error is not None:
            raise self._error
        self._queue.put(reading)

    def flush(self, timeout_s: float = 60.0) -> int:
        """Block until every reading queued so far is committed; return the last seq.

        Raises :class:`WriterError` if the database refused the readings.
        """
        barrier = _Barrier()
        self._queue.put(barrier)
        if not barrier.done.wait(timeout_s):
            raise WriterError(f"run {self.run_id}: readings not committed within {timeout_s:g} s")
        if barrier.error is not None:
            raise WriterError(f"run {self.run_id}: readings not committed: {barrier.error}")
        return self.committed_seq

    def close(self, timeout_s: float = 60.0) -> None:
        """Commit what is queued and stop the thread."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout_s)

    # ------------------------------------------------------------------ thread

    def _loop(self) -> None:
        batch: list[dict[str, Any]] = []
        deadline: float | None = None
        while True:
            due = [d for d in (deadline, self._seal_due()) if d is not None]
            wait = None if not due else max(0.0, min(due) - time.monotonic())
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                item = None
            if isinstance(item, dict):
                batch.append(item)
                if deadline is None:
                    deadline = time.monotonic() + self.max_latency_s
                if time.monotonic() < deadline:
                    continue
            seal_due = self._seal_due()
            self._sealing = (
                item is _STOP
                or isinstance(item, _Barrier)
                or (seal_due is not None and time.monotonic() >= seal_due)
            )
            error = self._write(batch)
            if error is None or isinstance(error, AuditError):
                # written, or refused for good (never acknowledged: the run stops)
                batch, deadline = [], None
            else:
                deadline = time.monotonic() + self.max_latency_s
            if isinstance(item, _Barrier):
                item.error = error
                item.done.set()
            if item is _STOP:
                return

    def _seal_due(self) -> float | None:
        if self._group_started is None:
            return None
        return self._group_started + self.seal_interval_s

    def _write(self, batch: Sequence[dict[str, Any]]) -> BaseException | None:
        if not batch and not (self._sealing and self._group_started is not None):
            return None
        last_exc: BaseException | None = None
        for attempt in range(self.retries):
            try:
                self._commit(batch)
            except AuditError as exc:  # a conflict is not transient: stop, never skip
                self._error = WriterError(f"run {self.run_id}: readings refused: {exc}")
                return exc
            except Exception as exc:  # any database error: retry the same batch
                last_exc = exc
                time.sleep(self.retry_delay_s * (2**attempt))
                continue
            if self._sealing:
                self.seals += 1
                self._group_started = None
            elif self._group_started is None and batch:
                self._group_started = time.monotonic()
            seqs = [int(r["seq"]) for r in batch if r.get("kind") != "io"]
            if seqs:
                self.committed_seq = max(seqs)
            self.batches += 1
            self._error = None
            if self.on_commit is not None and seqs:
                self.on_commit(self.committed_seq, len(seqs))
            return None
        self._error = WriterError(f"run {self.run_id}: database refused readings: {last_exc}")
        return last_exc

    def _commit(self, batch: Sequence[dict[str, Any]]) -> None:
        """Write one batch in one transaction: sealed with the run's journal into the audited
        chains when the group closes, else into the journal (retry-safe either way)."""
        readings = [r for r in batch if r.get("kind") != "io"]
        if readings:
            reason = (
                f"readings {readings[0]['seq']}–{readings[-1]['seq']} of step "
                f"{readings[-1]['step']} recorded"
            )
        else:
            reason = "readings recorded by the run engine"
        with self.db.write(actor=self.actor, reason=reason) as session:
            if readings:
                self._refuse_conflicts(session, readings)
            if self._sealing:
                seal(session, self.run_id, batch)
            else:
                write_journal(session, self.run_id, batch)

    def _refuse_conflicts(self, session: Any, readings: Sequence[dict[str, Any]]) -> None:
        """A stored sequence number must hold the same reading (a retried batch), else
        another process writes this run's readings."""
        low = min(int(r["seq"]) for r in readings)
        stored = {
            row.seq: row
            for row in session.scalars(
                select(Reading).where(Reading.run_id == self.run_id, Reading.seq >= low)
            )
        }
        for r in readings:
            row = stored.get(int(r["seq"]))
            if row is None:
                continue
            same = (
                row.quantity == r["quantity"]
                and row.step == r["step"]
                and row.unit == r["unit"]
                and float(row.magnitude) == float(r["magnitude"])
                and row.source == r["source"]
            )
            if not same:
                raise AuditError(
                    f"reading {r['seq']} of run {self.run_id} is already stored with other "
                    f"content ({row.quantity} = {row.magnitude:g} {row.unit}): another process "
                    "records this run"
                )
