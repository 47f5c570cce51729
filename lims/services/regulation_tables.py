"""Regulation tables for people: list the versions, show their values, compare, release.

A table version is known from two places: the file shipped beside its procedure
(``procedures/<id>/<table>.toml``) and the row the database keeps once a run used it
or a quality manager released it. Releasing is a decision of the lab: it is stored on
the table's row (status, who, when, why) through an audited write, and the run engine
honours it (:func:`lims.engine.engine.with_stored_release`). A table that still holds
values marked unverified cannot be released: the values must first be checked against
the official text and shipped without the mark in a new version.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.db import Database
from lims.db.types import utcnow
from lims.engine import (
    ProcedureRegistry,
    RegulationTable,
    discover_procedures,
    load_regulation_table,
    register_procedure,
)
from lims.engine.regulation import TableValue, parse_regulation_table
from lims.models import Procedure as ProcedureRow
from lims.models import RegulationTable as TableRow
from lims.models import ReleaseStatus, User
from lims.quality.errors import NotFoundError, QualityError
from lims.quality.permissions import Permission, require
from lims.units import display_quantity

__all__ = [
    "RegulationReleaseError",
    "TableEntry",
    "TableVersion",
    "ValueChange",
    "compare_tables",
    "list_tables",
    "release_table",
    "table_entries",
]

#: The shortest reason accepted for a release.
MIN_REASON = 5


class RegulationReleaseError(QualityError):
    """A release that cannot be done (unverified values, already released, no reason)."""


@dataclass(frozen=True)
class TableVersion:
    """One version of a procedure's regulation table and its release state."""

    procedure_id: str
    procedure_title: str
    version: str
    status: str  # "draft", "released" or "withdrawn"
    source: str
    sha256: str
    unverified: tuple[str, ...]
    #: Kept in the database (a run used it, or it was released).
    stored: bool
    #: The file shipped beside the procedure now has this version and content.
    shipped: bool
    released_by: str | None = None
    released_at: datetime | None = None
    release_reason: str | None = None

    @property
    def released(self) -> bool:
        """Whether the table is released."""
        return self.status == ReleaseStatus.RELEASED.value


@dataclass(frozen=True)
class TableEntry:
    """One value of a table as text, with its unverified mark and note."""

    key: str
    value: str
    unverified: bool = False
    note: str = ""


@dataclass(frozen=True)
class ValueChange:
    """How one key differs between two versions (``old`` or ``new`` is None when absent)."""

    key: str
    old: TableEntry | None
    new: TableEntry | None

    @property
    def kind(self) -> str:
        """``added``, ``removed``, ``changed`` (the value) or ``verification`` (the mark)."""
        if self.old is None:
            return "added"
        if self.new is None:
            return "removed"
        if self.old.value != self.new.value:
            return "changed"
        return "verification"


def _text(value: Any) -> str:
    if hasattr(value, "units"):
        return display_quantity(value, "g")
    return str(value)


def _entry(key: str, v: TableValue) -> TableEntry:
    return TableEntry(key, _text(v.value), v.unverified, v.note)


def entries_of(table: RegulationTable) -> list[TableEntry]:
    """Every value of ``table`` in file order: source, rule, limits, repeats, environment,
    points."""
    out = [TableEntry("source", table.source), _entry("decision.rule", table.decision_rule)]
    out += [_entry(f"limits.{k}", v) for k, v in table.limits.items()]
    out += [_entry(f"repeats.{k}", v) for k, v in table.repeats.items()]
    out += [TableEntry(f"environment.{k}", e.describe()) for k, e in table.environment.items()]
    out += [
        TableEntry(f"points.{p.name}", f"{_text(p.nominal)} × {p.repeats}", p.unverified, p.note)
        for p in table.points
    ]
    return out


@dataclass(frozen=True)
class _Known:
    """A table version with where it is known from."""

    table: RegulationTable
    title: str
    row: TableRow | None
    shipped: bool
    released_by: str | None


def _shipped(registry: ProcedureRegistry) -> dict[tuple[str, str], tuple[str, RegulationTable]]:
    found: dict[tuple[str, str], tuple[str, RegulationTable]] = {}
    for pid in registry.ids():
        cls = registry.get(pid)
        table = load_regulation_table(cls.table_path())
        found[(pid, table.version)] = (f"{cls.title_zh} {cls.title_en}", table)
    return found


def _known(session: Session, registry: ProcedureRegistry) -> dict[tuple[str, str], _Known]:
    shipped = _shipped(registry)
    titles = {p.id: f"{p.title_zh} {p.title_en}" for p in session.scalars(select(ProcedureRow))}
    users = {u.id: u.username for u in session.scalars(select(User))}
    known: dict[tuple[str, str], _Known] = {}
    for row in session.scalars(select(TableRow)):
        key = (row.procedure_id, row.version)
        table = parse_regulation_table(row.content, f"{row.procedure_id} {row.version}")
        ship = shipped.get(key)
        by = users.get(row.released_by_id) if row.released_by_id is not None else None
        known[key] = _Known(
            table,
            titles.get(row.procedure_id, row.procedure_id),
            row,
            ship is not None and ship[1].sha256 == row.sha256,
            by,
        )
    for key, (title, table) in shipped.items():
        if key not in known:
            known[key] = _Known(table, title, None, True, table.release.released_by)
    return known


def _version(k: _Known) -> TableVersion:
    t, row = k.table, k.row
    if row is not None:
        status = row.status.value
        at, why = row.released_at, row.release_reason
    else:
        status = t.release.status
        at, why = t.release.released_at, t.release.reason
    return TableVersion(
        procedure_id=t.procedure,
        procedure_title=k.title,
        version=t.version,
        status=status,
        source=t.source,
        sha256=t.sha256,
        unverified=tuple(t.unverified_keys()),
        stored=row is not None,
        shipped=k.shipped,
        released_by=k.released_by if status == ReleaseStatus.RELEASED.value else None,
        released_at=at if status == ReleaseStatus.RELEASED.value else None,
        release_reason=why if status == ReleaseStatus.RELEASED.value else None,
    )


def _find(session: Session, registry: ProcedureRegistry, procedure_id: str, version: str) -> _Known:
    known = _known(session, registry)
    found = known.get((procedure_id, version))
    if found is None:
        versions = sorted(v for p, v in known if p == procedure_id)
        have = ", ".join(versions) if versions else "none"
        raise NotFoundError(
            f"规程表不存在 no regulation table {procedure_id} version {version!r} "
            f"(versions known: {have})"
        )
    return found


def list_tables(
    db: Database, viewer: User, registry: ProcedureRegistry | None = None
) -> list[TableVersion]:
    """Every known table version (stored or shipped), by procedure and version."""
    require(viewer, Permission.VIEW_RECORDS)
    registry = registry or discover_procedures()
    with db.read() as s:
        known = _known(s, registry)
        return [_version(known[k]) for k in sorted(known)]


def table_entries(
    db: Database,
    viewer: User,
    procedure_id: str,
    version: str,
    registry: ProcedureRegistry | None = None,
) -> tuple[TableVersion, list[TableEntry]]:
    """One table version and its values (unverified ones marked)."""
    require(viewer, Permission.VIEW_RECORDS)
    registry = registry or discover_procedures()
    with db.read() as s:
        k = _find(s, registry, procedure_id, version)
        return _version(k), entries_of(k.table)


def compare_tables(
    db: Database,
    viewer: User,
    procedure_id: str,
    old_version: str,
    new_version: str,
    registry: ProcedureRegistry | None = None,
) -> list[ValueChange]:
    """What differs from ``old_version`` to ``new_version``: values and unverified marks."""
    require(viewer, Permission.VIEW_RECORDS)
    registry = registry or discover_procedures()
    with db.read() as s:
        old = {e.key: e for e in entries_of(_find(s, registry, procedure_id, old_version).table)}
        new = {e.key: e for e in entries_of(_find(s, registry, procedure_id, new_version).table)}
    keys = list(old) + [k for k in new if k not in old]
    return [ValueChange(k, old.get(k), new.get(k)) for k in keys if old.get(k) != new.get(k)]


def release_table(
    db: Database,
    actor: User,
    procedure_id: str,
    version: str,
    reason: str,
    registry: ProcedureRegistry | None = None,
) -> TableVersion:
    """Release a table version (quality manager, with a written reason); audited.

    Refused, with nothing written, when the user may not release tables, the reason is
    missing, the version is unknown or already released, or values are still unverified.
    """
    require(actor, Permission.RELEASE_REGULATION_TABLE)
    reason = reason.strip()
    if len(reason) < MIN_REASON:
        raise RegulationReleaseError(
            f"发布须填写原因 a release needs a written reason (at least {MIN_REASON} characters)"
        )
    registry = registry or discover_procedures()
    with db.write(actor=actor, reason=reason) as s:
        k = _find(s, registry, procedure_id, version)
        current = _version(k)
        if current.released:
            by = f" by {current.released_by}" if current.released_by else ""
            raise RegulationReleaseError(
                f"规程表已发布 regulation table {procedure_id} {version} is already released{by}"
            )
        if current.unverified:
            raise RegulationReleaseError(
                f"规程表仍含未核实数值，不能发布 regulation table {procedure_id} {version} "
                f"still holds unverified values: {', '.join(current.unverified)}. Check them "
                "against the official text and ship a version without the unverified marks."
            )
        row = k.row
        if row is None:
            register_procedure(s, registry.get(procedure_id)(k.table))
            row = s.scalars(
                select(TableRow).where(
                    TableRow.procedure_id == procedure_id, TableRow.version == version
                )
            ).one()
        row.status = ReleaseStatus.RELEASED
        row.released_by_id = actor.id
        row.released_at = utcnow()
        row.release_reason = reason
        s.flush()
        return _version(_Known(k.table, k.title, row, k.shipped, actor.username))
