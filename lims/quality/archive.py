"""Files kept by content hash under the archive directory (write once, never changed).

A file lives at ``<archive>/<ab>/<cd>/<abcd...>``: 65 536 leaf directories, so that a day's
new files change only a few of them and :func:`changed_since` can tell which. Archives
written before this layout keep files at ``<archive>/<ab>/<abcd...>``; they are read where
they are, and moved into their leaf when the first new file is stored in their shard.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lims.quality.errors import QualityError

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_HEX = frozenset("0123456789abcdef")
#: Where the archive's file system clock is read (:func:`read_clock`).
_CLOCK_DIR = ".clock"
#: Directories changed this long before a clock reading count as changed after it: the
#: file system's coarse timestamps and small clock corrections stay on the safe side.
CLOCK_MARGIN_NS = 60 * 10**9


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _is_hex(name: str, length: int) -> bool:
    return len(name) == length and not set(name) - _HEX


def _leaf_path(archive_dir: Path, sha256: str) -> Path:
    return archive_dir / sha256[:2] / sha256[2:4] / sha256


def archive_path(archive_dir: Path, sha256: str) -> Path:
    """Where the file with this hash is (or would be stored): ``<archive>/<ab>/<cd>/<sha>``,
    or ``<archive>/<ab>/<sha>`` where an archive of the earlier layout still keeps it."""
    if not _is_hex(sha256, 64):
        raise QualityError(f"{sha256!r} is not a SHA-256 hex digest")
    path = _leaf_path(archive_dir, sha256)
    if not path.exists():
        legacy = archive_dir / sha256[:2] / sha256
        if legacy.exists():
            return legacy
    return path


def _relayout_shard(shard: Path) -> None:
    """Move the files of the earlier layout in ``shard`` into their leaf directories."""
    moved = 0
    with os.scandir(shard) as entries:
        legacy = [e.name for e in entries if _is_hex(e.name, 64) and e.is_file()]
    for name in legacy:
        leaf = shard / name[2:4]
        leaf.mkdir(exist_ok=True)
        try:
            os.replace(shard / name, leaf / name)  # same content by its name
        except FileNotFoundError:
            continue  # moved by another process storing in this shard
        moved += 1
    if moved:
        log.info("archive: %d files of shard %s moved into leaf directories", moved, shard.name)


def store_bytes(archive_dir: Path, data: bytes) -> str:
    """Store ``data`` by hash (idempotent) and return the hash."""
    sha = hashlib.sha256(data).hexdigest()
    target = archive_path(archive_dir, sha)
    if target.exists():
        return sha
    try:
        target.parent.mkdir(parents=True)
    except FileExistsError:
        pass
    else:  # a new leaf: the shard may hold files of the earlier layout
        _relayout_shard(target.parent.parent)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o444)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
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


def _subdirs(path: Path | str) -> list[os.DirEntry[str]]:
    with os.scandir(path) as entries:
        return [e for e in entries if _is_hex(e.name, 2) and e.is_dir(follow_symlinks=False)]


def _files(path: Path | str, prefix: str) -> list[str]:
    """The archived files directly in ``path`` (names of the hash's own prefix only)."""
    with os.scandir(path) as entries:
        return [
            e.name
            for e in entries
            if _is_hex(e.name, 64) and e.name.startswith(prefix) and e.is_file()
        ]


def _shard_names(shard: os.DirEntry[str]) -> list[str]:
    names = _files(shard.path, shard.name)
    for leaf in _subdirs(shard.path):
        names += _files(leaf.path, shard.name + leaf.name)
    return names


def archived_hashes(archive_dir: Path) -> Iterator[str]:
    """The hash of every archived file, in hash order (no per-file system call or path
    object: a decade's archive holds millions of files). A file counts where
    :func:`archive_path` looks for it: in the leaf or shard of its own name."""
    if not archive_dir.is_dir():
        return
    for shard in sorted(_subdirs(archive_dir), key=lambda e: e.name):
        yield from sorted(_shard_names(shard))


def iter_archive(archive_dir: Path) -> Iterator[tuple[str, Path]]:
    """Every archived file as (hash, path), in hash order."""
    for sha in archived_hashes(archive_dir):
        yield sha, archive_path(archive_dir, sha)


@dataclass(frozen=True)
class ArchiveClock:
    """The archive's file system clock at a moment, and which directory the archive was."""

    device: int
    inode: int
    ctime_ns: int

    def to_json(self) -> dict[str, int]:
        """For a checkpoint's state."""
        return {"device": self.device, "inode": self.inode, "ctime_ns": self.ctime_ns}

    @classmethod
    def from_json(cls, data: Any) -> ArchiveClock | None:
        """From a checkpoint's state; None when absent or malformed."""
        try:
            return cls(int(data["device"]), int(data["inode"]), int(data["ctime_ns"]))
        except (KeyError, TypeError, ValueError):
            return None


def read_clock(archive_dir: Path) -> ArchiveClock | None:
    """The archive file system's clock now: the change time of a file created and removed
    for the purpose. None when the archive cannot be written to, or its file system does
    not keep directories' change times (then nothing can be told from them)."""
    probes = archive_dir / _CLOCK_DIR
    try:
        probes.mkdir(exist_ok=True)
        fd, name = tempfile.mkstemp(dir=probes)
        try:
            made = os.fstat(fd).st_ctime_ns
        finally:
            os.close(fd)
            os.unlink(name)
        parent = os.stat(probes)
        root = os.stat(archive_dir)
    except OSError as exc:
        log.info("archive clock cannot be read in %s: %s", archive_dir, exc.strerror)
        return None
    if parent.st_ctime_ns < made:
        return None
    return ArchiveClock(root.st_dev, root.st_ino, made)


@dataclass
class ArchiveChanges:
    """What changed in the archive since a clock reading: the prefix of every directory
    that changed (2 hex digits for a shard, 4 for a leaf), with the files under it now."""

    present: dict[str, set[str]] = field(default_factory=dict)

    def holds(self, sha256: str) -> bool:
        """True when the file is under one of the changed directories."""
        return sha256 in self.present.get(sha256[:4], ()) or sha256 in self.present.get(
            sha256[:2], ()
        )

    @property
    def files(self) -> int:
        """Files listed in the changed directories."""
        return sum(len(names) for names in self.present.values())


def changed_since(archive_dir: Path, clock: ArchiveClock) -> ArchiveChanges | None:
    """The directories changed since ``clock`` (less :data:`CLOCK_MARGIN_NS`), listed.

    A directory's change time moves with every file added to it, removed from it or renamed
    in it, and no call of an unprivileged user can set it back. A changed shard counts with
    every leaf in it. None when the whole archive must be listed: it is another directory
    than at ``clock``, or its top level changed (a shard added, removed or replaced)."""
    try:
        root = os.stat(archive_dir)
        if (root.st_dev, root.st_ino) != (clock.device, clock.inode):
            return None
        since = clock.ctime_ns - CLOCK_MARGIN_NS
        if root.st_ctime_ns >= since:
            return None
        changes = ArchiveChanges()
        for shard in _subdirs(archive_dir):
            if shard.stat(follow_symlinks=False).st_ctime_ns >= since:
                changes.present[shard.name] = set(_shard_names(shard))
                continue
            legacy: list[str] | None = None
            for leaf in _subdirs(shard.path):
                if leaf.stat(follow_symlinks=False).st_ctime_ns < since:
                    continue
                prefix = shard.name + leaf.name
                if legacy is None:
                    legacy = _files(shard.path, shard.name)
                names = set(_files(leaf.path, prefix))
                changes.present[prefix] = names | {n for n in legacy if n.startswith(prefix)}
        return changes
    except OSError as exc:
        log.info("archive changes cannot be listed in %s: %s", archive_dir, exc.strerror)
        return None
