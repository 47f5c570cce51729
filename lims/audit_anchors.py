"""Anchors of the audit chain, kept outside the database.

The chain's head lives in the database, so someone who can rewrite the newest events
*and* the head consistently could cut the end of the chain unnoticed. An anchor is the
id and SHA-256 of the newest event at one moment, written where that person cannot
reach: a file on each bench (one JSON line per anchor), a printout, a message to the
quality manager. :func:`check_anchors` then proves that every anchored event is still
in the chain with the same hash, so nothing up to the newest anchor can be cut or
rewritten without the verification saying so.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from lims.audit import AuditProblem
from lims.db.types import utcnow
from lims.models.audit import AuditEvent, AuditHead


class AnchorFileError(ValueError):
    """An anchor file that cannot be read; the message names the file and the line."""


@dataclass(frozen=True)
class Anchor:
    """The newest audit event (id and hash) at ``taken_at``."""

    event_id: int
    sha256: str
    taken_at: datetime

    def to_line(self) -> str:
        """The anchor as one JSON line (without the newline)."""
        return json.dumps(
            {
                "event": self.event_id,
                "sha256": self.sha256,
                "taken_at": self.taken_at.astimezone(UTC).isoformat(),
            },
            sort_keys=True,
        )


def current_anchor(session: Session) -> Anchor | None:
    """The anchor of the chain as it is now (``None`` while it holds no event)."""
    head = session.get(AuditHead, 1)
    if head is None or head.last_id == 0:
        return None
    return Anchor(head.last_id, head.last_sha256, utcnow())


def append_anchor(path: Path, anchor: Anchor) -> None:
    """Append ``anchor`` to the anchor file at ``path`` (created if missing), durably."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(anchor.to_line() + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_anchors(path: Path) -> list[Anchor]:
    """The anchors in ``path``; :class:`AnchorFileError` names the first bad line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise AnchorFileError(f"{path}: cannot be read: {exc}") from exc
    anchors = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            anchors.append(_parse(json.loads(line)))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise AnchorFileError(f"{path}: line {number}: not an audit anchor ({exc})") from exc
    return anchors


def _parse(obj: Any) -> Anchor:
    if not isinstance(obj, dict):
        raise TypeError("expected a JSON object")
    event_id, digest = obj["event"], obj["sha256"]
    if not isinstance(event_id, int) or event_id < 1:
        raise ValueError(f"event must be a positive integer, got {event_id!r}")
    if not isinstance(digest, str) or len(digest) != 64:
        raise ValueError("sha256 must be 64 hexadecimal digits")
    int(digest, 16)
    taken_at = datetime.fromisoformat(str(obj["taken_at"]))
    if taken_at.tzinfo is None:
        raise ValueError("taken_at must carry its time zone")
    return Anchor(event_id, digest.lower(), taken_at.astimezone(UTC))


def check_anchors(session: Session, anchors: list[Anchor]) -> list[AuditProblem]:
    """Problems of the chain against ``anchors``: an anchored event missing or changed."""
    problems = []
    for anchor in anchors:
        event = session.get(AuditEvent, anchor.event_id)
        when = f"{anchor.taken_at:%Y-%m-%d %H:%M:%S} UTC"
        if event is None:
            problems.append(
                AuditProblem(
                    "anchor",
                    f"audit event {anchor.event_id}",
                    f"missing, but anchored at {when}: the end of the chain was cut",
                )
            )
        elif event.sha256 != anchor.sha256:
            problems.append(
                AuditProblem(
                    "anchor",
                    f"audit event {anchor.event_id}",
                    f"hash differs from its anchor of {when}: the chain was rewritten",
                )
            )
    return problems
