"""Everything ``lims audit verify`` checks, and its verdict.

* the audit chain, every audited record, every reading, every run's instrument I/O record
  against its chain and audited head, and the certificate numbering
  (:func:`lims.audit_verify.verify_trail`), incrementally from the newest anchored
  checkpoint (:mod:`lims.audit_checkpoint`) unless ``full``;
* every run's stored plan against the plan hash it was started under (incrementally:
  the runs touched since the checkpoint; the others are in the runs table's digest);
* every synchronized laptop segment against its audited import, and every imported run
  against the chain recorded where it was done (:mod:`lims.services.sync`);
* every file under ``<data dir>/archive/`` against the SHA-256 it is stored under, and
  every file the records say was archived (issued certificates' PDF and DCC, standards'
  certificates) present there (:mod:`lims.integrity_archive`; incrementally: the files of
  the records changed since the checkpoint, and the archive's directories changed since);
* the chain against its anchors outside the database, and the anchor files
  against the database's count of them (:mod:`lims.audit_anchors`).

The verdict is :attr:`IntegrityVerdict.INTACT` only when every check passed and the trail is
anchored somewhere that could be read; :attr:`IntegrityVerdict.CANNOT_CONFIRM` when nothing
was found but an anchor destination is out of reach or the trail was never
anchored; :attr:`IntegrityVerdict.TAMPERED` when anything was found.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lims.audit import AuditProblem
from lims.audit_anchors import AnchorCheck, check_destinations
from lims.audit_checkpoint import newest_checkpoint
from lims.audit_stream import stream
from lims.audit_verify import VerifyReport, verify_trail
from lims.db import Database
from lims.db.types import utcnow
from lims.integrity_archive import check_archive
from lims.models.audit import AuditHead
from lims.models.runs import ReadingJournal, Run, RunLease
from lims.quality.archive import ArchiveClock
from lims.services.planning.model import plan_sha256
from lims.services.sync import verify_origins, verify_segments


class IntegrityVerdict(enum.StrEnum):
    """The outcome of ``lims audit verify`` (and its exit status)."""

    INTACT = "intact"
    TAMPERED = "tampered"
    CANNOT_CONFIRM = "cannot confirm"

    @property
    def exit_code(self) -> int:
        """0 intact, 1 tampered, 4 cannot confirm."""
        return {"intact": 0, "tampered": 1, "cannot confirm": 4}[self.value]


@dataclass(frozen=True)
class IntegrityReport:
    """What was checked and found."""

    trail: VerifyReport
    archived_files: int
    anchors: AnchorCheck
    #: Interrupted runs whose acknowledged readings still wait in the journal, unsealed.
    unsealed: tuple[str, ...] = ()
    #: False when only the archive's directories changed since the checkpoint were listed.
    archive_listed_all: bool = True
    #: The archive's clock when its check began (what a new checkpoint records).
    archive_clock: ArchiveClock | None = None

    @property
    def doubts(self) -> list[str]:
        """What cannot be confirmed: anchors out of reach, readings not yet sealed."""
        return self.anchors.doubts + list(self.unsealed)

    @property
    def problems(self) -> list[AuditProblem]:
        """Every finding of tampering."""
        return self.trail.problems + self.anchors.problems

    @property
    def verdict(self) -> IntegrityVerdict:
        """Intact, tampered or cannot confirm."""
        if self.problems:
            return IntegrityVerdict.TAMPERED
        if self.doubts:
            return IntegrityVerdict.CANNOT_CONFIRM
        return IntegrityVerdict.INTACT


def run_record_problems(session: Session, runs: Iterable[int] | None = None) -> list[AuditProblem]:
    """Every run's stored plan (or those of ``runs``) against the hash it was started under.

    (The runs' instrument I/O is checked with their readings by
    :func:`lims.audit_verify.verify_trail`.)
    """
    problems: list[AuditProblem] = []
    query = select(Run.id, Run.plan, Run.plan_sha256).order_by(Run.id)
    if runs is not None:
        query = query.where(Run.id.in_(sorted(runs)))
    for run_id, plan, plan_sha in stream(session, query):
        if (plan or plan_sha) and plan_sha256(plan or {}) != plan_sha:
            problems.append(
                AuditProblem(
                    "run",
                    f"runs {run_id}",
                    "its stored plan does not match the plan hash it was started under: "
                    "changed outside the app",
                )
            )
    return problems


def stored_record_problems(
    session: Session, runs: Iterable[int] | None = None
) -> list[AuditProblem]:
    """What is checked in the database beyond :func:`lims.audit.verify`: runs' plans (all,
    or those of ``runs``), synchronized laptop segments and imported runs."""
    return run_record_problems(session, runs) + [
        AuditProblem("sync", "synchronized records", p)
        for p in verify_segments(session) + verify_origins(session)
    ]


@contextmanager
def verification_session(db: Database) -> Iterator[Session]:
    """A read session on one snapshot of the database (REPEATABLE READ on PostgreSQL), so
    that a verification running beside the lab's work sees one consistent state."""
    conn = db.engine.connect()
    if not db.is_sqlite:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
    try:
        with Session(bind=conn) as session:
            try:
                yield session
            finally:
                session.rollback()
    finally:
        conn.close()


def check_integrity(
    session: Session,
    *,
    archive_dir: Path,
    anchor_file: Path,
    anchor_copies: Sequence[Path] = (),
    extra_anchor_files: Sequence[Path] = (),
    full: bool = False,
    parallel: bool | None = None,
) -> IntegrityReport:
    """Run every check of ``lims audit verify`` in one read session (a
    :func:`verification_session`).

    The trail is walked from the newest checkpoint an anchor covers, or in full when
    ``full``, when there is none, or when the anchors themselves show a problem.
    ``parallel`` is :func:`lims.audit_verify.verify_trail`'s (by default: when the lab is
    large enough).
    """
    # the newest checkpoint's record of the anchor files spares parsing what it checked,
    # provided an anchor covers that checkpoint (else everything is read again)
    candidate = None if full else newest_checkpoint(session, _head(session))
    trusted = candidate.anchor_files if candidate is not None else None
    destinations = (anchor_file, anchor_copies, extra_anchor_files)
    anchors = check_destinations(session, *destinations, trusted=trusted)
    checkpoint = None
    if not full and not anchors.problems:
        checkpoint = newest_checkpoint(session, anchors.anchored_to)
    if anchors.prefix_trusted and (
        candidate is None or checkpoint is None or checkpoint.event_id != candidate.event_id
    ):
        anchors = check_destinations(session, *destinations)
        checkpoint = None
        if not anchors.problems:
            checkpoint = newest_checkpoint(session, anchors.anchored_to)
    trail = verify_trail(session, checkpoint, parallel=parallel)
    runs = trail.touched_runs if checkpoint is not None else None
    trail.problems += stored_record_problems(session, runs)
    archive = check_archive(
        session,
        archive_dir,
        touched=None if checkpoint is None else trail.touched,
        since=None if checkpoint is None else checkpoint.archive_clock,
    )
    trail.problems += archive.problems
    return IntegrityReport(
        trail=trail,
        archived_files=archive.files,
        anchors=anchors,
        unsealed=unsealed_journals(session),
        archive_listed_all=archive.listed_all,
        archive_clock=archive.clock,
    )


def _head(session: Session) -> int:
    head = session.get(AuditHead, 1)
    return head.last_id if head is not None else 0


def unsealed_journals(session: Session) -> tuple[str, ...]:
    """Runs not executing now whose journal holds acknowledged readings or exchanges that
    were never sealed into the audited chains (the run was interrupted; resuming it seals
    them). A run that executes under a live lease is sealing its journal as it goes."""
    now = utcnow()
    live = select(RunLease.run_id).where(
        RunLease.holder.is_not(None), RunLease.expires_at.is_not(None), RunLease.expires_at > now
    )
    rows = session.execute(
        select(ReadingJournal.run_id, func.count())
        .where(ReadingJournal.run_id.not_in(live))
        .group_by(ReadingJournal.run_id)
        .order_by(ReadingJournal.run_id)
    )
    return tuple(
        f"run {run_id}: {count} acknowledged readings or exchanges are not yet sealed into "
        "the audited chain (the run was interrupted; `lims run resume` seals them)"
        for run_id, count in rows
    )
