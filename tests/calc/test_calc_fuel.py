"""Calorimetry, belt-scale and CEMS calculations against independent worked computations:
hand arithmetic (written out below), an analytic Newtonian calorimeter curve, Student-t
values from printed tables, and the regulation table shipped for JJG 195."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from lims.calc._common import CalcError
from lims.calc.belt_scale import (
    VerificationKind,
    belt_scale_mpe,
    chain_reference_load,
    control_instrument_adequate,
    totalized_load_error,
    zero_load_limit,
)
from lims.calc.calorimetry import (
    corrected_temperature_rise,
    energy_equivalent,
    gross_calorific_value,
)
from lims.calc.cems import emission_rate, relative_accuracy
from lims.engine.regulation import load_regulation_table
from lims.units import ureg

Q = ureg.Quantity
ROOT = Path(__file__).resolve().parents[2]


# --- calorimetry ---------------------------------------------------------------------------


def test_regnault_pfaundler_worked_example() -> None:
    """Readings every minute; fire at reading 5, end of main period at reading 10.

    V0 = (24.000 − 24.010)/5 = −0.002 K/min, θ0 = 24.005; Vn = (26.570 − 26.545)/5 =
    0.005 K/min, θn = 26.5575; Σ inner = 25.600 + 26.300 + 26.500 + 26.560 = 104.960;
    (t_f + t_e)/2 = 25.290; n·θ0 = 120.025; bracket = 10.225;
    slope = 0.007/2.5525 = 0.00274241; C = −0.010 + 0.0280412 = 0.0180412;
    Δt = 26.570 − 24.010 + 0.0180412 = 2.5780412 K.
    """
    temps = [24.000, 24.002, 24.004, 24.006, 24.008, 24.010]
    temps += [25.600, 26.300, 26.500, 26.560, 26.570]
    temps += [26.565, 26.560, 26.555, 26.550, 26.545]
    times = [Q(60 * i, "s") for i in range(len(temps))]
    r = corrected_temperature_rise(times, [Q(t, "degC") for t in temps], 5, 10)
    assert r.correction.to("K").magnitude == pytest.approx(0.0180412, abs=2e-7)
    assert r.rise.to("K").magnitude == pytest.approx(2.5780412, abs=2e-7)
    assert r.fore_rate.to("K/min").magnitude == pytest.approx(-0.002, abs=1e-9)
    assert r.after_rate.to("K/min").magnitude == pytest.approx(0.005, abs=1e-9)
    assert r.main_intervals == 5


def newtonian_curve(step_s: float) -> tuple[list[float], list[float], int, int, float]:
    """An isothermal calorimeter by the analytic solution of dT/dt = k(Tj − T) + P/E +
    (Q/τ)e^(−s/τ)/E: returns times, temperatures, fire and end indices, and Q/E."""
    e, k, tj, p, heat, tau = 10000.0, 0.003 / 60, 25.0, 0.2, 26500.0, 20.0
    t_inf = tj + p / (k * e)
    t0, fire_at, total = 23.5, 300.0, 1200.0
    a = heat / (e * (k * tau - 1))

    def temp(t: float) -> float:
        base = t_inf + (t0 - t_inf) * math.exp(-k * t)
        if t <= fire_at:
            return base
        s = t - fire_at
        return base + a * (math.exp(-s / tau) - math.exp(-k * s))

    n = round(total / step_s)
    times = [i * step_s for i in range(n + 1)]
    return times, [temp(t) for t in times], round(300 / step_s), round(900 / step_s), heat / e


@pytest.mark.parametrize(("step", "tolerance"), [(60.0, 1.5e-3), (30.0, 4e-4), (10.0, 5e-5)])
def test_corrected_rise_recovers_the_heat_of_a_newtonian_calorimeter(
    step: float, tolerance: float
) -> None:
    times, temps, fire, end, true_rise = newtonian_curve(step)
    r = corrected_temperature_rise(
        [Q(t, "s") for t in times], [Q(x, "degC") for x in temps], fire, end
    )
    raw = temps[end] - temps[fire]
    assert abs(raw - true_rise) > 0.02  # the heat leak matters ...
    assert r.rise.to("K").magnitude == pytest.approx(true_rise, rel=tolerance)  # ... and is undone


def test_energy_equivalent_and_calorific_value_worked() -> None:
    """26454 J/g × 1.0012 g = 26485.7448 J; × 1.0015 = 26525.4734 J; + 90 J = 26615.4734 J;
    / 2.6 K = 10236.7205 J/K."""
    e = energy_equivalent(Q(26454, "J/g"), Q(1.0012, "g"), Q(90, "J"), Q(2.6, "K"), Q(0.0015, ""))
    assert e.to("J/K").magnitude == pytest.approx(10236.7205, abs=1e-3)
    # a second burn read with that E gives back the certified value
    q = gross_calorific_value(e, Q(2.6, "K"), Q(1.0012, "g"), Q(90, "J"), Q(0.0015, ""))
    assert q.to("J/g").magnitude == pytest.approx(26454, abs=1e-6)
    # an instrument holding an E 0.3 % high reads the benzoic acid 0.3 % · (1 + 90/26525) high
    q_high = gross_calorific_value(
        e * 1.003, Q(2.6, "K"), Q(1.0012, "g"), Q(90, "J"), 0.0015 * Q(1, "")
    )
    expected = ((26454 * 1.0012 * 1.0015 + 90) * 1.003 - 90) / (1.0012 * 1.0015)
    assert q_high.to("J/g").magnitude == pytest.approx(expected, rel=1e-9)


def test_calorimetry_refuses_bad_input() -> None:
    times = [Q(60 * i, "s") for i in range(8)]
    temps = [Q(24 + 0.1 * i, "degC") for i in range(8)]
    with pytest.raises(CalcError, match="fore and an after period"):
        corrected_temperature_rise(times, temps, 0, 5)
    with pytest.raises(CalcError, match="equally spaced"):
        corrected_temperature_rise([*times[:-1], Q(1000, "s")], temps, 2, 5)
    with pytest.raises(CalcError, match="expected temperatures"):
        corrected_temperature_rise(times, [Q(1, "g")] * 8, 2, 5)
    with pytest.raises(CalcError, match="sample mass"):
        energy_equivalent(Q(26454, "J/g"), Q(1, "mL"), Q(90, "J"), Q(2.6, "K"), Q(0.0015, ""))
    with pytest.raises(CalcError, match="rise: must be positive"):
        energy_equivalent(Q(26454, "J/g"), Q(1, "g"), Q(90, "J"), Q(0, "K"), Q(0.0015, ""))


# --- belt scale ------------------------------------------------------------------------------


def test_belt_scale_error_and_limits_from_the_table() -> None:
    limits = load_regulation_table(ROOT / "procedures/jjg195_belt_scale/jjg195.toml").limits
    # 20 090 kg totalized for 20 004 kg weighed on the control instrument: +0.4299 %
    err = totalized_load_error(Q(20090, "kg"), Q(20.004, "t"))
    assert err.to("percent").magnitude == pytest.approx(86 / 20004 * 100, rel=1e-12)
    assert belt_scale_mpe(limits, "0.5", VerificationKind.FIRST) == Q(0.25, "percent")
    assert belt_scale_mpe(limits, "0.5", "subsequent") == Q(0.25, "percent")
    assert belt_scale_mpe(limits, "0.5", VerificationKind.IN_SERVICE) == Q(0.5, "percent")
    assert belt_scale_mpe(limits, "1", "in_service") == Q(1.0, "percent")
    with pytest.raises(CalcError, match="accuracy class '3'"):
        belt_scale_mpe(limits, "3", "first")
    # 60 kg/m over 2.5 m/s × 180 s = 450 m of belt: 27 000 kg
    assert chain_reference_load(Q(60, "kg/m"), Q(2.5, "m/s") * Q(180, "s")) == Q(27000, "kg")
    # 0.25 % of 1500 t/h over 3 min = 0.0025 × 75 t = 187.5 kg
    assert zero_load_limit(Q(1500, "t/h"), Q(3, "min"), Q(0.25, "percent")).to(
        "kg"
    ).magnitude == pytest.approx(187.5)
    # control instrument 0.02 % against class 0.5 (0.25 % / 3 = 0.0833 %): adequate
    assert control_instrument_adequate(Q(0.02, "percent"), Q(0.25, "percent"), Q(3, ""))
    assert not control_instrument_adequate(Q(0.1, "percent"), Q(0.25, "percent"), Q(3, ""))
    with pytest.raises(CalcError, match="expected a mass"):
        totalized_load_error(Q(1, "kg"), Q(1, "m"))


# --- CEMS ----------------------------------------------------------------------------------------


def test_relative_accuracy_worked() -> None:
    """Nine pairs; d = RM − CEMS = 0.10, 0.20, −0.05, 0.10, 0.20, 0.10, −0.05, 0.10, 0.10.

    Σd = 0.80, d̄ = 0.088889; Σ(d − d̄)² = 0.063889 (Σd² = 0.135 − 9·d̄² = 0.0711111),
    S_d = √(0.0638889/8) = 0.0893650; t_0.975(8) = 2.306 (Student table);
    cc = 2.306 × 0.0893650/3 = 0.0686921; RM̄ = 108.8/9 = 12.088889;
    RA = (0.088889 + 0.068692)/12.088889 × 100 = 1.30352 %.
    """
    rm = [12.1, 12.3, 11.9, 12.0, 12.4, 12.2, 11.8, 12.0, 12.1]
    cems = [12.0, 12.1, 11.95, 11.9, 12.2, 12.1, 11.85, 11.9, 12.0]
    r = relative_accuracy([Q(x, "percent") for x in rm], [Q(x, "percent") for x in cems])
    assert r.n == 9
    assert r.t_value == pytest.approx(2.306, abs=5e-4)
    assert r.mean_difference.to("percent").magnitude == pytest.approx(0.088889, abs=1e-6)
    assert r.sd_difference.to("percent").magnitude == pytest.approx(0.0893650, abs=1e-6)
    assert r.confidence_coefficient.to("percent").magnitude == pytest.approx(0.068692, abs=2e-5)
    assert r.relative_accuracy.to("percent").magnitude == pytest.approx(1.30352, abs=3e-4)


def test_relative_accuracy_of_flow_and_refusals() -> None:
    # flows in m³/h, the CEMS 16 000 m³/h high throughout (no scatter): cc = 0 and
    # RA = 16 000 / 402 400 × 100 = 3.97614 %
    rm = [Q(v, "m**3/h") for v in (400000, 410000, 395000, 405000, 402000)]
    cems = [x + Q(16000, "m**3/h") for x in rm]
    r = relative_accuracy(rm, cems)
    assert r.relative_accuracy.to("percent").magnitude == pytest.approx(3.97614, abs=1e-5)
    assert r.confidence_coefficient.magnitude == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(CalcError, match="pair them"):
        relative_accuracy(rm, cems[:-1])
    with pytest.raises(CalcError, match="at least 3"):
        relative_accuracy(rm[:2], cems[:2])
    with pytest.raises(CalcError):
        relative_accuracy(rm, [Q(1, "percent")] * 5)


def test_emission_rate_worked() -> None:
    """φ = 12 %, Q_sd = 400 000 m³/h: ρ = 0.12 × 44.0095/22.414 = 0.2356175 kg/m³,
    E = 94 247.0 kg/h = 94.247 t/h. u_rel = √(0.01² + 0.02²) = 0.0223607 → u = 2.10743 t/h.
    With ν = 10 and 20: ν_eff = u⁴/(u_φ⁴/10 + u_Q⁴/20) = 0.0223607⁴/(0.01⁴/10 + 0.02⁴/20)
    = 2.5e-7/(1e-9 + 8e-9) = 27.78."""
    r = emission_rate(Q(12, "percent"), Q(0.12, "percent"), Q(400000, "m**3/h"), Q(8000, "m**3/h"))
    assert r.value.to("t/h").magnitude == pytest.approx(94.2470, abs=2e-3)
    assert r.standard_uncertainty.to("t/h").magnitude == pytest.approx(2.10743, abs=2e-4)
    assert r.expanded_uncertainty.to("t/h").magnitude == pytest.approx(2 * 2.10743, abs=4e-4)
    assert [label for label, _ in r.budget] == ["dry standard flow", "CO2 volume fraction"]
    finite = emission_rate(
        Q(120000, "umol/mol"),
        Q(1200, "umol/mol"),
        Q(400000, "m**3/h"),
        Q(8000, "m**3/h"),
        dof_co2=10,
        dof_flow=20,
        coverage_probability=0.95,
    )
    assert finite.dof == pytest.approx(27.78, abs=0.01)
    assert finite.k == pytest.approx(2.048, abs=2e-3)  # t_0.975(27.78), between 2.052 and 2.048
    with pytest.raises(CalcError):
        emission_rate(Q(12, "kg"), Q(0.1, "percent"), Q(1, "m**3/h"), Q(0, "m**3/h"))
