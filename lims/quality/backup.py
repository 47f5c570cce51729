"""Consistent, backend-neutral backups of the database and the archived files, and
verified restores (EU GMP Annex 11 §7; ISO/IEC 17025 7.11).

A backup is a zip file holding one JSON-lines file per table (rows in primary
key order, read in one snapshot transaction), every archived file under
``files/<sha256>``, the audit anchors of the data directory's anchor file that
cover the backed-up trail (``anchors/audit-anchors.jsonl``), and ``manifest.json``
with the schema revision, row counts and SHA-256 of every entry. Binary columns
(signing keys, stored certificate PDFs and DCCs) are written as base64 text. A
restore goes into an empty database only: it checks every hash, inserts every row
in one transaction, then verifies the
audit chain (:func:`lims.audit.verify`), the chain against the backed-up anchors
and the row counts before committing, and finally stores and re-hashes the files and
puts the anchors back into the anchor file. Nothing is committed when a check fails;
a damaged backup file is refused with one line. Tables are read from the backup as
streams and the verification streams too: a restore's memory does not grow with the
size of the lab's history.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import os
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Date, LargeBinary, Table, func, select, text
from sqlalchemy.orm import Session

from lims.audit import AuditProblem, PendingEvent, append_events, jsonable, log_event, verify
from lims.audit_anchors import (
    AnchorFileError,
    anchor_lines,
    check_anchors,
    parse_anchor_line,
    restore_anchor_lines,
)
from lims.db import Database
from lims.db.base import Base
from lims.db.migrate import current_revision, head_revision, upgrade
from lims.db.types import UTCDateTime, utcnow
from lims.models.audit import AuditAnchorState, AuditHead
from lims.models.users import User
from lims.quality.archive import archive_path, file_sha256, iter_archive, store_bytes
from lims.quality.errors import QualityError
from lims.quality.permissions import Permission, require

FORMAT = "carbon-lims-backup/3"
#: Version 1 wrote binary columns as their hash only (their content was lost); versions 1
#: and 2 carried no anchors.
_FORMATS = {FORMAT, "carbon-lims-backup/2", "carbon-lims-backup/1"}
_BINARY_FORMATS = {FORMAT, "carbon-lims-backup/2"}
ANCHORS_ENTRY = "anchors/audit-anchors.jsonl"
#: What reading a damaged zip member can raise.
_DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, OSError, UnicodeDecodeError, ValueError)
_BATCH = 2000


class BackupError(QualityError):
    """A backup that cannot be written, or a restore that cannot be done or verified."""


#: Who a restore's audit event names (a restore runs before any lab account exists).
RESTORE_ACTOR = "system:restore"


@dataclass
class BackupManifest:
    """What a backup holds."""

    schema_revision: str
    created_at: str
    backend: str
    format: str = FORMAT
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, int] = field(default_factory=dict)
    #: ``{"lines": n, "sha256": ...}`` of the anchors entry (format 3 on).
    anchors: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """The manifest as JSON text."""
        return json.dumps(
            {
                "format": self.format,
                "schema_revision": self.schema_revision,
                "created_at": self.created_at,
                "backend": self.backend,
                "tables": self.tables,
                "files": self.files,
                "anchors": self.anchors,
            },
            indent=1,
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, data: bytes, where: str) -> BackupManifest:
        """Parse and check a manifest."""
        try:
            raw = json.loads(data)
        except ValueError as exc:
            raise BackupError(f"{where}: manifest.json is not JSON") from exc
        if not isinstance(raw, dict) or raw.get("format") not in _FORMATS:
            raise BackupError(f"{where}: not a carbon-lims backup (format {FORMAT} expected)")
        return cls(
            format=str(raw["format"]),
            schema_revision=str(raw["schema_revision"]),
            created_at=str(raw["created_at"]),
            backend=str(raw["backend"]),
            tables=dict(raw["tables"]),
            files={str(k): int(v) for k, v in raw["files"].items()},
            anchors=dict(raw.get("anchors") or {}),
        )


def _tables() -> list[Table]:
    # a database's own identity (database_identity) stays with it: not backed up
    return [t for t in Base.metadata.sorted_tables if t.info.get("backup", True)]


def _binary_columns(table: Table) -> set[str]:
    return {c.name for c in table.columns if isinstance(c.type, LargeBinary)}


def dump_rows(conn: Connection, table: Table) -> Iterator[dict[str, Any]]:
    """Every row of ``table`` in primary-key order, as JSON values (bytes as base64)."""
    binary = _binary_columns(table)
    query = select(table).order_by(*table.primary_key.columns)
    for row in conn.execute(query.execution_options(yield_per=_BATCH)).mappings():
        yield {
            k: (
                base64.b64encode(bytes(v)).decode("ascii")
                if k in binary and v is not None
                else jsonable(v)
            )
            for k, v in row.items()
        }


def _row_line(row: dict[str, Any]) -> bytes:
    return (json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def backup(
    db: Database, actor: User, archive_dir: Path, target: Path, anchor_file: Path | None = None
) -> BackupManifest:
    """Write a consistent backup of the database and the archive to ``target`` (a new file).

    With ``anchor_file``, its anchors of events in the backed-up trail go with it.
    """
    require(actor, Permission.BACKUP)
    if target.exists():
        raise BackupError(f"{target}: exists already; choose a new file name")
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent}: no such directory")
    revision = current_revision(db.engine)
    if revision is None:
        raise BackupError("the database is empty: nothing to back up")
    manifest = BackupManifest(
        schema_revision=revision,
        created_at=utcnow().isoformat(),
        backend=db.engine.dialect.name,
    )
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            conn = db.engine.connect()
            if not db.is_sqlite:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            try:
                with conn.begin():
                    head = int(conn.scalar(select(AuditHead.last_id)) or 0)
                    for table in _tables():
                        digest = hashlib.sha256()
                        rows = 0
                        with zf.open(f"tables/{table.name}.jsonl", "w") as out:
                            for row in dump_rows(conn, table):
                                line = _row_line(row)
                                digest.update(line)
                                out.write(line)
                                rows += 1
                        manifest.tables[table.name] = {"rows": rows, "sha256": digest.hexdigest()}
            finally:
                conn.close()
            # read after the snapshot: every anchor it counts is in the file by now
            lines = anchor_lines(anchor_file, head) if anchor_file is not None else []
            text_lines = "".join(line + "\n" for line in lines).encode("utf-8")
            zf.writestr(ANCHORS_ENTRY, text_lines)
            manifest.anchors = {
                "lines": len(lines),
                "sha256": hashlib.sha256(text_lines).hexdigest(),
            }
            for sha, path in iter_archive(archive_dir):
                if file_sha256(path) != sha:
                    raise BackupError(f"{path}: content does not match its hash: archive damaged")
                zf.write(path, f"files/{sha}")
                manifest.files[sha] = path.stat().st_size
            zf.writestr("manifest.json", manifest.to_json())
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    with db.write(actor=actor, reason="backup") as session:
        log_event(
            session,
            "backup",
            "database",
            target.name,
            state={
                "file": str(target),
                "sha256": file_sha256(target),
                "files": len(manifest.files),
            },
        )
    return manifest


@dataclass(frozen=True)
class RestoreReport:
    """What a verified restore put back."""

    rows: dict[str, int]
    files: int
    audit_events: int
    anchors: int = 0


def _decode(table: Table, row: dict[str, Any], manifest: BackupManifest) -> dict[str, Any]:
    out = dict(row)
    for col in table.columns:
        value = out.get(col.name)
        if value is None:
            continue
        if isinstance(col.type, LargeBinary):
            if manifest.format not in _BINARY_FORMATS:
                raise BackupError(
                    f"{table.name}.{col.name}: this backup ({manifest.format}) kept only the "
                    "hash of binary data; it cannot restore it"
                )
            try:
                out[col.name] = base64.b64decode(value, validate=True)
            except (binascii.Error, TypeError) as exc:
                raise BackupError(f"{table.name}.{col.name}: not base64 data") from exc
        elif isinstance(col.type, UTCDateTime):
            out[col.name] = datetime.fromisoformat(value)
        elif isinstance(col.type, Date):
            out[col.name] = date.fromisoformat(value)
    return out


def _read_entry(zf: zipfile.ZipFile, source: Path, name: str) -> bytes:
    """One member of the backup; a damaged or missing member is one clear error."""
    try:
        return zf.read(name)
    except KeyError as exc:
        raise BackupError(f"{source}: entry {name} is missing from the backup") from exc
    except _DAMAGED as exc:
        raise BackupError(f"{source}: entry {name} is damaged ({exc}); nothing restored") from exc


def _entry_sha256(zf: zipfile.ZipFile, source: Path, name: str) -> str:
    """SHA-256 of one member, read a megabyte at a time."""
    digest = hashlib.sha256()
    try:
        with zf.open(name) as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    except KeyError as exc:
        raise BackupError(f"{source}: entry {name} is missing from the backup") from exc
    except _DAMAGED as exc:
        raise BackupError(f"{source}: entry {name} is damaged ({exc}); nothing restored") from exc
    return digest.hexdigest()


def _entry_lines(zf: zipfile.ZipFile, source: Path, name: str) -> Iterator[str]:
    """The lines of one member, streamed; a damaged member is one clear error."""
    try:
        with zf.open(name) as raw, io.TextIOWrapper(raw, encoding="utf-8") as lines:
            yield from lines
    except KeyError as exc:
        raise BackupError(f"{source}: entry {name} is missing from the backup") from exc
    except _DAMAGED as exc:
        raise BackupError(f"{source}: entry {name} is damaged ({exc}); nothing restored") from exc


def _open_checked(source: Path) -> tuple[zipfile.ZipFile, BackupManifest]:
    try:
        zf = zipfile.ZipFile(source)
    except _DAMAGED as exc:
        raise BackupError(f"{source}: not a readable backup file: {exc}") from exc
    try:
        manifest = BackupManifest.from_json(_read_entry(zf, source, "manifest.json"), str(source))
        for name, info in manifest.tables.items():
            if _entry_sha256(zf, source, f"tables/{name}.jsonl") != info["sha256"]:
                raise BackupError(f"{source}: table {name} does not match its hash: damaged")
        for sha in manifest.files:
            if _entry_sha256(zf, source, f"files/{sha}") != sha:
                raise BackupError(f"{source}: file {sha} does not match its hash: damaged")
        if manifest.anchors:
            data = _read_entry(zf, source, ANCHORS_ENTRY)
            if hashlib.sha256(data).hexdigest() != manifest.anchors.get("sha256"):
                raise BackupError(f"{source}: the anchors do not match their hash: damaged")
    except (KeyError, TypeError, AttributeError) as exc:
        zf.close()
        raise BackupError(f"{source}: the manifest is not a backup manifest ({exc})") from exc
    except BaseException:
        zf.close()
        raise
    return zf, manifest


def _backed_up_anchors(zf: zipfile.ZipFile, source: Path, manifest: BackupManifest) -> list[str]:
    if not manifest.anchors:
        return []
    text_ = _read_entry(zf, source, ANCHORS_ENTRY).decode("utf-8")
    return [line for line in text_.splitlines() if line.strip()]


def _ensure_empty(conn: Connection) -> None:
    for table in _tables():
        count = conn.scalar(select(func.count()).select_from(table)) or 0
        if table.name == "audit_head":
            head = conn.execute(select(table)).mappings().all()
            if any(r["last_id"] != 0 for r in head):
                raise BackupError("the target database is not empty: audit_head has events")
            continue
        if count:
            raise BackupError(
                f"the target database is not empty: {table.name} holds {count} rows; "
                "restore only into an empty database"
            )


def _reset_sequences(conn: Connection) -> None:
    if conn.dialect.name != "postgresql":
        return
    for table in _tables():
        pk = list(table.primary_key.columns)
        if len(pk) != 1 or pk[0].autoincrement is False:
            continue
        seq = conn.scalar(
            text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": pk[0].name}
        )
        if seq:
            top = f"COALESCE((SELECT max({pk[0].name}) FROM {table.name}), 0) + 1"
            conn.execute(text(f"SELECT setval(:s, {top}, false)"), {"s": seq})


def restore(
    db: Database, archive_dir: Path, source: Path, anchor_file: Path | None = None
) -> RestoreReport:
    """Restore a backup into an empty database and verify it before committing.

    The restored chain is checked against the backed-up anchors too; with
    ``anchor_file``, those anchors are put back there (lines it lacks are appended).
    Restoring needs rights on the database and the data directory, not a lab
    account: the target holds no users until the backup is restored.
    """
    zf, manifest = _open_checked(source)
    with zf:
        anchors = _backed_up_anchors(zf, source, manifest)
        head = head_revision()
        if manifest.schema_revision != head:
            raise BackupError(
                f"{source}: backup is at schema {manifest.schema_revision}, this software at "
                f"{head}; restore with the matching version, then upgrade"
            )
        for sha in manifest.files:
            existing = archive_path(archive_dir, sha)
            if existing.exists() and file_sha256(existing) != sha:
                raise BackupError(f"{existing}: exists with different content")
        if current_revision(db.engine) is None:
            upgrade(db.engine)
        elif current_revision(db.engine) != head:
            raise BackupError("the target database is at another schema revision")
        counts: dict[str, int] = {}
        with db.engine.connect() as conn, conn.begin() as tx:
            _ensure_empty(conn)
            for table in _tables():
                if table.name == "audit_head":
                    conn.execute(table.delete())
                batch: list[dict[str, Any]] = []
                counts[table.name] = 0
                entry = f"tables/{table.name}.jsonl"
                for number, line in enumerate(_entry_lines(zf, source, entry), start=1):
                    try:
                        batch.append(_decode(table, json.loads(line), manifest))
                    except (ValueError, TypeError, AttributeError) as exc:
                        raise BackupError(
                            f"{source}: table {table.name}, line {number}: not a row ({exc})"
                        ) from exc
                    if len(batch) >= _BATCH:
                        conn.execute(table.insert(), batch)
                        counts[table.name] += len(batch)
                        batch = []
                if batch:
                    conn.execute(table.insert(), batch)
                    counts[table.name] += len(batch)
                expected = int(manifest.tables[table.name]["rows"])
                if counts[table.name] != expected:
                    raise BackupError(
                        f"{table.name}: restored {counts[table.name]} rows, "
                        f"the manifest says {expected}"
                    )
            _reset_sequences(conn)
            with Session(bind=conn) as session:
                report = verify(session)
                report.problems += _anchor_problems(session, source, anchors)
            if not report.ok:
                tx.rollback()
                problems = "; ".join(str(p) for p in report.problems[:5])
                raise BackupError(f"restored data fails audit verification: {problems}")
            # the restore itself goes on the record, chained after the restored trail
            append_events(
                conn,
                [
                    PendingEvent(
                        actor=RESTORE_ACTOR,
                        action="restore",
                        table_name="database",
                        record_id=source.name,
                        changes={},
                        state={
                            "file": str(source),
                            "sha256": file_sha256(source),
                            "backup_created_at": manifest.created_at,
                            "audit_events_verified": report.events,
                        },
                        reason="restore from backup, verified",
                    )
                ],
            )
            tx.commit()
        for sha in manifest.files:
            stored = store_bytes(archive_dir, _read_entry(zf, source, f"files/{sha}"))
            if stored != sha or file_sha256(archive_path(archive_dir, sha)) != sha:
                raise BackupError(f"archived file {sha} does not match its hash after restore")
        if anchor_file is not None:
            restore_anchor_lines(anchor_file, anchors)
    return RestoreReport(
        rows=counts, files=len(manifest.files), audit_events=report.events, anchors=len(anchors)
    )


def _anchor_problems(session: Session, source: Path, lines: list[str]) -> list[AuditProblem]:
    """The restored chain against the backed-up anchors, and their number against the record."""
    try:
        anchors = [parse_anchor_line(line) for line in lines]
    except AnchorFileError as exc:
        raise BackupError(f"{source}: {exc}") from exc
    problems = check_anchors(session, anchors)
    state = session.get(AuditAnchorState, 1)
    if state is not None and len(anchors) < state.anchors_written:
        problems.append(
            AuditProblem(
                "anchor",
                f"{source}",
                f"holds {len(anchors)} anchors, but the database recorded "
                f"{state.anchors_written}: anchors are missing",
            )
        )
    return problems
