"""CO2 CEMS on site (HJ 75/76) on the simulated stack.

Expected numbers come from the injected physics of the example bench (drivers/sim/onsite.py:
the CEMS indicates (1 + gain + span_drift·t)·c + offset + zero_drift·t; the cylinders feed
their actual content; the flow monitor's velocity is the mean velocity × point_factor ×
K × (1 + gain); the reference analyzer and the pitot have their own small errors) and the
regulation table; the statistics (RA with its confidence coefficient, the emission rate
and its uncertainty) are recomputed here from the run's raw pair readings with scipy's
Student quantiles, never read from the procedure's results.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from scipy import stats

from lims.db import Database
from lims.engine.regulation import load_regulation_table
from lims.models import Run, RunStatus
from procedures.hj75_co2_cems import Hj75Co2Cems
from tests.procedures.gas_bench import Stored, load
from tests.procedures.simrun import derive_bench, run_procedure, seed, sqlite_demo_lab

TABLE = load_regulation_table(Hj75Co2Cems.table_path())
SPAN = 20.0  # %vol, the item's range
GASES = {"P30": (6.00, 0.06, 6.012), "P60": (12.00, 0.12, 11.985), "P80": (16.00, 0.16, 16.020)}
OFFSET, ZERO_DRIFT_H, SPAN_DRIFT_H, T90 = 0.05, 0.004, 0.0002, 120.0
REF_GAIN, REF_OFFSET = 0.002, 0.01  # the reference analyzer
PROBE_ERROR = 0.003  # the pitot's coefficient error
AREA, GAS_T, GAS_P, MOISTURE = 12.57, 118.0, 100.6, 0.09
M_CO2, V_M = 44.0095, 22.414  # g/mol, L/mol


def _bench(tmp: Path, name: str, **cems: str) -> Path:
    patch = {("instruments.cems.sim", k): f'"{v}"' for k, v in cems.items() if k != "pf"}
    if "pf" in cems:
        patch[("instruments.flow.sim", "point_factor")] = f'"{cems["pf"]}"'
    return derive_bench(tmp, "co2-cems", patch, name)


def _t95(nu: float) -> float:
    return float(stats.t.ppf(0.975, float(math.floor(min(nu, 1e9)))))


def _verdict(error: float, mpe: float, big_u: float) -> str:
    if big_u <= mpe / 3:
        return "pass" if abs(error) <= mpe else "fail"
    if abs(error) <= mpe - big_u:
        return "pass"
    if abs(error) >= mpe + big_u:
        return "fail"
    return "undetermined"


def _hours(stored: Stored, point: str, quantity: str) -> list[float]:
    """Simulated hours since the run day's midnight (the virtual clock's zero)."""
    first = stored.readings[0][4]
    midnight = datetime(first.year, first.month, first.day, tzinfo=first.tzinfo)
    return [(t - midnight).total_seconds() / 3600 for t in stored.times(point, quantity)]


def _cems(c: float, hours: float, gain: float) -> float:
    return (1 + gain + SPAN_DRIFT_H * hours) * c + OFFSET + ZERO_DRIFT_H * hours


def _check_gases(stored: Stored, gain: float, noise: float, lag: float = 0.0) -> dict[str, str]:
    """Indication errors against the physics (``lag``: what a slow line may still lack)."""
    expected: dict[str, str] = {}
    mpe = float(TABLE.limit("indication_error").to("percent").magnitude)
    for name, (cert, big_u_gas, actual) in GASES.items():
        samples = [v.to("percent_vol").magnitude for v in stored.values(name, "indication.sample")]
        hours = statistics.fmean(_hours(stored, name, "indication.sample")[-len(samples) :])
        repeats = [v.to("percent_vol").magnitude for v in stored.values(name, "indication")]
        assert len(repeats) == 3
        x = statistics.fmean(repeats)
        tolerance = 4 * noise / math.sqrt(9) + 0.01 + lag
        assert x == pytest.approx(_cems(actual, hours, gain), abs=tolerance), name
        error = (x - cert) / cert * 100
        result = stored.results[(name, "indication_error")]
        assert result.value.to("percent").magnitude == pytest.approx(error, rel=1e-9), name
        assert stored.q(name, "indication_error", "error").to("percent_vol").magnitude == (
            pytest.approx(x - cert, abs=1e-9)
        )
        # U95: repeats (s/√3, ν = 2), the gas certificate (U/2), the 0.01 %vol resolution
        u_a = statistics.stdev(repeats) / math.sqrt(3)
        u_c = math.sqrt(u_a**2 + (big_u_gas / 2) ** 2 + (0.01 / (2 * math.sqrt(3))) ** 2)
        nu = u_c**4 / (u_a**4 / 2) if u_a > 0 else math.inf
        big_u = _t95(nu) * u_c / cert * 100
        got_u = stored.q(name, "indication_error", "U_fs").to("percent").magnitude
        assert got_u == pytest.approx(big_u, rel=1e-4), name
        expected[name] = _verdict(error, mpe, big_u)
        assert stored.verdicts[(name, "indication_error")] == expected[name], name
    return expected


def _ra(reference: list[float], measured: list[float]) -> tuple[float, float, float]:
    """(RA %, d̄, cc) of paired data (HJ 75: d = RM − CEMS, cc = t(0.975, n−1)·S_d/√n)."""
    d = [r - c for r, c in zip(reference, measured, strict=True)]
    n = len(d)
    cc = float(stats.t.ppf(0.975, n - 1)) * statistics.stdev(d) / math.sqrt(n)
    mean_d = statistics.fmean(d)
    return (abs(mean_d) + abs(cc)) / statistics.fmean(reference) * 100, mean_d, cc


def _pairs(stored: Stored, quantity: str, unit: str) -> list[float]:
    n = TABLE.repeat_count("pairs")
    out = []
    for i in range(1, n + 1):
        (v,) = stored.values(f"pair{i}", f"pair.{quantity}")
        out.append(v.to(unit).magnitude)
    return out


def _check_pairs(
    stored: Stored, gain: float, point_factor: float, lag: float = 0.0
) -> dict[str, str]:
    """Pairs against the physics (``lag``: what a slow CEMS line trails the flue gas by)."""
    expected: dict[str, str] = {}
    c = _pairs(stored, "cems_co2", "percent_vol")
    r = _pairs(stored, "reference_co2", "percent_vol")
    vc = _pairs(stored, "cems_velocity", "m/s")
    vr = _pairs(stored, "reference_velocity", "m/s")
    q = _pairs(stored, "cems_flow", "m**3/h")
    n = len(c)
    assert n == TABLE.repeat_count("pairs") == 9
    hours = [statistics.fmean(_hours(stored, f"pair{i}", "pair.cems_co2")) for i in range(1, 10)]
    for ci, ri, h in zip(c, r, hours, strict=True):  # the same flue gas, seen by both
        true = (ri - REF_OFFSET) / (1 + REF_GAIN)
        assert ci == pytest.approx(_cems(true, h, gain), abs=0.06 + lag)
    ratio = point_factor * 0.985 * 1.005 / (1 + PROBE_ERROR)
    for a, b in zip(vc, vr, strict=True):
        assert a / b == pytest.approx(ratio, rel=0.01)
    for qi, vi in zip(q, vc, strict=True):  # dry standard flow from the monitor's velocity
        factor = AREA * 3600 * 273.15 / (GAS_T + 0.8 + 273.15) * GAS_P / 101.325
        # velocity and flow are separate reads, each with its own noise (0.05 m/s)
        assert qi == pytest.approx(vi * factor * (1 - MOISTURE), rel=5e-3)
    ra_co2, d_co2, _ = _ra(r, c)
    ra_v, _, _ = _ra(vr, vc)
    assert stored.q("co2_ra", "relative_accuracy", "error").to("percent").magnitude == (
        pytest.approx(ra_co2, rel=1e-9)
    )
    assert stored.q("flow_ra", "relative_accuracy", "error").to("percent").magnitude == (
        pytest.approx(ra_v, rel=1e-9)
    )
    ra_limit = TABLE.limit("relative_accuracy_co2").to("percent").magnitude
    expected["co2_ra"] = "pass" if ra_co2 <= ra_limit else "fail"
    key = (
        "flow_error_high"
        if statistics.fmean(vr) > TABLE.limit("velocity_threshold").to("m/s").magnitude
        else "flow_error_low"
    )
    expected["flow_ra"] = "pass" if ra_v <= TABLE.limit(key).to("percent").magnitude else "fail"
    for point in ("co2_ra", "flow_ra"):
        assert stored.verdicts[(point, "relative_accuracy")] == expected[point], point
    # emission rate over the test: E = φ̄·M/V_m·Q̄, u from the spread, the CEMS − RM
    # difference (rectangular) and the reference instruments' certificates
    phi, flow = statistics.fmean(c), statistics.fmean(q)
    e_v = statistics.fmean((a - b) / b for a, b in zip(vc, vr, strict=True))
    spread_c, spread_q = statistics.variance(c) / n, statistics.variance(q) / n
    u_c2 = spread_c + d_co2**2 / 3 + (0.01 / 2 * phi) ** 2
    u_q2 = spread_q + (e_v * flow) ** 2 / 3 + (0.02 / 2 * flow) ** 2
    rate = phi / 100 * M_CO2 / V_M * flow / 1000  # kg/m³ × m³/h → t/h
    u_rel2 = u_c2 / phi**2 + u_q2 / flow**2
    nu = u_rel2**2 / (
        (u_c2 / phi**2) ** 2 / (u_c2**2 / (spread_c**2 / (n - 1)))
        + (u_q2 / flow**2) ** 2 / (u_q2**2 / (spread_q**2 / (n - 1)))
    )
    big_u = _t95(nu) * rate * math.sqrt(u_rel2)
    result = stored.results[("emission", "emission_rate")]
    assert result.value.to("t/h").magnitude == pytest.approx(rate, rel=1e-9)
    assert result.uncertainty is not None
    assert result.uncertainty.expanded.to("t/h").magnitude == pytest.approx(big_u, rel=1e-4)
    assert stored.verdicts[("emission", "emission_rate")] == "not_stated"
    return expected


@pytest.fixture
def sqlite_lab(tmp_path: Path) -> Iterator[Database]:
    """The demo lab on SQLite only (the procedure maths; both backends are covered above)."""
    yield from sqlite_demo_lab(tmp_path)


def _run(db: Database, bench: Path) -> Stored:
    out = run_procedure(db, Hj75Co2Cems(), bench)
    assert out.status == RunStatus.COMPLETED, out.reason
    return load(db, out.run_id)


def test_passing_cems_on_both_backends(db: Database, tmp_path: Path) -> None:
    seed(db)
    stored = _run(db, _bench(tmp_path, "pass"))
    verdicts = _check_gases(stored, 0.015, 0.02) | _check_pairs(stored, 0.015, 1.04)
    assert set(verdicts.values()) == {"pass"}
    assert stored.q("T90", "response_time", "t90").to("s").magnitude == pytest.approx(T90, abs=10)
    assert stored.verdicts[("T90", "response_time")] == "pass"
    # drift over the interval: the zero by zero_drift·Δt, the span (less the zero's) by
    # span_drift·Δt of the span gas, both in %FS
    z0 = statistics.fmean(_hours(stored, "drift0.zero", "indication"))
    z1 = statistics.fmean(_hours(stored, "drift1.zero", "indication"))
    zero = ZERO_DRIFT_H * (z1 - z0) / SPAN * 100
    span = SPAN_DRIFT_H * (z1 - z0) * GASES["P80"][2] / SPAN * 100
    assert z1 - z0 == pytest.approx(TABLE.limit("drift_interval").to("h").magnitude, abs=1)
    got_zero = stored.q("drift", "zero_drift", "drift_fs").to("percent_FS").magnitude
    got_span = stored.q("drift", "span_drift", "drift_fs").to("percent_FS").magnitude
    assert got_zero == pytest.approx(zero, abs=0.1)
    assert got_span == pytest.approx(span, abs=0.15)
    for item in ("zero_drift", "span_drift"):
        assert stored.verdicts[("drift", item)] == "pass"


def test_failing_cems(sqlite_lab: Database, tmp_path: Path) -> None:
    # +12 % gain: indication error and CO2 RA beyond their limits; a badly placed flow
    # monitor (point factor 1.15); a slow line (T90 300 s)
    bench = _bench(tmp_path, "fail", gain_error="12 %", t90="300 s", pf="1.15")
    stored = _run(sqlite_lab, bench)
    verdicts = _check_gases(stored, 0.12, 0.02, lag=0.15) | _check_pairs(
        stored, 0.12, 1.15, lag=0.3
    )
    assert set(verdicts.values()) == {"fail"}
    assert stored.q("T90", "response_time", "t90").to("s").magnitude == pytest.approx(300, abs=15)
    assert stored.verdicts[("T90", "response_time")] == "fail"


def test_noisy_cems_near_the_limit_is_undetermined(sqlite_lab: Database, tmp_path: Path) -> None:
    # +5 % gain at the ±5 % limit, and a noisy analyzer: U > MPE/3, JJF 1094 zones
    bench = _bench(tmp_path, "near", gain_error="4.6 %", noise_sd="0.3 %")
    stored = _run(sqlite_lab, bench)
    verdicts = _check_gases(stored, 0.046, 0.3)  # each verdict as JJF 1094 gives it here
    assert list(verdicts.values()).count("undetermined") >= 2


def test_results_carry_units_and_unverified_marks(sqlite_lab: Database, tmp_path: Path) -> None:
    stored = _run(sqlite_lab, _bench(tmp_path, "marks"))
    rec: Any = stored.results[("P60", "indication_error")]
    assert rec.reference.to("percent_vol").magnitude == pytest.approx(12.0)
    assert rec.limit.unverified
    assert stored.results[("emission", "emission_rate")].value.check("[mass]/[time]")


@pytest.mark.parametrize(
    ("params", "item", "message"),
    [
        ({"traverse_points": "eight"}, {}, "traverse_points"),
        ({}, {"traverse_points": "0"}, "traverse_points"),
        ({}, {"component": "CH4"}, "certifies CO2; the item measures CH4"),
    ],
)
def test_bad_parameters_refused_before_anything_is_written(
    sqlite_lab: Database,
    tmp_path: Path,
    params: dict[str, str],
    item: dict[str, str],
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        run_procedure(
            sqlite_lab, Hj75Co2Cems(), _bench(tmp_path, "bad"), parameters=params, item=item
        )
    with sqlite_lab.read() as s:
        assert s.query(Run).count() == 0
