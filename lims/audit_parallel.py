"""The chained tables' walks in worker processes, on the verifying transaction's snapshot.

A full verification of a large PostgreSQL lab spends about half its time hashing the
readings' and instrument exchanges' chains. :func:`start_chain_checks` hands those walks
(:func:`lims.audit_stream.check_chains`) to worker processes while the calling process
walks the events and the audited tables. The workers see exactly what the caller sees:
the caller's REPEATABLE READ transaction exports its snapshot (``pg_export_snapshot``)
and each worker imports it (``SET TRANSACTION SNAPSHOT``) before its first query.

Only a read-only PostgreSQL transaction can share its snapshot this way (a snapshot does
not carry the exporter's uncommitted writes); on SQLite, on one CPU, for a small lab, or
when the caller has written in its transaction, the walks stay in the calling process.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from typing import IO, Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from lims.audit import AuditProblem
from lims.audit_stream import CHAINED, ChainCheck, ChainedTable, Digest, check_chains

__all__ = ["PARALLEL_MIN_ROWS", "ChainChecks", "start_chain_checks"]

log = logging.getLogger(__name__)

#: Below this many estimated readings a worker's start-up (about a second) is not worth it.
PARALLEL_MIN_ROWS = 200_000

_SNAPSHOT_ID = re.compile(r"^[0-9A-Fa-f]+-[0-9A-Fa-f]+(-[0-9A-Fa-f]+)?$")


class ChainWorkerError(RuntimeError):
    """A worker process could not check its chains."""


class ChainChecks:
    """The chained tables' checks, running in worker processes; :meth:`result` waits."""

    def __init__(self, workers: dict[str, tuple[subprocess.Popen[bytes], IO[bytes]]]):
        self._workers = workers
        self._results: dict[str, ChainCheck] = {}

    def result(self, chained: ChainedTable) -> ChainCheck:
        """What :func:`check_chains` found for ``chained`` (ChainWorkerError when its
        worker failed)."""
        if chained.name not in self._results:
            worker, errors = self._workers[chained.name]
            assert worker.stdout is not None
            out = worker.stdout.read()
            if worker.wait() != 0:
                errors.seek(0)
                err = errors.read().decode("utf-8", "replace")
                last = (err.strip().splitlines() or ["no output"])[-1]
                raise ChainWorkerError(f"the {chained.what} check failed in a worker: {last}")
            for name, found in json.loads(out).items():
                self._results[str(name)] = _from_json(found)
        return self._results[chained.name]

    def close(self) -> None:
        """Stop the workers that have not finished."""
        for worker, errors in self._workers.values():
            if worker.poll() is None:
                worker.kill()
                worker.wait()
            if worker.stdout is not None:
                worker.stdout.close()
            errors.close()


def start_chain_checks(session: Session, *, force: bool = False) -> ChainChecks | None:
    """Start the walks of :data:`~lims.audit_stream.CHAINED` in worker processes on
    ``session``'s snapshot, or None when they should run in the calling process (see the
    module's text; ``force`` ignores the size threshold and the CPU count, for tests).

    ``session`` must be a read-only REPEATABLE READ (or SERIALIZABLE) transaction on
    PostgreSQL, as :func:`lims.integrity.verification_session` opens.
    """
    bind = session.get_bind()
    if bind.dialect.name != "postgresql" or session.new or session.dirty or session.deleted:
        return None
    level = str(session.connection().get_isolation_level()).upper()
    if level not in ("REPEATABLE READ", "SERIALIZABLE"):
        return None
    if session.execute(text("SELECT txid_current_if_assigned()")).scalar() is not None:
        return None  # the transaction has written: a worker would not see its writes
    small = (os.cpu_count() or 1) < 2 or _estimated_readings(session) < PARALLEL_MIN_ROWS
    if small and not force:
        return None
    snapshot = str(session.execute(text("SELECT pg_export_snapshot()")).scalar_one())
    url = bind.engine.url.render_as_string(hide_password=False)
    count = min(len(CHAINED), max((os.cpu_count() or 1) - 1, 1))
    shares = [[c.name for c in CHAINED[i::count]] for i in range(count)]
    workers: dict[str, tuple[subprocess.Popen[bytes], IO[bytes]]] = {}
    for names in shares:
        errors = tempfile.TemporaryFile()  # noqa: SIM115 (closed by ChainChecks.close)
        worker = subprocess.Popen(
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
        )
        # the URL (with its password) goes through a pipe, never the command line
        assert worker.stdin is not None
        worker.stdin.write(json.dumps([url, snapshot, names]).encode("utf-8"))
        worker.stdin.close()
        for name in names:
            workers[name] = (worker, errors)
    log.info("chain checks in %d worker process(es) on snapshot %s", count, snapshot)
    return ChainChecks(workers)


def _estimated_readings(session: Session) -> float:
    estimate = session.execute(
        text("SELECT reltuples FROM pg_class WHERE oid = to_regclass('readings')")
    ).scalar()
    return float(estimate or 0.0)


def _check_in_snapshot(url: str, snapshot: str, names: Sequence[str]) -> dict[str, ChainCheck]:
    """In a worker: :func:`check_chains` of the chained tables ``names`` on ``snapshot``."""
    if not _SNAPSHOT_ID.match(snapshot):
        raise ValueError(f"not a snapshot id: {snapshot!r}")
    from sqlalchemy import create_engine

    engine = create_engine(make_url(url), poolclass=NullPool, hide_parameters=True)
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with Session(bind=conn) as session:
                session.execute(text(f"SET TRANSACTION SNAPSHOT '{snapshot}'"))
                try:
                    return {n: check_chains(session, _by_name(CHAINED, n)) for n in names}
                finally:
                    session.rollback()
    finally:
        engine.dispose()


def _by_name(tables: Sequence[ChainedTable], name: str) -> ChainedTable:
    for table in tables:
        if table.name == name:
            return table
    raise KeyError(name)


def _to_json(check: ChainCheck) -> dict[str, Any]:
    return {
        "rows": check.rows,
        "digest": check.digest.to_json(),
        "problems": [[p.kind, p.where, p.detail] for p in check.problems],
    }


def _from_json(data: dict[str, Any]) -> ChainCheck:
    return ChainCheck(
        rows=int(data["rows"]),
        digest=Digest.from_json(data["digest"]),
        problems=[AuditProblem(str(k), str(w), str(d)) for k, w, d in data["problems"]],
    )


def _worker_main() -> int:
    """Read ``[url, snapshot, [table, ...]]`` from stdin, write the checks as JSON."""
    try:
        url, snapshot, names = json.loads(sys.stdin.buffer.read())
        checks = _check_in_snapshot(str(url), str(snapshot), [str(n) for n in names])
    except Exception as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(json.dumps({name: _to_json(c) for name, c in checks.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(_worker_main())
