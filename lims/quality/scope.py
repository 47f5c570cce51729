"""The accreditation scope and the CMC guard applied before a certificate is drafted
(ILAC P14).

The scope is data: a TOML document per version, imported by a quality manager,
released (audited, with a reason) like a regulation table; the newest released
version applies and releasing one withdraws the one before. Each entry gives a
quantity, the procedure (method) it is measured by, a range and the CMC, the
smallest expanded uncertainty the lab may claim there, as ``cmc`` + ``cmc_relative``·|x|::

    accreditation_number = "CNAS L12345"
    version = "2026.1"
    below_cmc = "raise"          # or "refuse": what a U below the CMC leads to

    [[entry]]
    quantity = "CO2 amount fraction"
    procedure = "jjg635"
    method = "JJG 635-2011"
    range = ["0 µmol/mol", "2000 µmol/mol"]
    cmc = "2 µmol/mol"
    cmc_relative = "0.5 %"

:func:`check_scope` is the one entry point the draft calls.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.calc._common import is_relative_unit
from lims.db.types import utcnow
from lims.models.enums import ReleaseStatus
from lims.models.runs import Result, Run
from lims.models.traceability import ScopeVersion
from lims.models.users import User
from lims.quality.errors import NotFoundError, QualityError
from lims.quality.permissions import Permission, require
from lims.results import ResultRecord
from lims.results_legacy import record_of
from lims.units import UnitParseError, parse_quantity

__all__ = [
    "BelowCmc",
    "PointDecision",
    "PointStatus",
    "ScopeDecision",
    "ScopeEntry",
    "ScopeTable",
    "check_scope",
    "current_scope",
    "import_scope",
    "list_scopes",
    "parse_scope",
    "release_scope",
    "scope_table",
]


class BelowCmc(StrEnum):
    """What a reported U smaller than the CMC leads to (a lab policy in the scope)."""

    RAISE = "raise"
    REFUSE = "refuse"


@dataclass(frozen=True)
class ScopeEntry:
    """One line of the scope: quantity, method, range and CMC (expanded, k = 2)."""

    quantity: str
    procedure: str
    method: str
    low: Any
    high: Any
    cmc: Any | None
    cmc_relative: float
    """Relative part of the CMC as a fraction (0.005 for 0.5 %)."""

    def covers(self, x: Any) -> bool:
        """Whether the value ``x`` lies in this entry's range."""
        if x.dimensionality != self.low.dimensionality:
            return False
        v = float(x.to(self.low.units).magnitude)
        return float(self.low.magnitude) <= v <= float(self.high.to(self.low.units).magnitude)

    def cmc_at(self, x: Any) -> Any:
        """The CMC at ``x`` as an expanded uncertainty in ``x``'s unit."""
        out = abs(x) * self.cmc_relative
        if self.cmc is not None:
            out = out + self.cmc.to(x.units)
        return out

    def describe(self) -> str:
        """``CO2 amount fraction (jjg635) 0 … 2000 µmol/mol: CMC 2 µmol/mol + 0.5 %``."""
        parts = []
        if self.cmc is not None:
            parts.append(f"{float(self.cmc.magnitude):g} {self.cmc.units:~P}")
        if self.cmc_relative:
            parts.append(f"{self.cmc_relative * 100:g} %")
        high = float(self.high.to(self.low.units).magnitude)
        return (
            f"{self.quantity} ({self.procedure}, {self.method}) "
            f"{float(self.low.magnitude):g} … {high:g} {self.low.units:~P}: "
            f"CMC {' + '.join(parts)}"
        )


@dataclass(frozen=True)
class ScopeTable:
    """A parsed scope document."""

    version: str
    accreditation_number: str
    below_cmc: BelowCmc
    entries: tuple[ScopeEntry, ...]


def _q(text: Any, where: str) -> Any:
    if not isinstance(text, str):
        raise QualityError(f'{where}: write a quantity with its unit as text, e.g. "2 µmol/mol"')
    try:
        return parse_quantity(text)
    except UnitParseError as exc:
        raise QualityError(f"{where}: {exc}") from exc


def parse_scope(text: str, source: str = "scope") -> ScopeTable:
    """Parse a scope document; :class:`QualityError` names the entry and field at fault."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise QualityError(f"{source}: not valid TOML: {exc}") from exc
    for key in ("version", "accreditation_number"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise QualityError(f"{source}: {key} is missing")
    try:
        below = BelowCmc(data.get("below_cmc", "raise"))
    except ValueError as exc:
        raise QualityError(f'{source}: below_cmc must be "raise" or "refuse"') from exc
    raw = data.get("entry")
    if not isinstance(raw, list) or not raw:
        raise QualityError(f"{source}: no [[entry]]")
    entries = [_entry(e, f"{source} entry {i + 1}") for i, e in enumerate(raw)]
    return ScopeTable(
        data["version"].strip(), data["accreditation_number"].strip(), below, tuple(entries)
    )


def _entry(e: Mapping[str, Any], where: str) -> ScopeEntry:
    for key in ("quantity", "procedure", "method"):
        if not isinstance(e.get(key), str) or not e[key].strip():
            raise QualityError(f"{where}: {key} is missing")
    rng = e.get("range")
    if not isinstance(rng, list) or len(rng) != 2:
        raise QualityError(f"{where}: range must be [low, high]")
    low, high = _q(rng[0], f"{where} range"), _q(rng[1], f"{where} range")
    if low.dimensionality != high.dimensionality:
        raise QualityError(f"{where}: the ends of the range differ in dimension")
    if high.to(low.units).magnitude < low.magnitude:
        raise QualityError(f"{where}: the range's upper end is below its lower end")
    cmc = _q(e["cmc"], f"{where} cmc") if "cmc" in e else None
    if cmc is not None and not _same_kind(cmc, low):
        raise QualityError(f"{where}: cmc {cmc:~P} is not of the range's dimension")
    rel = 0.0
    if "cmc_relative" in e:
        r = _q(e["cmc_relative"], f"{where} cmc_relative")
        if not is_relative_unit(r.units):
            raise QualityError(f'{where}: cmc_relative must be relative, e.g. "0.5 %"')
        rel = float(r.to("dimensionless").magnitude)
    if cmc is None and rel == 0.0:
        raise QualityError(f"{where}: give cmc, cmc_relative or both")
    if (cmc is not None and cmc.magnitude < 0) or rel < 0:
        raise QualityError(f"{where}: a CMC cannot be negative")
    return ScopeEntry(
        e["quantity"].strip(), e["procedure"].strip(), e["method"].strip(), low, high, cmc, rel
    )


def import_scope(session: Session, actor: User, text: str, source: str = "scope") -> ScopeVersion:
    """Store a new scope version as a draft (quality manager); the text is kept and hashed."""
    require(actor, Permission.RELEASE_REGULATION_TABLE)
    table = parse_scope(text, source)
    if session.scalar(select(ScopeVersion.id).where(ScopeVersion.version == table.version)):
        raise QualityError(f"{source}: scope version {table.version} exists already")
    row = ScopeVersion(
        version=table.version,
        accreditation_number=table.accreditation_number,
        content=text,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        imported_by_id=actor.id,
    )
    session.add(row)
    session.flush()
    return row


def release_scope(session: Session, actor: User, version: str, reason: str) -> ScopeVersion:
    """Release a scope version (quality manager, written reason); the previous one is withdrawn."""
    require(actor, Permission.RELEASE_REGULATION_TABLE)
    if len(reason.strip()) < 5:
        raise QualityError("--reason: a release needs a written reason (at least 5 characters)")
    row = session.scalars(select(ScopeVersion).where(ScopeVersion.version == version)).one_or_none()
    if row is None:
        raise NotFoundError(f"scope version {version} does not exist")
    if row.status is not ReleaseStatus.DRAFT:
        raise QualityError(f"scope version {version} is {row.status.value}, not a draft")
    for old in session.scalars(
        select(ScopeVersion).where(ScopeVersion.status == ReleaseStatus.RELEASED)
    ):
        old.status = ReleaseStatus.WITHDRAWN
    row.status = ReleaseStatus.RELEASED
    row.released_by_id = actor.id
    row.released_at = utcnow()
    row.release_reason = reason.strip()
    session.info["reason"] = session.info.get("reason") or reason.strip()
    session.flush()
    return row


def list_scopes(session: Session, actor: User) -> list[ScopeVersion]:
    """Every scope version, newest first."""
    require(actor, Permission.VIEW_RECORDS)
    return list(session.scalars(select(ScopeVersion).order_by(ScopeVersion.id.desc())))


def scope_table(row: ScopeVersion) -> ScopeTable:
    """The parsed content of a stored version."""
    return parse_scope(row.content, f"scope {row.version}")


def current_scope(session: Session) -> tuple[ScopeVersion, ScopeTable] | None:
    """The released scope version that applies, parsed (None before any release)."""
    row = session.scalars(
        select(ScopeVersion)
        .where(ScopeVersion.status == ReleaseStatus.RELEASED)
        .order_by(ScopeVersion.released_at.desc(), ScopeVersion.id.desc())
        .limit(1)
    ).one_or_none()
    return None if row is None else (row, scope_table(row))


class PointStatus(StrEnum):
    """How one result stands against the scope."""

    IN_SCOPE = "in_scope"
    RAISED = "raised"
    REFUSED = "refused"
    OUTSIDE = "outside_scope"
    NOT_CHECKED = "not_checked"
    """No expanded uncertainty or no point to check (e.g. repeatability, T90)."""


@dataclass(frozen=True)
class PointDecision:
    """One result against the scope: the U reported, the CMC there, the U to print."""

    result_id: int
    test_point: str
    item: str
    status: PointStatus
    point: Any | None
    reported_u: Any | None
    cmc: Any | None
    claimed_u: Any | None
    """The U the certificate states: the reported one, or the CMC when it was raised."""
    message: str


@dataclass(frozen=True)
class ScopeDecision:
    """The scope check of a run's results before its certificate is drafted."""

    run_id: int
    scope_version: str | None
    accreditation_number: str | None
    policy: BelowCmc
    points: tuple[PointDecision, ...]

    @property
    def refused(self) -> bool:
        """A U below the CMC under the ``refuse`` policy: no draft."""
        return any(p.status is PointStatus.REFUSED for p in self.points)

    @property
    def accredited(self) -> bool:
        """Whether the certificate may carry the accreditation mark: a released scope and
        every checked result inside it."""
        return self.scope_version is not None and not any(
            p.status is PointStatus.OUTSIDE for p in self.points
        )

    @property
    def raised(self) -> tuple[PointDecision, ...]:
        """The results whose U is raised to the CMC."""
        return tuple(p for p in self.points if p.status is PointStatus.RAISED)

    @property
    def outside(self) -> tuple[PointDecision, ...]:
        """The results outside the accreditation scope."""
        return tuple(p for p in self.points if p.status is PointStatus.OUTSIDE)

    def statement(self) -> tuple[str, str] | None:
        """The certificate's statement (Chinese, English) when the mark is removed, else None."""
        if self.accredited:
            return None
        if self.scope_version is None:
            return (
                "本实验室尚无已发布的认可范围，本证书不带认可标识",
                "No released accreditation scope: this certificate carries no accreditation mark",
            )
        points = ", ".join(p.test_point for p in self.outside)
        return (
            f"测量点 {points} 不在本实验室认可范围（{self.accreditation_number}）内，"
            "本证书不带认可标识",
            f"Test point(s) {points} lie outside the laboratory's accreditation scope "
            f"({self.accreditation_number}); this certificate carries no accreditation mark",
        )


def _same_kind(a: Any, b: Any) -> bool:
    """Same dimension, and not a relative value (%) against an absolute fraction (µmol/mol)."""
    return bool(a.dimensionality == b.dimensionality) and (
        is_relative_unit(a.units) == is_relative_unit(b.units)
    )


def result_point_and_u(rec: ResultRecord) -> tuple[Any | None, Any | None]:
    """The value a result is stated at and its expanded uncertainty: absolute when the
    record can give it (an absolute or %FS error), else as stated (a relative U in %)."""
    point = rec.point.nominal if rec.point.nominal is not None else rec.reference
    u = rec.absolute_uncertainty
    if (
        u is None
        and rec.uncertainty is not None
        and is_relative_unit(rec.uncertainty.expanded.units)
    ):
        u = rec.uncertainty.expanded
    return point, u


def _decide(r: Result, table: ScopeTable, procedure: str, policy: BelowCmc) -> PointDecision:
    point, u = result_point_and_u(record_of(r))

    def made(
        status: PointStatus, cmc: Any | None, claimed: Any | None, message: str
    ) -> PointDecision:
        return PointDecision(r.id, r.test_point, r.item, status, point, u, cmc, claimed, message)

    if u is None or point is None:
        return made(
            PointStatus.NOT_CHECKED, None, u, f"{r.test_point} {r.item}: no expanded uncertainty"
        )
    entry = next((e for e in table.entries if e.procedure == procedure and e.covers(point)), None)
    if entry is None:
        return made(
            PointStatus.OUTSIDE,
            None,
            u,
            f"超出认可范围 {r.test_point} ({point:~P}, {procedure}) is outside the scope",
        )
    cmc_abs = entry.cmc_at(point)
    if _same_kind(u, point):
        cmc = cmc_abs.to(u.units)
    elif point.magnitude != 0 and is_relative_unit(u.units):
        cmc = (cmc_abs / abs(point)).to(u.units)
    else:
        return made(
            PointStatus.OUTSIDE,
            None,
            u,
            f"{r.test_point}: U {u:~P} cannot be compared with the CMC at {point:~P}",
        )
    if float(u.magnitude) >= float(cmc.magnitude) * (1 - 1e-12):
        return made(PointStatus.IN_SCOPE, cmc, u, f"{r.test_point}: U {u:.3g~P} ≥ CMC {cmc:.3g~P}")
    if policy is BelowCmc.RAISE:
        return made(
            PointStatus.RAISED,
            cmc,
            cmc,
            f"U 提高至 CMC {r.test_point}: U {u:.3g~P} < CMC {cmc:.3g~P}; "
            f"the certificate states U = {cmc:.3g~P}",
        )
    return made(
        PointStatus.REFUSED,
        cmc,
        None,
        f"U 小于 CMC {r.test_point}: U {u:.3g~P} is below the CMC {cmc:.3g~P} "
        f"of {entry.describe()}",
    )


def check_scope(session: Session, run_id: int, *, policy: BelowCmc | None = None) -> ScopeDecision:
    """Check every current result of a run against the released scope (ILAC P14).

    ``policy`` overrides the scope's ``below_cmc``. Without a released scope every
    result counts as not accredited (the certificate carries no mark).
    """
    run = session.get(Run, run_id)
    if run is None:
        raise NotFoundError(f"run {run_id} does not exist")
    procedure = run.procedure_version.procedure_id
    results = list(
        session.scalars(select(Result).where(Result.run_id == run_id).order_by(Result.id))
    )
    corrected = {r.corrects_id for r in results if r.corrects_id is not None}
    current = [r for r in results if r.id not in corrected]
    found = current_scope(session)
    if found is None:
        return ScopeDecision(run_id, None, None, policy or BelowCmc.RAISE, ())
    row, table = found
    rule = policy or table.below_cmc
    points = tuple(_decide(r, table, procedure, rule) for r in current)
    return ScopeDecision(run_id, row.version, row.accreditation_number, rule, points)
