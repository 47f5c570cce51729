"""Everything ``lims audit verify`` checks, and its verdict.

* the audit chain, every audited record, every reading, every run's instrument I/O record
  against its chain and audited head, and the certificate numbering
  (:func:`lims.audit_verify.verify_trail`), incrementally from the newest anchored
  checkpoint (:mod:`lims.audit_checkpoint`) unless ``full``;
* every run's stored plan against the plan hash it was started under (incrementally:
  the runs touched since the checkpoint; the others are in the runs table's digest);
* every synchronized laptop segment against its audited import, and every imported run
  against the chain recorded where it was done (:mod:`lims.services.sync`);
* every file under ``<data dir>/archive/`` against the SHA-256 it is stored under
  (incrementally: the files of the certificates and external certificates whose records
  changed since the checkpoint; ``--full`` re-hashes every file), and every file the
  records say was archived (issued certificates' PDF and DCC, standards' certificates)
  present there;
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
from typing import Any

from sqlalchemy import Select, String, cast, func, literal, select, union_all
from sqlalchemy.orm import Session

from lims.audit import AuditProblem
from lims.audit_anchors import AnchorCheck, check_destinations
from lims.audit_checkpoint import newest_checkpoint
from lims.audit_stream import stream
from lims.audit_verify import VerifyReport, verify_trail
from lims.db import Database
from lims.db.types import utcnow
from lims.models.audit import AuditHead
from lims.models.certificates import Certificate
from lims.models.enums import CertificateStatus
from lims.models.equipment import ExternalCertificate
from lims.models.runs import ReadingJournal, Run, RunLease
from lims.quality.archive import archive_path, archived_hashes, file_sha256
from lims.services.planning.model import plan_sha256
from lims.services.sync import verify_origins, verify_segments

#: Certificates whose files were archived when they were issued.
_ARCHIVED_STATES = (
    CertificateStatus.ISSUED,
    CertificateStatus.SUPERSEDED,
    CertificateStatus.REVOKED,
)


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


def _recorded_files(session: Session) -> Select[Any]:
    """Every archived file a record names: (hash, kind, certificate number or id), in hash
    order (code points, as the archive's directories are walked)."""
    archived = Certificate.status.in_(_ARCHIVED_STATES)
    ext_id = cast(ExternalCertificate.id, String)
    files = union_all(
        select(
            Certificate.pdf_sha256.label("sha"), literal("pdf").label("kind"), Certificate.number
        ).where(archived, Certificate.pdf_sha256.is_not(None), Certificate.pdf_sha256 != ""),
        select(Certificate.dcc_sha256, literal("dcc"), Certificate.number).where(
            archived, Certificate.dcc_sha256.is_not(None), Certificate.dcc_sha256 != ""
        ),
        select(ExternalCertificate.file_sha256, literal("external"), ext_id).where(
            ExternalCertificate.file_sha256.is_not(None)
        ),
    ).subquery()
    collation = "C" if session.get_bind().dialect.name == "postgresql" else "BINARY"
    return select(files.c.sha, files.c.kind, files.c.number).order_by(
        files.c.sha.collate(collation)
    )


_WHAT = {
    "pdf": "the PDF of certificate {}",
    "dcc": "the DCC of certificate {}",
    "external": "the file of external certificate {}",
}


def archive_problems(
    session: Session, archive_dir: Path, rehash: set[str] | None = None
) -> tuple[int, list[AuditProblem]]:
    """Archived files checked against the records (every file a record names is there) and
    against their hashes (all of them, or only those in ``rehash``); (files, problems).

    The archive's files and the records' hashes are merged as two streams in hash order:
    memory does not grow with the archive."""
    problems: list[AuditProblem] = []
    files = 0
    archive = archived_hashes(archive_dir)
    here: str | None = next(archive, None)

    def check(sha: str) -> None:
        if rehash is not None and sha not in rehash:
            return
        path = archive_dir / sha[:2] / sha  # as listed, whatever its name holds
        try:
            actual = file_sha256(path)
        except OSError as exc:
            problems.append(AuditProblem("archive", str(path), f"cannot be read: {exc.strerror}"))
            return
        if actual != sha:
            problems.append(
                AuditProblem(
                    "archive", str(path), "content does not match its recorded SHA-256: altered"
                )
            )

    def advance(before: str | None) -> None:
        nonlocal here, files
        while here is not None and (before is None or here < before):
            files += 1
            check(here)
            here = next(archive, None)

    for sha, kind, number in stream(session, _recorded_files(session)):
        advance(sha)
        if here is None or here != sha:
            problems.append(
                AuditProblem(
                    "archive",
                    str(archive_path(archive_dir, sha)),
                    f"{_WHAT[kind].format(number)} is missing from the archive: deleted",
                )
            )
    advance(None)
    return files, problems


def files_of_touched_records(session: Session, touched: dict[str, set[str]]) -> set[str]:
    """The archived files (by SHA-256) of the certificates and external certificates whose
    records changed after a checkpoint: what an incremental verification re-hashes."""
    out: set[str] = set()
    for model, columns in (
        (Certificate, (Certificate.pdf_sha256, Certificate.dcc_sha256)),
        (ExternalCertificate, (ExternalCertificate.file_sha256,)),
    ):
        ids = sorted(int(k) for k in touched.get(model.__tablename__, ()) if k.isdigit())
        for i in range(0, len(ids), 500):
            rows = session.execute(select(*columns).where(model.id.in_(ids[i : i + 500])))
            out |= {str(v) for row in rows for v in row if v}
    return out


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
    rehash = None if checkpoint is None else files_of_touched_records(session, trail.touched)
    files, found = archive_problems(session, archive_dir, rehash)
    trail.problems += found
    return IntegrityReport(
        trail=trail, archived_files=files, anchors=anchors, unsealed=unsealed_journals(session)
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
