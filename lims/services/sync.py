"""Synchronization of runs recorded on a laptop's database into the lab's database.

A laptop is prepared from the lab (a backup of the lab restored into its embedded
SQLite database), so it holds the lab's users, procedures, work orders, standards,
materials and visits. Runs recorded there on site are pushed back with :func:`push`:

1. **Both sides are checked first.** The laptop's whole audit trail is verified
   (:func:`lims.audit.verify`: a laptop whose records, readings or events were altered is
   refused), and in the lab the runs already imported from this laptop are checked
   against their recorded origin (:func:`verify_origins`: a lab whose imported records
   were altered refuses further imports from that source).
2. **The laptop's audit events since the last common event** (the end of the lab's
   history when the laptop was prepared, or the end of the previous import from the same
   laptop) are copied into ``synced_audit_events`` as one verified segment, its first
   event following the anchor event's hash; the lab's own chain records the import
   (a ``sync_imports`` row, audited like every record, with the segment's bounds, count
   and last hash).
3. **The runs created in that segment** are inserted with new lab ids, their references
   mapped by natural keys (users by name, procedure versions by procedure, version and
   source hash, work-order items by order number and instrument serial, standards and
   reference materials by tag, visits by their uid). Their readings are chained again
   under the lab's run id (so ``lims audit verify`` holds in the lab) and each run's
   ``run_origins`` row keeps its global uid and the chain head as recorded on the laptop,
   which :func:`verify_origins` recomputes from the lab's readings at any time.

Nothing is overwritten: a run already imported whose records changed on the laptop since,
a reference the lab does not have, or a laptop history that does not continue the
previous import is a conflict, reported, and the push writes nothing. A second push of
the same laptop changes nothing. Everything is written in one transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lims.audit import (
    GENESIS_SHA256,
    append_readings,
    canonical_json,
    event_sha256,
    reading_chain_sha256,
    record_state,
    sha256_hex,
    stored_event_sha256,
    verify,
)
from lims.db import Database
from lims.db.migrate import current_revision, head_revision
from lims.engine.io_record import append_io, io_chain, io_items
from lims.models import (
    AuditEvent,
    DatabaseIdentity,
    Reading,
    Result,
    RuleOverride,
    Run,
    RunOrigin,
    RunResource,
    RunSite,
    SyncedAuditEvent,
    SyncImport,
    User,
)
from lims.quality.errors import QualityError
from lims.quality.permissions import Permission, require
from lims.services.sync_mapping import Mapper, columns

__all__ = [
    "SyncConflictError",
    "SyncError",
    "SyncReport",
    "database_uid",
    "push",
    "run_uid",
    "verify_origins",
    "verify_segments",
]

_UID_NAMESPACE = uuid.UUID("7b1f1f4e-3c43-5d0e-9a8f-3e2a1c9e0b18")


class SyncError(QualityError):
    """A synchronization refused as a whole (nothing was written)."""


class SyncConflictError(SyncError):
    """Records that cannot be imported without overwriting or guessing; ``conflicts`` lists them."""

    def __init__(self, conflicts: list[str]) -> None:
        self.conflicts = conflicts
        shown = "; ".join(conflicts[:5]) + (
            f"; … {len(conflicts) - 5} more" if len(conflicts) > 5 else ""
        )
        super().__init__(f"synchronization refused, {len(conflicts)} conflict(s): {shown}")


@dataclass
class SyncReport:
    """What a push did."""

    source_uid: str
    runs: list[tuple[int, int, str]] = field(default_factory=list)
    """(laptop run id, lab run id, uid) of every run imported."""
    events: int = 0
    readings: int = 0

    @property
    def changed(self) -> bool:
        """Whether anything was written."""
        return bool(self.runs or self.events)


def database_uid(session: Session) -> str:
    """The global identity of the database ``session`` is on."""
    row = session.get(DatabaseIdentity, 1)
    if row is None:
        raise SyncError("this database has no identity: run `lims db upgrade`")
    return row.uid


def run_uid(source_uid: str, run_id: int) -> str:
    """The global identity of run ``run_id`` of the database ``source_uid``."""
    return str(uuid.uuid5(_UID_NAMESPACE, f"{source_uid}/runs/{run_id}"))


# --------------------------------------------------------------------------- origin chains


def _origin_chain(session: Session, run_id: int, chain_run_id: int) -> tuple[int, str]:
    """(count, head) of ``run_id``'s readings chained as if recorded under ``chain_run_id``."""
    prev, count = GENESIS_SHA256, 0
    for r in session.scalars(select(Reading).where(Reading.run_id == run_id).order_by(Reading.seq)):
        count += 1
        content = {
            "run_id": chain_run_id,
            "seq": r.seq,
            "step": r.step,
            "test_point": r.test_point,
            "quantity": r.quantity,
            "magnitude": r.magnitude,
            "unit": r.unit,
            "taken_at": r.taken_at,
            "source": r.source,
        }
        prev = reading_chain_sha256(prev, content)
    return count, prev


def _run_fingerprint(session: Session, run: Run) -> str:
    """SHA-256 over a run's record and its results, resources and overrides (ids aside)."""

    def strip(state: dict[str, Any], *keys: str) -> dict[str, Any]:
        return {k: v for k, v in state.items() if k not in keys}

    parts: dict[str, Any] = {"run": strip(record_state(run), "id")}
    parts["results"] = [
        strip(record_state(r), "id", "run_id", "corrects_id")
        for r in session.scalars(select(Result).where(Result.run_id == run.id).order_by(Result.id))
    ]
    parts["resources"] = sorted(
        (r.kind, r.tag, r.certificate_number)
        for r in session.scalars(select(RunResource).where(RunResource.run_id == run.id))
    )
    parts["overrides"] = [
        strip(record_state(o), "id", "run_id", "quality_manager_id")
        for o in session.scalars(
            select(RuleOverride).where(RuleOverride.run_id == run.id).order_by(RuleOverride.id)
        )
    ]
    return sha256_hex(canonical_json(parts))


def verify_origins(session: Session, source_uid: str | None = None) -> list[str]:
    """Problems with imported runs (all, or those of ``source_uid``); empty when intact.

    Each imported run's readings and instrument I/O, chained under its run id at the source,
    must reproduce the heads recorded at import, and its run record must still be in its
    audited state.
    """
    query = select(RunOrigin).order_by(RunOrigin.run_id)
    if source_uid is not None:
        query = query.where(RunOrigin.source_uid == source_uid)
    problems = []
    for origin in session.scalars(query):
        got = _origin_chain(session, origin.run_id, origin.source_run_id)
        if got != (origin.reading_count, origin.reading_head):
            problems.append(
                f"run {origin.run_id} (uid {origin.uid}): its readings no longer reproduce the "
                f"chain recorded at its source ({got[0]} readings for {origin.reading_count})"
            )
        io = io_chain(session, origin.run_id, origin.source_run_id)
        if io != (origin.io_count, origin.io_head):
            problems.append(
                f"run {origin.run_id} (uid {origin.uid}): its instrument I/O no longer "
                f"reproduces the chain recorded at its source ({io[0]} exchanges for "
                f"{origin.io_count})"
            )
        run = session.get(Run, origin.run_id)
        last = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.table_name == "runs", AuditEvent.record_id == str(origin.run_id))
            .order_by(AuditEvent.id.desc())
            .limit(1)
        ).one_or_none()
        if (
            run is None
            or last is None
            or canonical_json(record_state(run)) != canonical_json(last.state)
        ):
            problems.append(f"run {origin.run_id} (uid {origin.uid}): changed outside the app")
    return problems


def verify_segments(session: Session) -> list[str]:
    """Problems with the laptops' audit events kept in ``synced_audit_events``; empty when
    intact. Each import's segment must still be the verified chain it recorded: its count,
    its event ids, each event's hash, the first one following the anchor and the last one
    ending in the recorded hash."""
    problems = []
    for imp in session.scalars(select(SyncImport).order_by(SyncImport.id)):
        where = f"synchronization {imp.id} (from {imp.source_uid})"
        events = list(
            session.scalars(
                select(SyncedAuditEvent)
                .where(SyncedAuditEvent.import_id == imp.id)
                .order_by(SyncedAuditEvent.source_event_id)
            )
        )
        ids = [ev.source_event_id for ev in events]
        if len(events) != imp.events or ids != list(
            range(imp.first_event_id, imp.first_event_id + len(events))
        ):
            problems.append(
                f"{where}: {len(events)} laptop events kept for the {imp.events} imported "
                f"(events {imp.first_event_id}…{imp.last_event_id}): events were deleted or "
                "inserted"
            )
            continue
        prev = imp.anchor_sha256
        for ev in events:
            digest = event_sha256(
                event_id=ev.source_event_id,
                occurred_at=ev.occurred_at,
                actor=ev.actor,
                action=ev.action,
                table_name=ev.table_name,
                record_id=ev.record_id,
                changes=ev.changes,
                state=ev.state,
                reason=ev.reason,
                prev_sha256=ev.prev_sha256,
            )
            if ev.source_uid != imp.source_uid or ev.prev_sha256 != prev or digest != ev.sha256:
                problems.append(
                    f"{where}: laptop event {ev.source_event_id} does not match its hash or "
                    "its predecessor: altered"
                )
                break
            prev = ev.sha256
        else:
            if events and prev != imp.last_sha256:
                problems.append(
                    f"{where}: the kept segment ends in another hash than the one imported: altered"
                )
    return problems


# --------------------------------------------------------------------------- the laptop side


@dataclass
class _Laptop:
    uid: str
    events: list[AuditEvent]
    head_id: int


def _open_laptop(laptop: Database) -> _Laptop:
    if current_revision(laptop.engine) != head_revision():
        raise SyncError(
            f"the laptop database is at schema {current_revision(laptop.engine)}, this software "
            f"at {head_revision()}: upgrade it first (`lims db upgrade`)"
        )
    with laptop.read() as s:
        report = verify(s)
        if not report.ok:
            raise SyncError(
                "the laptop database fails audit verification, nothing imported: "
                f"{report.problems[0]}"
            )
        uid = database_uid(s)
        events = list(s.scalars(select(AuditEvent).order_by(AuditEvent.id)))
        for ev in events:
            s.expunge(ev)
    return _Laptop(uid, events, events[-1].id if events else 0)


def _common_prefix(lab: Session, events: list[AuditEvent]) -> int:
    """The last event id both chains share (chained: a match at k means all before match)."""
    lo, hi = 0, len(events)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        ev = events[mid - 1]
        sha = lab.scalar(select(AuditEvent.sha256).where(AuditEvent.id == ev.id))
        if sha == ev.sha256:
            lo = mid
        else:
            hi = mid - 1
    return lo


# --------------------------------------------------------------------------- push


def _created_runs(events: Iterable[AuditEvent]) -> list[int]:
    return sorted(
        {int(ev.record_id) for ev in events if ev.table_name == "runs" and ev.action == "create"}
    )


def push(lab: Database, laptop: Database, actor: User) -> SyncReport:
    """Synchronize the runs recorded on ``laptop`` into ``lab`` (see module doc).

    Raises :class:`SyncError` (refused) or :class:`SyncConflictError`; nothing is written then.
    """
    require(actor, Permission.RUN_PROCEDURE)
    src = _open_laptop(laptop)
    with lab.write(actor=actor, reason="synchronization of on-site records") as s:
        lab_uid = database_uid(s)
        if lab_uid == src.uid:
            raise SyncError("the laptop database is this database (same identity)")
        problems = verify_origins(s, src.uid)
        if problems:
            raise SyncError(
                "records imported earlier from this laptop were altered in the lab, nothing "
                f"imported: {problems[0]}"
            )
        report = SyncReport(src.uid)
        last = s.scalars(
            select(SyncImport)
            .where(SyncImport.source_uid == src.uid)
            .order_by(SyncImport.id.desc())
            .limit(1)
        ).one_or_none()
        by_id = {ev.id: ev for ev in src.events}
        if last is not None:
            seen = by_id.get(last.last_event_id)
            if seen is None or seen.sha256 != last.last_sha256:
                raise SyncError(
                    f"the laptop's audit trail does not continue the one imported on "
                    f"{last.created_at:%Y-%m-%d %H:%M} (event {last.last_event_id}): refused"
                )
            anchor_id, anchor_sha = last.last_event_id, last.last_sha256
        else:
            anchor_id = _common_prefix(s, src.events)
            anchor_sha = by_id[anchor_id].sha256 if anchor_id else GENESIS_SHA256
        segment = [ev for ev in src.events if ev.id > anchor_id]
        conflicts = _check_imported(s, laptop, src.uid)
        with laptop.read() as ls:
            new_runs = [
                rid
                for rid in _created_runs(segment)
                if s.scalars(
                    select(RunOrigin.run_id).where(
                        RunOrigin.source_uid == src.uid, RunOrigin.source_run_id == rid
                    )
                ).one_or_none()
                is None
            ]
            if not segment and not new_runs:
                if conflicts:
                    raise SyncConflictError(conflicts)
                return report
            imp = SyncImport(
                source_uid=src.uid,
                anchor_event_id=anchor_id,
                anchor_sha256=anchor_sha,
                first_event_id=segment[0].id if segment else anchor_id,
                last_event_id=segment[-1].id if segment else anchor_id,
                last_sha256=segment[-1].sha256 if segment else anchor_sha,
                events=len(segment),
                runs={},
                imported_by=actor.username,
            )
            mapper = Mapper(s, ls)
            staged = [_stage_run(ls, mapper, rid) for rid in new_runs]
            conflicts += mapper.conflicts
            if conflicts:
                raise SyncConflictError(conflicts)
            imp.runs = {"imported": [run_uid(src.uid, rid) for rid in new_runs]}
            s.add(imp)
            s.flush()
            _store_segment(s, imp, segment, anchor_sha)
            for stage in staged:
                report.runs.append(_write_run(s, ls, imp, stage, src.uid, report))
            report.events = len(segment)
    return report


def _check_imported(lab: Session, laptop: Database, source_uid: str) -> list[str]:
    """Runs imported earlier from this laptop that changed there since: conflicts."""
    conflicts = []
    with laptop.read() as ls:
        for origin in lab.scalars(select(RunOrigin).where(RunOrigin.source_uid == source_uid)):
            run = ls.get(Run, origin.source_run_id)
            if run is None:
                conflicts.append(f"laptop run {origin.source_run_id}: gone from the laptop")
                continue
            chain = _origin_chain(ls, run.id, run.id)
            if (
                chain != (origin.reading_count, origin.reading_head)
                or _run_fingerprint(ls, run) != origin.source_state_sha256
            ):
                conflicts.append(
                    f"laptop run {run.id} (uid {origin.uid}): changed on the laptop after it "
                    f"was synchronized as lab run {origin.run_id}; not overwritten"
                )
    return conflicts


@dataclass
class _StagedRun:
    source: Run
    columns: dict[str, Any]
    resources: list[tuple[RunResource, int]]
    overrides: list[tuple[RuleOverride, int]]
    visit_id: int | None


def _stage_run(ls: Session, mapper: Mapper, rid: int) -> _StagedRun:
    run = ls.get(Run, rid)
    assert run is not None
    where = f"laptop run {rid}"
    values = columns(run, "id")
    values["procedure_version_id"] = mapper.procedure_version(run.procedure_version_id, where)
    values["work_order_item_id"] = mapper.item(run.work_order_item_id, where)
    values["operator_id"] = mapper.user(run.operator_id, where)
    resources = []
    for r in ls.scalars(select(RunResource).where(RunResource.run_id == rid)):
        found = mapper.resource(r.kind, r.tag, where)
        if found is not None:
            resources.append((r, found))
    overrides = []
    for o in ls.scalars(select(RuleOverride).where(RuleOverride.run_id == rid)):
        qm = mapper.user(o.quality_manager_id, where)
        if qm is not None:
            overrides.append((o, qm))
    site = ls.get(RunSite, rid)
    visit = mapper.visit(site.visit_id, where) if site is not None else None
    return _StagedRun(run, values, resources, overrides, visit)


def _store_segment(s: Session, imp: SyncImport, segment: list[AuditEvent], anchor: str) -> None:
    prev = anchor
    for ev in segment:
        if ev.prev_sha256 != prev or stored_event_sha256(ev) != ev.sha256:
            raise SyncError(f"laptop audit event {ev.id} does not follow its predecessor")
        prev = ev.sha256
    s.bulk_save_objects(
        [
            SyncedAuditEvent(
                import_id=imp.id,
                source_uid=imp.source_uid,
                source_event_id=ev.id,
                **columns(ev, "id"),
            )
            for ev in segment
        ]
    )


def _write_run(
    s: Session, ls: Session, imp: SyncImport, st: _StagedRun, source_uid: str, report: SyncReport
) -> tuple[int, int, str]:
    run = Run(**st.columns)
    s.add(run)
    s.flush()
    rid = st.source.id
    readings = [
        {
            "seq": r.seq,
            "step": r.step,
            "test_point": r.test_point,
            "quantity": r.quantity,
            "magnitude": r.magnitude,
            "unit": r.unit,
            "taken_at": r.taken_at,
            "source": r.source,
        }
        for r in ls.scalars(select(Reading).where(Reading.run_id == rid).order_by(Reading.seq))
    ]
    if readings:
        report.readings += append_readings(s, run.id, readings)
    exchanges = io_items(ls, rid)
    if exchanges:
        append_io(s, run.id, exchanges)
    mapped: dict[int, int] = {}
    for r in ls.scalars(select(Result).where(Result.run_id == rid).order_by(Result.id)):
        new = Result(**columns(r, "id", "run_id", "corrects_id"), run_id=run.id)
        new.corrects_id = mapped.get(r.corrects_id) if r.corrects_id is not None else None
        s.add(new)
        s.flush()
        mapped[r.id] = new.id
    for res, found in st.resources:
        s.add(
            RunResource(
                **columns(res, "id", "run_id", "resource_id"), run_id=run.id, resource_id=found
            )
        )
    for o, qm in st.overrides:
        s.add(
            RuleOverride(
                **columns(o, "id", "run_id", "quality_manager_id"),
                run_id=run.id,
                quality_manager_id=qm,
            )
        )
    if st.visit_id is not None:
        s.add(RunSite(run_id=run.id, visit_id=st.visit_id))
    count, head = _origin_chain(ls, rid, rid)
    io_count, io_head = io_chain(ls, rid)
    uid = run_uid(source_uid, rid)
    s.add(
        RunOrigin(
            run_id=run.id,
            uid=uid,
            source_uid=source_uid,
            source_run_id=rid,
            reading_count=count,
            reading_head=head,
            io_count=io_count,
            io_head=io_head,
            source_state_sha256=_run_fingerprint(ls, st.source),
            import_id=imp.id,
        )
    )
    s.flush()
    got = _origin_chain(s, run.id, rid)
    if got != (count, head):
        raise SyncError(f"laptop run {rid}: readings changed while importing")
    if io_chain(s, run.id, rid) != (io_count, io_head):
        raise SyncError(f"laptop run {rid}: instrument I/O changed while importing")
    return rid, run.id, uid


def imported_event_count(session: Session, source_uid: str) -> int:
    """How many audit events of ``source_uid`` this database holds."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(SyncedAuditEvent)
            .where(SyncedAuditEvent.source_uid == source_uid)
        )
        or 0
    )
