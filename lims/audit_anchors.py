"""Anchors of the audit chain, kept outside the database.

The chain's head lives in the database, so someone who can rewrite the newest events
*and* the head consistently could cut the end of the chain unnoticed. An anchor is the
id and SHA-256 of the newest event at one moment, written where that person cannot
reach: the data directory's anchor file, a second file on another volume or a mounted
share (setting ``anchor_copy``), a printout. :func:`check_anchors` then proves that
every anchored event is still in the chain with the same hash, so nothing up to the
newest anchor can be cut or rewritten without the verification saying so.

Anchors cannot be removed silently either: the database records how many anchors were
appended to the data directory's file and the hash of the newest one
(:class:`lims.models.AuditAnchorState`, an audited record). :func:`check_destinations`
reports a file holding fewer anchors than recorded, a missing file, or a newest anchor
found nowhere as tampering, and an unreachable destination or a trail never anchored
as "cannot confirm": never as intact.

The limit: events written after the newest anchor are covered by the database alone;
rewritten consistently while every anchor destination is out of reach, they can only
be reported as "cannot confirm".
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lims.audit import AuditProblem
from lims.db import Database
from lims.db.types import utcnow
from lims.models.audit import AuditAnchorState, AuditEvent, AuditHead

log = logging.getLogger(__name__)

#: Anchored events looked up per query.
_LOOKUP = 1000
#: Who the anchor records name in the audit trail.
ANCHOR_ACTOR = "system:anchor"
ANCHOR_REASON = "audit anchor written outside the database"


class AnchorFileError(ValueError):
    """An anchor file that cannot be read; the message names the file and the line."""


@dataclass(frozen=True)
class Anchor:
    """The newest audit event (id and hash) at ``taken_at``."""

    event_id: int
    sha256: str
    taken_at: datetime

    @property
    def line_sha256(self) -> str:
        """SHA-256 of the anchor's line: what the database records of the newest anchor."""
        return hashlib.sha256(self.to_line().encode("utf-8")).hexdigest()

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
        data = path.read_bytes()
    except OSError as exc:
        raise AnchorFileError(f"{path}: cannot be read: {exc}") from exc
    return _parse_lines(path, data, 0)


def _parse_lines(path: Path, data: bytes, start: int) -> list[Anchor]:
    """The anchors in ``data`` from byte ``start`` (a line boundary) on."""
    try:
        lines = data[start:].decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise AnchorFileError(f"{path}: cannot be read: {exc}") from exc
    anchors = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            anchors.append(_parse(json.loads(line)))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            number += data.count(b"\n", 0, start)
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
    """Problems of the chain against ``anchors``: an anchored event missing or changed.
    The anchored events are read a thousand at a time."""
    problems = []
    ids = sorted({a.event_id for a in anchors})
    stored: dict[int, str] = {}
    for i in range(0, len(ids), _LOOKUP):
        batch = ids[i : i + _LOOKUP]
        query = select(AuditEvent.id, AuditEvent.sha256).where(AuditEvent.id.in_(batch))
        stored |= {int(event_id): str(sha) for event_id, sha in session.execute(query)}
    for anchor in anchors:
        sha = stored.get(anchor.event_id)
        when = f"{anchor.taken_at:%Y-%m-%d %H:%M:%S} UTC"
        if sha is None:
            problems.append(
                AuditProblem(
                    "anchor",
                    f"audit event {anchor.event_id}",
                    f"missing, but anchored at {when}: the end of the chain was cut",
                )
            )
        elif sha != anchor.sha256:
            problems.append(
                AuditProblem(
                    "anchor",
                    f"audit event {anchor.event_id}",
                    f"hash differs from its anchor of {when}: the chain was rewritten",
                )
            )
    return problems


# --------------------------------------------------------------------------- writing


class AnchorWriteError(OSError):
    """An anchor that could not be written to every destination; the message says where."""


def _record(db: Database, anchor: Anchor) -> None:
    """Count the anchor in the database and remember it if it is the newest (audited)."""
    for attempt in (1, 2):
        try:
            with db.write(
                actor=ANCHOR_ACTOR, reason="audit anchor written outside the database"
            ) as s:
                state = s.scalars(
                    select(AuditAnchorState).where(AuditAnchorState.id == 1).with_for_update()
                ).one_or_none()
                if state is None:
                    state = AuditAnchorState(
                        id=1, anchors_written=0, newest_event_id=0, newest_anchor_sha256=""
                    )
                    s.add(state)
                state.anchors_written += 1
                if anchor.event_id >= state.newest_event_id:
                    state.newest_event_id = anchor.event_id
                    state.newest_anchor_sha256 = anchor.line_sha256
            return
        except IntegrityError:
            if attempt == 2:
                raise  # the state row was created by another process meanwhile: retry once


def write_anchor(db: Database, primary: Path, copies: Sequence[Path] = ()) -> Anchor | None:
    """Anchor the chain now: append to ``primary`` and every copy, and count it in the database.

    Returns the anchor (None while the trail holds no event). The primary file is the
    one the database counts; it is written first, so a failure never leaves the count
    ahead of the file. :class:`AnchorWriteError` names a copy that could not be written
    (the anchor is in the primary file and counted by then).
    """
    with db.read() as session:
        anchor = current_anchor(session)
    if anchor is None:
        return None
    try:
        append_anchor(primary, anchor)
    except OSError as exc:
        raise AnchorWriteError(
            f"{primary}: cannot write the anchor: {exc.strerror or exc}"
        ) from exc
    _record(db, anchor)
    failed = []
    for copy in copies:
        try:
            append_anchor(copy, anchor)
        except OSError as exc:
            failed.append(f"{copy} ({exc.strerror or exc})")
    if failed:
        raise AnchorWriteError(
            f"anchored at audit event {anchor.event_id} in {primary}, but not in "
            f"{', '.join(failed)}: write it there with `lims audit anchor` once it is reachable"
        )
    return anchor


# --------------------------------------------------------------------------- checking


@dataclass(frozen=True)
class AnchorFileState:
    """An anchor file as a verification read it. A checkpoint records it, so that the next
    verification parses and checks only the anchors appended since: when the file still
    begins with exactly these bytes, its first :attr:`anchors` anchors are the ones that
    verification checked against the chain."""

    size: int
    sha256: str
    anchors: int
    newest_event: int
    last_line_sha256: str

    def to_json(self) -> dict[str, Any]:
        """What a checkpoint stores."""
        return {
            "size": self.size,
            "sha256": self.sha256,
            "anchors": self.anchors,
            "newest_event": self.newest_event,
            "last_line_sha256": self.last_line_sha256,
        }

    @classmethod
    def from_json(cls, data: Any) -> AnchorFileState | None:
        """Parse :meth:`to_json`; None when malformed."""
        try:
            return cls(
                int(data["size"]),
                str(data["sha256"]),
                int(data["anchors"]),
                int(data["newest_event"]),
                str(data["last_line_sha256"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


@dataclass
class AnchorCheck:
    """What the anchors say about the chain."""

    anchors: int = 0
    destinations_read: int = 0
    #: The newest event some anchor covers (0: none).
    anchored_to: int = 0
    #: Events newer than the newest anchor (covered by the database alone).
    unanchored: int = 0
    problems: list[AuditProblem] = field(default_factory=list)
    #: Why the trail cannot be confirmed (an unreachable destination, no anchor at all).
    doubts: list[str] = field(default_factory=list)
    #: Each destination file as read (what a checkpoint records).
    files: dict[str, AnchorFileState] = field(default_factory=dict)
    #: True when a file's beginning was taken as checked by a checkpoint (not parsed).
    prefix_trusted: bool = False


@dataclass
class _FileRead:
    """One destination: the anchors parsed, and the file's state (parsed or not)."""

    anchors: list[Anchor]
    state: AnchorFileState


def _read(path: Path, check: AnchorCheck, trusted: AnchorFileState | None) -> _FileRead | None:
    """The anchors of ``path``, or None (with a doubt) when it cannot be reached. With
    ``trusted``, a file that still begins with those bytes is parsed from there on."""
    if not path.parent.is_dir():
        check.doubts.append(f"anchor destination {path.parent} is not reachable")
        return None
    if not path.exists():
        return None
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AnchorFileError(f"{path}: cannot be read: {exc}") from exc
    digest, start, before = hashlib.sha256(), 0, None
    if trusted is not None and 0 < trusted.size <= len(data):
        head = hashlib.sha256(memoryview(data)[: trusted.size])
        if head.hexdigest() == trusted.sha256:
            digest, start, before = head, trusted.size, trusted
            check.prefix_trusted = True
    digest.update(memoryview(data)[start:])
    anchors = _parse_lines(path, data, start)
    check.destinations_read += 1
    state = AnchorFileState(
        size=len(data),
        sha256=digest.hexdigest(),
        anchors=len(anchors) + (before.anchors if before else 0),
        newest_event=max(
            [a.event_id for a in anchors] + ([before.newest_event] if before else []), default=0
        ),
        last_line_sha256=anchors[-1].line_sha256
        if anchors
        else (before.last_line_sha256 if before else ""),
    )
    check.files[str(path)] = state
    return _FileRead(anchors, state)


def check_destinations(
    session: Session,
    primary: Path,
    copies: Sequence[Path] = (),
    extra: Sequence[Path] = (),
    *,
    trusted: Mapping[str, AnchorFileState] | None = None,
) -> AnchorCheck:
    """Check the chain against every anchor destination and the database's anchor record.

    ``primary`` is the data directory's file (the one the database counts), ``copies``
    the configured second destinations, ``extra`` files named on the command line
    (they must exist). ``trusted``: each destination's state as a checkpoint recorded it
    (:class:`AnchorFileState`); the caller must make sure an anchor covers that checkpoint
    (:attr:`AnchorCheck.prefix_trusted` says whether one was used). :class:`AnchorFileError`
    for a file that is not an anchor file.
    """
    check = AnchorCheck()
    state = session.get(AuditAnchorState, 1)
    written = state.anchors_written if state is not None else 0
    newest = state.newest_anchor_sha256 if state is not None else ""
    everything: list[Anchor] = []
    files: list[AnchorFileState] = []
    trusted = trusted or {}

    in_primary = _read(primary, check, trusted.get(str(primary)))
    if in_primary is None:
        if written and primary.parent.is_dir():
            check.problems.append(
                AuditProblem(
                    "anchor",
                    str(primary),
                    f"is missing, but {written} anchors were written to it: deleted",
                )
            )
    else:
        everything += in_primary.anchors
        files.append(in_primary.state)
        if in_primary.state.anchors < written:
            check.problems.append(
                AuditProblem(
                    "anchor",
                    str(primary),
                    f"holds {in_primary.state.anchors} anchors, but {written} were written to "
                    "it: anchors were removed",
                )
            )
    for copy in copies:
        found = _read(copy, check, trusted.get(str(copy)))
        if found is None:
            if copy.parent.is_dir():
                check.doubts.append(f"second anchor file {copy} does not exist")
            continue
        everything += found.anchors
        files.append(found.state)
    extra_anchors = 0
    for path in extra:
        read = read_anchors(path)
        everything += read
        extra_anchors += len(read)
        check.destinations_read += 1
    check.anchors = sum(f.anchors for f in files) + extra_anchors

    check.problems += check_anchors(session, everything)
    found_newest = any(a.line_sha256 == newest for a in reversed(everything)) or any(
        f.last_line_sha256 == newest for f in files
    )
    if newest and not found_newest:
        if check.destinations_read:
            check.problems.append(
                AuditProblem(
                    "anchor",
                    f"audit event {state.newest_event_id if state else '?'}",
                    "its anchor, the newest written, is in no anchor file: anchors were removed",
                )
            )
        else:
            check.doubts.append("no anchor destination could be read")
    if not check.anchors and not written:
        check.doubts.append(
            "the trail was never anchored outside the database (`lims audit anchor`): "
            "a rewrite of the whole trail could not be told"
        )
    head = session.get(AuditHead, 1)
    last = head.last_id if head is not None else 0
    check.anchored_to = max(
        [a.event_id for a in everything] + [f.newest_event for f in files], default=0
    )
    check.unanchored = max(last - check.anchored_to, 0)
    return check


def anchor_lines(path: Path, up_to_event: int) -> list[str]:
    """The lines of anchor file ``path`` that anchor events up to ``up_to_event`` (for backups)."""
    if not path.exists():
        return []
    return [a.to_line() for a in read_anchors(path) if a.event_id <= up_to_event]


def parse_anchor_line(line: str) -> Anchor:
    """One anchor line; :class:`AnchorFileError` when it is not one."""
    try:
        return _parse(json.loads(line))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise AnchorFileError(f"not an audit anchor: {line[:80]!r} ({exc})") from exc


def restore_anchor_lines(path: Path, lines: Sequence[str]) -> int:
    """Append the backed-up anchor ``lines`` that ``path`` does not hold yet; return how many."""
    held = {a.to_line() for a in read_anchors(path)} if path.exists() else set()
    missing = [line for line in lines if line not in held]
    for line in missing:
        append_anchor(path, parse_anchor_line(line))
    if missing:
        log.info("restored %d audit anchors into %s", len(missing), path)
    return len(missing)
