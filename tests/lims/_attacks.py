"""What the tamper suite's insider does: plain-SQL edits of the lab's records, the audit
trail and its head (with every guard trigger dropped and foreign keys relaxed first), and
edits of the files under the data directory (each returning how to put them back)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    Connection,
    Date,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from lims.audit import GENESIS_SHA256, stored_event_sha256
from lims.db.base import Base
from lims.models import AuditEvent
from lims.quality.archive import iter_archive
from tests.lims._lab import drop_guard
from tests.lims._tamper_lab import TamperLab as Lab

Edit = Callable[[Connection], object]


def unguard(conn: Connection) -> None:
    """Drop every guard trigger and relax foreign keys, as a database owner can."""
    for table in Base.metadata.sorted_tables:
        drop_guard(conn, table.name)
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
    else:
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")


def table_named(name: str) -> Table:
    """The mapped table ``name``."""
    return Base.metadata.tables[name]


def _first(conn: Connection, table: Table) -> dict[str, Any]:
    pk = list(table.primary_key.columns)
    return dict(conn.execute(select(table).order_by(*pk).limit(1)).mappings().one())


def _where_pk(table: Table, row: dict[str, Any]) -> Any:
    (pk,) = table.primary_key.columns
    return pk == row[pk.name]


def _changed(column: Any, value: Any) -> Any:
    """A plausible different value for ``column``."""
    kind = column.type
    if value is None:
        return 1 if isinstance(kind, Integer) else None
    if isinstance(kind, Boolean):
        return not value
    if isinstance(kind, Integer):
        return value + 1
    if isinstance(kind, Float):
        return value + 0.5
    if isinstance(kind, DateTime | Date) or isinstance(value, date):  # datetime is a date
        return value + timedelta(days=1)
    if isinstance(kind, LargeBinary):
        return bytes(value) + b"x"
    if isinstance(kind, String | Text):
        options = getattr(kind, "enums", None)
        if options:
            return next(o for o in options if o != value)
        return ("X" + value)[: kind.length] if getattr(kind, "length", None) else value + "X"
    if isinstance(value, dict):
        return {**value, "tampered": True}
    return None


def update_one(name: str) -> Edit:
    """Change one plain column of the first row of ``name``."""

    def edit(conn: Connection) -> None:
        table = table_named(name)
        row = _first(conn, table)
        keys = {c.name for c in table.primary_key.columns}
        for column in table.columns:
            if column.name in keys or column.foreign_keys:
                continue
            new = _changed(column, row[column.name])
            if new is not None and new != row[column.name]:
                conn.execute(update(table).where(_where_pk(table, row)).values({column.name: new}))
                return
        raise AssertionError(f"{name}: no column to change")

    return edit


def delete_one(name: str) -> Edit:
    """Delete the first row of ``name``."""

    def edit(conn: Connection) -> None:
        table = table_named(name)
        row = _first(conn, table)
        conn.execute(table.delete().where(_where_pk(table, row)))

    return edit


def _unique_sets(table: Table) -> list[list[Any]]:
    """The column sets a forged row must not repeat (partial indexes aside: the certificate
    copy sidesteps those by its status)."""
    sets = [list(c.columns) for c in table.constraints if isinstance(c, UniqueConstraint)]
    for index in table.indexes:
        partial = any(
            k.endswith("_where") and v is not None for k, v in index.dialect_kwargs.items()
        )
        if index.unique and not partial:
            sets.append(list(index.columns))
    return sets


def _other_value(column: Any, value: Any) -> tuple[int, Any]:
    """(preference, a different value) for a column of a unique set: plain values first, then
    a reference to a record that does not exist (foreign keys are relaxed), then another
    option of an enumeration (which may be taken too)."""
    kind = column.type
    options = getattr(kind, "enums", None)
    if options:
        return 2, next(o for o in options if o != value)
    if isinstance(kind, String):
        return 0, (str(value) + "-2")[-(kind.length or 64) :]
    if isinstance(kind, Integer):
        return (1 if column.foreign_keys else 0), (value or 0) + 100_000
    return 3, None


def insert_copy(name: str) -> Edit:
    """Insert a copy of a row with a new key and new unique values: a forged record."""

    def edit(conn: Connection) -> None:
        table = table_named(name)
        row = _first(conn, table)
        (pk,) = table.primary_key.columns
        copy = dict(row)
        copy[pk.name] = row[pk.name] + 100_000 if isinstance(pk.type, Integer) else "f" * 64
        for columns in _unique_sets(table):
            if pk in columns:
                continue
            choices = sorted(
                ((*_other_value(c, row[c.name]), c.name) for c in columns),
                key=lambda x: x[0],
            )
            rank, value, col = choices[0]
            assert rank < 3, f"{name}: no way to vary {[c.name for c in columns]}"
            copy[col] = value
        if name == "certificates":
            copy["status"] = "rejected"  # a second live one of the run is refused anyway
        conn.execute(insert(table), [copy])

    return edit


def rechain(conn: Connection, from_id: int, mutate: Callable[[AuditEvent], None]) -> None:
    """Rewrite event ``from_id`` and re-hash it and every later event and the head."""
    prev = (
        conn.scalar(select(AuditEvent.sha256).where(AuditEvent.id == from_id - 1)) or GENESIS_SHA256
    )
    with Session(bind=conn) as s:
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.id >= from_id)))
        for ev in events:
            s.expunge(ev)
    for ev in sorted(events, key=lambda e: e.id):
        if ev.id == from_id:
            mutate(ev)
        ev.prev_sha256 = prev
        ev.sha256 = stored_event_sha256(ev)
        conn.execute(
            update(AuditEvent)
            .where(AuditEvent.id == ev.id)
            .values(
                reason=ev.reason,
                state=ev.state,
                changes=ev.changes,
                actor=ev.actor,
                prev_sha256=ev.prev_sha256,
                sha256=ev.sha256,
            )
        )
        prev = ev.sha256
    conn.execute(text("UPDATE audit_head SET last_sha256 = :h"), {"h": prev})


def last_event_of(conn: Connection, table: str, record: str) -> int:
    """The id of the newest audit event of a record."""
    return int(
        conn.scalar(
            select(AuditEvent.id)
            .where(AuditEvent.table_name == table, AuditEvent.record_id == record)
            .order_by(AuditEvent.id.desc())
            .limit(1)
        )
    )


def falsify_customer(conn: Connection) -> None:
    """The insider's consistent rewrite: a customer's address, its audit event, the chain."""
    conn.execute(text("UPDATE customers SET address = 'forged' WHERE id = 1"))
    first = last_event_of(conn, "customers", "1")

    def mutate(ev: AuditEvent) -> None:
        ev.state = {**ev.state, "address": "forged"}

    rechain(conn, first, mutate)


def forget_anchors(conn: Connection) -> None:
    """...and the record of the anchors written: as if the trail had never been anchored."""
    conn.execute(
        text(
            "UPDATE audit_anchor_state SET anchors_written = 0, newest_event_id = 0, "
            "newest_anchor_sha256 = ''"
        )
    )
    ids = conn.scalars(
        select(AuditEvent.id)
        .where(AuditEvent.table_name == "audit_anchor_state")
        .order_by(AuditEvent.id)
    ).all()
    for ev_id in ids:

        def mutate(ev: AuditEvent) -> None:
            ev.state = {**ev.state, "anchors_written": 0, "newest_event_id": 0}
            ev.state["newest_anchor_sha256"] = ""
            ev.changes = {}

        rechain(conn, ev_id, mutate)


def cut_end(conn: Connection) -> None:
    """Delete the newest events and rewind the head to match: a consistent cut."""
    last = int(conn.scalar(text("SELECT last_id FROM audit_head")))
    keep = last - 3
    digest = conn.scalar(select(AuditEvent.sha256).where(AuditEvent.id == keep))
    conn.execute(text("DELETE FROM audit_events WHERE id > :i"), {"i": keep})
    conn.execute(
        text("UPDATE audit_head SET last_id = :i, last_sha256 = :h"), {"i": keep, "h": digest}
    )


def forge_event(conn: Connection) -> None:
    """Append a well-formed event (hash and head correct) claiming a change nobody made."""
    last = conn.execute(text("SELECT last_id, last_sha256 FROM audit_head")).one()
    ev = AuditEvent(
        id=last[0] + 1,
        occurred_at=datetime.now(UTC),
        actor="wang",
        action="update",
        table_name="customers",
        record_id="1",
        changes={"address": ["x", "y"]},
        state={"address": "y"},
        reason="moved",
        prev_sha256=last[1],
    )
    ev.sha256 = stored_event_sha256(ev)
    conn.execute(
        insert(AuditEvent),
        [{c.name: getattr(ev, c.key) for c in AuditEvent.__table__.columns}],  # type: ignore[attr-defined]
    )
    conn.execute(
        text("UPDATE audit_head SET last_id = :i, last_sha256 = :h"), {"i": ev.id, "h": ev.sha256}
    )


def sql(statement: str) -> Edit:
    """A plain SQL edit; one that touches no row is a fault of the lab, not a catch."""

    def edit(conn: Connection) -> None:
        touched = conn.exec_driver_sql(statement).rowcount
        assert touched, f"{statement!r} changed nothing: the lab holds no row it aims at"

    return edit


def delete_last(table: str) -> Edit:
    """Delete the newest row of ``table``."""
    return sql(f"DELETE FROM {table} WHERE id = (SELECT max(id) FROM {table})")


def alter_reply(conn: Connection) -> None:
    """An instrument's reply rewritten in the run's raw-data record."""
    table = table_named("instrument_io")
    row = conn.execute(
        select(table.c.id, table.c.received)
        .where(table.c.seq == 3)
        .order_by(table.c.run_id.desc())  # the lab's own newest run, not the synced one
        .limit(1)
    ).one()
    conn.execute(
        update(table).where(table.c.id == row.id).values(received=bytes(row.received) + b"0")
    )


def alter_plan(conn: Connection) -> None:
    """A run's frozen plan rewritten: another operator named."""
    table = table_named("runs")
    row = conn.execute(select(table.c.id, table.c.plan).order_by(table.c.id.desc()).limit(1)).one()
    conn.execute(
        update(table).where(table.c.id == row.id).values(plan={**row.plan, "operator": "li"})
    )


def second_issued(conn: Connection) -> None:
    """A second issued certificate for the run (two certificates for one instrument)."""
    insert_copy("certificates")(conn)
    conn.exec_driver_sql("UPDATE certificates SET status = 'issued' WHERE id > 100000")


def falsify_all(conn: Connection) -> None:
    """The consistent rewrite, and the record of the anchors forgotten."""
    falsify_customer(conn)
    forget_anchors(conn)


# --------------------------------------------------------------------------- files


def flip_archived(lab: Lab) -> Callable[[], None]:
    """One bit of an archived file flipped."""
    _sha, path = next(iter_archive(lab.archive))
    data = path.read_bytes()
    path.chmod(0o644)
    path.write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])
    return lambda: (path.write_bytes(data), path.chmod(0o444))  # type: ignore[func-returns-value]


def delete_archived(lab: Lab) -> Callable[[], None]:
    """An archived file deleted."""
    _sha, path = next(iter_archive(lab.archive))
    data = path.read_bytes()
    path.chmod(0o644)
    path.unlink()
    return lambda: path.write_bytes(data)  # type: ignore[func-returns-value]


def hide_anchors(lab: Lab) -> Callable[[], None]:
    """The anchor file deleted."""
    saved = lab.anchors.read_bytes()
    lab.anchors.unlink()
    return lambda: lab.anchors.write_bytes(saved)  # type: ignore[func-returns-value]


def drop_last_anchor(lab: Lab) -> Callable[[], None]:
    """The newest line of the anchor file removed."""
    saved = lab.anchors.read_bytes()
    lines = saved.decode().splitlines()
    lab.anchors.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    return lambda: lab.anchors.write_bytes(saved)  # type: ignore[func-returns-value]


def nothing(_lab: Lab) -> Callable[[], None]:
    """No file touched."""
    return lambda: None
