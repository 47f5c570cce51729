"""Monte Carlo propagation (JCGM 101) against its published additive-model examples
(§9.2) and exact quantiles computed here, and the GUM validation of §8."""

from __future__ import annotations

import math
from collections.abc import Callable
from math import comb, factorial
from typing import Any

import pytest

from lims.calc import (
    CalcError,
    Coverage,
    Distribution,
    UncertaintyBudget,
    certificate_component,
    uncertainty_budget,
)
from lims.calc.mcm import (
    McmInput,
    adaptive_mcm,
    compare_with_gum,
    coverage_probability_of_k,
    linear_model,
    numerical_tolerance,
)
from lims.calc.uncertainty import resolution_component, type_a_component, type_b_half_width
from lims.quality.budgets import cross_check, read_budget
from lims.results import StoredBudget
from lims.units import Q_
from tests.calc.legacy_budgets import budget_json, budget_record

D = Distribution


def _sum_of_uniforms_quantile(n: int, p: float) -> float:
    """Exact quantile of the sum of n rectangular inputs of unit variance (Irwin–Hall)."""

    def cdf(x: float) -> float:
        return sum((-1) ** k * comb(n, k) * max(x - k, 0.0) ** n for k in range(n + 1)) / (
            factorial(n)
        )

    lo, hi = n / 2, float(n)
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) < p else (lo, mid)
    return math.sqrt(3.0) * (2 * lo - n)


def test_numerical_tolerance_of_jcgm_101_7_9_2() -> None:
    assert numerical_tolerance(2.0) == pytest.approx(0.05)  # u = 20 × 10⁻¹
    assert numerical_tolerance(10.15) == pytest.approx(0.5)  # u = 10 × 10⁰
    assert numerical_tolerance(0.0123) == pytest.approx(0.0005)
    assert numerical_tolerance(9.96) == pytest.approx(0.5)  # rounds to 10
    assert coverage_probability_of_k(2.0) == pytest.approx(0.9545, abs=1e-4)


def test_jcgm_101_9_2_2_normal_inputs() -> None:
    """Y = X1+X2+X3+X4, Xi ~ N(0, 1): GUM and MCM both give [-3.92, 3.92]; validated."""
    inputs = [McmInput(f"X{i}", D.NORMAL, 1.0) for i in range(1, 5)]
    c = compare_with_gum(0.0, 2.0, 1.96, inputs, p=0.95)
    assert c.mcm.converged or c.mcm.decided_early
    assert c.mcm.u == pytest.approx(2.00, abs=0.01)
    assert c.mcm.low == pytest.approx(-3.92, abs=0.02)
    assert c.mcm.high == pytest.approx(3.92, abs=0.02)
    assert c.delta == pytest.approx(0.05)
    assert c.validated


def test_jcgm_101_9_2_3_rectangular_inputs_of_equal_width() -> None:
    """Xi ~ R with u = 1: the MCM interval is [-3.88, 3.88] (published; exact 3.879)."""
    exact = _sum_of_uniforms_quantile(4, 0.975)
    assert exact == pytest.approx(3.88, abs=0.005)
    inputs = [McmInput(f"X{i}", D.RECTANGULAR, 1.0) for i in range(1, 5)]
    c = compare_with_gum(0.0, 2.0, 1.96, inputs, p=0.95)
    assert c.mcm.u == pytest.approx(2.00, abs=0.01)
    assert c.mcm.low == pytest.approx(-exact, abs=0.02)
    assert c.mcm.high == pytest.approx(exact, abs=0.02)
    assert (c.gum_low, c.gum_high) == pytest.approx((-3.92, 3.92))


def test_jcgm_101_9_2_4_rectangular_inputs_of_different_widths_is_flagged() -> None:
    """X1..X3 ~ R with u = 1, X4 ~ R with u = 10: GUM [-19.9, 19.9], MCM [-17.0, 17.0]."""
    inputs = [McmInput(f"X{i}", D.RECTANGULAR, 1.0) for i in range(1, 4)]
    inputs.append(McmInput("X4", D.RECTANGULAR, 10.0))
    u_c = math.sqrt(103.0)
    c = compare_with_gum(0.0, u_c, 1.96, inputs, p=0.95)
    assert c.gum_high == pytest.approx(19.9, abs=0.05)
    assert c.mcm.u == pytest.approx(10.1, abs=0.1)
    assert c.mcm.low == pytest.approx(-17.0, abs=0.1)
    assert c.mcm.high == pytest.approx(17.0, abs=0.1)
    assert c.delta == pytest.approx(0.5)
    assert c.d_high > 2.5
    assert not c.validated


@pytest.mark.parametrize(
    ("distribution", "dof", "half_width_over_u"),
    [
        # scaled t with ν = 10: t_0.975(10) = 2.228 (table value)
        (D.STUDENT_T, 10.0, 2.2281),
        # arc sine, a = √2·u: P(|X| ≤ x) = (2/π)·arcsin(x/a) = 0.95
        (D.U_SHAPED, math.inf, math.sqrt(2) * math.sin(0.95 * math.pi / 2)),
        # triangular, a = √6·u: 1 − (1 − x/a)² = 0.95
        (D.TRIANGULAR, math.inf, math.sqrt(6) * (1 - math.sqrt(0.05))),
        # normal: 1.96
        (D.NORMAL, math.inf, 1.959964),
    ],
)
def test_each_distribution_against_its_exact_quantile(
    distribution: Distribution, dof: float, half_width_over_u: float
) -> None:
    u = 0.5
    result = adaptive_mcm(
        linear_model(10.0, [McmInput("x", distribution, u, dof)]), 0.95, tolerance=0.003
    )
    assert result.converged
    assert result.low == pytest.approx(10.0 - half_width_over_u * u, abs=0.008)
    assert result.high == pytest.approx(10.0 + half_width_over_u * u, abs=0.008)


def test_seeded_runs_repeat_and_bad_input_is_refused() -> None:
    inputs = [McmInput("a", D.RECTANGULAR, 1.0), McmInput("b", D.NORMAL, 0.5)]
    one = adaptive_mcm(linear_model(1.0, inputs), 0.95, seed=7)
    two = adaptive_mcm(linear_model(1.0, inputs), 0.95, seed=7)
    assert (one.low, one.high, one.trials) == (two.low, two.high, two.trials)
    with pytest.raises(CalcError, match="coverage probability"):
        adaptive_mcm(linear_model(1.0, inputs), 1.0)
    with pytest.raises(CalcError, match="contribution"):
        McmInput("x", D.NORMAL, -1.0)
    with pytest.raises(CalcError, match="no inputs"):
        linear_model(0.0, [])


def _gas_budget() -> UncertaintyBudget:
    """A gas-analyzer error budget: 3 repeats, resolution, gas certificate (c = −1)."""
    readings = [Q_(v, "µmol/mol") for v in (1004.0, 1006.0, 1005.0)]
    return uncertainty_budget(
        Q_(5.0, "µmol/mol"),
        [
            type_a_component("repeatability", readings),
            resolution_component("resolution", Q_(1.0, "µmol/mol")),
            certificate_component("gas standard", Q_(10.0, "µmol/mol"), 2.0, sensitivity=-1.0),
        ],
        measurand="indication error",
        coverage=Coverage.probability(0.95),
    )


@pytest.mark.parametrize(
    "form", [budget_record, budget_json, lambda b: StoredBudget.from_calc(b).to_json()]
)
def test_both_stored_forms_read_the_same(
    form: Callable[[UncertaintyBudget], dict[str, Any]],
) -> None:
    b = _gas_budget()
    stored = read_budget(form(b), fallback_value=Q_(5.0, "µmol/mol"))
    assert stored.k == pytest.approx(b.k)
    assert stored.p == pytest.approx(0.95)
    assert stored.combined.to("µmol/mol").magnitude == pytest.approx(
        b.combined.to("µmol/mol").magnitude
    )
    assert [ln.name for ln in stored.lines] == [ln.name for ln in b.lines]
    assert stored.dof_eff == pytest.approx(b.dof_eff)
    assert stored.value == Q_(5.0, "µmol/mol")


def test_cross_check_of_a_budget_dominated_by_a_rectangular_component() -> None:
    """A stored budget whose largest input is rectangular: its GUM k = 2 interval is wider
    than the MCM one by more than δ and is flagged; a normal-dominated one is validated."""
    dominated = uncertainty_budget(
        Q_(0.0, "percent"),
        [
            type_b_half_width("flow standard", Q_(0.5, "percent"), D.RECTANGULAR),
            type_b_half_width("timer", Q_(0.01, "percent"), D.RECTANGULAR),
        ],
        coverage=Coverage.fixed(2.0),
    )
    check = cross_check(read_budget(budget_record(dominated)))
    # MCM: a rectangular ±0.5 % at p = 95.45 % is about ±0.477 %; GUM: 2·u_c ≈ 0.577 %
    assert check.comparison.mcm.high == pytest.approx(0.5 * 0.9545, abs=0.003)
    assert check.comparison.gum_high == pytest.approx(2 * math.sqrt((0.5**2 + 0.01**2) / 3))
    assert check.flagged
    normal = uncertainty_budget(
        Q_(0.0, "percent"),
        [type_b_half_width("reference", Q_(0.2, "percent"), D.NORMAL, k=2.0)],
        coverage=Coverage.fixed(2.0),
    )
    assert not cross_check(read_budget(budget_record(normal))).flagged
