"""PostgreSQL's row versions: which rows were written since a checkpoint's verification.

PostgreSQL stamps every row version with the transaction that wrote it (the system column
``xmin``): an INSERT writes a row with a new id, an UPDATE a new version with a new id, a
table rewrite new versions of every row. A row whose ``xmin`` is a transaction a
verification's snapshot saw (older than the snapshot's xmax and not running then) is
exactly as that verification saw it. So a checkpoint records that snapshot
(:class:`RowVersions`) beside its digests, and the next incremental verification on the
same database finds every row written since with one scan per table that hashes nothing
(:class:`WrittenSince`), then re-checks those rows only (:mod:`lims.audit_verify`).
Deleted rows leave no version; the row counts, compared with what the audit trail says,
catch them. Tables that refuse every change but an insert (:meth:`WrittenSince.sealed`) are
only counted, and the readings and exchanges, whose inserts also need their run's chain event
(:meth:`WrittenSince.inserts_audited`), not even that.

Not used, so that the digests are recomputed from every row instead: on SQLite; when the
verification did not run on one snapshot; on another cluster or database than the
checkpoint's (after a restore); when the checkpoint is 2^30 transactions old or more
(transaction ids are compared modulo 2^32).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Table, func, select, text
from sqlalchemy.orm import Session

from lims.audit import AuditProblem
from lims.audit_stream import AuditedTable, newest_states, record_problem, stream

log = logging.getLogger(__name__)

#: Transactions after which a checkpoint's position is no longer used.
HORIZON = 1 << 30
_BATCH = 500


@dataclass(frozen=True)
class RowVersions:
    """A verification's snapshot in one PostgreSQL database: which transactions it saw."""

    #: The cluster (``pg_control_system().system_identifier``) and the database's name.
    system: str
    database: str
    #: The snapshot's xmax (64-bit): no transaction from it on was seen.
    xmax: int
    #: The transactions still running when the snapshot was taken (not seen either).
    running: tuple[int, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """What a checkpoint stores."""
        return {
            "system": self.system,
            "database": self.database,
            "xmax": self.xmax,
            "running": list(self.running),
        }

    @classmethod
    def from_json(cls, data: Any) -> RowVersions | None:
        """Parse :meth:`to_json`; None when absent or malformed."""
        if not isinstance(data, dict):
            return None
        try:
            running = tuple(int(x) for x in data.get("running", ()))
            return cls(str(data["system"]), str(data["database"]), int(data["xmax"]), running)
        except (KeyError, TypeError, ValueError):
            return None


def _identity(session: Session) -> tuple[str, str] | None:
    allowed = session.scalar(
        text("SELECT has_function_privilege('pg_control_system()', 'EXECUTE')")
    )
    if not allowed:
        return None
    row = session.execute(
        text("SELECT (SELECT system_identifier::text FROM pg_control_system()), current_database()")
    ).one()
    return str(row[0]), str(row[1])


def snapshot_position(session: Session) -> RowVersions | None:
    """The position of ``session``'s snapshot: only on PostgreSQL, in a REPEATABLE READ or
    SERIALIZABLE transaction (one snapshot for the whole verification)."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    level = str(session.connection().get_isolation_level()).upper()
    if level not in ("REPEATABLE READ", "SERIALIZABLE"):
        return None
    identity = _identity(session)
    if identity is None:
        return None
    xmax, running = session.execute(
        text(
            "SELECT pg_snapshot_xmax(s)::text, "
            "ARRAY(SELECT x::text FROM pg_snapshot_xip(s) AS x ORDER BY x) "
            "FROM pg_current_snapshot() AS s"
        )
    ).one()
    return RowVersions(identity[0], identity[1], int(xmax), tuple(int(x) for x in running))


@dataclass(frozen=True)
class WrittenSince:
    """The rows written since a checkpoint's position, in SQL."""

    position: RowVersions

    def condition(self, of: str = "") -> ColumnElement[bool]:
        """True for a row version the position's snapshot did not see: written by a
        transaction from its xmax on (``age`` counts back from the same transaction on both
        sides, modulo 2^32) or by one running then. ``of``: the table alias, if needed."""
        return text(self._sql(f"{of}.xmin" if of else "xmin"))  # type: ignore[return-value]

    def _sql(self, xmin: str) -> str:
        def xid(x: int) -> str:
            return f"'{x % (1 << 32)}'::xid"

        after = f"age({xmin}) <= age({xid(self.position.xmax)})"
        if not self.position.running:
            return after
        # most rows are older than the oldest running transaction: one comparison for them
        running = ",".join(str(x % (1 << 32)) for x in self.position.running)
        oldest = xid(min(self.position.running))
        return (
            f"(age({xmin}) <= age({oldest}) AND ({after} OR {xmin} = ANY('{{{running}}}'::xid[])))"
        )

    def sealed(self, session: Session, table: str) -> bool:
        """True when no row of the append-only ``table`` can have been updated, deleted or
        truncated since the position: its guards refuse every UPDATE, DELETE and TRUNCATE
        even in replica mode (``ENABLE ALWAYS``), and neither the table's, the guards' nor
        their function's catalog rows were written since (disabling, dropping, replacing a
        guard or rewriting the table writes them). Then only its row count
        (:func:`row_count`) needs reading."""
        return self._triggers_held(session, table, f"{table}_append_only", f"{table}_no_truncate")

    def inserts_audited(self, session: Session, table: str) -> bool:
        """True when every row inserted into the chained ``table`` since the position came in
        a transaction that first wrote its run's chain event (so that run is among the trail's
        newer events): the table's insert guard refuses any other insert even in replica
        mode, and neither it nor its function was written since. With :meth:`sealed`, the
        runs of the newer events are then the only ones whose rows can have changed, and the
        table's row count follows from the checkpoint's and theirs."""
        return self._triggers_held(session, table, f"{table}_audited_insert")

    def _triggers_held(self, session: Session, table: str, *names: str) -> bool:
        """The triggers ``names`` on ``table`` fire always and neither they, their functions
        nor the table's catalog row were written since the position."""
        query = text(
            "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_proc p ON p.oid = t.tgfoid "
            "WHERE c.oid = CAST(:table AS regclass) AND t.tgname = ANY(:names) "
            f"AND t.tgenabled = 'A' AND NOT {self._sql('c.xmin')} "
            f"AND NOT {self._sql('t.xmin')} AND NOT {self._sql('p.xmin')}"
        )
        held = session.scalar(query, {"table": table, "names": list(names)})
        return int(held or 0) == len(names)

    def key_kept(self, session: Session, table: str) -> bool:
        """True when ``table``'s primary key is the unique, valid index the position saw:
        neither its catalog rows nor its index's were written since (dropping, disabling
        or rebuilding it writes them)."""
        query = text(
            "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = CAST(:table AS regclass) AND i.indisprimary "
            "AND i.indisunique AND i.indisvalid AND i.indimmediate "
            f"AND NOT {self._sql('i.xmin')} AND NOT {self._sql('c.xmin')}"
        )
        return int(session.scalar(query, {"table": table}) or 0) == 1

    def survey(
        self,
        session: Session,
        table: Table,
        column: ColumnElement[Any],
        where: ColumnElement[bool] | None = None,
    ) -> Survey:
        """Rows of ``table`` [that match ``where``], those of them written since the
        position, and the range of ``column`` among the latter: one scan."""
        written = self.condition()
        query = select(
            func.count(),
            func.count().filter(written),
            func.min(column).filter(written),
            func.max(column).filter(written),
        ).select_from(table)
        if where is not None:
            query = query.where(where)
        rows, count, low, high = session.execute(query).one()
        return Survey(int(rows), int(count), low, high)

    def keys(self, session: Session, table: AuditedTable, found: Survey) -> set[str]:
        """Keys of the rows of ``table`` written since the position (within ``found``'s
        range of keys, which the primary key's index reaches)."""
        if not found.written:
            return set()
        query = select(table.key).where(table.key.between(found.low, found.high), self.condition())
        return {str(k) for (k,) in stream(session, query)}

    def runs(self, session: Session, table: Table, found: Survey) -> set[int]:
        """Runs with a row of the chained ``table`` written since the position (within
        ``found``'s range of runs)."""
        if not found.written:
            return set()
        run = table.c.run_id
        query = select(run).where(run.between(found.low, found.high), self.condition()).distinct()
        return {int(r) for (r,) in session.execute(query)}

    def event_ids(
        self, session: Session, table: Table, found: Survey, limit: int
    ) -> list[int] | None:
        """Ids of the events of ``found`` (a survey of the events up to the checkpoint)
        written since the position, or None when there are more than ``limit`` (a table
        rewrite: the caller re-hashes them all)."""
        if found.written > limit:
            return None
        if not found.written:
            return []
        query = (
            select(table.c.id)
            .where(table.c.id.between(found.low, found.high), self.condition())
            .order_by(table.c.id)
        )
        return [int(i) for (i,) in session.execute(query)]


@dataclass(frozen=True)
class Survey:
    """One scan of a table: its rows, the rows written since the position, and the lowest
    and highest key among the latter (None when there are none)."""

    rows: int
    written: int
    low: Any = None
    high: Any = None


def row_count(session: Session, table: Table, where: ColumnElement[bool] | None = None) -> int:
    """Rows of ``table`` [that match ``where``] (an index-only scan where it can)."""
    query = select(func.count()).select_from(table)
    if where is not None:
        query = query.where(where)
    return int(session.scalar(query) or 0)


def written_since(session: Session, position: RowVersions | None) -> WrittenSince | None:
    """The rows written since ``position``, when it can be used on this database."""
    if position is None or session.get_bind().dialect.name != "postgresql":
        return None
    identity = _identity(session)
    if identity != (position.system, position.database):
        log.info("checkpoint taken on another database: every digest is recomputed")
        return None
    now = int(str(session.scalar(text("SELECT pg_snapshot_xmax(pg_current_snapshot())::text"))))
    oldest = min((position.xmax, *position.running))
    if not 0 <= now - oldest < HORIZON:
        log.info("checkpoint %d transactions old: every digest is recomputed", now - oldest)
        return None
    return WrittenSince(position)


def check_records(session: Session, table: AuditedTable, keys: Iterable[str]) -> list[AuditProblem]:
    """The rows of ``keys`` against the newest state event of each: what
    :func:`lims.audit_stream.check_table` does for every row."""
    problems: list[AuditProblem] = []
    ordered = sorted(keys)
    for i in range(0, len(ordered), _BATCH):
        batch = ordered[i : i + _BATCH]
        problems += _check_batch(session, table, batch)
    return problems


def _check_batch(session: Session, table: AuditedTable, batch: Sequence[str]) -> list[AuditProblem]:
    values: list[Any] = list(batch)
    if table.integer_key:
        values = [int(k) for k in batch if k.isdigit() and str(int(k)) == k]
    rows = dict(
        table.state(row)
        for row in session.execute(table.select_rows().where(table.key.in_(values)))
    )
    events = {ev.record_id: ev for ev in session.execute(newest_states(table.name, batch))}
    found = (record_problem(table, key, rows.get(key), events.get(key)) for key in batch)
    return [p for p in found if p is not None]
