"""The reading journal: acknowledged readings waiting to be sealed into the audited chains.

The writer commits every batch within its latency (200 ms), so an acknowledged reading is
durable at once. A batch that does not close a group goes to the journal
(:class:`~lims.models.ReadingJournal`, one row per queued item, not audited); a batch that
closes a group (a step boundary, :meth:`~lims.engine.writer.ReadingWriter.flush`, the
writer's ``seal_interval_s``) moves the run's journal and the batch into ``readings`` and
``instrument_io`` in one transaction, with one audit event per chain. The audit trail
therefore grows per group whatever the pacing, and nothing acknowledged is lost: a run
resumed after a crash seals its journal first (:func:`seal_journal`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.orm import Session

from lims.audit import AuditError, append_readings
from lims.db import Database
from lims.engine.io_record import append_io
from lims.models import ReadingJournal

__all__ = ["journal_items", "journal_rows", "seal", "seal_journal", "write_journal"]

_TABLE = cast(Table, ReadingJournal.__table__)


def _kind(item: dict[str, Any]) -> str:
    return "io" if item.get("kind") == "io" else "reading"


def _encode(item: dict[str, Any]) -> str:
    def default(value: Any) -> Any:
        if isinstance(value, datetime):
            return {"$dt": value.isoformat()}
        if isinstance(value, bytes | bytearray):
            return {"$b64": base64.b64encode(bytes(value)).decode("ascii")}
        raise TypeError(f"cannot journal {type(value).__name__}")

    return json.dumps(item, default=default, sort_keys=True, ensure_ascii=False)


def _decode(text: str) -> dict[str, Any]:
    def hook(obj: dict[str, Any]) -> Any:
        if set(obj) == {"$dt"}:
            return datetime.fromisoformat(obj["$dt"])
        if set(obj) == {"$b64"}:
            return base64.b64decode(obj["$b64"])
        return obj

    return dict(json.loads(text, object_hook=hook))


def journal_rows(session: Session, run_id: int) -> list[ReadingJournal]:
    """The run's journal rows, oldest first."""
    return list(
        session.scalars(
            select(ReadingJournal)
            .where(ReadingJournal.run_id == run_id)
            .order_by(ReadingJournal.kind, ReadingJournal.seq)
        )
    )


def journal_items(session: Session, run_id: int) -> list[dict[str, Any]]:
    """The queued items the run's journal holds (as the writer queued them)."""
    return [_decode(row.payload) for row in journal_rows(session, run_id)]


def write_journal(session: Session, run_id: int, items: Sequence[dict[str, Any]]) -> int:
    """Journal a batch (retry-safe: an item already journaled with the same content is
    skipped; with other content another process records the run: AuditError)."""
    if not items:
        return 0
    stored = {
        (row.kind, row.seq): row.payload
        for row in session.scalars(
            select(ReadingJournal).where(
                ReadingJournal.run_id == run_id,
                ReadingJournal.seq >= min(int(i["seq"]) for i in items),
            )
        )
    }
    rows = []
    for item in items:
        key, payload = (_kind(item), int(item["seq"])), _encode(item)
        if key in stored:
            if stored[key] != payload:
                raise AuditError(
                    f"{key[0]} {key[1]} of run {run_id} is already journaled with other "
                    "content: another process records this run"
                )
            continue
        rows.append({"run_id": run_id, "kind": key[0], "seq": key[1], "payload": payload})
    if rows:
        session.execute(insert(_TABLE), rows)
    return len(rows)


def seal(session: Session, run_id: int, batch: Iterable[dict[str, Any]] = ()) -> int:
    """Move the run's journal and ``batch`` into the audited chains (one event per chain)
    and empty the journal. Returns the number of readings sealed."""
    items = journal_items(session, run_id)
    journaled = {(_kind(i), int(i["seq"])): _encode(i) for i in items}
    for item in batch:
        key = (_kind(item), int(item["seq"]))
        if key not in journaled:
            items.append(item)
        elif journaled[key] != _encode(item):
            raise AuditError(
                f"{key[0]} {key[1]} of run {run_id} is already journaled with other "
                "content: another process records this run"
            )
    readings = [i for i in items if _kind(i) == "reading"]
    exchanges = [i for i in items if _kind(i) == "io"]
    count = append_readings(session, run_id, readings) if readings else 0
    if exchanges:
        append_io(session, run_id, exchanges)
    session.execute(delete(_TABLE).where(_TABLE.c.run_id == run_id))
    return count


def seal_journal(db: Database, run_id: int, actor: Any) -> int:
    """Seal what a run's journal holds (a run resumed after a crash); the number of readings."""
    with db.read() as session:
        if not journal_rows(session, run_id):
            return 0
    with db.write(actor=actor, reason=f"journaled readings of run {run_id} sealed") as session:
        return seal(session, run_id)
