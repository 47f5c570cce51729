"""Calibration intervals from the data (variables-data method).

For a standard, the series are its intermediate checks (deviation from nominal, with
the check's acceptance limit) and the values its successive certificates state for the
same quantity (deviation from that nominal, with the certificate's U). For a customer's
instrument, the series are the as-found errors of successive runs of this lab at each
test point, with their U and MPE.

Each series is fitted by least squares, e(t) = a + b·t, and the one-sided prediction
bound at reliability R, ê(t) ± t_R(n − 2)·s·√(1 + 1/n + (t − t̄)²/Sₜₜ), is followed
forward from the last observation until it reaches the limit: that day is proposed as
the next due date (at most :data:`MAX_INTERVAL_DAYS` after the last observation). The
intermediate-check interval proposed is the time the fitted drift takes to use a quarter
of the limit, at most half the calibration interval. Nothing here changes a due date:
:func:`accept_interval` records a quality manager's decision (audited).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from GTC import reporting
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lims.calc._common import is_relative_unit
from lims.models.equipment import Equipment, IntermediateCheck, MeasurementStandard
from lims.models.runs import Result, Run
from lims.models.traceability import IntervalDecision
from lims.models.users import User
from lims.models.work import WorkOrderItem
from lims.quality.errors import NotFoundError, QualityError
from lims.quality.permissions import Permission, require
from lims.quality.standard_certificates import stored_values
from lims.quality.standards import accepted_due_date, calibration_history, current_certificate
from lims.units import from_storage

__all__ = [
    "MAX_INTERVAL_DAYS",
    "DriftFit",
    "DriftPoint",
    "IntervalProposal",
    "accept_interval",
    "fit_drift",
    "interval_report",
    "propose",
]

MAX_INTERVAL_DAYS = 5 * 365
"""The longest interval proposed, however slow the drift."""


@dataclass(frozen=True)
class DriftPoint:
    """One observation: the deviation (error) on a day, its U (k = 2) when known."""

    when: date
    value: float
    expanded_uncertainty: float | None
    source: str


@dataclass(frozen=True)
class DriftFit:
    """Least-squares line e(t) = intercept + slope·(t − t0) in days, and its scatter."""

    t0: date
    intercept: float
    slope_per_day: float
    s: float
    """Residual standard deviation (n − 2 degrees of freedom)."""
    n: int
    t_mean: float
    sxx: float

    def predict(self, day: date) -> tuple[float, float]:
        """ê(day) and the standard deviation of a new observation that day."""
        t = float((day - self.t0).days)
        y = self.intercept + self.slope_per_day * t
        sd = self.s * math.sqrt(1.0 + 1.0 / self.n + (t - self.t_mean) ** 2 / self.sxx)
        return y, sd

    def bound_factor(self, reliability: float) -> float:
        """One-sided Student factor t_R(n − 2)."""
        return float(reporting.k_factor(self.n - 2, p=(2.0 * reliability - 1.0) * 100.0))


def fit_drift(points: Sequence[DriftPoint]) -> DriftFit:
    """The least-squares drift line of at least three observations on two days or more."""
    if len(points) < 3:
        raise QualityError(f"a drift fit needs at least 3 observations, got {len(points)}")
    t0 = min(p.when for p in points)
    ts = [float((p.when - t0).days) for p in points]
    ys = [p.value for p in points]
    n = len(ts)
    t_mean = sum(ts) / n
    y_mean = sum(ys) / n
    sxx = sum((t - t_mean) ** 2 for t in ts)
    if sxx == 0:
        raise QualityError("a drift fit needs observations on different days")
    slope = sum((t - t_mean) * (y - y_mean) for t, y in zip(ts, ys, strict=True)) / sxx
    intercept = y_mean - slope * t_mean
    residuals = [y - (intercept + slope * t) for t, y in zip(ts, ys, strict=True)]
    s = math.sqrt(sum(r * r for r in residuals) / (n - 2))
    return DriftFit(t0, intercept, slope, s, n, t_mean, sxx)


@dataclass(frozen=True)
class IntervalProposal:
    """The analysis of one series and what it proposes."""

    tag: str
    kind: str
    """``standard`` or ``equipment``."""
    series: str
    unit: str
    points: tuple[DriftPoint, ...]
    limit: float
    reliability: float
    fit: DriftFit | None
    reaches_limit_on: date | None
    """First day the prediction bound reaches the limit (None: not within the horizon)."""
    proposed_due: date | None
    check_interval_days: int | None
    current_due: date | None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def as_analysis(self) -> dict[str, Any]:
        """JSON of the analysis, kept with an accepted decision."""
        return {
            "series": self.series,
            "unit": self.unit,
            "limit": self.limit,
            "reliability": self.reliability,
            "points": [
                {
                    "on": p.when.isoformat(),
                    "value": p.value,
                    "U": p.expanded_uncertainty,
                    "source": p.source,
                }
                for p in self.points
            ],
            "fit": None
            if self.fit is None
            else {
                "t0": self.fit.t0.isoformat(),
                "intercept": self.fit.intercept,
                "slope_per_day": self.fit.slope_per_day,
                "s": self.fit.s,
                "n": self.fit.n,
            },
            "reaches_limit_on": self.reaches_limit_on.isoformat()
            if self.reaches_limit_on
            else None,
            "proposed_due": self.proposed_due.isoformat() if self.proposed_due else None,
            "check_interval_days": self.check_interval_days,
        }


def propose(
    tag: str,
    kind: str,
    series: str,
    unit: str,
    points: Sequence[DriftPoint],
    limit: float,
    reliability: float,
    current_due: date | None = None,
) -> IntervalProposal:
    """Fit the series and follow the one-sided prediction bound to the limit."""
    if not 0.5 < reliability < 1:
        raise QualityError(f"--reliability must be between 0.5 and 1, got {reliability}")
    if not limit > 0:
        raise QualityError(f"{tag} {series}: the limit must be positive")
    pts = tuple(sorted(points, key=lambda p: p.when))
    notes: list[str] = []
    try:
        fit = fit_drift(pts)
    except QualityError as exc:
        return IntervalProposal(
            tag, kind, series, unit, pts, limit, reliability, None, None, None, None,
            current_due, (str(exc),),
        )  # fmt: skip
    last = pts[-1].when
    k = fit.bound_factor(reliability)
    reaches = None
    for days in range(0, MAX_INTERVAL_DAYS + 1):
        day = last + timedelta(days=days)
        y, sd = fit.predict(day)
        if abs(y) + k * sd >= limit:
            reaches = day
            break
    if reaches == last:
        notes.append("the prediction bound is at the limit already: calibrate now")
    proposed = reaches if reaches is not None else last + timedelta(days=MAX_INTERVAL_DAYS)
    interval = (proposed - last).days
    check_days = None
    if fit.slope_per_day != 0:
        check_days = int(0.25 * limit / abs(fit.slope_per_day))
    half = max(interval // 2, 1)
    check_days = half if check_days is None else max(1, min(check_days, half))
    return IntervalProposal(
        tag, kind, series, unit, pts, limit, reliability, fit, reaches, proposed, check_days,
        current_due, tuple(notes),
    )  # fmt: skip


def _q(stored: Any) -> Any | None:
    if isinstance(stored, Mapping) and "value" in stored and "unit" in stored:
        return from_storage(float(stored["value"]), str(stored["unit"]))
    return None


def _same_kind(a: Any, b: Any) -> bool:
    return bool(a.dimensionality == b.dimensionality) and (
        is_relative_unit(a.units) == is_relative_unit(b.units)
    )


def _standard_series(
    session: Session, actor: User, std: MeasurementStandard
) -> list[tuple[str, str, list[DriftPoint], float]]:
    checks = list(
        session.scalars(
            select(IntermediateCheck)
            .where(IntermediateCheck.standard_id == std.id)
            .order_by(IntermediateCheck.performed_on, IntermediateCheck.id)
        )
    )
    certs = calibration_history(session, actor, std.tag)
    out = []
    for quantity in dict.fromkeys(c.quantity for c in checks):
        mine = [c for c in checks if c.quantity == quantity and c.measured is not None]
        if not mine:
            continue
        unit = mine[-1].unit or ""
        nominal = from_storage(float(mine[-1].nominal or 0.0), unit)
        points = [
            DriftPoint(c.performed_on, float(c.measured or 0.0) - float(c.nominal or 0.0), None,
                       f"期间核查 check {c.id}")
            for c in mine
            if c.unit == unit
        ]  # fmt: skip
        for cert in certs:
            for v in stored_values(cert.values)[0]:
                if v.value is None or v.quantity != quantity or not _same_kind(v.value, nominal):
                    continue
                big_u = v.expanded_uncertainty
                u = (
                    float(big_u.to(nominal.units).magnitude) * 2.0 / (v.k or 2.0)
                    if big_u is not None and _same_kind(big_u, nominal)
                    else None
                )
                points.append(
                    DriftPoint(
                        cert.calibrated_on,
                        float((v.value - nominal).to(nominal.units).magnitude),
                        u,
                        f"证书 certificate {cert.number}",
                    )
                )
        shown = f"{nominal.units:~P}"
        out.append((quantity, shown, points, float(mine[-1].limit or 0.0)))
    return out


def _equipment_series(
    session: Session, eq: Equipment
) -> list[tuple[str, str, list[DriftPoint], float]]:
    rows = session.execute(
        select(Result, func.coalesce(Run.started_at, Run.created_at))
        .join(Run, Run.id == Result.run_id)
        .join(WorkOrderItem, WorkOrderItem.id == Run.work_order_item_id)
        .where(WorkOrderItem.equipment_id == eq.id, Run.practice.is_(False))
        .order_by(Result.id)
    ).all()
    corrected = {r.corrects_id for r, _ in rows if r.corrects_id is not None}
    series: dict[str, tuple[str, list[DriftPoint], float]] = {}
    for r, when in rows:
        if r.id in corrected:
            continue
        mpe = _q(r.values.get("mpe"))
        if mpe is None:
            continue
        error = next(
            (q for q in (_q(r.values.get(n)) for n in ("error_fs", "error")) if q is not None
             and _same_kind(q, mpe)),
            None,
        )  # fmt: skip
        if error is None:
            continue
        big_u = next(
            (q for q in (_q(r.values.get(n)) for n in ("expanded_uncertainty_fs", "U",
             "expanded_uncertainty")) if q is not None and _same_kind(q, mpe)),
            None,
        )  # fmt: skip
        key = f"{r.item} {r.test_point}"
        unit = f"{mpe.units:~P}"
        _, pts, _ = series.setdefault(key, (unit, [], float(abs(mpe.magnitude))))
        pts.append(
            DriftPoint(
                when.date(),
                float(error.to(mpe.units).magnitude),
                float(big_u.to(mpe.units).magnitude) if big_u is not None else None,
                f"run {r.run_id}",
            )
        )
    return [(k, unit, pts, lim) for k, (unit, pts, lim) in series.items()]


def interval_report(
    session: Session,
    actor: User,
    *,
    tag: str | None = None,
    reliability: float = 0.95,
) -> list[IntervalProposal]:
    """Proposals for one tag (a standard, or an instrument's asset tag or serial number)
    or for every active standard."""
    require(actor, Permission.VIEW_RECORDS)
    out: list[IntervalProposal] = []
    if tag is None:
        stds = list(session.scalars(select(MeasurementStandard).order_by(MeasurementStandard.tag)))
        for each in stds:
            out += _standard_proposals(session, actor, each, reliability)
        return out
    std = session.scalars(
        select(MeasurementStandard).where(MeasurementStandard.tag == tag)
    ).one_or_none()
    if std is not None:
        return _standard_proposals(session, actor, std, reliability)
    eqs = list(
        session.scalars(
            select(Equipment).where((Equipment.asset_tag == tag) | (Equipment.serial_number == tag))
        )
    )
    if not eqs:
        raise NotFoundError(f"no standard or instrument is tagged {tag!r}")
    if len(eqs) > 1:
        raise QualityError(f"{tag!r} names {len(eqs)} instruments; use the asset tag")
    eq = eqs[0]
    current = accepted_due_date(session, tag)
    if current is None and eq.owner_customer_id is None:
        cert = current_certificate(session, eq.id)
        current = cert.valid_until if cert else None
    return [
        propose(tag, "equipment", name, unit, pts, limit, reliability, current)
        for name, unit, pts, limit in _equipment_series(session, eq)
    ]


def _standard_proposals(
    session: Session, actor: User, std: MeasurementStandard, reliability: float
) -> list[IntervalProposal]:
    current = accepted_due_date(session, std.tag)
    if current is None:
        ends = [
            c.valid_until
            for m in std.members
            if (c := current_certificate(session, m.equipment_id)) is not None
        ]
        current = min(ends) if ends else None
    return [
        propose(std.tag, "standard", name, unit, pts, limit, reliability, current)
        for name, unit, pts, limit in _standard_series(session, actor, std)
        if limit > 0
    ]


def accept_interval(
    session: Session,
    actor: User,
    tag: str,
    *,
    next_due: date,
    reason: str,
    check_interval_days: int | None = None,
    proposal: IntervalProposal | None = None,
    today: date | None = None,
) -> IntervalDecision:
    """Record a quality manager's decision on the next due date (and the check interval).

    For a standard the intermediate-check interval is changed too. Audited through the
    session; the decision is append-only.
    """
    require(actor, Permission.MANAGE_STANDARDS)
    if len(reason.strip()) < 5:
        raise QualityError("--reason: say why the interval is accepted (at least 5 characters)")
    day = today or date.today()
    if next_due <= day:
        raise QualityError(f"--due {next_due.isoformat()}: must be after today ({day.isoformat()})")
    if check_interval_days is not None and check_interval_days < 1:
        raise QualityError("--check-every: must be at least one day")
    std = session.scalars(
        select(MeasurementStandard).where(MeasurementStandard.tag == tag)
    ).one_or_none()
    kind = "standard"
    if std is None:
        if not session.scalar(
            select(Equipment.id).where(
                (Equipment.asset_tag == tag) | (Equipment.serial_number == tag)
            )
        ):
            raise NotFoundError(f"no standard or instrument is tagged {tag!r}")
        kind = "equipment"
        if check_interval_days is not None:
            raise QualityError("--check-every: intermediate checks are for the lab's standards")
    decision = IntervalDecision(
        tag=tag,
        kind=kind,
        quantity=proposal.series if proposal is not None else "",
        previous_due=accepted_due_date(session, tag)
        or (proposal.current_due if proposal else None),
        next_due=next_due,
        check_interval_days=check_interval_days,
        reliability=proposal.reliability if proposal is not None else 0.0,
        analysis=proposal.as_analysis() if proposal is not None else {},
        reason=reason.strip(),
        accepted_by_id=actor.id,
    )
    session.add(decision)
    if std is not None and check_interval_days is not None:
        std.intermediate_check_interval_days = check_interval_days
    session.info["reason"] = session.info.get("reason") or reason.strip()
    session.flush()
    return decision
