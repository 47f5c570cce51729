"""Decision rules: all JJF 1094 zones at their boundaries, and each ILAC G8 rule's zones."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lims.calc import (
    DECISION_RULES,
    ILAC_G8_GUARD_BAND,
    ILAC_G8_NON_BINARY,
    ILAC_G8_SIMPLE,
    JJF_1094,
    CalcError,
    DecisionRule,
    Verdict,
    decide,
    get_rule,
)
from lims.units import Q_

P, F, X = Verdict.PASS, Verdict.FAIL, Verdict.UNDETERMINED
CP, CF = Verdict.CONDITIONAL_PASS, Verdict.CONDITIONAL_FAIL
D = 1e-6  # "just inside / just outside": far above the 1e-9 equality tolerance


def _v(
    rule: DecisionRule | str, e: float, mpe: float, u: float, unit: str = "percent_FS"
) -> Verdict:
    return decide(rule, Q_(e, unit), Q_(mpe, unit), Q_(u, unit)).verdict


# JJF 1094, U <= MPE/3 (MPE = 2 %FS, U = 0.5 %FS): pass iff |E| <= MPE.
@pytest.mark.parametrize(
    ("e", "expected"),
    [(0.0, P), (2.0 - D, P), (2.0, P), (2.0 + D, F), (-2.0, P), (-2.0 - D, F), (5.0, F)],
)
def test_jjf1094_small_uncertainty(e: float, expected: Verdict) -> None:
    assert _v(JJF_1094, e, 2.0, 0.5) is expected


# JJF 1094, U > MPE/3 (MPE = 2, U = 1): pass |E| <= 1, fail |E| >= 3, undetermined between.
@pytest.mark.parametrize(
    ("e", "expected"),
    [
        (1.0 - D, P),
        (1.0, P),
        (1.0 + D, X),
        (2.0, X),
        (3.0 - D, X),
        (3.0, F),
        (3.0 + D, F),
        (-1.0, P),
        (-1.0 - D, X),
        (-3.0, F),
        (-3.0 + D, X),
    ],
)
def test_jjf1094_large_uncertainty(e: float, expected: Verdict) -> None:
    assert _v(JJF_1094, e, 2.0, 1.0) is expected


def test_jjf1094_at_the_u_equals_mpe_over_3_switch() -> None:
    mpe = 3.0
    # U = MPE/3 exactly belongs to the first case: |E| = MPE passes.
    assert _v(JJF_1094, 3.0, mpe, mpe / 3) is P
    assert _v(JJF_1094, 3.0 + D, mpe, mpe / 3) is F
    # Just above MPE/3 the guard band applies: |E| = MPE is undetermined.
    u = mpe / 3 + D
    assert _v(JJF_1094, 3.0, mpe, u) is X
    assert _v(JJF_1094, mpe - u, mpe, u) is P
    assert _v(JJF_1094, mpe - u + 2 * D, mpe, u) is X
    assert _v(JJF_1094, mpe + u, mpe, u) is F
    assert _v(JJF_1094, mpe + u - 2 * D, mpe, u) is X
    # A decimal boundary that floats cannot hold exactly: 0.3 - 0.1 != 0.2 in binary.
    assert _v(JJF_1094, 0.2, 0.3, 0.1) is P
    assert _v(JJF_1094, 0.4, 0.3, 0.1) is F


def test_jjf1094_co2_example_passes() -> None:
    # 0.25 %FS error, U = 0.50 %FS, MPE ±2 %FS (unverified default): U <= MPE/3.
    d = decide("JJF1094-2002", Q_(0.25, "percent_FS"), Q_(-2, "percent_FS"), Q_(0.5, "percent_FS"))
    assert d.verdict is P
    assert d.limit.magnitude == 2


def test_units_are_converted_and_mismatches_refused() -> None:
    # MPE 0.02 mmol/mol = 20 µmol/mol, U = 10 µmol/mol > 20/3: pass iff |E| <= 10, fail >= 30.
    d = decide(JJF_1094, Q_(5, "µmol/mol"), Q_(0.02, "mmol/mol"), Q_(10, "µmol/mol"))
    assert d.verdict is P
    assert d.error.to("mmol/mol").magnitude == pytest.approx(0.005)
    assert str(d.expanded_uncertainty.units) == "mmol/mol"
    assert (
        decide(JJF_1094, Q_(15, "µmol/mol"), Q_(0.02, "mmol/mol"), Q_(10, "µmol/mol")).verdict is X
    )
    assert (
        decide(JJF_1094, Q_(30, "µmol/mol"), Q_(0.02, "mmol/mol"), Q_(10, "µmol/mol")).verdict is F
    )
    with pytest.raises(CalcError, match="not of the same kind"):
        decide(JJF_1094, Q_(5, "µmol/mol"), Q_(2, "percent_FS"), Q_(1, "percent_FS"))
    with pytest.raises(CalcError, match="not of the same kind"):
        decide(JJF_1094, Q_(0.5, "percent"), Q_(2, "µmol/mol"), Q_(1, "µmol/mol"))
    with pytest.raises(CalcError, match="must not be negative"):
        decide(JJF_1094, Q_(0.5, "s"), Q_(2, "s"), Q_(-1, "s"))
    with pytest.raises(CalcError, match="expected a quantity"):
        decide(JJF_1094, 0.5, Q_(2, "s"), Q_(1, "s"))
    with pytest.raises(CalcError, match="unknown decision rule"):
        get_rule("nope")


@pytest.mark.parametrize(("e", "expected"), [(2.0, P), (2.0 + D, F), (-2.0, P), (1.9, P), (2.5, F)])
def test_ilac_simple(e: float, expected: Verdict) -> None:
    assert _v(ILAC_G8_SIMPLE, e, 2.0, 1.5) is expected


@pytest.mark.parametrize(
    ("e", "u", "expected"),
    [(1.5, 0.5, P), (1.5 + D, 0.5, F), (2.0, 0.5, F), (-1.5, 0.5, P), (0.0, 2.5, F)],
)
def test_ilac_guard_band(e: float, u: float, expected: Verdict) -> None:
    assert _v(ILAC_G8_GUARD_BAND, e, 2.0, u) is expected


@pytest.mark.parametrize(
    ("e", "expected"),
    [
        (1.5, P),
        (1.5 + D, CP),
        (2.0, CP),
        (2.0 + D, CF),
        (2.5 - D, CF),
        (2.5, F),
        (-1.5, P),
        (-2.0, CP),
        (-2.5 + D, CF),
        (-3.0, F),
    ],
)
def test_ilac_non_binary(e: float, expected: Verdict) -> None:
    assert _v(ILAC_G8_NON_BINARY, e, 2.0, 0.5) is expected


def test_rules_and_labels() -> None:
    assert set(DECISION_RULES) == {
        r.id for r in (JJF_1094, ILAC_G8_SIMPLE, ILAC_G8_GUARD_BAND, ILAC_G8_NON_BINARY)
    }
    for rule in DECISION_RULES.values():
        assert rule.name_zh
        assert rule.name_en
        assert rule.description_zh
        assert rule.description_en
        assert rule.description.startswith(rule.description_zh)
    assert Verdict.UNDETERMINED.label == "待定 Undetermined"
    assert Verdict.PASS.label == "合格 Pass"
    assert Verdict.FAIL.label == "不合格 Fail"
    assert Verdict.CONDITIONAL_PASS.label == "有条件合格 Conditional pass"
    assert Verdict.CONDITIONAL_FAIL.label == "有条件不合格 Conditional fail"


_SEVERITY = {P: 0, CP: 1, X: 2, CF: 2, F: 3}
_mags = st.floats(min_value=0, max_value=100, allow_nan=False, allow_infinity=False)


@given(
    rule_id=st.sampled_from(sorted(DECISION_RULES)),
    e1=_mags,
    e2=_mags,
    mpe=st.floats(min_value=0.01, max_value=50),
    u=st.floats(min_value=0, max_value=50),
)
def test_decision_is_monotonic_in_abs_error_and_symmetric(
    rule_id: str, e1: float, e2: float, mpe: float, u: float
) -> None:
    lo, hi = sorted((e1, e2))
    v_lo = _v(rule_id, lo, mpe, u, "s")
    v_hi = _v(rule_id, hi, mpe, u, "s")
    assert _SEVERITY[v_lo] <= _SEVERITY[v_hi]
    assert _v(rule_id, -hi, mpe, u, "s") is v_hi
    assert v_lo in DECISION_RULES[rule_id].verdicts
