"""Anchors kept outside the database catch what the chain alone cannot: its end cut, or
rewritten, by someone who also rewinds the head."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from lims.audit import log_event, stored_event_sha256, verify
from lims.audit_anchors import (
    Anchor,
    AnchorFileError,
    append_anchor,
    check_anchors,
    current_anchor,
    read_anchors,
)
from lims.db import Database
from lims.models import AuditEvent
from tests.lims._lab import build_lab, drop_guard

LIMS = Path(sys.executable).with_name("lims")


def _log_logins(db: Database, n: int) -> None:
    """``n`` events that change no record (what a cut can remove without a record noticing)."""
    for i in range(n):
        with db.write(actor="zhang") as s:
            log_event(s, "login", "users", "1", reason=f"login {i}")


def _cut_end(db: Database, keep: int) -> None:
    """Delete every event after ``keep`` and rewind the head to it: a consistent cut."""
    with db.engine.begin() as conn:
        drop_guard(conn, "audit_events")
        last = conn.execute(
            text("SELECT sha256 FROM audit_events WHERE id = :i"), {"i": keep}
        ).scalar_one()
        conn.execute(text("DELETE FROM audit_events WHERE id > :i"), {"i": keep})
        conn.execute(
            text("UPDATE audit_head SET last_id = :i, last_sha256 = :h"), {"i": keep, "h": last}
        )


def _rewrite_last(db: Database) -> None:
    """Change the newest event's reason and re-hash it and the head consistently."""
    with db.engine.begin() as conn:
        drop_guard(conn, "audit_events")
        row = (
            conn.execute(text("SELECT * FROM audit_events ORDER BY id DESC LIMIT 1"))
            .mappings()
            .one()
        )
    with db.read() as s:
        ev = s.get(AuditEvent, row["id"])
        assert ev is not None
        s.expunge(ev)
    ev.reason = "nothing happened"  # detached: only to hash the forged content
    digest = stored_event_sha256(ev)
    with db.engine.begin() as conn:
        conn.execute(
            text("UPDATE audit_events SET reason = 'nothing happened', sha256 = :h WHERE id = :i"),
            {"h": digest, "i": row["id"]},
        )
        conn.execute(text("UPDATE audit_head SET last_sha256 = :h"), {"h": digest})


def test_a_cut_end_passes_the_chain_but_not_its_anchor(db: Database, tmp_path: Path) -> None:
    build_lab(db)
    _log_logins(db, 3)
    anchors = tmp_path / "anchors.jsonl"
    with db.read() as s:
        anchor = current_anchor(s)
    assert anchor is not None
    append_anchor(anchors, anchor)
    _log_logins(db, 2)  # events after the anchor: not covered by it
    with db.read() as s:
        assert verify(s).ok
        assert check_anchors(s, read_anchors(anchors)) == []

    _cut_end(db, anchor.event_id - 2)
    with db.read() as s:
        assert verify(s).ok  # consistent with itself: the chain alone cannot tell
        problems = [str(p) for p in check_anchors(s, read_anchors(anchors))]
    assert problems == [
        f"audit event {anchor.event_id}: missing, but anchored at "
        f"{anchor.taken_at:%Y-%m-%d %H:%M:%S} UTC: the end of the chain was cut"
    ]


def test_a_rewritten_end_fails_its_anchor(db: Database, tmp_path: Path) -> None:
    build_lab(db)
    _log_logins(db, 1)
    with db.read() as s:
        anchor = current_anchor(s)
    assert anchor is not None
    _rewrite_last(db)
    with db.read() as s:
        assert verify(s).ok
        problems = [str(p) for p in check_anchors(s, [anchor])]
    assert len(problems) == 1
    assert f"audit event {anchor.event_id}: hash differs from its anchor" in problems[0]


def test_bad_anchor_files_are_refused_naming_the_line(tmp_path: Path) -> None:
    good = Anchor(3, "a" * 64, datetime(2026, 12, 1, 8, 0, tzinfo=UTC)).to_line()
    for bad, why in (
        ("not json", "line 2: not an audit anchor"),
        (
            '{"event": 0, "sha256": "' + "a" * 64 + '", "taken_at": "2026-12-01T08:00:00+00:00"}',
            "event must be a positive integer",
        ),
        (
            '{"event": 4, "sha256": "xyz", "taken_at": "2026-12-01T08:00:00+00:00"}',
            "sha256 must be 64",
        ),
        (
            '{"event": 4, "sha256": "' + "a" * 64 + '", "taken_at": "2026-12-01T08:00:00"}',
            "time zone",
        ),
        ('{"event": 4}', "line 2"),
    ):
        path = tmp_path / "anchors.jsonl"
        path.write_text(good + "\n" + bad + "\n", encoding="utf-8")
        with pytest.raises(AnchorFileError, match=why) as info:
            read_anchors(path)
        assert str(path) in str(info.value)


def test_lims_audit_anchor_and_verify(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lims.sqlite3'}"
    db = Database(url)
    from lims.db.migrate import upgrade

    upgrade(db.engine)
    build_lab(db, issued=False)  # an issued certificate would need its files archived
    _log_logins(db, 3)
    env = {**os.environ, "LIMS_DATA_DIR": str(tmp_path), "LIMS_DATABASE_URL": url}
    env.pop("LIMS_CONFIG", None)

    def lims(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(LIMS), "audit", *args], env=env, capture_output=True, text=True, timeout=60
        )

    taken = lims("anchor")
    assert taken.returncode == 0, taken.stderr
    anchor = read_anchors(tmp_path / "audit-anchors.jsonl")
    assert len(anchor) == 1
    assert f"anchored at audit event {anchor[0].event_id}" in taken.stdout
    ok = lims("verify")
    assert ok.returncode == 0, ok.stderr
    assert "1 anchors" in ok.stdout
    _cut_end(db, anchor[0].event_id - 1)
    db.dispose()
    cut = lims("verify")
    assert cut.returncode == 1
    assert f"audit event {anchor[0].event_id}: missing, but anchored" in cut.stderr
    # a broken anchor file: one line naming the file and the line, exit 2
    broken = tmp_path / "broken.jsonl"
    broken.write_text("{}\n", encoding="utf-8")
    bad = lims("verify", "--anchors", str(broken))
    assert bad.returncode == 2
    assert f"{broken}: line 1" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_a_second_destination_and_anchor_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.lims._cli import clean_env, run_main

    url = f"sqlite:///{tmp_path / 'lims.sqlite3'}"
    db = Database(url)
    from lims.db.migrate import upgrade

    upgrade(db.engine)
    build_lab(db, issued=False)
    db.dispose()
    share = tmp_path / "share"
    share.mkdir()
    copy, usb = share / "anchors.jsonl", tmp_path / "usb.jsonl"
    env = clean_env(tmp_path, LIMS_DATABASE_URL=url, LIMS_ANCHOR_COPY=str(copy))
    r = run_main(["audit", "anchor", "--to", str(usb)], env, monkeypatch, capsys)
    assert r.code == 0, r.err
    line = (tmp_path / "audit-anchors.jsonl").read_text(encoding="utf-8")
    assert copy.read_text(encoding="utf-8") == line == usb.read_text(encoding="utf-8")
    r = run_main(["audit", "verify"], env, monkeypatch, capsys)
    assert (r.code, "audit trail intact" in r.out) == (0, True), r.err
    # the share unmounted: nothing found, but nothing can be confirmed against it either
    (share / "anchors.jsonl").rename(tmp_path / "kept.jsonl")
    share.rmdir()
    r = run_main(["audit", "verify"], env, monkeypatch, capsys)
    assert r.code == 4
    assert f"CANNOT CONFIRM anchor destination {share} is not reachable" in r.err
    assert "intact" not in r.out
    # the data directory's file cut by a line the database counted: tampered
    (tmp_path / "audit-anchors.jsonl").write_text("", encoding="utf-8")
    r = run_main(
        ["audit", "verify"], clean_env(tmp_path, LIMS_DATABASE_URL=url), monkeypatch, capsys
    )
    assert r.code == 1
    assert "holds 0 anchors, but 1 were written to it: anchors were removed" in r.err
    # a destination that cannot be written: one line, after the primary file got the anchor
    (tmp_path / "kept.jsonl").rename(tmp_path / "audit-anchors.jsonl")
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("", encoding="utf-8")
    r = run_main(["audit", "anchor", "--to", str(blocked / "x.jsonl")], env, monkeypatch, capsys)
    assert r.code == 2
    assert len(r.err.strip().splitlines()) == 1
    assert "but not in" in r.err
