"""A lab with a history for the incremental verification's tests: checked with a plain-SQL
edit rolled back afterwards, and checkpointed as ``lims audit verify --checkpoint`` does."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from lims.audit_anchors import write_anchor
from lims.audit_checkpoint import Checkpoint, write_checkpoint
from lims.db import Database
from lims.integrity import (
    IntegrityReport,
    IntegrityVerdict,
    check_integrity,
    verification_session,
)
from lims.models import AuditEvent, AuditHead, ExternalCertificate
from lims.quality.archive import archive_path, store_bytes
from tests.lims._attacks import unguard
from tests.lims._history import add_runs
from tests.lims._lab import Lab, build_lab

Edit = Callable[[Connection], object]


class CheckpointLab:
    """A small lab with a history, checked and checkpointed as ``lims audit verify`` does."""

    def __init__(self, db: Database, tmp: Path, runs: int = 3) -> None:
        self.db = db
        self.archive = tmp / "archive"
        self.anchors = tmp / "audit-anchors.jsonl"
        self.lab: Lab = build_lab(db, issued=False)
        self.runs = add_runs(db, self.lab, runs)

    def check(
        self, edit: Edit | None = None, *, full: bool = False, unguarded: bool = True
    ) -> IntegrityReport:
        """What ``lims audit verify`` reports with ``edit`` done in plain SQL (rolled back),
        after every guard trigger was dropped (``unguarded``) or as the edit leaves them."""
        with self.db.engine.connect() as conn:
            trans = conn.begin()
            try:
                if edit is not None:
                    if unguarded:
                        unguard(conn)
                    edit(conn)
                with Session(bind=conn) as s:
                    return check_integrity(
                        s, archive_dir=self.archive, anchor_file=self.anchors, full=full
                    )
            finally:
                trans.rollback()

    def checkpoint(self) -> Checkpoint:
        write_anchor(self.db, self.anchors)
        with verification_session(self.db) as s:
            report = check_integrity(s, archive_dir=self.archive, anchor_file=self.anchors)
        assert report.verdict is IntegrityVerdict.INTACT, report.problems
        cp, anchor = write_checkpoint(
            self.db,
            report.trail,
            self.anchors,
            anchor_files=report.anchors.files,
            archive_clock=report.archive_clock,
        )
        assert anchor is not None
        assert anchor.event_id == cp.event_id  # the checkpoint is anchored at once
        return cp

    def head(self) -> int:
        with self.db.read() as s:
            head = s.get(AuditHead, 1)
            assert head is not None
            return head.last_id


def created(db: Database, table: str, key: int) -> int:
    with db.read() as s:
        first = s.scalar(
            select(func.min(AuditEvent.id)).where(
                AuditEvent.table_name == table, AuditEvent.record_id == str(key)
            )
        )
        assert first is not None
        return first


def found(report: IntegrityReport) -> list[str]:
    assert report.verdict is IntegrityVerdict.TAMPERED, report.verdict
    return [str(p) for p in report.problems]


def archive_external(lab: CheckpointLab, data: bytes, number: str) -> str:
    """A standard's external certificate file archived and recorded (audited)."""
    sha = store_bytes(lab.archive, data)
    with lab.db.write(actor="system:test", reason="external certificate received") as s:
        s.add(
            ExternalCertificate(
                equipment_id=lab.lab.equipment_id,
                issuer="NIM",
                number=number,
                calibrated_on=date(2026, 11, 2),
                issued_on=date(2026, 11, 3),
                valid_until=date(2027, 11, 2),
                file_sha256=sha,
            )
        )
    return sha


def flip_first_byte(lab: CheckpointLab, sha: str) -> None:
    """An archived file's content altered in place (its name and directory unchanged)."""
    path = archive_path(lab.archive, sha)
    data = path.read_bytes()
    path.chmod(0o644)
    path.write_bytes(bytes([data[0] ^ 1]) + data[1:])
