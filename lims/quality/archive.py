"""Files kept by content hash under the archive directory (write once, never changed)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from lims.quality.errors import QualityError

_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def archive_path(archive_dir: Path, sha256: str) -> Path:
    """Where the file with this hash lives: ``<archive>/<ab>/<abcdef...>``."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise QualityError(f"{sha256!r} is not a SHA-256 hex digest")
    return archive_dir / sha256[:2] / sha256


def store_bytes(archive_dir: Path, data: bytes) -> str:
    """Store ``data`` by hash (idempotent) and return the hash."""
    sha = hashlib.sha256(data).hexdigest()
    target = archive_path(archive_dir, sha)
    if target.exists():
        return sha
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)
    target.chmod(0o444)
    return sha


def store_file(archive_dir: Path, source: Path) -> str:
    """Copy a file into the archive by hash and return the hash."""
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise QualityError(f"{source}: cannot read file: {exc.strerror}") from exc
    if not data:
        raise QualityError(f"{source}: the file is empty")
    return store_bytes(archive_dir, data)


def archived_hashes(archive_dir: Path) -> Iterator[str]:
    """The hash of every archived file, in hash order (no per-file system call or path
    object: a decade's archive holds millions of files)."""
    if not archive_dir.is_dir():
        return
    with os.scandir(archive_dir) as entries:
        shards = sorted(e.name for e in entries if len(e.name) == 2 and e.is_dir())
    for shard in shards:
        with os.scandir(archive_dir / shard) as entries:
            names = sorted(e.name for e in entries if len(e.name) == 64 and e.is_file())
        yield from names


def iter_archive(archive_dir: Path) -> Iterator[tuple[str, Path]]:
    """Every archived file as (hash, path), in hash order."""
    for sha in archived_hashes(archive_dir):
        yield sha, archive_dir / sha[:2] / sha
