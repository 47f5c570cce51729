"""Checkpoints of the audit verification: where the next ``lims audit verify`` starts.

A checkpoint is an audit event (table ``audit_checkpoints``, action ``checkpoint``)
written after a verification found the trail intact. Its state records the position
the verification reached (the newest event's id and hash) and the digest of every
audited table and of every run's reading and instrument-I/O chain head at that
position (:mod:`lims.audit_stream`), the rows of each chained table, and on PostgreSQL
where the verification's snapshot stood (:mod:`lims.audit_row_versions`). Being an
event, it is chained like every other one; it is then anchored outside the database
(:mod:`lims.audit_anchors`) like any anchor, so a checkpoint cannot be forged or altered
without the anchors saying so.

The verification uses the newest checkpoint that an anchor at or after it covers;
without one it walks everything. What the incremental walk re-checks, and what only
the full walk does, is in :mod:`lims.audit_verify`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.audit import log_event
from lims.audit_anchors import Anchor, AnchorFileState, write_anchor
from lims.audit_row_versions import RowVersions
from lims.audit_stream import EVENTS, Digest
from lims.audit_verify import VerifyReport
from lims.db import Database
from lims.quality.archive import ArchiveClock

log = logging.getLogger(__name__)

CHECKPOINT_TABLE = "audit_checkpoints"
CHECKPOINT_ACTION = "checkpoint"
CHECKPOINT_ACTOR = "system:checkpoint"
CHECKPOINT_REASON = "audit trail verified intact: checkpoint for the next verification"


class CheckpointError(ValueError):
    """A checkpoint that cannot be written (the verification found something)."""


@dataclass(frozen=True)
class Checkpoint:
    """A verified position of the chain and the digests of the tables at that position."""

    #: The checkpoint's own event.
    event_id: int
    #: The newest event the verification covered, and its hash.
    covers: int
    sha256: str
    tables: dict[str, Digest]
    #: "full" or "incremental": how the position was verified.
    verified: str
    #: Rows of each chained table (readings, instrument I/O) at the position.
    counts: dict[str, int] = field(default_factory=dict)
    #: Where the verification's snapshot stood (PostgreSQL only).
    row_versions: RowVersions | None = None
    #: Each anchor destination as the verification read it (the next one parses only
    #: what was appended since).
    anchor_files: dict[str, AnchorFileState] = field(default_factory=dict)
    #: The archive's clock when the verification began listing it: the next one lists only
    #: the directories changed since (:mod:`lims.integrity_archive`).
    archive_clock: ArchiveClock | None = None

    @classmethod
    def from_event(cls, event_id: int, state: Any) -> Checkpoint:
        """Parse a checkpoint event's state (ValueError when malformed)."""
        if not isinstance(state, dict) or not isinstance(state.get("tables"), dict):
            raise ValueError(f"audit event {event_id} is not a checkpoint")
        try:
            tables = {str(k): Digest.from_json(v) for k, v in state["tables"].items()}
            counts = state.get("counts") or {}
            return cls(
                event_id=event_id,
                covers=int(state["covers"]),
                sha256=str(state["sha256"]),
                tables=tables,
                verified=str(state.get("verified", "")),
                counts={str(k): int(v) for k, v in counts.items()},
                row_versions=RowVersions.from_json(state.get("row_versions")),
                anchor_files={
                    str(path): parsed
                    for path, data in (state.get("anchor_files") or {}).items()
                    if (parsed := AnchorFileState.from_json(data)) is not None
                },
                archive_clock=ArchiveClock.from_json(state.get("archive_clock")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"audit event {event_id} is not a checkpoint ({exc})") from exc


def newest_checkpoint(session: Session, up_to: int) -> Checkpoint | None:
    """The newest checkpoint at or before event ``up_to`` (the newest anchored event);
    None when there is none or it is malformed (then the verification walks everything)."""
    row = session.execute(
        select(EVENTS.c.id, EVENTS.c.state)
        .where(
            EVENTS.c.table_name == CHECKPOINT_TABLE,
            EVENTS.c.action == CHECKPOINT_ACTION,
            EVENTS.c.id <= up_to,
        )
        .order_by(EVENTS.c.id.desc())
        .limit(1)
    ).one_or_none()
    if row is None:
        return None
    try:
        cp = Checkpoint.from_event(int(row.id), row.state)
    except ValueError as exc:
        log.warning("ignoring checkpoint: %s", exc)
        return None
    return cp if cp.covers < cp.event_id else None


def write_checkpoint(
    db: Database,
    report: VerifyReport,
    anchor_file: Path,
    copies: Sequence[Path] = (),
    *,
    anchor_files: Mapping[str, AnchorFileState] | None = None,
    archive_clock: ArchiveClock | None = None,
) -> tuple[Checkpoint, Anchor | None]:
    """Record ``report``'s position and digests as a checkpoint, then anchor the chain.

    ``report`` must be a verification that found nothing; ``anchor_files`` are the anchor
    destinations as that verification read them (:attr:`AnchorCheck.files`), and
    ``archive_clock`` the archive's clock when it began checking the archive. Returns the
    checkpoint and the anchor written after it. :class:`lims.audit_anchors.AnchorWriteError`
    when an anchor copy cannot be written (the checkpoint is recorded and anchored in
    ``anchor_file``).
    """
    if report.problems:
        raise CheckpointError("the verification found problems: no checkpoint is written")
    if report.last_event < 1:
        raise CheckpointError("the audit trail holds no event yet: nothing to checkpoint")
    with db.write(actor=CHECKPOINT_ACTOR, reason=CHECKPOINT_REASON) as session:
        state: dict[str, Any] = {
            "covers": report.last_event,
            "sha256": report.last_sha256,
            "verified": report.mode,
            "tables": {name: d.to_json() for name, d in sorted(report.digests.items())},
            "counts": dict(sorted(report.chain_rows.items())),
        }
        if report.row_versions is not None:
            state["row_versions"] = report.row_versions.to_json()
        if archive_clock is not None:
            state["archive_clock"] = archive_clock.to_json()
        if anchor_files:
            state["anchor_files"] = {p: f.to_json() for p, f in sorted(anchor_files.items())}
        log_event(session, CHECKPOINT_ACTION, CHECKPOINT_TABLE, str(report.last_event), state=state)
        session.flush()
        event_id = session.scalar(select(EVENTS.c.id).order_by(EVENTS.c.id.desc()).limit(1))
    checkpoint = Checkpoint.from_event(int(event_id or 0), state)
    anchor = write_anchor(db, anchor_file, copies)
    return checkpoint, anchor
