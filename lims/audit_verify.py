"""Verification of the audit trail: what :func:`lims.audit.verify` runs.

It detects, and names:

* an audit event updated, deleted or inserted behind the application's back
  (broken hash, gap in the sequence, head mismatch);
* an audited record changed, deleted or inserted behind the application's back
  (its current content does not match the state of its last event);
* a reading or an instrument exchange changed, deleted or inserted (the run's chain no
  longer matches, or no longer ends at its audited head);
* certificate numbering with a gap, a number used twice, or a counter that is not
  the highest number taken (:func:`lims.services.numbering.numbering_problems`).

It also counts the audited changes that carry no reason (EU GMP Annex 11 §9).

Everything streams (:mod:`lims.audit_stream`): memory does not grow with the history.
With a :class:`~lims.audit_checkpoint.Checkpoint` the walk is incremental: the events
after the checkpoint are walked in full (hashes, chain, every record and run they touch);
the events up to it are counted and the checkpoint's event must still carry its hash;
every audited table's digest is recomputed from its rows and compared with the
checkpoint's digest carried forward by the newer events; every run's reading and
instrument-I/O count and chain head are compared the same way. What only the full walk
re-hashes is the content of events, readings and exchanges before the checkpoint.

The numbering is checked over every certificate, except after a checkpoint on PostgreSQL
with nothing else found: then every certificate and counter not written since is as the
checkpoint found it numbered (its row version says so), and only those changed since are
compared with their places then (:func:`lims.services.numbering.numbering_adds_up_since`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from lims.audit import (
    CHANGE_ACTIONS,
    GENESIS_SHA256,
    STATE_ACTIONS,
    AuditProblem,
    stored_canonical_json,
    stored_event_sha256,
)
from lims.audit_parallel import start_chain_checks
from lims.audit_row_versions import (
    RowVersions,
    Survey,
    WrittenSince,
    check_records,
    row_count,
    snapshot_position,
    written_since,
)
from lims.audit_stream import (
    CHAINED,
    EVENTS,
    AuditedTable,
    ChainedTable,
    Digest,
    audited_tables,
    canonical_int,
    check_chains,
    check_table,
    expected_head,
    head_hash,
    heads_digest,
    newest_states,
    row_hash,
    state_hash,
    stream,
    table_digest,
)
from lims.models.audit import AuditHead
from lims.services.numbering import NumberTaken, numbering_adds_up_since, numbering_problems

if TYPE_CHECKING:
    from lims.audit_checkpoint import Checkpoint

_IN_BATCH = 500
_CERTIFICATES = "certificates"
_COUNTERS = "certificate_sequences"
#: Events before the checkpoint written again beyond which all of them are hashed again.
_REWRITTEN_LIMIT = 50_000


@dataclass
class VerifyReport:
    """What :func:`verify` checked and found."""

    events: int = 0
    records: int = 0
    readings: int = 0
    #: Audited changes (create, update, delete) stored without a reason.
    unreasoned: int = 0
    problems: list[AuditProblem] = field(default_factory=list)
    #: "full", or "incremental" from the checkpoint event :attr:`since`.
    mode: str = "full"
    since: int = 0
    #: The newest event the checkpoint covered (incremental only).
    covers: int = 0
    #: The newest event walked and its hash (what a new checkpoint covers).
    last_event: int = 0
    last_sha256: str = GENESIS_SHA256
    #: Digests of every audited and chained table (what a new checkpoint records).
    digests: dict[str, Digest] = field(default_factory=dict)
    #: Runs whose readings or records changed after the checkpoint (incremental only).
    touched_runs: set[int] = field(default_factory=set)
    #: Keys of the records of each table changed after the checkpoint (incremental only).
    touched: dict[str, set[str]] = field(default_factory=dict)
    #: Rows of each chained table (what a new checkpoint records).
    chain_rows: dict[str, int] = field(default_factory=dict)
    #: Where this verification's snapshot stood (PostgreSQL, one snapshot only).
    row_versions: RowVersions | None = None

    @property
    def ok(self) -> bool:
        """True when nothing was found."""
        return not self.problems


@dataclass
class _Tail:
    """The newest state event of each record touched by the walked events."""

    latest: dict[tuple[str, str], tuple[int, str, Any]] = field(default_factory=dict)

    def keys(self, table: str) -> list[str]:
        return [k for t, k in self.latest if t == table]


def _walk(session: Session, report: VerifyReport, start: int, prev: str, collect: bool) -> _Tail:
    """Walk events from ``start`` (whose predecessor's hash is ``prev``) to the head."""
    tail = _Tail()
    expected_id = start
    first_break: AuditProblem | None = None
    query = select(EVENTS).where(EVENTS.c.id >= start).order_by(EVENTS.c.id)
    for ev in stream(session, query):
        report.events += 1
        if first_break is None:
            first_break = _link_problem(ev, expected_id, prev)
        prev = ev.sha256
        expected_id = ev.id + 1
        if ev.action in CHANGE_ACTIONS and not (ev.reason or "").strip():
            report.unreasoned += 1
        if collect and ev.action in STATE_ACTIONS:
            kept = None if ev.action == "delete" else ev.state
            tail.latest[(ev.table_name, ev.record_id)] = (ev.id, ev.action, kept)
    if first_break is not None:
        report.problems.append(first_break)
    report.last_event, report.last_sha256 = expected_id - 1, prev
    head = session.get(AuditHead, 1)
    if head is None:
        report.problems.append(AuditProblem("chain", "audit head", "missing"))
    elif first_break is None and (head.last_id != expected_id - 1 or head.last_sha256 != prev):
        report.problems.append(
            AuditProblem(
                "chain",
                f"audit event {head.last_id}",
                f"the chain ends at event {expected_id - 1} but the head records event "
                f"{head.last_id}: events at the end were deleted or inserted",
            )
        )
    return tail


def _link_problem(ev: Any, expected_id: int, prev: str) -> AuditProblem | None:
    if ev.id != expected_id:
        return AuditProblem(
            "chain",
            f"audit event {expected_id}",
            f"missing (next event found is {ev.id}): events were deleted",
        )
    if ev.prev_sha256 != prev:
        return AuditProblem(
            "chain",
            f"audit event {ev.id}",
            "does not follow its predecessor: an event before it was altered, inserted or deleted",
        )
    digest = stored_event_sha256(ev)
    if digest != ev.sha256:
        return AuditProblem(
            "chain", f"audit event {ev.id}", "content does not match its hash: altered"
        )
    return None


def verify_trail(
    session: Session, checkpoint: Checkpoint | None = None, *, parallel: bool | None = False
) -> VerifyReport:
    """Walk the audit chain; check every audited record, reading and certificate number.

    With ``checkpoint``, incrementally from it (see the module's text). ``parallel`` walks
    the readings' and exchanges' chains of a full verification in worker processes on the
    session's snapshot (:mod:`lims.audit_parallel`): None when the lab is large enough,
    True always where possible; only for a read-only REPEATABLE READ session.
    """
    report = VerifyReport(row_versions=snapshot_position(session))
    if checkpoint is None:
        pending = None if parallel is False else start_chain_checks(session, force=bool(parallel))
        try:
            _walk(session, report, 1, GENESIS_SHA256, collect=False)
            for table in audited_tables():
                found = check_table(session, table)
                report.records += found.records
                report.problems += found.problems
                report.digests[table.name] = found.digest
            for chained in CHAINED:
                if pending is not None:
                    walked = pending.result(chained)
                else:
                    walked = check_chains(session, chained)
                if chained.name == "readings":
                    report.readings = walked.rows
                report.chain_rows[chained.name] = walked.rows
                report.problems += walked.problems
                report.digests[chained.name] = walked.digest
        finally:
            if pending is not None:
                pending.close()
        report.problems += numbering_problems(session)
    elif not _incremental(session, report, checkpoint):
        report.problems += numbering_problems(session)
    return report


def _incremental(session: Session, report: VerifyReport, cp: Checkpoint) -> bool:
    """Verify from ``cp``; True when the numbering is settled by then (from the
    checkpoint's, with row versions) and need not be checked over every certificate."""
    report.mode, report.since, report.covers = "incremental", cp.event_id, cp.covers
    since = written_since(session, cp.row_versions)
    events = _check_position(session, report, cp, since)
    if events is not None and since is not None:
        _check_rewritten_events(session, report, cp, since, events)
    tail = _walk(session, report, cp.covers + 1, cp.sha256, collect=True)
    old: dict[str, list[Any]] = {}
    for table in audited_tables():
        old[table.name] = _incremental_table(session, report, cp, tail, table, since)
    for chained in CHAINED:
        _incremental_chain(session, report, cp, tail, chained, since)
    runs = {canonical_int(k) for k in tail.keys("runs")}
    for chained in CHAINED:
        runs |= {canonical_int(k) for k in tail.keys(chained.name)}
    report.touched_runs = {r for r in runs if r is not None}
    for name, key in tail.latest:
        report.touched.setdefault(name, set()).add(key)
    known = _CERTIFICATES in cp.tables and _COUNTERS in cp.tables
    return (
        since is not None and known and not report.problems and _numbering_since(session, tail, old)
    )


def _numbering_since(session: Session, tail: _Tail, old: dict[str, list[Any]]) -> bool:
    """The numbering from the checkpoint's: the certificates and counters changed since,
    against their places then (every other row is as the checkpoint verified it)."""
    places = {int(ev.record_id): NumberTaken.from_state(ev.state) for ev in old[_CERTIFICATES]}
    before: dict[int, NumberTaken | None] = {}
    for key in tail.keys(_CERTIFICATES):
        if (cid := canonical_int(key)) is None:
            return False
        before[cid] = places.get(cid)
    counters = {int(ev.record_id): ev.state for ev in old[_COUNTERS] if ev.action != "delete"}
    counters_before: dict[int, int | None] = {}
    for key in tail.keys(_COUNTERS):
        if (year := canonical_int(key)) is None:
            return False
        state = counters.get(year)
        counters_before[year] = int(state["last"]) if isinstance(state, dict) else None
    return numbering_adds_up_since(session, before, counters_before)


def _check_rewritten_events(
    session: Session, report: VerifyReport, cp: Checkpoint, since: WrittenSince, found: Survey
) -> None:
    """Events up to the checkpoint written again since it: each must still hash to its
    stored hash and link to both neighbours (the checkpoint pins the last one's hash), so
    a rewritten event cannot go unnoticed however many were rewritten with it."""
    ids = since.event_ids(session, EVENTS, found, _REWRITTEN_LIMIT)
    if ids is None:  # a table rewrite (a migration): every event is hashed again
        prev, expected_id = GENESIS_SHA256, 1
        query = select(EVENTS).where(EVENTS.c.id <= cp.covers).order_by(EVENTS.c.id)
        for ev in stream(session, query):
            problem = _link_problem(ev, expected_id, prev)
            if problem is not None:
                report.problems.append(problem)
                return
            prev, expected_id = ev.sha256, ev.id + 1
        return
    needed = sorted({n for i in ids for n in (i - 1, i, i + 1) if 1 <= n <= cp.covers})
    got: dict[int, Any] = {}
    for i in range(0, len(needed), _IN_BATCH):
        batch = needed[i : i + _IN_BATCH]
        got |= {ev.id: ev for ev in session.execute(select(EVENTS).where(EVENTS.c.id.in_(batch)))}
    for i in ids:
        ev, before, after = got.get(i), got.get(i - 1), got.get(i + 1)
        if ev is None or (i > 1 and before is None):
            continue  # a gap: the count up to the checkpoint names it
        problem = _link_problem(ev, i, GENESIS_SHA256 if before is None else before.sha256)
        if problem is None and after is not None and after.prev_sha256 != ev.sha256:
            problem = _link_problem(after, i + 1, ev.sha256)
        if problem is not None:
            report.problems.append(problem)


def _check_position(
    session: Session, report: VerifyReport, cp: Checkpoint, since: WrittenSince | None
) -> Survey | None:
    """The events up to the checkpoint: all there, the last one with its recorded hash.
    Returns their survey (with ``since``): which of them were written since the checkpoint."""
    where = f"audit events up to {cp.covers}"
    found = None
    up_to = EVENTS.c.id <= cp.covers
    if since is not None and not since.sealed(session, EVENTS.name):
        found = since.survey(session, EVENTS, EVENTS.c.id, up_to)
        held = found.rows
    elif since is not None and since.key_kept(session, EVENTS.name) and _lowest_id(session) >= 1:
        # events 1..covers were all there at the checkpoint; sealed, none can have gone,
        # and with its key kept none can have come but below 1, where there is none
        held = cp.covers
    else:
        held = row_count(session, EVENTS, up_to)
    stored = session.scalar(select(EVENTS.c.sha256).where(EVENTS.c.id == cp.covers))
    if held != cp.covers:
        report.problems.append(
            AuditProblem(
                "chain",
                where,
                f"{held} stored, but checkpoint {cp.event_id} covers {cp.covers}: "
                "events were deleted or inserted",
            )
        )
    elif stored != cp.sha256:
        report.problems.append(
            AuditProblem(
                "chain",
                f"audit event {cp.covers}",
                f"hash differs from checkpoint {cp.event_id}'s: the chain was rewritten",
            )
        )
    return found


def _lowest_id(session: Session) -> int:
    lowest = session.scalar(select(func.min(EVENTS.c.id)))
    return 1 if lowest is None else int(lowest)


def _old_states(session: Session, table: str, keys: Sequence[str], before: int) -> list[Any]:
    """The newest state event before ``before`` of each of ``keys``."""
    out: list[Any] = []
    for i in range(0, len(keys), _IN_BATCH):
        out += list(session.execute(newest_states(table, keys[i : i + _IN_BATCH], before)))
    return out


def _before_checkpoint(cp: Checkpoint, table: str) -> AuditProblem:
    return AuditProblem(
        "chain",
        f"audit events up to {cp.covers}",
        f"the audited states of {table} no longer add up to checkpoint {cp.event_id}'s "
        "digest: events before the checkpoint were altered",
    )


def _rows_problem(cp: Checkpoint, table: str, stored: int, expected: int) -> AuditProblem:
    return AuditProblem(
        "record",
        table,
        f"{stored} rows stored but the audit trail since checkpoint {cp.event_id} accounts for "
        f"{expected}: rows were deleted outside the app",
    )


def _incremental_table(
    session: Session,
    report: VerifyReport,
    cp: Checkpoint,
    tail: _Tail,
    table: AuditedTable,
    since: WrittenSince | None,
) -> list[Any]:
    """Compare ``table`` with the checkpoint's digest carried forward by the newer events;
    returns the state events before the checkpoint of the records changed since."""
    base = cp.tables.get(table.name)
    if base is None:  # a table the checkpoint did not know (a newer schema): check it in full
        found = check_table(session, table)
        report.records += found.records
        report.problems += found.problems
        report.digests[table.name] = found.digest
        return []
    expected = Digest(base.rows, base.total)
    keys = tail.keys(table.name)
    old = _old_states(session, table.name, keys, cp.covers + 1)
    for ev in old:
        if ev.action != "delete":
            expected.remove(state_hash(table.name, ev.record_id, ev.state))
    for key in keys:
        _, action, state = tail.latest[(table.name, key)]
        if action != "delete":
            expected.add(row_hash(table.name, key, stored_canonical_json(state)))
    if since is not None:
        # rows not written since the checkpoint are as it hashed them: only the others
        # are compared with their events, and the row count accounts for deletions
        surveyed = since.survey(session, cast(Table, table.model.__table__), table.key)
        rows = surveyed.rows
        changed = since.keys(session, table, surveyed)
        problems = check_records(session, table, set(keys) | changed)
        report.records += rows
        report.digests[table.name] = expected
        if problems:
            report.problems += problems
        elif rows != expected.rows:
            found = check_table(session, table)
            report.problems += found.problems or [
                _rows_problem(cp, table.name, rows, expected.rows)
            ]
        return old
    current = table_digest(session, table)
    report.records += current.records
    report.digests[table.name] = current.digest
    if current.digest != expected:
        found = check_table(session, table)
        report.problems += found.problems or [_before_checkpoint(cp, table.name)]
    return old


def _incremental_chain(
    session: Session,
    report: VerifyReport,
    cp: Checkpoint,
    tail: _Tail,
    chained: ChainedTable,
    since: WrittenSince | None,
) -> None:
    name = chained.name
    base, base_rows = cp.tables.get(name), cp.counts.get(name)
    tail_runs = {r for r in map(canonical_int, tail.keys(name)) if r is not None}
    rows: int | None = None  # None: follows from the checkpoint's count and the walked runs'
    if since is not None and base is not None and base_rows is not None:
        if since.sealed(session, name):  # only appended to: the new runs are the tail's
            runs = sorted(tail_runs)
            if not since.inserts_audited(session, name):
                rows = row_count(session, chained.table)
        else:
            surveyed = since.survey(session, chained.table, chained.table.c.run_id)
            rows = surveyed.rows
            runs = sorted(tail_runs | since.runs(session, chained.table, surveyed))
    else:
        since, runs = None, sorted(tail_runs)
    walked = check_chains(session, chained, runs)
    report.problems += walked.problems
    if base is None:
        full = check_chains(session, chained)
        report.problems += full.problems
        report.digests[name], report.chain_rows[name] = full.digest, full.rows
        if name == "readings":
            report.readings = full.rows
        return
    expected = Digest(base.rows, base.total)
    old_rows = 0
    for ev in _old_states(session, name, [str(r) for r in runs], cp.covers + 1):
        count, head = expected_head(ev.state)
        old_rows += count
        if int(ev.record_id) in tail_runs:
            expected.remove(head_hash(name, int(ev.record_id), count, head))
    for run in sorted(tail_runs):
        _, _, state = tail.latest[(name, str(run))]
        expected.add(head_hash(name, run, *expected_head(state)))
    if since is not None and base_rows is not None:  # always, with ``since``
        expected_rows = base_rows - old_rows + walked.rows
        if rows is None:  # every row added since came with an event of a walked run
            rows = expected_rows
        current, agrees = expected, rows == expected_rows
    else:
        rows, current = heads_digest(session, chained)
        agrees = current == expected
    if name == "readings":
        report.readings = rows
    report.digests[name], report.chain_rows[name] = current, rows
    if not agrees and not walked.problems:
        found = check_chains(session, chained)
        report.problems += found.problems or [_before_checkpoint(cp, name)]
