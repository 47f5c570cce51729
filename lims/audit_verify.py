"""Verification of the audit trail: what :func:`lims.audit.verify` runs.

It detects, and names:

* an audit event updated, deleted or inserted behind the application's back
  (broken hash, gap in the sequence, head mismatch);
* an audited record changed, deleted or inserted behind the application's back
  (its current content does not match the state of its last event);
* a reading changed, deleted or inserted (the run's chain no longer matches);
* certificate numbering with a gap, a number used twice, or a counter that is not
  the highest number taken (:func:`lims.services.numbering.numbering_problems`).

It also counts the audited changes that carry no reason (EU GMP Annex 11 §9).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.audit import (
    CHANGE_ACTIONS,
    GENESIS_SHA256,
    READINGS_TABLE,
    STATE_ACTIONS,
    AuditProblem,
    canonical_json,
    reading_chain_sha256,
    reading_content,
    record_key,
    state_as_audited,
    stored_event_sha256,
)
from lims.db.base import Base
from lims.models.audit import AuditEvent, AuditHead
from lims.models.runs import Reading
from lims.services.numbering import numbering_problems


@dataclass
class VerifyReport:
    """What :func:`verify` checked and found."""

    events: int = 0
    records: int = 0
    readings: int = 0
    #: Audited changes (create, update, delete) stored without a reason.
    unreasoned: int = 0
    problems: list[AuditProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing was found."""
        return not self.problems


def _iter_events(session: Session) -> Iterator[AuditEvent]:
    yield from session.execute(
        select(AuditEvent).order_by(AuditEvent.id).execution_options(yield_per=2000)
    ).scalars()


def _audited_models() -> list[type[Base]]:
    return sorted(
        (m.class_ for m in Base.registry.mappers if m.class_.__audited__),
        key=lambda c: c.__tablename__,
    )


def verify_trail(session: Session) -> VerifyReport:
    """Walk the audit chain; check every audited record, reading and certificate number."""
    report = VerifyReport()
    prev = GENESIS_SHA256
    expected_id = 1
    latest: dict[tuple[str, str], AuditEvent] = {}
    first_break: AuditProblem | None = None
    for ev in _iter_events(session):
        report.events += 1
        if first_break is None:
            if ev.id != expected_id:
                first_break = AuditProblem(
                    "chain",
                    f"audit event {expected_id}",
                    f"missing (next event found is {ev.id}): events were deleted",
                )
            elif ev.prev_sha256 != prev:
                first_break = AuditProblem(
                    "chain",
                    f"audit event {ev.id}",
                    "does not follow its predecessor: an event before it was altered, "
                    "inserted or deleted",
                )
            else:
                if stored_event_sha256(ev) != ev.sha256:
                    first_break = AuditProblem(
                        "chain", f"audit event {ev.id}", "content does not match its hash: altered"
                    )
        prev = ev.sha256
        expected_id = ev.id + 1
        if ev.action in STATE_ACTIONS:
            latest[(ev.table_name, ev.record_id)] = ev
        if ev.action in CHANGE_ACTIONS and not (ev.reason or "").strip():
            report.unreasoned += 1
        session.expunge(ev)
    if first_break is not None:
        report.problems.append(first_break)
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

    _verify_records(session, latest, report)
    _verify_readings(session, latest, report)
    report.problems += numbering_problems(session)
    return report


def _verify_records(
    session: Session, latest: dict[tuple[str, str], AuditEvent], report: VerifyReport
) -> None:
    for model in _audited_models():
        table = model.__tablename__
        seen: set[str] = set()
        for obj in session.execute(select(model).execution_options(yield_per=2000)).scalars():
            report.records += 1
            key = record_key(obj)
            seen.add(key)
            ev = latest.get((table, key))
            if ev is None or ev.action == "delete":
                report.problems.append(
                    AuditProblem(
                        "record", f"{table} {key}", "has no audit event: inserted outside the app"
                    )
                )
            elif canonical_json(state_as_audited(obj, ev.state)) != canonical_json(ev.state):
                diff = _diff_fields(state_as_audited(obj, ev.state), ev.state)
                report.problems.append(
                    AuditProblem(
                        "record",
                        f"{table} {key}",
                        f"differs from its audited state (event {ev.id}) in {', '.join(diff)}: "
                        "changed outside the app",
                    )
                )
            session.expunge(obj)
        for (t, key), ev in latest.items():
            if t == table and key not in seen and ev.action != "delete":
                report.problems.append(
                    AuditProblem(
                        "record",
                        f"{table} {key}",
                        f"is missing but audit event {ev.id} says it exists: "
                        "deleted outside the app",
                    )
                )


def _diff_fields(current: dict[str, Any], audited: dict[str, Any]) -> list[str]:
    keys = sorted(set(current) | set(audited))
    return [
        k for k in keys if canonical_json(current.get(k)) != canonical_json(audited.get(k))
    ] or ["(representation)"]


def _verify_readings(
    session: Session, latest: dict[tuple[str, str], AuditEvent], report: VerifyReport
) -> None:
    expected = {int(key): ev for (table, key), ev in latest.items() if table == READINGS_TABLE}
    found: dict[int, tuple[int, str]] = {}
    run_id: int | None = None
    prev = GENESIS_SHA256
    count = 0
    broken: set[int] = set()
    for r in session.execute(
        select(Reading).order_by(Reading.run_id, Reading.seq).execution_options(yield_per=5000)
    ).scalars():
        report.readings += 1
        if r.run_id != run_id:
            if run_id is not None:
                found[run_id] = (count, prev)
            run_id, prev, count = r.run_id, GENESIS_SHA256, 0
        count += 1
        if r.run_id not in broken:
            digest = reading_chain_sha256(prev, reading_content(r))
            if r.seq != count or digest != r.chain_sha256:
                broken.add(r.run_id)
                report.problems.append(
                    AuditProblem(
                        "reading",
                        f"readings of run {r.run_id} at seq {r.seq}",
                        "do not match their chain: a reading was altered, inserted or deleted",
                    )
                )
        prev = r.chain_sha256
        session.expunge(r)
    if run_id is not None:
        found[run_id] = (count, prev)
    for rid in sorted(set(expected) | set(found)):
        if rid in broken:
            continue
        ev = expected.get(rid)
        got = found.get(rid, (0, GENESIS_SHA256))
        if ev is None:
            report.problems.append(
                AuditProblem("reading", f"readings of run {rid}", "were never audited")
            )
        elif got != (int(ev.state.get("count", -1)), str(ev.state.get("head"))):
            report.problems.append(
                AuditProblem(
                    "reading",
                    f"readings of run {rid}",
                    f"{got[0]} stored but audit event {ev.id} recorded {ev.state.get('count')}: "
                    "readings were deleted or inserted",
                )
            )
