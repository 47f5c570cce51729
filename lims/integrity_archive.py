"""The archive part of ``lims audit verify``: every file a record names is in the archive,
and the files checked hold what their hash says.

In full, the archive's listing and the records' hashes are merged as two streams in hash
order (memory does not grow with the archive), and every file is hashed again.

From a checkpoint that recorded the archive's clock (:class:`ArchiveClock`), only what can
have changed since is looked at: the leaf directories whose change time moved
(:func:`lims.quality.archive.changed_since`), against the records naming a file in them
(found by the hash-prefix indexes), and the files of the records changed since the
checkpoint, hashed again. A file removed, renamed or added moves its directory's change
time; a file's content changed in place is found by ``--full``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    cast,
    func,
    literal,
    literal_column,
    select,
    union_all,
)
from sqlalchemy.orm import QueryableAttribute, Session

from lims.audit import AuditProblem
from lims.audit_stream import stream
from lims.db.types import HASH_PREFIX_LENGTH, hash_prefix
from lims.models.certificates import Certificate
from lims.models.enums import CertificateStatus
from lims.models.equipment import ExternalCertificate
from lims.quality.archive import (
    ArchiveClock,
    archive_path,
    archived_hashes,
    changed_since,
    file_sha256,
    read_clock,
)

#: Certificates whose files were archived when they were issued.
_ARCHIVED_STATES = (
    CertificateStatus.ISSUED,
    CertificateStatus.SUPERSEDED,
    CertificateStatus.REVOKED,
)
_IN_BATCH = 500

_WHAT = {
    "pdf": "the PDF of certificate {}",
    "dcc": "the DCC of certificate {}",
    "external": "the file of external certificate {}",
}


@dataclass
class ArchiveCheck:
    """What the archive check looked at and found."""

    #: Files listed: the whole archive, or the directories changed since the checkpoint.
    files: int = 0
    problems: list[AuditProblem] = field(default_factory=list)
    #: The archive's clock when this check began (what a new checkpoint records); None
    #: when it could not be read.
    clock: ArchiveClock | None = None
    #: True when the whole archive was listed.
    listed_all: bool = True


def _recorded_files(
    *,
    certificates: Any = True,
    externals: Any = True,
    prefixes: Collection[str] | None = None,
) -> Select[Any]:
    """Archived files the records name: (hash, kind, certificate number or id). Those of
    every certificate and external certificate, or only of those a condition selects
    (``False``: none); all of them, or only those under one of ``prefixes``."""

    def named(column: QueryableAttribute[str | None]) -> list[ColumnElement[bool]]:
        out = [column.is_not(None), column != ""]
        if prefixes is not None:
            out.append(_under(column, prefixes).in_(sorted(prefixes)))
        return out

    parts: list[Any] = []  # selects of (hash, kind, number)
    if certificates is not False:
        chosen = [Certificate.status.in_(_ARCHIVED_STATES)]
        if certificates is not True:
            chosen.append(certificates)
        parts += [
            select(
                Certificate.pdf_sha256.label("sha"),
                literal("pdf").label("kind"),
                Certificate.number.label("number"),
            ).where(*chosen, *named(Certificate.pdf_sha256)),
            select(Certificate.dcc_sha256, literal("dcc"), Certificate.number).where(
                *chosen, *named(Certificate.dcc_sha256)
            ),
        ]
    if externals is not False:
        ext_id = cast(ExternalCertificate.id, String)
        chosen_ext = named(ExternalCertificate.file_sha256)
        if externals is not True:
            chosen_ext.append(externals)
        parts.append(
            select(
                ExternalCertificate.file_sha256.label("sha"),
                literal("external").label("kind"),
                ext_id.label("number"),
            ).where(*chosen_ext)
        )
    files = union_all(*parts).subquery()
    return select(files.c.sha, files.c.kind, files.c.number)


def _in_hash_order(session: Session) -> Select[Any]:
    """Every archived file a record names, in hash order (code points, as the archive's
    directories are listed)."""
    query = _recorded_files().subquery()
    collation = "C" if session.get_bind().dialect.name == "postgresql" else "BINARY"
    return select(query.c.sha, query.c.kind, query.c.number).order_by(
        query.c.sha.collate(collation)
    )


def _missing(archive_dir: Path, sha: str, kind: str, number: Any) -> AuditProblem:
    return AuditProblem(
        "archive",
        str(archive_path(archive_dir, sha)),
        f"{_WHAT[kind].format(number)} is missing from the archive: deleted",
    )


def _rehash_problem(archive_dir: Path, sha: str) -> AuditProblem | None:
    path = archive_path(archive_dir, sha)
    try:
        actual = file_sha256(path)
    except FileNotFoundError:
        return None  # named as missing where a record names it
    except OSError as exc:
        return AuditProblem("archive", str(path), f"cannot be read: {exc.strerror}")
    if actual != sha:
        return AuditProblem(
            "archive", str(path), "content does not match its recorded SHA-256: altered"
        )
    return None


def archive_problems(
    session: Session, archive_dir: Path, rehash: Collection[str] | None = None
) -> tuple[int, list[AuditProblem]]:
    """The whole archive checked against the records (every file a record names is there)
    and against their hashes (all of them, or only those in ``rehash``); (files, problems).
    """
    problems: list[AuditProblem] = []
    files = 0
    archive = archived_hashes(archive_dir)
    here: str | None = next(archive, None)

    def advance(before: str | None) -> None:
        nonlocal here, files
        while here is not None and (before is None or here < before):
            files += 1
            if rehash is None or here in rehash:
                found = _rehash_problem(archive_dir, here)
                if found is not None:
                    problems.append(found)
            here = next(archive, None)

    for sha, kind, number in stream(session, _in_hash_order(session)):
        advance(sha)
        if here is None or here != sha:
            problems.append(_missing(archive_dir, sha, kind, number))
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
        ids = _ids(touched, model.__tablename__)
        for i in range(0, len(ids), _IN_BATCH):
            rows = session.execute(select(*columns).where(model.id.in_(ids[i : i + _IN_BATCH])))
            out |= {str(v) for row in rows for v in row if v}
    return out


def _under(column: QueryableAttribute[str | None], prefixes: Collection[str]) -> Any:
    """The prefix of ``column`` that ``prefixes`` (all of one length) are compared with:
    a leaf's by its index, a whole shard's (rarely changed) by a scan."""
    if all(len(p) == HASH_PREFIX_LENGTH for p in prefixes):
        return hash_prefix(column)
    length = {len(p) for p in prefixes}.pop()
    return func.substr(column, literal_column("1"), literal_column(str(length)))


def _recorded_under(session: Session, prefixes: Collection[str]) -> Iterator[Any]:
    """The archived files the records name under directories of these prefixes."""
    for length in sorted({len(p) for p in prefixes}):
        chosen = sorted(p for p in prefixes if len(p) == length)
        for i in range(0, len(chosen), _IN_BATCH):
            yield from session.execute(_recorded_files(prefixes=chosen[i : i + _IN_BATCH]))


def _ids(touched: dict[str, set[str]], table: str) -> list[int]:
    return sorted(int(k) for k in touched.get(table, ()) if k.isdigit())


def _recorded_by(session: Session, touched: dict[str, set[str]]) -> Iterator[Any]:
    """The archived files named by the ``touched`` certificates and external certificates."""
    ids = _ids(touched, Certificate.__tablename__)
    for i in range(0, len(ids), _IN_BATCH):
        chosen = Certificate.id.in_(ids[i : i + _IN_BATCH])
        yield from session.execute(_recorded_files(certificates=chosen, externals=False))
    ids = _ids(touched, ExternalCertificate.__tablename__)
    for i in range(0, len(ids), _IN_BATCH):
        chosen = ExternalCertificate.id.in_(ids[i : i + _IN_BATCH])
        yield from session.execute(_recorded_files(certificates=False, externals=chosen))


def check_archive(
    session: Session,
    archive_dir: Path,
    *,
    touched: dict[str, set[str]] | None = None,
    since: ArchiveClock | None = None,
) -> ArchiveCheck:
    """Check the archive: in full when ``touched`` is None (every file hashed again);
    otherwise the files of the ``touched`` records hashed again, and the directories
    changed since the clock ``since`` (the checkpoint's) against the records, or the whole
    listing against the records when that cannot be told."""
    check = ArchiveCheck(clock=read_clock(archive_dir))
    if touched is None:
        check.files, check.problems = archive_problems(session, archive_dir)
        return check
    rehash = files_of_touched_records(session, touched)
    changes = None
    if since is not None and check.clock is not None and check.clock.ctime_ns > since.ctime_ns:
        changes = changed_since(archive_dir, since)
    if changes is None:
        check.files, check.problems = archive_problems(session, archive_dir, rehash)
        return check
    check.files, check.listed_all = changes.files, False
    missing: set[str] = set()
    for sha, kind, number in _recorded_under(session, changes.present):
        if not changes.holds(sha) and not archive_path(archive_dir, sha).exists():
            check.problems.append(_missing(archive_dir, sha, kind, number))
            missing.add(sha)
    for sha, kind, number in _recorded_by(session, touched):
        if sha not in missing and not archive_path(archive_dir, sha).exists():
            check.problems.append(_missing(archive_dir, sha, kind, number))
            missing.add(sha)
    for sha in sorted(rehash - missing):
        found = _rehash_problem(archive_dir, sha)
        if found is not None:
            check.problems.append(found)
    return check
