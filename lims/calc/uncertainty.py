"""Uncertainty budgets (GUM, JJF 1059.1-2012) propagated with GTC.

A budget is built for a measurand that is linear in its input quantities with
stated sensitivity coefficients (the usual table form of a calibration
budget), e.g. the indication error of a gas analyzer

    E = x̄ − x_s + δ_res   with c = +1, −1, +1.

Each input is an :class:`UncertaintyComponent`: its standard uncertainty u_i
(with unit), distribution, degrees of freedom ν_i and sensitivity c_i.
Type A: u = s/√n, ν = n − 1. Type B: u = a/divisor (rectangular √3,
triangular √6, U-shaped √2, normal with a stated k), from a certificate
u = U/k, a display resolution r as rectangular with a = r/2, a drift as a
half-width. GTC propagates u_c² = Σ (c_i u_i)² and gives the effective degrees
of freedom by Welch–Satterthwaite. The expanded uncertainty is U = k·u_c with
either a fixed k (2 by default) or k = t_p(ν_eff) for a stated coverage
probability p; the budget states which.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import GTC
import pint
from GTC import reporting

from lims.calc._common import (
    CalcError,
    is_relative_unit,
    require_quantity,
    same_dimension,
    unit_text,
)
from lims.calc.repeats import RepeatStatistics, repeat_statistics
from lims.units import ureg

__all__ = [
    "BUDGET_HEADERS",
    "BudgetLine",
    "Coverage",
    "Distribution",
    "UncertaintyBudget",
    "UncertaintyComponent",
    "certificate_component",
    "dof_from_reliability",
    "drift_component",
    "resolution_component",
    "type_a_component",
    "type_b_half_width",
    "uncertainty_budget",
]

_SQRT = {"rectangular": math.sqrt(3.0), "triangular": math.sqrt(6.0), "u_shaped": math.sqrt(2.0)}


class Distribution(Enum):
    """Assumed distribution of an input quantity, with bilingual labels."""

    NORMAL = "normal"
    RECTANGULAR = "rectangular"
    TRIANGULAR = "triangular"
    U_SHAPED = "u_shaped"
    STUDENT_T = "student_t"
    """Type A evaluation from repeated observations."""

    @property
    def zh(self) -> str:
        """Chinese name."""
        return {
            "normal": "正态",
            "rectangular": "均匀",
            "triangular": "三角",
            "u_shaped": "反正弦",
            "student_t": "t 分布",
        }[self.value]

    @property
    def en(self) -> str:
        """English name."""
        return {
            "normal": "normal",
            "rectangular": "rectangular",
            "triangular": "triangular",
            "u_shaped": "U-shaped",
            "student_t": "Student t",
        }[self.value]

    @property
    def label(self) -> str:
        """Bilingual label, Chinese first."""
        return f"{self.zh} {self.en}"


@dataclass(frozen=True)
class UncertaintyComponent:
    """One input of a budget: standard uncertainty u (with unit) and sensitivity c."""

    name: str
    u: Any
    distribution: Distribution
    dof: float = math.inf
    sensitivity: Any = 1.0
    """A plain number or a Quantity; c·u must have the measurand's dimension."""
    kind: str = "B"
    """"A" (statistical) or "B"."""
    note: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise CalcError("uncertainty component: a name is required")
        require_quantity(self.u, f"uncertainty component {self.name!r}: u")
        if self.u.magnitude < 0:
            raise CalcError(f"uncertainty component {self.name!r}: u must not be negative")
        if not isinstance(self.dof, int | float) or math.isnan(self.dof) or self.dof < 1:
            raise CalcError(
                f"uncertainty component {self.name!r}: degrees of freedom must be ≥ 1 or inf"
            )
        if self.kind not in ("A", "B"):
            raise CalcError(f"uncertainty component {self.name!r}: kind must be 'A' or 'B'")
        c = self.sensitivity
        if isinstance(c, pint.Quantity):
            require_quantity(c, f"uncertainty component {self.name!r}: sensitivity")
        elif not isinstance(c, int | float) or isinstance(c, bool) or not math.isfinite(c):
            raise CalcError(
                f"uncertainty component {self.name!r}: sensitivity must be a finite number "
                f"or a quantity, got {c!r}"
            )


def type_a_component(
    name: str, readings: Any, *, sensitivity: Any = 1.0, note: str = ""
) -> UncertaintyComponent:
    """Type A from repeats (a sequence of quantities or :class:`RepeatStatistics`).

    u = s/√n, ν = n − 1.
    """
    stats = readings if isinstance(readings, RepeatStatistics) else repeat_statistics(readings)
    return UncertaintyComponent(
        name=name,
        u=stats.u_mean,
        distribution=Distribution.STUDENT_T,
        dof=float(stats.dof),
        sensitivity=sensitivity,
        kind="A",
        note=note or f"n = {stats.n}, s = {stats.std.magnitude:.4g} {unit_text(stats.std.units)}",
    )


def type_b_half_width(
    name: str,
    half_width: Any,
    distribution: Distribution,
    *,
    k: float | None = None,
    sensitivity: Any = 1.0,
    dof: float = math.inf,
    note: str = "",
) -> UncertaintyComponent:
    """Type B from a half-width a: u = a/√3, a/√6, a/√2, or a/k for a normal distribution."""
    a = require_quantity(half_width, f"uncertainty component {name!r}: half-width")
    if a.magnitude < 0:
        raise CalcError(f"uncertainty component {name!r}: half-width must not be negative")
    if distribution is Distribution.NORMAL:
        if k is None or not math.isfinite(k) or k <= 0:
            raise CalcError(f"uncertainty component {name!r}: a normal half-width needs k > 0")
        divisor = float(k)
    elif distribution is Distribution.STUDENT_T:
        raise CalcError(f"uncertainty component {name!r}: Student t is for Type A components")
    else:
        if k is not None:
            raise CalcError(
                f"uncertainty component {name!r}: k applies only to a normal distribution"
            )
        divisor = _SQRT[distribution.value]
    return UncertaintyComponent(
        name=name,
        u=abs(a) / divisor,
        distribution=distribution,
        dof=dof,
        sensitivity=sensitivity,
        note=note or f"a = {a.magnitude:.4g} {unit_text(a.units)}, divisor {divisor:.4g}",
    )


def certificate_component(
    name: str,
    expanded: Any,
    k: float,
    *,
    value: Any = None,
    sensitivity: Any = 1.0,
    dof: float = math.inf,
    note: str = "",
) -> UncertaintyComponent:
    """Type B from a certificate's expanded uncertainty U and coverage factor k: u = U/k.

    A relative U (a dimensionless quantity such as ``1 %``) needs the certified
    ``value`` it applies to: u = U_rel·|value|/k.
    """
    big_u = require_quantity(expanded, f"uncertainty component {name!r}: expanded uncertainty")
    if big_u.magnitude < 0:
        raise CalcError(f"uncertainty component {name!r}: U must not be negative")
    if not isinstance(k, int | float) or not math.isfinite(k) or k <= 0:
        raise CalcError(f"uncertainty component {name!r}: coverage factor k must be > 0")
    if is_relative_unit(big_u.units):
        if value is None:
            raise CalcError(
                f"uncertainty component {name!r}: a relative U ({big_u:~P}) needs the "
                "certified value it applies to (value=...)"
            )
        v = require_quantity(value, f"uncertainty component {name!r}: certified value")
        u = abs(v) * float(big_u.to("dimensionless").magnitude) / k
        text = f"U_rel = {big_u:~P} (k = {k:g}) at {v:~P}"
    elif value is not None:
        raise CalcError(
            f"uncertainty component {name!r}: 'value' is only for a relative (dimensionless) U"
        )
    else:
        u = big_u / k
        text = f"U = {big_u.magnitude:.4g} {unit_text(big_u.units)} (k = {k:g})"
    return UncertaintyComponent(
        name=name,
        u=u,
        distribution=Distribution.NORMAL,
        dof=dof,
        sensitivity=sensitivity,
        note=note or text,
    )


def resolution_component(
    name: str, resolution: Any, *, sensitivity: Any = 1.0, note: str = ""
) -> UncertaintyComponent:
    """Resolution r of a digital display: rectangular with a = r/2, u = r/(2√3)."""
    r = require_quantity(resolution, f"uncertainty component {name!r}: resolution")
    if r.magnitude <= 0:
        raise CalcError(f"uncertainty component {name!r}: resolution must be positive")
    return type_b_half_width(
        name,
        r / 2,
        Distribution.RECTANGULAR,
        sensitivity=sensitivity,
        note=note or f"r = {r.magnitude:.4g} {unit_text(r.units)}, a = r/2",
    )


def drift_component(
    name: str,
    drift: Any,
    *,
    distribution: Distribution = Distribution.RECTANGULAR,
    sensitivity: Any = 1.0,
    note: str = "",
) -> UncertaintyComponent:
    """Drift of a standard (either sign, e.g. between calibrations) as half-width a = |drift|."""
    d = require_quantity(drift, f"uncertainty component {name!r}: drift")
    return type_b_half_width(
        name, abs(d), distribution, sensitivity=sensitivity, note=note or "|drift| as half-width"
    )


def dof_from_reliability(relative_uncertainty_of_u: float) -> float:
    """Degrees of freedom of a Type B u from the relative uncertainty of u (GUM G.4.2).

    ν ≈ ½ (Δu/u)⁻²; e.g. 0.25 (25 %) gives ν = 8.
    """
    r = relative_uncertainty_of_u
    if not isinstance(r, int | float) or not math.isfinite(r) or r <= 0:
        raise CalcError("relative uncertainty of u: must be a positive number (e.g. 0.25)")
    return 0.5 / (r * r)


@dataclass(frozen=True)
class Coverage:
    """How the coverage factor is chosen.

    ``Coverage()`` is k = 2 (fixed). ``Coverage.probability(0.95)`` takes
    k = t_p(ν_eff) from Student's t; with ``truncate_dof`` (the default, GUM
    G.4.1) a non-integer ν_eff is truncated to the next lower integer first.
    """

    k: float | None = 2.0
    p: float | None = None
    truncate_dof: bool = True

    def __post_init__(self) -> None:
        if (self.k is None) == (self.p is None):
            raise CalcError("coverage: give exactly one of k or p")
        if self.k is not None and (not math.isfinite(self.k) or self.k <= 0):
            raise CalcError(f"coverage: k must be positive, got {self.k!r}")
        if self.p is not None and not 0 < self.p < 1:
            raise CalcError(f"coverage: p must be a fraction between 0 and 1, got {self.p!r}")

    @classmethod
    def fixed(cls, k: float = 2.0) -> Coverage:
        """A fixed coverage factor (k = 2 unless stated)."""
        return cls(k=k)

    @classmethod
    def probability(cls, p: float = 0.95, *, truncate_dof: bool = True) -> Coverage:
        """k = t_p(ν_eff) for coverage probability ``p`` (a fraction, e.g. 0.95)."""
        return cls(k=None, p=p, truncate_dof=truncate_dof)


@dataclass(frozen=True)
class BudgetLine:
    """One row of a budget: the component and its contribution |c·u| in the measurand's unit."""

    name: str
    kind: str
    distribution: Distribution
    u: Any
    sensitivity: Any
    contribution: Any
    dof: float
    note: str


BUDGET_HEADERS: tuple[str, ...] = (
    "分量 Component",
    "类别 Type",
    "分布 Distribution",
    "标准不确定度 u",
    "灵敏系数 c",
    "贡献 |c·u|",
    "自由度 ν",
)


def _fmt_num(x: float, digits: int) -> str:
    if math.isinf(x):
        return "∞"
    return f"{x:.{digits}g}"


def _fmt_q(q: Any, digits: int) -> str:
    if not isinstance(q, pint.Quantity):
        return _fmt_num(float(q), digits)
    unit = unit_text(q.units)
    return f"{_fmt_num(float(q.magnitude), digits)} {unit}".rstrip()


@dataclass(frozen=True)
class UncertaintyBudget:
    """A computed budget: lines ranked by contribution, u_c, ν_eff, k and U."""

    measurand: str
    value: Any
    lines: tuple[BudgetLine, ...]
    combined: Any
    """Combined standard uncertainty u_c, in the unit of ``value``."""
    dof_eff: float
    """Welch–Satterthwaite effective degrees of freedom (may be inf)."""
    k: float
    p: float | None
    """Coverage probability the k was chosen for, or None for a fixed k."""
    dof_used: float | None
    """ν used to look up t_p (after truncation), or None for a fixed k."""
    expanded: Any
    """Expanded uncertainty U = k·u_c."""

    @property
    def coverage_statement(self) -> str:
        """Bilingual statement of how k was chosen, for the certificate."""
        if self.p is None:
            return f"包含因子 k = {self.k:g} / coverage factor k = {self.k:g}"
        pct = f"{self.p * 100:g}"
        nu = "∞" if self.dof_used is None or math.isinf(self.dof_used) else f"{self.dof_used:g}"
        return (
            f"k = t{pct}(ν_eff = {nu}) = {self.k:.2f}，包含概率 {pct} % / "
            f"k = t{pct}(ν_eff = {nu}) = {self.k:.2f}, coverage probability {pct} %"
        )

    def as_rows(self, *, digits: int = 3, summary: bool = True) -> list[tuple[str, ...]]:
        """Rows of strings for display, matching :data:`BUDGET_HEADERS`.

        With ``summary`` the last rows give u_c with ν_eff, and U with k.
        """
        rows: list[tuple[str, ...]] = [
            (
                line.name,
                line.kind,
                line.distribution.label,
                _fmt_q(line.u, digits),
                _fmt_q(line.sensitivity, digits),
                _fmt_q(line.contribution, digits),
                _fmt_num(line.dof, digits),
            )
            for line in self.lines
        ]
        if summary:
            rows.append(
                (
                    "合成标准不确定度 u_c",
                    "",
                    "",
                    "",
                    "",
                    _fmt_q(self.combined, digits),
                    _fmt_num(self.dof_eff, digits),
                )
            )
            rows.append(
                (
                    f"扩展不确定度 U (k = {self.k:.3g})",
                    "",
                    "",
                    "",
                    "",
                    _fmt_q(self.expanded, digits),
                    "",
                )
            )
        return rows


def uncertainty_budget(
    value: Any,
    components: Sequence[UncertaintyComponent],
    *,
    measurand: str = "",
    coverage: Coverage | None = None,
) -> UncertaintyBudget:
    """Combine ``components`` for a measurand with estimate ``value`` (a Quantity).

    Each c_i·u_i is converted to the unit of ``value``; a dimension mismatch is
    an error naming the component. Lines are ranked by contribution, largest first.
    """
    value = require_quantity(value, "measurand value")
    cov = coverage if coverage is not None else Coverage()
    if not components:
        raise CalcError("uncertainty budget: no components")
    names = [c.name for c in components]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise CalcError(f"uncertainty budget: duplicate component names {dupes}")
    out_unit = value.units
    inputs = []
    y: Any = float(value.magnitude)
    for comp in components:
        if not isinstance(comp, UncertaintyComponent):
            raise CalcError(f"uncertainty budget: not a component: {comp!r}")
        one = ureg.Quantity(1.0, comp.u.units) * comp.sensitivity
        c_mag = float(
            same_dimension(
                one, value, f"c·u of component {comp.name!r}", "the measurand value"
            ).magnitude
        )
        x = GTC.ureal(0.0, float(comp.u.magnitude), comp.dof, label=comp.name)
        inputs.append((comp, x))
        y = y + c_mag * x
    u_c = float(GTC.uncertainty(y))
    if u_c == 0:
        raise CalcError("uncertainty budget: the combined standard uncertainty is zero")
    nu = float(GTC.dof(y))
    lines = [
        BudgetLine(
            name=comp.name,
            kind=comp.kind,
            distribution=comp.distribution,
            u=comp.u,
            sensitivity=comp.sensitivity,
            contribution=ureg.Quantity(abs(float(reporting.u_component(y, x))), out_unit),
            dof=float(comp.dof),
            note=comp.note,
        )
        for comp, x in inputs
    ]
    lines.sort(key=lambda ln: -float(ln.contribution.magnitude))
    if cov.p is None:
        assert cov.k is not None
        k = float(cov.k)
        dof_used: float | None = None
    else:
        dof_used = math.floor(nu) if cov.truncate_dof and math.isfinite(nu) else nu
        k = float(reporting.k_factor(dof_used, p=cov.p * 100.0))
    return UncertaintyBudget(
        measurand=measurand,
        value=value,
        lines=tuple(lines),
        combined=ureg.Quantity(u_c, out_unit),
        dof_eff=nu,
        k=k,
        p=cov.p,
        dof_used=dof_used,
        expanded=ureg.Quantity(k * u_c, out_unit),
    )
