"""Repeats, errors, repeatability, drift and T90 against hand computations."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lims.calc import (
    CalcError,
    absolute_error,
    as_relative,
    drift,
    fiducial_error,
    from_fiducial,
    mean,
    relative_error,
    relative_standard_deviation,
    repeat_statistics,
    repeatability_of_relative_errors,
    response_time,
    sample_std,
    span_drift,
    span_of,
    zero_drift,
)
from lims.units import Q_

UMOL = "µmol/mol"


def q(values: list[float], unit: str = UMOL) -> list[object]:
    return [Q_(v, unit) for v in values]


def test_repeat_statistics() -> None:
    xs = [1004.0, 1006.0, 1005.0, 1003.0]
    m = sum(xs) / 4
    s = math.sqrt(sum((x - m) ** 2 for x in xs) / 3)
    st_ = repeat_statistics(q(xs))
    assert st_.n == 4
    assert st_.dof == 3
    assert st_.mean.to(UMOL).magnitude == pytest.approx(m)
    assert st_.std.to(UMOL).magnitude == pytest.approx(s)
    assert st_.u_mean.to(UMOL).magnitude == pytest.approx(s / 2)
    assert sample_std(q(xs)).magnitude == pytest.approx(s)
    # A quantity array and mixed compatible units are accepted.
    assert mean(Q_([1.0, 2.0, 3.0], "s")).magnitude == pytest.approx(2.0)
    assert mean([Q_(1, "s"), Q_(1000, "ms")]).to("s").magnitude == pytest.approx(1.0)


def test_repeat_bad_input_names_the_item() -> None:
    with pytest.raises(CalcError, match="item 2"):
        mean([Q_(1, "s"), Q_(1, "m")])
    with pytest.raises(CalcError, match="item 3"):
        mean([Q_(1, "s"), Q_(1, "s"), 1.0])
    with pytest.raises(CalcError, match="no values"):
        mean([])
    with pytest.raises(CalcError, match="at least 2"):
        sample_std([Q_(1, "s")])
    with pytest.raises(CalcError, match="item 2"):
        mean([Q_(1, UMOL), Q_(1, "percent")])  # relative vs amount fraction


def test_errors() -> None:
    ind, ref, span = Q_(1005, UMOL), Q_(1000, UMOL), Q_(2000, UMOL)
    assert absolute_error(ind, ref).to(UMOL).magnitude == pytest.approx(5)
    assert relative_error(ind, ref).to("percent").magnitude == pytest.approx(0.5)
    fe = fiducial_error(ind, ref, span)
    assert str(fe.units) == "percent_FS"
    assert fe.magnitude == pytest.approx(0.25)
    assert fiducial_error(Q_(1.005, "mmol/mol"), ref, span).magnitude == pytest.approx(0.25)
    assert from_fiducial(Q_(2, "percent_FS"), span).to(UMOL).magnitude == pytest.approx(40)
    assert span_of(Q_(0, UMOL), Q_(0.5, "percent_vol")).to(UMOL).magnitude == pytest.approx(5000)
    assert as_relative(Q_(10, UMOL), ref).to("percent").magnitude == pytest.approx(1.0)
    with pytest.raises(CalcError, match="not of the same kind"):
        absolute_error(Q_(1, "s"), ref)
    with pytest.raises(CalcError, match="non-zero"):
        relative_error(ind, Q_(0, UMOL))
    with pytest.raises(CalcError, match="positive"):
        fiducial_error(ind, ref, Q_(0, UMOL))
    with pytest.raises(CalcError, match="not a fiducial"):
        from_fiducial(Q_(2, "percent"), span)
    with pytest.raises(CalcError, match="the same kind"):
        # A fiducial error is never comparable to a relative one.
        absolute_error(Q_(1, "percent"), Q_(1, "percent_FS"))


def test_repeatability_forms() -> None:
    xs = [501.0, 503.0, 499.0, 502.0, 500.0, 501.0]
    m = sum(xs) / 6
    s = math.sqrt(sum((x - m) ** 2 for x in xs) / 5)
    assert relative_standard_deviation(q(xs)).to("percent").magnitude == pytest.approx(s / m * 100)
    # Flowmeter: each repeat has its own reference volume.
    ind = [10.02, 10.05, 9.99]
    ref = [10.00, 10.01, 9.98]
    e = [(i - r) / r * 100 for i, r in zip(ind, ref, strict=True)]
    em = sum(e) / 3
    se = math.sqrt(sum((x - em) ** 2 for x in e) / 2)
    got = repeatability_of_relative_errors(q(ind, "L"), q(ref, "L"))
    assert got.to("percent").magnitude == pytest.approx(se)
    # One reference for all repeats.
    e1 = [(i - 10.0) / 10.0 * 100 for i in ind]
    m1 = sum(e1) / 3
    s1 = math.sqrt(sum((x - m1) ** 2 for x in e1) / 2)
    got1 = repeatability_of_relative_errors(q(ind, "L"), Q_(10.0, "L"))
    assert got1.magnitude == pytest.approx(s1)
    with pytest.raises(CalcError, match="2 reference values for 3"):
        repeatability_of_relative_errors(q(ind, "L"), q(ref[:2], "L"))
    with pytest.raises(CalcError, match="mean is zero"):
        relative_standard_deviation(q([-1.0, 1.0]))


def test_drift() -> None:
    zeros = [0.0, 1.5, -3.0, 2.0]
    d = zero_drift(q(zeros), Q_(2000, UMOL))
    assert d.max_deviation.to(UMOL).magnitude == pytest.approx(-3.0)
    assert d.max_deviation_fs.magnitude == pytest.approx(-3.0 / 2000 * 100)
    assert d.index == 2
    spans = [1600.0, 1604.0, 1610.0, 1607.0]
    zeros2 = [0.0, 1.0, 6.0, 2.0]
    corrected = [s - z for s, z in zip(spans, zeros2, strict=True)]
    devs = [c - corrected[0] for c in corrected]
    worst = max(devs, key=abs)
    sd = span_drift(q(spans), Q_(2000, UMOL), zero_readings=q(zeros2))
    assert sd.max_deviation.magnitude == pytest.approx(worst)
    assert span_drift(q(spans), Q_(2000, UMOL)).max_deviation.magnitude == pytest.approx(10.0)
    assert drift(q([5.0, 5.0]), Q_(10, UMOL)).max_deviation.magnitude == 0
    with pytest.raises(CalcError, match="at least 2"):
        drift(q([5.0]), Q_(10, UMOL))
    with pytest.raises(CalcError, match="3 zero readings for 4"):
        span_drift(q(spans), Q_(2000, UMOL), zero_readings=q(zeros2[:3]))


def _first_order(
    y0: float, y1: float, tau: float, t_step: float, dead: float, dt: float, t_end: float
) -> list[tuple[object, object]]:
    out = []
    n = round(t_end / dt)
    for i in range(n + 1):
        t = i * dt
        x = t - t_step - dead
        y = y0 if x <= 0 else y0 + (y1 - y0) * (1 - math.exp(-x / tau))
        out.append((Q_(t, "s"), Q_(y, UMOL)))
    return out


def test_t90_first_order_rising_and_falling() -> None:
    tau, t_step, dead = 10.0, 5.0, 2.0
    rec = _first_order(0.0, 1000.0, tau, t_step, dead, 0.1, 150.0)
    r = response_time(rec, Q_(t_step, "s"))
    assert r.t90.to("s").magnitude == pytest.approx(dead + tau * math.log(10), abs=0.01)
    assert r.t10.to("s").magnitude == pytest.approx(dead + tau * math.log(10 / 9), abs=0.01)
    assert r.rise_time.to("s").magnitude == pytest.approx(tau * math.log(9), abs=0.02)
    fall = _first_order(1000.0, 0.0, tau, t_step, dead, 0.1, 150.0)
    rf = response_time(fall, Q_(t_step, "s"))
    assert rf.t90.to("s").magnitude == pytest.approx(dead + tau * math.log(10), abs=0.01)


def test_t90_interpolates_and_needs_to_stay_past() -> None:
    # Coarse samples: crossing 90 between t=20 (80) and t=30 (100) -> t=25.
    vals = [0, 0, 40, 80, 100, 100, 100, 100, 100]
    rec = [(Q_(10.0 * i - 10, "s"), Q_(v, UMOL)) for i, v in enumerate(vals)]
    r = response_time(rec, Q_(0, "s"), initial=Q_(0, UMOL), final=Q_(100, UMOL))
    assert r.t90.magnitude == pytest.approx(25.0)
    # A spike past 90 % that falls back does not count.
    vals2 = [0, 0, 95, 60, 80, 100, 100, 100, 100]
    rec2 = [(Q_(10.0 * i - 10, "s"), Q_(v, UMOL)) for i, v in enumerate(vals2)]
    r2 = response_time(rec2, Q_(0, "s"), final=Q_(100, UMOL))
    assert r2.t90.magnitude == pytest.approx(35.0)
    # Times in minutes are converted.
    rec3 = [(Q_((10.0 * i - 10) / 60, "min"), v) for i, (_, v) in enumerate(rec)]
    assert response_time(rec3, Q_(0, "s"), final=Q_(100, UMOL)).t90.magnitude == pytest.approx(25.0)


def test_t90_bad_input() -> None:
    rec = [(Q_(float(i), "s"), Q_(float(min(i, 5)), UMOL)) for i in range(10)]
    with pytest.raises(CalcError, match="no sample at or before"):
        response_time(rec, Q_(-1, "s"))
    with pytest.raises(CalcError, match="not a time"):
        response_time(rec, Q_(0, "m"))
    with pytest.raises(CalcError, match="increase strictly"):
        response_time([*rec, rec[-1]], Q_(0, "s"))
    with pytest.raises(CalcError, match="does not stay past"):
        response_time(rec[:4], Q_(0, "s"), final=Q_(5, UMOL))
    with pytest.raises(CalcError, match="no step"):
        response_time(
            [(Q_(0, "s"), Q_(1, UMOL)), (Q_(1, "s"), Q_(1, UMOL))], Q_(0, "s"), final_samples=1
        )
    with pytest.raises(CalcError, match="sample 2"):
        response_time([rec[0], (Q_(1, "s"),)], Q_(0, "s"))  # type: ignore[list-item]


@settings(max_examples=25, deadline=None)
@given(
    tau=st.floats(min_value=2.0, max_value=30.0),
    dead=st.floats(min_value=0.0, max_value=10.0),
    up=st.booleans(),
)
def test_t90_property_first_order(tau: float, dead: float, up: bool) -> None:
    y0, y1 = (0.0, 500.0) if up else (500.0, 0.0)
    rec = _first_order(y0, y1, tau, 1.0, dead, 0.25, 1.0 + dead + 15 * tau)
    r = response_time(rec, Q_(1.0, "s"))
    # Chord error of linear interpolation is below dt²/(8τ) ≈ 0.004 s here.
    assert r.t90.magnitude == pytest.approx(dead + tau * math.log(10), abs=0.02)
