"""Uncertainty budgets against independent worked examples (REGULATIONS.md §3)."""

from __future__ import annotations

import math

import pytest

from lims.calc import (
    BUDGET_HEADERS,
    CalcError,
    Coverage,
    Distribution,
    UncertaintyComponent,
    as_fiducial,
    certificate_component,
    dof_from_reliability,
    drift_component,
    fiducial_error,
    mean,
    resolution_component,
    type_a_component,
    type_b_half_width,
    uncertainty_budget,
)
from lims.units import Q_

UMOL = "µmol/mol"


def t_quantile(p: float, nu: float) -> float:
    """Two-sided Student-t quantile by Simpson integration of the pdf and bisection."""
    c = math.exp(math.lgamma((nu + 1) / 2) - math.lgamma(nu / 2)) / math.sqrt(nu * math.pi)

    def central(t: float) -> float:  # P(|T| <= t)
        n = 4000
        h = t / n
        f = [c * (1 + (i * h) ** 2 / nu) ** (-(nu + 1) / 2) for i in range(n + 1)]
        s = f[0] + f[-1] + 4 * sum(f[1:-1:2]) + 2 * sum(f[2:-1:2])
        return 2 * s * h / 3

    lo, hi = 0.0, 50.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if central(mid) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def test_t_quantile_helper_matches_closed_form_for_two_dof() -> None:
    # nu = 2: P(|T| <= t) = t / sqrt(2 + t^2)  =>  t = sqrt(2 p^2 / (1 - p^2))
    assert t_quantile(0.95, 2) == pytest.approx(math.sqrt(2 * 0.95**2 / (1 - 0.95**2)), rel=1e-6)


def _co2_components() -> list[UncertaintyComponent]:
    readings = [Q_(1004, UMOL), Q_(1006, UMOL), Q_(1005, UMOL)]
    return [
        type_a_component("重复性 repeatability", readings),
        certificate_component(
            "标准气体 gas standard", Q_(1, "percent"), 2, value=Q_(1000, UMOL), sensitivity=-1
        ),
        resolution_component("分辨力 resolution", Q_(1, UMOL)),
    ]


def test_co2_worked_example() -> None:
    readings = [1004.0, 1006.0, 1005.0]
    ref = 1000.0
    m = sum(readings) / 3
    s = math.sqrt(sum((x - m) ** 2 for x in readings) / 2)
    u_a = s / math.sqrt(3)
    u_std = 0.01 * ref / 2
    u_res = 0.5 / math.sqrt(3)
    u_c = math.sqrt(u_a**2 + u_std**2 + u_res**2)
    nu_eff = u_c**4 / (u_a**4 / 2)

    error = mean([Q_(x, UMOL) for x in readings]) - Q_(ref, UMOL)
    assert error.to(UMOL).magnitude == pytest.approx(5.0)

    b95 = uncertainty_budget(
        error, _co2_components(), measurand="示值误差 error", coverage=Coverage.probability(0.95)
    )
    assert b95.combined.to(UMOL).magnitude == pytest.approx(u_c, rel=1e-12)
    assert u_c == pytest.approx(5.04, abs=0.005)
    assert b95.dof_eff == pytest.approx(nu_eff, rel=1e-9)
    assert b95.dof_eff > 1000
    assert b95.dof_used == math.floor(nu_eff)
    assert b95.k == pytest.approx(t_quantile(0.95, math.floor(nu_eff)), abs=1e-4)
    assert b95.expanded.to(UMOL).magnitude == pytest.approx(9.9, abs=0.05)
    assert b95.p == 0.95

    b2 = uncertainty_budget(error, _co2_components())
    assert b2.k == 2.0
    assert b2.p is None
    assert b2.expanded.to(UMOL).magnitude == pytest.approx(2 * u_c, rel=1e-12)
    assert b2.expanded.to(UMOL).magnitude == pytest.approx(10.1, abs=0.05)

    # On a 0-2000 µmol/mol range: 0.25 %FS error with U = 0.50 %FS (k = 2).
    span = Q_(2000, UMOL)
    assert fiducial_error(Q_(m, UMOL), Q_(ref, UMOL), span).magnitude == pytest.approx(0.25)
    u_fs = as_fiducial(b2.expanded, span)
    assert str(u_fs.units) == "percent_FS"
    assert u_fs.magnitude == pytest.approx(2 * u_c / 2000 * 100)
    assert round(u_fs.magnitude, 2) == 0.50

    # The gas standard dominates and is ranked first, contributions are |c·u|.
    names = [ln.name for ln in b2.lines]
    assert names == ["标准气体 gas standard", "重复性 repeatability", "分辨力 resolution"]
    contrib = [ln.contribution.to(UMOL).magnitude for ln in b2.lines]
    assert contrib == pytest.approx([u_std, u_a, u_res])
    assert b2.lines[0].distribution is Distribution.NORMAL
    assert b2.lines[1].dof == 2
    assert b2.lines[1].kind == "A"


def test_small_n_budget_has_small_dof_and_large_k() -> None:
    readings = [10.0, 10.3, 9.7]
    m = sum(readings) / 3
    s = math.sqrt(sum((x - m) ** 2 for x in readings) / 2)
    u_a = s / math.sqrt(3)
    u_b = 0.2 / 2
    u_c = math.sqrt(u_a**2 + u_b**2)
    nu_eff = u_c**4 / (u_a**4 / 2)
    assert 3 < nu_eff < 4

    comps = [
        type_a_component("repeatability", [Q_(x, "mg") for x in readings]),
        certificate_component("standard", Q_(0.2, "mg"), 2),
    ]
    b = uncertainty_budget(Q_(0.0, "mg"), comps, coverage=Coverage.probability(0.95))
    assert b.dof_eff == pytest.approx(nu_eff, rel=1e-9)
    assert b.dof_used == 3
    assert b.k == pytest.approx(t_quantile(0.95, 3), abs=1e-4)
    assert b.k > 3.0
    assert b.expanded.to("mg").magnitude == pytest.approx(b.k * u_c, rel=1e-12)
    assert "ν_eff = 3" in b.coverage_statement

    b_nt = uncertainty_budget(
        Q_(0.0, "mg"), comps, coverage=Coverage.probability(0.95, truncate_dof=False)
    )
    assert b_nt.k == pytest.approx(t_quantile(0.95, nu_eff), abs=1e-4)
    assert 2.5 < b_nt.k < b.k


def test_sensitivity_with_units_and_unit_conversion() -> None:
    # Relative error model: c = 1/x_s converts µmol/mol into a relative (%) contribution.
    comps = [
        certificate_component("std", Q_(10, UMOL), 2, sensitivity=Q_(-1 / 1000, f"1/({UMOL})")),
        type_b_half_width(
            "temperature", Q_(0.5, "K"), Distribution.TRIANGULAR, sensitivity=Q_(0.02, "percent/K")
        ),
    ]
    b = uncertainty_budget(Q_(0.5, "percent"), comps)
    expected_std = 5 / 1000 * 100  # percent
    expected_temp = 0.5 / math.sqrt(6) * 0.02
    assert b.lines[0].contribution.to("percent").magnitude == pytest.approx(expected_std)
    assert b.lines[1].contribution.to("percent").magnitude == pytest.approx(expected_temp)
    assert b.combined.to("percent").magnitude == pytest.approx(
        math.hypot(expected_std, expected_temp)
    )
    # A milli-unit input is converted to the measurand's unit.
    b2 = uncertainty_budget(Q_(1.0, "mV"), [certificate_component("x", Q_(0.004, "V"), 2)])
    assert b2.combined.to("mV").magnitude == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("dist", "divisor"),
    [
        (Distribution.RECTANGULAR, math.sqrt(3)),
        (Distribution.TRIANGULAR, math.sqrt(6)),
        (Distribution.U_SHAPED, math.sqrt(2)),
    ],
)
def test_half_width_divisors(dist: Distribution, divisor: float) -> None:
    c = type_b_half_width("a", Q_(1.2, "s"), dist)
    assert c.u.to("s").magnitude == pytest.approx(1.2 / divisor)
    assert c.distribution is dist


def test_normal_half_width_needs_k_and_drift_and_resolution() -> None:
    assert type_b_half_width("n", Q_(3.0, "s"), Distribution.NORMAL, k=3).u.magnitude == 1.0
    with pytest.raises(CalcError, match="needs k"):
        type_b_half_width("n", Q_(3.0, "s"), Distribution.NORMAL)
    with pytest.raises(CalcError, match="only to a normal"):
        type_b_half_width("r", Q_(3.0, "s"), Distribution.RECTANGULAR, k=2)
    d = drift_component("drift", Q_(-0.6, UMOL))
    assert d.u.to(UMOL).magnitude == pytest.approx(0.6 / math.sqrt(3))
    r = resolution_component("res", Q_(0.1, "s"))
    assert r.u.to("s").magnitude == pytest.approx(0.05 / math.sqrt(3))


def test_dof_from_reliability() -> None:
    assert dof_from_reliability(0.25) == pytest.approx(8.0)
    assert dof_from_reliability(0.1) == pytest.approx(50.0)
    with pytest.raises(CalcError):
        dof_from_reliability(0)


def test_type_b_dof_enters_welch_satterthwaite() -> None:
    u1, u2, nu2 = 1.0, 1.0, 8.0
    b = uncertainty_budget(
        Q_(0, "s"),
        [
            type_b_half_width("a", Q_(u1, "s"), Distribution.NORMAL, k=1),
            type_b_half_width("b", Q_(u2, "s"), Distribution.NORMAL, k=1, dof=nu2),
        ],
    )
    assert b.dof_eff == pytest.approx((u1**2 + u2**2) ** 2 / (u2**4 / nu2))


def test_all_infinite_dof_gives_infinite_nu_and_normal_k() -> None:
    b = uncertainty_budget(
        Q_(0, "s"), [certificate_component("a", Q_(1, "s"), 2)], coverage=Coverage.probability()
    )
    assert math.isinf(b.dof_eff)
    # Two-sided 95 % normal quantile by bisection on erf.
    lo, hi = 0.0, 5.0
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if math.erf(mid / math.sqrt(2)) < 0.95 else (lo, mid)
    assert b.k == pytest.approx(lo, abs=1e-6)


def test_as_rows() -> None:
    b = uncertainty_budget(Q_(5.0, UMOL), _co2_components())
    rows = b.as_rows()
    assert len(rows) == 5
    assert all(len(r) == len(BUDGET_HEADERS) for r in rows)
    assert rows[0][0] == "标准气体 gas standard"
    assert rows[0][3] == "5 µmol/mol"
    assert rows[0][4] == "-1"
    assert rows[0][6] == "∞"
    assert rows[1][6] == "2"
    assert rows[-1][5] == "10.1 µmol/mol"
    assert "k = 2" in rows[-1][0]
    assert len(b.as_rows(summary=False)) == 3


def test_bad_inputs_are_refused_clearly() -> None:
    with pytest.raises(CalcError, match="needs the certified value"):
        certificate_component("std", Q_(1, "percent"), 2)
    with pytest.raises(CalcError, match="c·u of component 'x'"):
        uncertainty_budget(Q_(1, UMOL), [certificate_component("x", Q_(1, "s"), 2)])
    with pytest.raises(CalcError, match="not of the same kind"):
        # 0.5 % is a relative value, not an amount fraction.
        uncertainty_budget(
            Q_(1, UMOL), [certificate_component("x", Q_(0.5, "percent"), 2, value=Q_(1, "percent"))]
        )
    with pytest.raises(CalcError, match="duplicate"):
        uncertainty_budget(
            Q_(1, "s"),
            [certificate_component("x", Q_(1, "s"), 2), certificate_component("x", Q_(1, "s"), 2)],
        )
    with pytest.raises(CalcError, match="no components"):
        uncertainty_budget(Q_(1, "s"), [])
    with pytest.raises(CalcError, match="expected a quantity"):
        uncertainty_budget(1.0, [certificate_component("x", Q_(1, "s"), 2)])
    with pytest.raises(CalcError, match="exactly one"):
        Coverage(k=2, p=0.95)
    with pytest.raises(CalcError, match="between 0 and 1"):
        Coverage.probability(95)
    with pytest.raises(CalcError, match="degrees of freedom"):
        UncertaintyComponent("x", Q_(1, "s"), Distribution.NORMAL, dof=0.5)
    with pytest.raises(CalcError, match="at least 2"):
        type_a_component("a", [Q_(1, "s")])
