"""One owner per run: a lease in the database, taken at start and resume, renewed while the
run executes, released at its end.

Taking is one conditional ``UPDATE`` (free, expired, or ours) on both SQLite and
PostgreSQL, so two processes that start a run's resume at the same instant cannot both
win. A lease whose holder died is free when it has expired, or at once when its holder
ran on this host and its process is gone. Renewals are not audited (they carry no lab
data); taking and releasing are, each with its reason.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from lims.audit import log_event
from lims.db import Database
from lims.db.types import utcnow
from lims.engine.errors import ResumeError
from lims.models import RunLease

__all__ = ["LEASE_SECONDS", "LeaseHeldError", "RunLeaseKeeper", "lease_of"]

log = logging.getLogger(__name__)

#: How long a lease lasts without renewal; it is renewed every third of it.
LEASE_SECONDS = 30.0


class LeaseHeldError(ResumeError):
    """Another process executes the run (the message says who and since when)."""


@dataclass(frozen=True)
class LeaseInfo:
    """Who holds a run's lease."""

    holder: str | None
    host: str
    pid: int
    taken_at: datetime | None
    expires_at: datetime | None


def lease_of(db: Database, run_id: int) -> LeaseInfo | None:
    """The run's lease as stored, or None when it never had one."""
    with db.read() as s:
        row = s.get(RunLease, run_id)
        if row is None:
            return None
        return LeaseInfo(row.holder, row.host, row.pid, row.taken_at, row.expires_at)


def _process_gone(host: str, pid: int) -> bool:
    """True when the holder ran on this host and its process no longer exists."""
    if host != socket.gethostname() or pid <= 0:
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class RunLeaseKeeper:
    """Takes, renews and releases one run's lease for this process."""

    def __init__(self, db: Database, run_id: int, actor: str, seconds: float = LEASE_SECONDS):
        self.db = db
        self.run_id = run_id
        self.actor = actor
        self.seconds = seconds
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.holder = f"{self.host}:{self.pid}:{uuid.uuid4().hex[:12]}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = threading.Event()

    def acquire(self, why: str) -> None:
        """Take the lease or raise :class:`LeaseHeldError` naming the holder."""
        now = utcnow()
        with self.db.write(actor=self.actor, reason=f"run {self.run_id}: lease taken ({why})") as s:
            row = s.get(RunLease, self.run_id)
            if row is None:
                s.add(RunLease(run_id=self.run_id, holder=None, host="", pid=0))
                try:
                    s.flush()
                except IntegrityError:  # another process inserted it first
                    s.rollback()
                    raise LeaseHeldError(
                        f"run {self.run_id} is being started by another process"
                    ) from None
                row = s.get(RunLease, self.run_id)
                assert row is not None
            previous = row.holder
            free = or_(
                RunLease.holder.is_(None),
                RunLease.expires_at < now,
                RunLease.holder == self.holder,
            )
            if row.holder is not None and _process_gone(row.host, row.pid):
                free = or_(free, RunLease.holder == row.holder)
            result = s.execute(
                update(RunLease)
                .where(RunLease.run_id == self.run_id, free)
                .values(
                    holder=self.holder,
                    host=self.host,
                    pid=self.pid,
                    taken_at=now,
                    expires_at=now + timedelta(seconds=self.seconds),
                )
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                s.expire_all()
                held = s.get(RunLease, self.run_id)
                assert held is not None
                since = held.taken_at.isoformat(timespec="seconds") if held.taken_at else "?"
                until = held.expires_at.isoformat(timespec="seconds") if held.expires_at else "?"
                raise LeaseHeldError(
                    f"运行占用 run {self.run_id} is executed by process {held.pid} on "
                    f"{held.host} since {since} (lease until {until}); wait for it to end "
                    "or, if that process is gone, for its lease to expire"
                )
            log_event(
                s,
                "lease",
                "run_leases",
                str(self.run_id),
                changes={"holder": [previous, self.holder]},
                reason=f"lease taken by {self.host} pid {self.pid} ({why})",
            )
        log.info("run %s: lease taken by %s", self.run_id, self.holder)

    def start_renewing(self) -> None:
        """Renew every third of the lease's duration until :meth:`release`."""
        self._thread = threading.Thread(
            target=self._renew_loop, name=f"run-lease-{self.run_id}", daemon=True
        )
        self._thread.start()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            try:
                with self.db.engine.begin() as conn:
                    result = conn.execute(
                        update(RunLease)
                        .where(RunLease.run_id == self.run_id, RunLease.holder == self.holder)
                        .values(expires_at=utcnow() + timedelta(seconds=self.seconds))
                    )
                if result.rowcount != 1:
                    log.error("run %s: lease lost to another process", self.run_id)
                    self.lost.set()
                    return
            except Exception:  # keep trying: a short database outage must not end the run
                log.exception("run %s: lease renewal failed", self.run_id)

    def release(self, why: str) -> None:
        """Give the lease up (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        try:
            with self.db.write(
                actor=self.actor, reason=f"run {self.run_id}: lease released ({why})"
            ) as s:
                row = s.scalars(
                    select(RunLease).where(
                        RunLease.run_id == self.run_id, RunLease.holder == self.holder
                    )
                ).one_or_none()
                if row is None:
                    return
                row.holder = None
                row.expires_at = None
                log_event(
                    s,
                    "lease",
                    "run_leases",
                    str(self.run_id),
                    changes={"holder": [self.holder, None]},
                    reason=f"lease released ({why})",
                )
        except Exception:
            log.exception("run %s: lease not released; it expires by itself", self.run_id)
