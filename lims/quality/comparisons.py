"""Proficiency tests, inter-laboratory comparisons and comparisons between the lab's own
devices (intermediate checks), scored by En, z and ζ (ISO 13528:2015, ISO/IEC 17043).

The assigned value comes from a reference (laboratory or device: its value and
expanded uncertainty) or from the participants by Algorithm A (ISO 13528 C.3), with
u(x_pt) = 1.25·s*/√p (§7.7.3). Scores, with x_pt and u(x_pt):

* z = (x − x_pt)/σ_pt when σ_pt is given;
* ζ = (x − x_pt)/√(u(x)² + u(x_pt)²);
* En = (x − x_pt)/√(U(x)² + U(x_pt)²), U = 2·u.

|z|, |ζ| ≤ 2 satisfactory, < 3 questionable, otherwise unsatisfactory; |En| ≤ 1
satisfactory. The lab's own result (or device) judged unsatisfactory opens an
incident for the corrective action.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.models.traceability import ComparisonResult, ComparisonRound
from lims.models.users import User
from lims.quality.errors import NotFoundError, QualityError
from lims.quality.incidents import report_incident
from lims.quality.permissions import Permission, require

__all__ = [
    "KINDS",
    "AssignedValue",
    "ComparisonInput",
    "ParticipantResult",
    "RobustEstimate",
    "algorithm_a",
    "assess",
    "consensus",
    "list_rounds",
    "record_comparison",
    "round_results",
    "scores",
]

KINDS = ("proficiency_test", "interlaboratory", "internal")


@dataclass(frozen=True)
class RobustEstimate:
    """Algorithm A's robust average x* and robust standard deviation s*."""

    mean: float
    sd: float
    iterations: int


def algorithm_a(
    values: Sequence[float],
    *,
    tolerance: float = 1e-12,
    max_iter: int = 1000,
    steps: int | None = None,
) -> RobustEstimate:
    """ISO 13528:2015 C.3.1: start from the median and 1.483·MAD, winsorize at x* ± 1.5·s*,
    x* = mean, s* = 1.134·sd of the winsorized data, until both no longer change
    (``steps``: stop after that many updates instead, 0 giving the starting values)."""
    xs = [float(v) for v in values]
    if len(xs) < 3:
        raise QualityError(f"Algorithm A needs at least 3 results, got {len(xs)}")
    x = statistics.median(xs)
    s = 1.483 * statistics.median(abs(v - x) for v in xs)
    if s == 0:
        raise QualityError("Algorithm A: more than half of the results are equal (s* = 0)")
    if steps == 0:
        return RobustEstimate(x, s, 0)
    for i in range(1, max_iter + 1):
        d = 1.5 * s
        w = [min(max(v, x - d), x + d) for v in xs]
        new_x = statistics.fmean(w)
        new_s = 1.134 * statistics.stdev(w)
        done = abs(new_x - x) <= tolerance * max(abs(x), s) and abs(new_s - s) <= tolerance * s
        x, s = new_x, new_s
        if done or i == steps:
            return RobustEstimate(x, s, i)
    raise QualityError(f"Algorithm A did not converge in {max_iter} iterations")


@dataclass(frozen=True)
class AssignedValue:
    """x_pt and its standard uncertainty, and how it was obtained."""

    value: float
    u: float
    method: str
    """``reference``, ``reference_device`` or ``consensus_algorithm_a``."""
    robust_sd: float | None = None


def consensus(values: Sequence[float]) -> AssignedValue:
    """The participants' robust average with u(x_pt) = 1.25·s*/√p (ISO 13528 §7.7.3)."""
    est = algorithm_a(values)
    return AssignedValue(
        est.mean, 1.25 * est.sd / math.sqrt(len(values)), "consensus_algorithm_a", est.sd
    )


@dataclass(frozen=True)
class ParticipantResult:
    """One participant's value and expanded uncertainty U with coverage factor k."""

    participant: str
    value: float
    expanded_uncertainty: float | None = None
    k: float = 2.0
    own_lab: bool = False
    device_tag: str = ""


def scores(
    r: ParticipantResult, assigned: AssignedValue, sigma_pt: float | None
) -> tuple[float | None, float | None, float | None]:
    """(En, z, ζ) of one result; a score that lacks an uncertainty or σ_pt is None."""
    diff = r.value - assigned.value
    z = diff / sigma_pt if sigma_pt else None
    zeta = en = None
    if r.expanded_uncertainty is not None:
        u = r.expanded_uncertainty / r.k
        if u > 0 or assigned.u > 0:
            zeta = diff / math.hypot(u, assigned.u)
            en = diff / math.hypot(2 * u, 2 * assigned.u)
    return en, z, zeta


def assess(en: float | None, z: float | None, zeta: float | None) -> str:
    """The worst assessment of the scores present."""
    levels = []
    if en is not None:
        levels.append(0 if abs(en) <= 1 else 2)
    for score in (z, zeta):
        if score is not None:
            levels.append(0 if abs(score) <= 2 else 1 if abs(score) < 3 else 2)
    if not levels:
        return "not_scored"
    return ("satisfactory", "questionable", "unsatisfactory")[max(levels)]


@dataclass(frozen=True)
class ComparisonInput:
    """A comparison round as reported: the results and where the assigned value comes from."""

    kind: str
    scheme: str
    measurand: str
    unit: str
    performed_on: date
    results: tuple[ParticipantResult, ...]
    reference: ParticipantResult | None = None
    """The reference laboratory's or device's result; None: consensus of the participants."""
    sigma_pt: float | None = None
    provider: str = ""
    round_code: str = ""
    procedure_id: str = ""
    notes: str = ""


def record_comparison(session: Session, actor: User, data: ComparisonInput) -> ComparisonRound:
    """Score every result, store the round, and open an incident for each unsatisfactory
    result of the lab's own (or own device's)."""
    require(actor, Permission.RECORD_PROFICIENCY)
    if data.kind not in KINDS:
        raise QualityError(f"--kind: {data.kind!r} is not one of {', '.join(KINDS)}")
    if not data.scheme.strip() or not data.measurand.strip() or not data.unit.strip():
        raise QualityError("--scheme, --measurand and --unit must not be empty")
    if not data.results:
        raise QualityError("a comparison needs at least one result")
    if data.kind != "internal" and not any(r.own_lab for r in data.results):
        raise QualityError("mark the lab's own result (own_lab) among the results")
    if data.sigma_pt is not None and data.sigma_pt <= 0:
        raise QualityError("--sigma-pt must be positive")
    for r in data.results:
        if r.expanded_uncertainty is not None and (r.expanded_uncertainty < 0 or r.k <= 0):
            raise QualityError(f"{r.participant}: U must be ≥ 0 and k > 0")
    if data.reference is not None:
        ref = data.reference
        if ref.expanded_uncertainty is None:
            raise QualityError(f"reference {ref.participant}: give its expanded uncertainty")
        method = "reference_device" if data.kind == "internal" else "reference"
        assigned = AssignedValue(ref.value, ref.expanded_uncertainty / ref.k, method)
    else:
        assigned = consensus([r.value for r in data.results])
    rnd = ComparisonRound(
        kind=data.kind,
        scheme=data.scheme.strip(),
        provider=data.provider,
        round_code=data.round_code,
        procedure_id=data.procedure_id,
        measurand=data.measurand.strip(),
        unit=data.unit.strip(),
        performed_on=data.performed_on,
        assigned_method=assigned.method,
        assigned_value=assigned.value,
        assigned_u=assigned.u,
        sigma_pt=data.sigma_pt,
        recorded_by_id=actor.id,
        notes=data.notes,
    )
    session.add(rnd)
    session.flush()
    for r in data.results:
        en, z, zeta = scores(r, assigned, data.sigma_pt)
        verdict = assess(en, z, zeta)
        incident_id = None
        ours = r.own_lab or data.kind == "internal"
        if ours and verdict == "unsatisfactory":
            incident_id = report_incident(
                session,
                actor,
                category="nonconformity",
                title=f"比对结果不满意 unsatisfactory {data.kind} result: {data.scheme} "
                f"{data.round_code} {r.device_tag or r.participant}"[:200],
                description=(
                    f"{data.measurand}: x = {r.value:g} {data.unit}, x_pt = {assigned.value:g} "
                    f"{data.unit} (u = {assigned.u:.3g}, {assigned.method}); "
                    f"En = {_s(en)}, z = {_s(z)}, ζ = {_s(zeta)}"
                ),
                impact="results of the measurand may be affected; corrective action required",
            ).id
        session.add(
            ComparisonResult(
                round_id=rnd.id,
                participant=r.participant,
                own_lab=r.own_lab,
                device_tag=r.device_tag,
                value=r.value,
                expanded_uncertainty=r.expanded_uncertainty,
                k=r.k if r.expanded_uncertainty is not None else None,
                en=en,
                z=z,
                zeta=zeta,
                assessment=verdict,
                incident_id=incident_id,
            )
        )
    session.flush()
    return rnd


def _s(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def list_rounds(session: Session, actor: User, *, kind: str | None = None) -> list[ComparisonRound]:
    """Comparison rounds, newest first."""
    require(actor, Permission.VIEW_RECORDS)
    query = select(ComparisonRound).order_by(
        ComparisonRound.performed_on.desc(), ComparisonRound.id.desc()
    )
    if kind is not None:
        query = query.where(ComparisonRound.kind == kind)
    return list(session.scalars(query))


def round_results(
    session: Session, actor: User, round_id: int
) -> tuple[ComparisonRound, list[ComparisonResult]]:
    """One round and its results (own results first)."""
    require(actor, Permission.VIEW_RECORDS)
    rnd = session.get(ComparisonRound, round_id)
    if rnd is None:
        raise NotFoundError(f"comparison round {round_id} does not exist")
    rows = list(
        session.scalars(
            select(ComparisonResult)
            .where(ComparisonResult.round_id == round_id)
            .order_by(ComparisonResult.own_lab.desc(), ComparisonResult.id)
        )
    )
    return rnd, rows
