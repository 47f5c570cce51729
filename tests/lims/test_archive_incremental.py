"""The archive's layout and what an incremental ``lims audit verify`` lists of it: only the
directories whose change time moved since the checkpoint's clock, against the records
naming a file there; the whole archive when that cannot be told."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lims.audit_checkpoint import write_checkpoint
from lims.db import Database
from lims.integrity import IntegrityVerdict, check_integrity, verification_session
from lims.quality import archive as archive_module
from lims.quality.archive import (
    archive_path,
    archived_hashes,
    changed_since,
    read_clock,
    store_bytes,
)
from tests.lims._checkpoints import CheckpointLab, archive_external, flip_first_byte
from tests.lims._checkpoints import found as tampered_findings

#: Longer than the file system's coarse timestamps: what is written before a clock reading
#: and this pause has an older change time than the reading.
_TICK = 0.05


@pytest.fixture
def no_margin(monkeypatch: pytest.MonkeyPatch) -> None:
    """No margin before a clock reading: the tests pause :data:`_TICK` instead of a minute."""
    monkeypatch.setattr(archive_module, "CLOCK_MARGIN_NS", 0)


def _contents(tag: str) -> Iterator[tuple[bytes, str]]:
    i = 0
    while True:
        data = f"%PDF-1.7 {tag} {i}".encode()
        yield data, hashlib.sha256(data).hexdigest()
        i += 1


def _content(tag: str, prefix: str = "", avoid: tuple[str, ...] = ()) -> bytes:
    """A file's content whose hash begins with ``prefix`` and with none of ``avoid``."""
    for data, sha in _contents(tag):
        if sha.startswith(prefix) and not any(sha.startswith(a) for a in avoid):
            return data
    raise AssertionError  # pragma: no cover


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _settle(archive: Path) -> None:
    """The archive's clock directory made, and a pause: what follows is newer."""
    assert read_clock(archive) is not None
    time.sleep(_TICK)


def test_files_live_in_leaf_directories_and_the_earlier_layout_is_read_then_moved(
    tmp_path: Path,
) -> None:
    archive = tmp_path / "archive"
    first = _content("first")
    sha = store_bytes(archive, first)
    path = archive / sha[:2] / sha[2:4] / sha
    assert archive_path(archive, sha) == path
    assert path.read_bytes() == first
    assert path.stat().st_mode & 0o777 == 0o444

    # a file of the earlier layout, <archive>/<ab>/<sha>, in a shard of its own
    legacy_data = _content("legacy", avoid=(sha[:2],))
    legacy = _sha(legacy_data)
    (archive / legacy[:2]).mkdir()
    (archive / legacy[:2] / legacy).write_bytes(legacy_data)
    assert archive_path(archive, legacy) == archive / legacy[:2] / legacy
    assert list(archived_hashes(archive)) == sorted([sha, legacy])

    # files in the wrong place are not where archive_path looks: they are not listed
    wrong_leaf = "00" if legacy[2:4] != "00" else "01"
    (archive / legacy[:2] / wrong_leaf).mkdir()
    (archive / legacy[:2] / wrong_leaf / legacy).write_bytes(legacy_data)
    (archive / sha[:2] / sha[2:4] / "notes.txt").write_text("not archived")
    assert list(archived_hashes(archive)) == sorted([sha, legacy])
    shutil.rmtree(archive / legacy[:2] / wrong_leaf)

    # the first new file stored in that shard moves the earlier layout's files into leaves
    same_shard = _content("same shard", legacy[:2], avoid=(legacy[:4],))
    new = store_bytes(archive, same_shard)
    assert not (archive / legacy[:2] / legacy).exists()
    assert archive_path(archive, legacy) == archive / legacy[:2] / legacy[2:4] / legacy
    assert archive_path(archive, legacy).read_bytes() == legacy_data
    assert list(archived_hashes(archive)) == sorted([sha, legacy, new])
    assert store_bytes(archive, legacy_data) == legacy  # stored once


def test_only_directories_changed_after_the_clock_are_listed(
    tmp_path: Path, no_margin: None
) -> None:
    archive = tmp_path / "archive"
    a1 = _content("a1")
    a2 = _content("a2", _sha(a1)[:4])  # same leaf as a1
    b = _content("b", avoid=(_sha(a1)[:2],))
    c = _content("c", avoid=(_sha(a1)[:2], _sha(b)[:2]))
    for data in (a1, a2, b, c):
        store_bytes(archive, data)
    _settle(archive)
    clock = read_clock(archive)
    assert clock is not None
    time.sleep(_TICK)
    unchanged = changed_since(archive, clock)
    assert unchanged is not None
    assert unchanged.present == {}

    archive_path(archive, _sha(a2)).unlink()  # a's leaf changes
    in_b_shard = _content("b2", _sha(b)[:2], avoid=(_sha(b)[:4],))  # a new leaf in b's shard
    store_bytes(archive, in_b_shard)
    changes = changed_since(archive, clock)
    assert changes is not None
    a_leaf, b_shard = _sha(a1)[:4], _sha(b)[:2]
    assert set(changes.present) == {a_leaf, b_shard}
    assert changes.present[a_leaf] == {_sha(a1)}
    assert changes.present[b_shard] == {_sha(b), _sha(in_b_shard)}
    assert changes.files == 3
    assert not changes.holds(_sha(c))
    assert not changes.holds(_sha(a2))
    later = read_clock(archive)
    assert later is not None
    assert later.ctime_ns > clock.ctime_ns

    # another directory (a copy, a restore) or a changed top level: the whole archive
    copy = tmp_path / "copy"
    shutil.copytree(archive, copy)
    assert changed_since(copy, clock) is None
    new_shard = _content(
        "new shard", avoid=tuple(e.name for e in os.scandir(archive) if len(e.name) == 2)
    )
    store_bytes(archive, new_shard)
    assert changed_since(archive, clock) is None


def test_no_clock_where_none_can_be_read(tmp_path: Path) -> None:
    """No archive yet, or no place for the clock's probe: nothing is told from change
    times (the verification lists the whole archive)."""
    archive = tmp_path / "archive"
    assert read_clock(archive) is None
    archive.mkdir()
    (archive / ".clock").write_text("in the way")
    assert read_clock(archive) is None
    assert not archive.joinpath(".clock").is_dir()


class _Lab(CheckpointLab):
    """A lab whose standards' certificates are archived before its checkpoint."""

    def __init__(self, db: Database, tmp: Path) -> None:
        super().__init__(db, tmp, runs=1)
        self.files = [
            archive_external(self, _content(f"certificate {i}"), f"NIM-2025-{i}") for i in range(4)
        ]
        _settle(self.archive)
        self.checkpoint()
        time.sleep(_TICK)


def test_incremental_lists_the_directories_changed_since_the_checkpoint(
    db: Database, tmp_path: Path, no_margin: None
) -> None:
    lab = _Lab(db, tmp_path)
    report = lab.check()
    assert report.verdict is IntegrityVerdict.INTACT, report.problems
    assert not report.archive_listed_all
    assert report.archived_files == 0

    # a file archived before the checkpoint deleted, its record untouched: its leaf moved
    gone = lab.files[1]
    archive_path(lab.archive, gone).chmod(0o644)
    archive_path(lab.archive, gone).unlink()
    report = lab.check()
    assert not report.archive_listed_all
    findings = tampered_findings(report)
    assert any(gone in f and "external certificate" in f and "missing" in f for f in findings), (
        findings
    )
    assert report.archived_files < len(lab.files)

    # a file renamed in its leaf (its record still names the old name) is missing too
    kept = lab.files[2]
    moved = archive_path(lab.archive, kept)
    moved.rename(moved.with_name("f" * 64))
    findings = tampered_findings(lab.check())
    assert any(kept in f and "missing" in f for f in findings), findings

    # a file archived since the checkpoint and altered: re-hashed with its changed record
    new = archive_external(lab, _content("certificate new"), "NIM-2026-1")
    flip_first_byte(lab, new)
    findings = tampered_findings(lab.check())
    assert any(new in f and "altered" in f for f in findings), findings


def test_the_whole_archive_is_listed_when_its_changes_cannot_be_told(
    db: Database, tmp_path: Path, no_margin: None
) -> None:
    lab = _Lab(db, tmp_path)
    gone = lab.files[0]

    # the archive replaced by a copy lacking one file (a new directory, new change times)
    copy = tmp_path / "copy"
    shutil.copytree(lab.archive, copy)
    (copy / gone[:2] / gone[2:4] / gone).unlink()
    lab.archive.rename(tmp_path / "archive.old")
    copy.rename(lab.archive)
    report = lab.check()
    assert report.archive_listed_all
    assert any(gone in f and "missing" in f for f in tampered_findings(report))
    shutil.rmtree(lab.archive)
    (tmp_path / "archive.old").rename(lab.archive)

    # a whole shard removed: the top level changed
    shard = lab.archive / lab.files[3][:2]
    shutil.rmtree(shard)
    report = lab.check()
    assert report.archive_listed_all
    assert any(lab.files[3] in f and "missing" in f for f in tampered_findings(report))


def test_a_checkpoint_without_the_archive_clock_lists_the_whole_archive(
    db: Database, tmp_path: Path, no_margin: None
) -> None:
    """Checkpoints written before the archive's clock was recorded: the next incremental
    verification lists the whole archive and records the clock for the one after."""
    lab = _Lab(db, tmp_path)
    with verification_session(db) as s:
        report = check_integrity(s, archive_dir=lab.archive, anchor_file=lab.anchors)
    write_checkpoint(db, report.trail, lab.anchors, anchor_files=report.anchors.files)
    time.sleep(_TICK)
    report = lab.check()
    assert report.verdict is IntegrityVerdict.INTACT, report.problems
    assert report.archive_listed_all
    assert report.archived_files == len(lab.files)
    lab.checkpoint()
    time.sleep(_TICK)
    assert not lab.check().archive_listed_all
