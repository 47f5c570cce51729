"""Bounded-memory building blocks of the audit verification.

Nothing here holds more than a window of rows: every query streams (server-side cursors
on PostgreSQL, stepped cursors on SQLite) and every comparison is a merge of two streams
in the same key order. The verification (:mod:`lims.audit_verify`) and the checkpoints
(:mod:`lims.audit_checkpoint`) are built on:

* :func:`check_table`: an audited table's rows merged with the newest state event of each
  record, naming every record changed, inserted or deleted outside the app;
* :func:`check_chains`: a chained table (readings, instrument I/O) walked run by run and
  merged with the newest audited head of each run;
* :class:`Digest`: an order-independent digest of a table's state (a sum of per-record
  SHA-256 values modulo 2^128), so that a table's state can be compared with a
  checkpoint's without holding either.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, cast

from sqlalchemy import (
    Column,
    ColumnElement,
    DateTime,
    Float,
    Integer,
    Select,
    Table,
    func,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session

from lims.audit import (
    GENESIS_SHA256,
    STATE_ACTIONS,
    AuditProblem,
    canonical_json,
    reading_chain_sha256,
    stored_canonical_json,
    without_upgrade_defaults,
)
from lims.db.base import Base
from lims.db.types import UTCDateTime
from lims.engine.io_record import IO_TABLE, io_chain_sha256
from lims.models.audit import AuditEvent
from lims.models.runs import InstrumentExchange, Reading

EVENTS = cast(Table, AuditEvent.__table__)
#: Rows fetched per round trip of a streamed query.
CHUNK = 2000
_MOD = 1 << 128


def stream(session: Session, stmt: Any, size: int | None = None) -> Iterator[Any]:
    """The rows of ``stmt``, fetched ``size`` (default :data:`CHUNK`) at a time (a
    server-side cursor on PostgreSQL)."""
    result = session.execute(stmt.execution_options(yield_per=size or CHUNK))
    try:
        yield from result
    finally:  # a walk that stops early releases its cursor
        result.close()


def row_hash(*parts: str | int) -> int:
    """128 bits of the SHA-256 of ``parts``: one record's share of a :class:`Digest`."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:16], "big")


@dataclass
class Digest:
    """An order-independent digest of a set of records: their count and hash sum."""

    rows: int = 0
    total: int = 0

    def add(self, h: int) -> None:
        """Count one record in."""
        self.rows += 1
        self.total = (self.total + h) % _MOD

    def remove(self, h: int) -> None:
        """Count one record out."""
        self.rows -= 1
        self.total = (self.total - h) % _MOD

    def to_json(self) -> dict[str, Any]:
        """``{"rows": n, "digest": hex}``."""
        return {"rows": self.rows, "digest": f"{self.total:032x}"}

    @classmethod
    def from_json(cls, data: Any) -> Digest:
        """Parse :meth:`to_json` (ValueError when it is not one)."""
        if not isinstance(data, dict):
            raise ValueError("a digest is an object")
        return cls(int(data["rows"]), int(str(data["digest"]), 16))


def state_hash(table: str, key: str, state: dict[str, Any]) -> int:
    """A record's share of its table's digest: from its audited state (as stored)."""
    return row_hash(table, key, stored_canonical_json(state))


def head_hash(table: str, run_id: int, count: int, head: str) -> int:
    """A run's share of a chained table's digest: its count and chain head."""
    return row_hash(table, run_id, count, head)


# --------------------------------------------------------------------------- audited tables


@dataclass(frozen=True)
class AuditedTable:
    """How to read an audited model's rows as the states its audit events record."""

    model: type[Base]
    name: str
    key: Column[Any]
    columns: tuple[tuple[str, Column[Any], bool], ...]

    @property
    def integer_key(self) -> bool:
        """True when the primary key is an integer (ordered numerically)."""
        return isinstance(self.key.type, Integer)

    def select_rows(self) -> Select[Any]:
        """Every row: the key first, then the audited columns."""
        return select(self.key, *[c for _, c, _ in self.columns])

    def state(self, row: Sequence[Any]) -> tuple[str, dict[str, Any]]:
        """(key, state) of a row of :meth:`select_rows`: the column values by name, whose
        :func:`~lims.audit.stored_canonical_json` is that of :func:`record_state`."""
        state: dict[str, Any] = {}
        for (attr, _, is_float), value in zip(self.columns, row[1:], strict=True):
            if value is not None and is_float:
                value = float(value)
            state[attr] = value
        return str(row[0]), state


def audited_tables() -> list[AuditedTable]:
    """Every audited model, by table name."""
    out = []
    for mapper in sorted(
        (m for m in Base.registry.mappers if m.class_.__audited__),
        key=lambda m: m.class_.__tablename__,
    ):
        (key_col,) = mapper.primary_key
        key = cast(Column[Any], key_col)
        cols = tuple(
            (a.key, cast(Column[Any], a.columns[0]), isinstance(a.columns[0].type, Float))
            for a in mapper.column_attrs
        )
        out.append(AuditedTable(mapper.class_, mapper.class_.__tablename__, key, cols))
    return out


def _text_order(session: Session, expr: ColumnElement[Any]) -> ColumnElement[Any]:
    """``expr`` ordered by code point on either backend (what Python's ``<`` does)."""
    return expr.collate("C" if session.get_bind().dialect.name == "postgresql" else "BINARY")


def _key_order(session: Session, expr: ColumnElement[Any], integer: bool) -> list[Any]:
    """Order of record ids as text that matches the rows' key order: canonical decimal
    numbers sort by length first."""
    if integer:
        return [func.length(expr), _text_order(session, expr)]
    return [_text_order(session, expr)]


def latest_events(
    session: Session,
    table: str,
    *,
    integer_key: bool,
    keys: Sequence[str] | None = None,
) -> Select[Any]:
    """The newest state event of each record of ``table`` (id, record_id, action, state),
    optionally only of the records ``keys``, in key order."""
    newest = (
        select(func.max(EVENTS.c.id).label("mid"))
        .where(EVENTS.c.table_name == table, EVENTS.c.action.in_(sorted(STATE_ACTIONS)))
        .group_by(EVENTS.c.record_id)
    )
    if keys is not None:
        newest = newest.where(EVENTS.c.record_id.in_(keys))
    sub = newest.subquery()
    query = select(EVENTS.c.id, EVENTS.c.record_id, EVENTS.c.action, EVENTS.c.state).join(
        sub, EVENTS.c.id == sub.c.mid
    )
    return query.order_by(*_key_order(session, EVENTS.c.record_id, integer_key))


def newest_states(table: str, keys: Sequence[str], before: int | None = None) -> Select[Any]:
    """The newest state event (id, record_id, action, state) of each of ``keys`` of
    ``table``, optionally before event ``before``; in no particular order.

    One index probe per key (``ix_audit_events_record`` ends with the event id), whatever
    the number of events of a key: a counter that every certificate updates has one event
    per certificate, and :func:`latest_events` would read them all.
    """
    older = EVENTS.alias("older")
    bound = [] if before is None else [older.c.id < before]
    probes = [
        select(older.c.id)
        .where(
            older.c.table_name == table,
            older.c.record_id == key,
            older.c.action.in_(sorted(STATE_ACTIONS)),
            *bound,
        )
        .order_by(older.c.id.desc())
        .limit(1)
        .scalar_subquery()
        for key in keys
    ]
    return select(EVENTS.c.id, EVENTS.c.record_id, EVENTS.c.action, EVENTS.c.state).where(
        EVENTS.c.id.in_(probes)
    )


def canonical_int(key: str) -> int | None:
    """``key`` as an integer when it is written as one canonically ("12", not "012")."""
    return int(key) if key.isdigit() and str(int(key)) == key else None


@dataclass
class TableCheck:
    """What :func:`check_table` found, and the digest of the table's rows."""

    records: int = 0
    digest: Digest = field(default_factory=Digest)
    problems: list[AuditProblem] = field(default_factory=list)


def _diff_fields(current: dict[str, Any], audited: dict[str, Any]) -> list[str]:
    keys = sorted(set(current) | set(audited))
    return [
        k for k in keys if canonical_json(current.get(k)) != canonical_json(audited.get(k))
    ] or ["(representation)"]


def check_table(session: Session, table: AuditedTable) -> TableCheck:
    """Every row of ``table`` against the newest state event of its record (a merge)."""
    out = TableCheck()
    name = table.name
    rows_q = table.select_rows().order_by(
        table.key if table.integer_key else _text_order(session, table.key)
    )
    events = iter(stream(session, latest_events(session, name, integer_key=table.integer_key)))

    def sort_key(k: str) -> Any:
        return int(k) if table.integer_key else k

    def next_event() -> Any:
        for ev in events:
            if table.integer_key and canonical_int(ev.record_id) is None:
                if ev.action != "delete":
                    out.problems.append(_deleted(name, ev))
                continue
            return ev
        return None

    def unmatched(ev: Any) -> None:
        if ev.action != "delete":
            out.problems.append(_deleted(name, ev))

    ev = next_event()
    for row in stream(session, rows_q):
        key, state = table.state(row)
        out.records += 1
        text = stored_canonical_json(state)
        out.digest.add(row_hash(name, key, text))
        while ev is not None and sort_key(ev.record_id) < sort_key(key):
            unmatched(ev)
            ev = next_event()
        problem = record_problem(
            table, key, state, ev if ev is not None and ev.record_id == key else None, text
        )
        if problem is not None:
            out.problems.append(problem)
        if ev is not None and ev.record_id == key:
            ev = next_event()
    while ev is not None:
        unmatched(ev)
        ev = next_event()
    return out


def record_problem(
    table: AuditedTable,
    key: str,
    state: dict[str, Any] | None,
    ev: Any,
    text: str | None = None,
) -> AuditProblem | None:
    """What is wrong with record ``key`` (its row's ``state``, None when it has no row)
    given its newest state event ``ev`` (None when it has none); ``text`` is the state's
    :func:`~lims.audit.stored_canonical_json` when already computed."""
    name = table.name
    if state is None:
        return _deleted(name, ev) if ev is not None and ev.action != "delete" else None
    if ev is None or ev.action == "delete":
        return AuditProblem(
            "record", f"{name} {key}", "has no audit event: inserted outside the app"
        )
    if text is None:
        text = stored_canonical_json(state)
    if text == stored_canonical_json(ev.state):
        return None
    upgraded = without_upgrade_defaults(table.model, state, ev.state)
    if canonical_json(upgraded) == canonical_json(ev.state):
        return None
    return AuditProblem(
        "record",
        f"{name} {key}",
        f"differs from its audited state (event {ev.id}) in "
        f"{', '.join(_diff_fields(upgraded, ev.state))}: changed outside the app",
    )


def _deleted(table: str, ev: Any) -> AuditProblem:
    return AuditProblem(
        "record",
        f"{table} {ev.record_id}",
        f"is missing but audit event {ev.id} says it exists: deleted outside the app",
    )


def table_digest(session: Session, table: AuditedTable) -> TableCheck:
    """The digest of ``table``'s rows, streamed in any order (no comparison)."""
    out = TableCheck()
    for row in stream(session, table.select_rows()):
        key, state = table.state(row)
        out.records += 1
        out.digest.add(row_hash(table.name, key, stored_canonical_json(state)))
    return out


# --------------------------------------------------------------------------- chained tables


@dataclass(frozen=True)
class ChainedTable:
    """A table whose rows are chained per run, with the run's head audited."""

    name: str
    model: type[Base]
    what: str
    one: str
    kind: str
    #: The columns the chain hash covers (as :func:`lims.audit.reading_content` names them).
    columns: tuple[str, ...]
    chain: Callable[[str, dict[str, Any]], str]

    @property
    def table(self) -> Table:
        """The mapped table."""
        return cast(Table, self.model.__table__)

    def select_chain(self) -> Select[Any]:
        """run id, seq, stored chain hash, then :attr:`columns`; UTC timestamps as stored
        (naive: :func:`content` writes them as their aware form would be written)."""
        t = self.table
        cols = [
            type_coerce(t.c[n], DateTime()) if isinstance(t.c[n].type, UTCDateTime) else t.c[n]
            for n in self.columns
        ]
        return select(t.c.run_id, t.c.seq, t.c.chain_sha256, *cols)

    def content(self, row: Sequence[Any]) -> dict[str, Any]:
        """The content a row of :meth:`select_chain` was chained with."""
        content = dict(zip(self.columns, row[3:], strict=True))
        for name in self._timestamps:
            value = content[name]
            if isinstance(value, datetime):
                content[name] = value.isoformat() + "+00:00"
        return content

    @cached_property
    def _timestamps(self) -> tuple[str, ...]:
        t = self.table
        return tuple(n for n in self.columns if isinstance(t.c[n].type, UTCDateTime))


READINGS = ChainedTable(
    "readings",
    Reading,
    "readings",
    "a reading",
    "reading",
    ("run_id", "seq", "step", "test_point", "quantity", "magnitude", "unit", "taken_at", "source"),
    reading_chain_sha256,
)
INSTRUMENT_IO = ChainedTable(
    IO_TABLE,
    InstrumentExchange,
    "instrument exchanges",
    "an exchange",
    "instrument_io",
    ("run_id", "seq", "at", "instrument", "operation", "sent", "received", "duration_s", "error"),
    io_chain_sha256,
)
CHAINED = (READINGS, INSTRUMENT_IO)


@dataclass
class ChainCheck:
    """What :func:`check_chains` found, and the digest of the runs' heads."""

    rows: int = 0
    digest: Digest = field(default_factory=Digest)
    problems: list[AuditProblem] = field(default_factory=list)


def _run_chains(
    session: Session, chained: ChainedTable, runs: Iterable[int] | None, out: ChainCheck
) -> Iterator[tuple[int, int, str]]:
    """(run id, count, head) of each run's chain, walked in full; a broken run is reported
    and not yielded."""
    t = chained.table
    every = chained.select_chain()
    if runs is None:
        queries: Iterable[Any] = [every.order_by(t.c.run_id, t.c.seq)]
    else:
        queries = (every.where(t.c.run_id == r).order_by(t.c.seq) for r in runs)
    content, chain = chained.content, chained.chain
    for query in queries:
        run_id: int | None = None
        prev, count, broken = GENESIS_SHA256, 0, False
        for r in stream(session, query):
            out.rows += 1
            row_run, seq, stored = r[0], r[1], r[2]
            if row_run != run_id:
                if run_id is not None and not broken:
                    yield run_id, count, prev
                run_id, prev, count, broken = row_run, GENESIS_SHA256, 0, False
            count += 1
            if not broken and (seq != count or chain(prev, content(r)) != stored):
                broken = True
                out.problems.append(
                    AuditProblem(
                        chained.kind,
                        f"{chained.what} of run {row_run} at seq {seq}",
                        f"do not match their chain: {chained.one} was altered, inserted or deleted",
                    )
                )
            prev = stored
        if run_id is not None and not broken:
            yield run_id, count, prev


def expected_head(state: Any) -> tuple[int, str]:
    """(count, head) an append event records."""
    if not isinstance(state, dict):
        return -1, ""
    return int(state.get("count", -1)), str(state.get("head"))


def check_chains(
    session: Session, chained: ChainedTable, runs: Sequence[int] | None = None
) -> ChainCheck:
    """Walk every run's chain (or those of ``runs``) and merge with the audited heads."""
    out = ChainCheck()
    runs = None if runs is None else sorted(set(runs))
    heads = latest_events(
        session,
        chained.name,
        integer_key=True,
        keys=None if runs is None else [str(r) for r in runs],
    )
    events = iter(stream(session, heads))

    def next_event() -> Any:
        for ev in events:
            if canonical_int(ev.record_id) is None:
                out.problems.append(
                    AuditProblem(
                        chained.kind,
                        chained.name,
                        f"audit event {ev.id} for run {ev.record_id!r} is malformed",
                    )
                )
                continue
            return ev
        return None

    def never_walked(ev: Any) -> None:
        count, _ = expected_head(ev.state)
        if count != 0:
            out.problems.append(_count_problem(chained, int(ev.record_id), 0, ev))

    ev = next_event()
    broken_before = len(out.problems)
    for run_id, count, head in _run_chains(session, chained, runs, out):
        while ev is not None and int(ev.record_id) < run_id:
            if not _was_broken(out, chained, int(ev.record_id), broken_before):
                never_walked(ev)
            ev = next_event()
        if ev is None or int(ev.record_id) != run_id:
            out.problems.append(
                AuditProblem(chained.kind, f"{chained.what} of run {run_id}", "were never audited")
            )
            continue
        out.digest.add(head_hash(chained.name, run_id, count, head))
        if (count, head) != expected_head(ev.state):
            out.problems.append(_count_problem(chained, run_id, count, ev))
        ev = next_event()
    while ev is not None:
        if not _was_broken(out, chained, int(ev.record_id), broken_before):
            never_walked(ev)
        ev = next_event()
    return out


def _was_broken(out: ChainCheck, chained: ChainedTable, run_id: int, since: int) -> bool:
    prefix = f"{chained.what} of run {run_id} at seq "
    return any(p.where.startswith(prefix) for p in out.problems[since:])


def _count_problem(chained: ChainedTable, run_id: int, count: int, ev: Any) -> AuditProblem:
    recorded, _ = expected_head(ev.state)
    return AuditProblem(
        chained.kind,
        f"{chained.what} of run {run_id}",
        f"{count} stored but audit event {ev.id} recorded {recorded}: "
        f"{chained.what} were deleted or inserted",
    )


def heads_digest(session: Session, chained: ChainedTable) -> tuple[int, Digest]:
    """(rows, digest of every run's count and stored head), from the database's aggregates:
    what an incremental verification compares for runs untouched since the checkpoint."""
    t = chained.table
    agg = (
        select(
            t.c.run_id,
            func.count().label("n"),
            func.max(t.c.seq).label("m"),
        )
        .group_by(t.c.run_id)
        .subquery()
    )
    query = select(agg.c.run_id, agg.c.n, agg.c.m, t.c.chain_sha256).join(
        t, (t.c.run_id == agg.c.run_id) & (t.c.seq == agg.c.m)
    )
    digest = Digest()
    rows = 0
    for run_id, n, m, head in stream(session, query):
        rows += int(n)
        # a count that differs from the last seq (a reading removed or doubled) never matches
        digest.add(head_hash(chained.name, int(run_id), int(n) if n == m else -int(n), head))
    return rows, digest
