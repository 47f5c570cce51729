"""Regulation tables: listing with unverified counts, values, comparison and the audited
release by a quality manager (refused for unverified values, other roles, no reason)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from sqlalchemy import func, select

from lims.db import Database
from lims.engine import discover_procedures, load_regulation_table, register_procedure
from lims.engine.engine import with_stored_release
from lims.engine.rules import check_regulation_table
from lims.models import AuditEvent, ReleaseStatus, Role, User
from lims.models import RegulationTable as TableRow
from lims.quality.errors import NotFoundError, PermissionDenied
from lims.security import PasswordPolicy
from lims.services.regulation_tables import (
    RegulationReleaseError,
    compare_tables,
    list_tables,
    release_table,
    table_entries,
)
from lims.services.users import create_user
from procedures.jjg635 import Jjg635

POLICY = PasswordPolicy(min_length=10)
JJG635 = Path(Jjg635.table_path())
SHIPPED = tomllib.loads(JJG635.read_text(encoding="utf-8"))["version"]


def _unverified_in(toml_text: str) -> set[str]:
    """The keys marked unverified, read from the TOML independently of the loader."""
    data = tomllib.loads(toml_text)
    keys = set()
    for section in ("limits", "repeats"):
        for k, v in data.get(section, {}).items():
            if isinstance(v, dict) and v.get("unverified"):
                keys.add(f"{section}.{k}")
    keys |= {f"points.{p['name']}" for p in data.get("points", []) if p.get("unverified")}
    return keys


def _users(db: Database) -> tuple[User, User]:
    with db.write(actor="system:test", reason="users") as s:
        qm = create_user(s, "chen", "陈静", "Quality#2026-cj", [Role.QUALITY_MANAGER], POLICY)
        tech = create_user(s, "zhang", "张伟", "Bench#2026-zw", [Role.TECHNICIAN], POLICY)
        s.expunge_all()
    return qm, tech


def _verified_copy(tmp_path: Path) -> Path:
    """The shipped jjg635 table checked by the lab: version 2026.2, MPE 1.5 %FS, no marks."""
    text = JJG635.read_text(encoding="utf-8").replace(f'"{SHIPPED}"', '"2026.2"', 1)
    text = re.sub(r",\s*unverified = true", "", text)
    text = text.replace('mpe = { value = "2 %FS"', 'mpe = { value = "1.5 %FS"', 1)
    path = tmp_path / "jjg635-2026.2.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _events(db: Database) -> int:
    with db.read() as s:
        return int(s.scalar(select(func.count()).select_from(AuditEvent)) or 0)


def test_list_and_values_show_the_unverified_marks(db: Database) -> None:
    qm, _tech = _users(db)
    tables = list_tables(db, qm)
    mine = next(t for t in tables if t.procedure_id == "jjg635")
    assert mine.version == SHIPPED
    assert mine.status == "draft"
    assert mine.shipped
    assert not mine.stored
    expected = _unverified_in(JJG635.read_text(encoding="utf-8"))
    assert expected  # the shipped defaults are marked
    assert set(mine.unverified) == expected
    assert {t.procedure_id for t in tables} == set(discover_procedures().ids())

    version, entries = table_entries(db, qm, "jjg635", SHIPPED)
    by_key = {e.key: e for e in entries}
    assert version.version == SHIPPED
    assert by_key["limits.mpe"].value == "2 %FS"  # as the table file writes it
    assert by_key["limits.mpe"].unverified
    assert not by_key["limits.stability_window"].unverified
    assert {k for k, e in by_key.items() if e.unverified} == expected
    assert by_key["points.P50"].value == "50 %FS × 3"


def test_release_refused_while_values_are_unverified(db: Database) -> None:
    qm, _tech = _users(db)
    before = _events(db)
    with pytest.raises(RegulationReleaseError, match="unverified") as err:
        release_table(db, qm, "jjg635", SHIPPED, "checked against JJG 635-2011")
    assert "limits.mpe" in str(err.value)
    assert _events(db) == before
    with db.read() as s:
        assert s.scalars(select(TableRow)).first() is None


def test_release_refused_for_a_technician_and_without_reason(db: Database, tmp_path: Path) -> None:
    qm, tech = _users(db)
    table = load_regulation_table(_verified_copy(tmp_path))
    with db.write(actor=qm, reason="new version arrives") as s:
        register_procedure(s, Jjg635(table))
    before = _events(db)
    with pytest.raises(PermissionDenied, match="zhang"):
        release_table(db, tech, "jjg635", "2026.2", "looks fine to me")
    with pytest.raises(RegulationReleaseError, match="reason"):
        release_table(db, qm, "jjg635", "2026.2", "  ")
    with pytest.raises(NotFoundError, match=r"version '2099\.1'"):
        release_table(db, qm, "jjg635", "2099.1", "checked against the text")
    assert _events(db) == before
    with db.read() as s:
        row = s.scalars(select(TableRow).where(TableRow.version == "2026.2")).one()
        assert row.status is ReleaseStatus.DRAFT


def test_compare_then_release_is_audited_and_honoured_by_the_engine(
    db: Database, tmp_path: Path
) -> None:
    qm, _tech = _users(db)
    path = _verified_copy(tmp_path)
    table = load_regulation_table(path)
    with db.write(actor=qm, reason="new version arrives") as s:
        register_procedure(s, Jjg635(table))

    changes = {c.key: c for c in compare_tables(db, qm, "jjg635", SHIPPED, "2026.2")}
    mpe = changes["limits.mpe"]
    assert mpe.kind == "changed"
    assert (mpe.old and mpe.old.value, mpe.new and mpe.new.value) == ("2 %FS", "1.5 %FS")
    assert mpe.old is not None
    assert mpe.old.unverified
    assert mpe.new is not None
    assert not mpe.new.unverified
    assert changes["limits.t90"].kind == "verification"
    assert "limits.stability_window" not in changes  # the same in both
    assert set(changes) == _unverified_in(JJG635.read_text(encoding="utf-8"))

    assert check_regulation_table(table, simulated=False, practice=False)  # a draft
    released = release_table(db, qm, "jjg635", "2026.2", "checked against JJG 635-2011 Table 1")
    assert released.released
    assert released.released_by == "chen"
    with db.read() as s:
        row = s.scalars(select(TableRow).where(TableRow.version == "2026.2")).one()
        assert row.status is ReleaseStatus.RELEASED
        assert row.release_reason == "checked against JJG 635-2011 Table 1"
        events = list(
            s.scalars(
                select(AuditEvent).where(
                    AuditEvent.table_name == "regulation_tables",
                    AuditEvent.record_id == str(row.id),
                    AuditEvent.action == "update",
                )
            )
        )
        assert len(events) == 1
        assert events[0].actor == "chen"
        assert events[0].reason == "checked against JJG 635-2011 Table 1"
        assert events[0].changes["status"] == ["draft", "released"]
        effective = with_stored_release(s, table)
    assert effective.release.released_by == "chen"
    assert check_regulation_table(effective, simulated=False, practice=False) == []

    listed = next(
        t for t in list_tables(db, qm) if (t.procedure_id, t.version) == ("jjg635", "2026.2")
    )
    assert listed.released
    assert listed.stored
    assert not listed.shipped
    with pytest.raises(RegulationReleaseError, match="already released by chen"):
        release_table(db, qm, "jjg635", "2026.2", "once more")


def test_release_of_a_shipped_table_not_yet_stored_stores_it(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    qm, _tech = _users(db)
    path = _verified_copy(tmp_path)
    monkeypatch.setattr(Jjg635, "table_path", classmethod(lambda cls: path))
    release_table(db, qm, "jjg635", "2026.2", "checked against the official text")
    with db.read() as s:
        row = s.scalars(select(TableRow).where(TableRow.procedure_id == "jjg635")).one()
        assert (row.version, row.status) == ("2026.2", ReleaseStatus.RELEASED)
        assert row.sha256 == load_regulation_table(path).sha256
