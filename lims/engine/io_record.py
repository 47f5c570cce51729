"""The instrument I/O record: every command and reply of every instrument during a run.

It is the run's raw-data record (ISO/IEC 17025 7.5: what was said to the instrument and
what it answered, when, how long it took, and what went wrong). Exchanges are queued by
the drivers' I/O observers on the run's thread, written by the reading writer in the same
batches as the readings, chained by hash per run (append-only table ``instrument_io``), and
the chain's head is audited with every batch, so a changed, inserted or deleted exchange
is found by :func:`verify_io`. ``lims run io RUN_ID [--csv]`` exports it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from lims.audit import (
    GENESIS_SHA256,
    AuditError,
    log_event,
    sha256_hex,
    stored_canonical_json,
)
from lims.models import InstrumentExchange

__all__ = [
    "IO_TABLE",
    "IoRow",
    "append_io",
    "exchange_item",
    "io_chain",
    "io_chain_sha256",
    "io_items",
    "io_rows",
    "rows_csv",
    "verify_io",
]

IO_TABLE = "instrument_io"


def _content(run_id: int, item: dict[str, Any]) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "seq": int(item["seq"]),
        "at": item["at"],
        "instrument": item["instrument"],
        "operation": item["operation"],
        "sent": bytes(item["sent"]),
        "received": bytes(item["received"]),
        "duration_s": float(item["duration_s"]),
        "error": item.get("error", ""),
    }


def io_chain_sha256(prev: str, content: dict[str, Any]) -> str:
    """Hash of one exchange chained to the previous one of the same run."""
    data = dict(content)
    data["sent"] = bytes(data["sent"]).hex()
    data["received"] = bytes(data["received"]).hex()
    return sha256_hex(prev + stored_canonical_json(data))


def exchange_item(seq: int, exchange: Any) -> dict[str, Any]:
    """A driver's I/O exchange as the writer queues it."""
    return {
        "kind": "io",
        "seq": seq,
        "at": exchange.at,
        "instrument": str(exchange.instrument)[:100],
        "operation": str(exchange.operation)[:32],
        "sent": bytes(exchange.sent),
        "received": bytes(exchange.received),
        "duration_s": float(exchange.duration_s),
        "error": str(exchange.error or ""),
    }


def append_io(session: Session, run_id: int, items: Iterable[dict[str, Any]]) -> int:
    """Write exchanges of one run with their chain hashes and audit the new chain head.

    An exchange whose ``seq`` is already stored with the same content is skipped (a retried
    batch); with other content it is an error (AuditError): nothing is silently dropped.
    """
    table = InstrumentExchange.__table__
    last = session.execute(
        select(table.c.seq, table.c.chain_sha256)
        .where(table.c.run_id == run_id)
        .order_by(table.c.seq.desc())
        .limit(1)
    ).one_or_none()
    last_seq = int(last.seq) if last else 0
    prev = str(last.chain_sha256) if last else GENESIS_SHA256
    rows = []
    for item in sorted(items, key=lambda r: int(r["seq"])):
        content = _content(run_id, item)
        seq = content["seq"]
        if seq <= last_seq:
            stored = session.scalars(
                select(InstrumentExchange).where(
                    InstrumentExchange.run_id == run_id, InstrumentExchange.seq == seq
                )
            ).one_or_none()
            if (
                stored is None
                or stored.sent != content["sent"]
                or (stored.received != content["received"])
            ):
                raise AuditError(
                    f"run {run_id}: instrument exchange {seq} is already stored with other "
                    "content: two processes record this run"
                )
            continue
        if seq != last_seq + 1:
            raise AuditError(
                f"run {run_id}: exchange {seq} follows {last_seq}; the record has a gap"
            )
        prev = io_chain_sha256(prev, content)
        rows.append({**content, "chain_sha256": prev})
        last_seq = seq
    if not rows:
        return 0
    # the chain event first: the database refuses exchanges whose event it has not seen
    log_event(
        session,
        "append",
        IO_TABLE,
        str(run_id),
        state={"count": last_seq, "last_seq": last_seq, "head": prev},
        reason=f"instrument exchanges {rows[0]['seq']}–{last_seq} recorded",
    )
    session.execute(insert(InstrumentExchange), rows)
    return len(rows)


@dataclass(frozen=True)
class IoRow:
    """One exchange as exported."""

    seq: int
    at: datetime
    instrument: str
    operation: str
    sent: bytes
    received: bytes
    duration_s: float
    error: str


def io_rows(session: Session, run_id: int) -> Iterator[IoRow]:
    """The run's exchanges in order (streamed)."""
    for r in session.execute(
        select(InstrumentExchange)
        .where(InstrumentExchange.run_id == run_id)
        .order_by(InstrumentExchange.seq)
        .execution_options(yield_per=2000)
    ).scalars():
        yield IoRow(
            r.seq, r.at, r.instrument, r.operation, r.sent, r.received, r.duration_s, r.error
        )


def io_items(session: Session, run_id: int) -> list[dict[str, Any]]:
    """The run's exchanges as :func:`append_io` takes them (to copy a run elsewhere)."""
    return [
        {
            "seq": r.seq,
            "at": r.at,
            "instrument": r.instrument,
            "operation": r.operation,
            "sent": r.sent,
            "received": r.received,
            "duration_s": r.duration_s,
            "error": r.error,
        }
        for r in io_rows(session, run_id)
    ]


def io_chain(session: Session, run_id: int, chain_run_id: int | None = None) -> tuple[int, str]:
    """(count, head) of the run's exchanges chained as if recorded under ``chain_run_id``
    (default: its own id), e.g. to compare a copied run with the chain of its source."""
    prev, count = GENESIS_SHA256, 0
    for item in io_items(session, run_id):
        prev = io_chain_sha256(prev, _content(chain_run_id or run_id, item))
        count += 1
    return count, prev


def _shown(data: bytes) -> str:
    return data.decode("utf-8", errors="backslashreplace").replace("\r", "\\r").replace("\n", "\\n")


def rows_csv(rows: Sequence[IoRow] | Iterable[IoRow]) -> str:
    """CSV with a header: seq, time (UTC), instrument, operation, sent, received (text with
    escapes and hex), duration in ms, error."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(
        [
            "seq",
            "at_utc",
            "instrument",
            "operation",
            "sent",
            "received",
            "sent_hex",
            "received_hex",
            "duration_ms",
            "error",
        ]
    )
    for r in rows:
        w.writerow(
            [
                r.seq,
                r.at.isoformat(),
                r.instrument,
                r.operation,
                _shown(r.sent),
                _shown(r.received),
                r.sent.hex(),
                r.received.hex(),
                f"{r.duration_s * 1000:.3f}",
                r.error,
            ]
        )
    return out.getvalue()


def verify_io(session: Session, audited_heads: dict[int, dict[str, Any]]) -> list[str]:
    """Check every run's exchange chain against itself and its audited head.

    ``audited_heads`` maps run id → the newest audited state ``{count, head}``. Returns one
    finding per damaged run.
    """
    problems: list[str] = []
    found: dict[int, tuple[int, str]] = {}
    broken: set[int] = set()
    run_id: int | None = None
    prev, count = GENESIS_SHA256, 0
    for r in session.execute(
        select(InstrumentExchange)
        .order_by(InstrumentExchange.run_id, InstrumentExchange.seq)
        .execution_options(yield_per=5000)
    ).scalars():
        if r.run_id != run_id:
            if run_id is not None:
                found[run_id] = (count, prev)
            run_id, prev, count = r.run_id, GENESIS_SHA256, 0
        count += 1
        if r.run_id not in broken:
            content = {
                "run_id": r.run_id,
                "seq": r.seq,
                "at": r.at,
                "instrument": r.instrument,
                "operation": r.operation,
                "sent": r.sent,
                "received": r.received,
                "duration_s": r.duration_s,
                "error": r.error,
            }
            if r.seq != count or io_chain_sha256(prev, content) != r.chain_sha256:
                broken.add(r.run_id)
                problems.append(
                    f"instrument exchanges of run {r.run_id} at seq {r.seq} do not match their "
                    "chain: an exchange was altered, inserted or deleted"
                )
        prev = r.chain_sha256
        session.expunge(r)
    if run_id is not None:
        found[run_id] = (count, prev)
    for rid in sorted(set(audited_heads) | set(found)):
        if rid in broken:
            continue
        state = audited_heads.get(rid)
        got = found.get(rid, (0, GENESIS_SHA256))
        if state is None:
            problems.append(f"instrument exchanges of run {rid} were never audited")
        elif got != (int(state.get("count", -1)), str(state.get("head"))):
            problems.append(
                f"instrument exchanges of run {rid}: {got[0]} stored but the audit trail "
                f"recorded {state.get('count')}: exchanges were deleted or inserted"
            )
    return problems
