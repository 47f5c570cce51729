"""JJG 635 on the simulated CO2 bench: three injected error profiles, checked against the
physics of drivers/sim/physics.py and the rules of JJF 1094, computed here independently.

Bench (examples/benches/gas-analyzer.toml): range R = 2000 µmol/mol; cylinders with
certified values 400 / 1000 / 1600 µmol/mol (U = 1 %, k = 2) whose hidden true contents
are 400.6 / 1003.1 / 1596.4 µmol/mol; resolution 0.1 µmol/mol.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from scipy.stats import t as student_t

from lims.db import Database
from lims.engine import PromptRequested
from lims.models import Run, RunStatus
from lims.results import ResultFlag
from tests.procedures.gas_bench import Stored, analyzer_bench, demo_lab, run

R = 2000.0
RES = 0.1
SCALE = 1000.0
GAS = {  # point → (certified, U (k=2), true content)
    "P20": (400.0, 4.0, 400.6),
    "P50": (1000.0, 10.0, 1003.1),
    "P80": (1600.0, 16.0, 1596.4),
}
MPE_FS = 2.0
SAMPLES_PER_REPEAT = 10  # averaging 10 s at 1 s
STABLE_SLOPE = 0.3 / 100 * R / 60  # table: 0.3 %FS/min → µmol/mol/s

PROFILES: dict[str, dict[str, float]] = {
    # gain, offset µmol/mol, drift µmol/mol/h, noise µmol/mol, t90 s
    "pass": {"gain": 0.005, "offset": 2.0, "drift": 20.0, "noise": 1.0, "t90": 30.0},
    "fail": {"gain": 0.04, "offset": 5.0, "drift": 60.0, "noise": 1.0, "t90": 90.0},
    "near": {"gain": 0.023, "offset": 3.0, "drift": 0.5, "noise": 1.0, "t90": 30.0},
}


def target(c: float, p: dict[str, float]) -> float:
    """Steady indication for true content c (no nonlinearity injected)."""
    return (1 + p["gain"]) * c + p["offset"]


def jjf1094(error: float, mpe: float, big_u: float) -> str:
    """JJF 1094-2002 zones, written out independently."""
    e = abs(error)
    if big_u <= mpe / 3:
        return "pass" if e <= mpe else "fail"
    if e <= mpe - big_u:
        return "pass"
    if e >= mpe + big_u:
        return "fail"
    return "undetermined"


def sim_seconds(t: datetime, clock: Any) -> float:
    """Simulated seconds of a reading: a simulated run's readings carry simulated time."""
    return (t - clock.start_datetime).total_seconds()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    tmp = tmp_path_factory.mktemp("jjg635")
    db = demo_lab(f"sqlite:///{tmp / 'lims.sqlite3'}")
    yield db
    db.dispose()


_RUNS: dict[str, tuple[Stored, Any]] = {}
ENTRY_ERRORS: list[str] = []


def refusing_operator() -> Any:
    """Answers the thermometer prompt wrongly three times, then correctly."""
    given = iter(["21.5 %", "900 degC", "21.5"])

    def answers(prompt: PromptRequested) -> Any:
        if prompt.key != "env.display_temperature":
            return None
        if prompt.error:
            ENTRY_ERRORS.append(prompt.error)
        return next(given, "21.5 degC")

    return answers


def bench_for(tmp: Path, name: str) -> Path:
    p = PROFILES[name]
    return analyzer_bench(
        tmp,
        "gas-analyzer",
        name,
        time_scale=SCALE,
        gain_error=f"{p['gain'] * 100} %",
        offset=f"{p['offset']} umol/mol",
        nonlinearity="0 %",
        drift=f"{p['drift']} umol/mol/h",
        noise_sd=f"{p['noise']} umol/mol",
        t90=f"{p['t90']} s",
    )


@pytest.fixture
def outcome(
    request: pytest.FixtureRequest, lab: Database, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Stored, Any, dict[str, float]]:
    name = request.param
    if name not in _RUNS:
        bench = bench_for(tmp_path_factory.mktemp(name), name)
        answers = refusing_operator() if name == "pass" else None
        _RUNS[name] = run(lab, "jjg635", bench, item=1, answers=answers)
    stored, clock = _RUNS[name]
    return stored, clock, PROFILES[name]


ALL = pytest.mark.parametrize("outcome", list(PROFILES), indirect=True)


@ALL
def test_indication_error_and_uncertainty_match_physics(
    outcome: tuple[Stored, Any, dict[str, float]],
) -> None:
    stored, clock, p = outcome
    assert stored.status == RunStatus.COMPLETED, stored.reason
    drift_s = p["drift"] / 3600
    tau = p["t90"] / math.log(10)
    for point in ("zero", "P20", "P50", "P80"):
        certified, big_u_cert, actual = GAS.get(point, (0.0, 0.0, 0.0))
        times = [sim_seconds(t, clock) for t in stored.times(point, "indication.sample")]
        assert len(times) == 3 * SAMPLES_PER_REPEAT
        expected_ind = target(actual, p) + drift_s * statistics.fmean(times)
        expected_err = expected_ind - certified
        # noise of the mean of 30 samples, residual approach when declared stable, display
        tol = 4 * p["noise"] / math.sqrt(30) + STABLE_SLOPE * tau + RES
        err = stored.q(point, "indication_error", "error").to("umol/mol").magnitude
        assert err == pytest.approx(expected_err, abs=tol), point
        err_fs = stored.q(point, "indication_error", "error_fs")
        assert str(err_fs.units) == "percent_FS"
        assert err_fs.magnitude == pytest.approx(err / R * 100, rel=1e-9)
        assert stored.q(point, "indication_error", "mpe").magnitude == MPE_FS
        if point == "zero":
            continue
        # U95 of the error: gas certificate (dominant), resolution, repeatability (Type A
        # from the three recorded repeat means), k = t95(ν_eff) by Welch–Satterthwaite
        means = [v.magnitude for v in stored.values(point, "indication")]
        u_a = statistics.stdev(means) / math.sqrt(3)
        u_c = math.sqrt((big_u_cert / 2) ** 2 + (RES / math.sqrt(12)) ** 2 + u_a**2)
        nu = u_c**4 / (u_a**4 / 2) if u_a > 0 else math.inf
        k = float(student_t.ppf(0.975, math.floor(nu))) if nu < 1e6 else 1.959964
        big_u = stored.q(point, "indication_error", "expanded_uncertainty").to("umol/mol")
        assert big_u.magnitude == pytest.approx(k * u_c, rel=1e-3)
        # the budget is what the injected physics predicts: the gas standard dominates
        assert big_u.magnitude == pytest.approx(1.96 * big_u_cert / 2, rel=0.15)
        u_fs = k * u_c / R * 100
        expected = jjf1094(expected_err / R * 100, MPE_FS, u_fs)
        assert stored.verdicts[(point, "indication_error")] == expected, (point, err / R * 100)
        assert stored.rules[(point, "indication_error")] == "JJF1094-2002"


@ALL
def test_repeatability_within_noise(outcome: tuple[Stored, Any, dict[str, float]]) -> None:
    stored, _, p = outcome
    for point, (_, _, actual) in GAS.items():
        rsd = stored.q(point, "repeatability", "repeatability").to("percent").magnitude
        means = [v.magnitude for v in stored.values(point, "indication")]
        assert rsd == pytest.approx(statistics.stdev(means) / statistics.fmean(means) * 100)
        # std of 3 means of 10 samples: a 4-sigma bound from the injected noise, plus the
        # residual first-order approach left when the indication was declared stable
        tau = p["t90"] / math.log(10)
        spread = 4 * p["noise"] / math.sqrt(SAMPLES_PER_REPEAT) + STABLE_SLOPE * tau
        bound = spread / target(actual, p) * 100
        assert rsd < bound
        assert stored.verdicts[(point, "repeatability")] == "pass"  # bound ≪ 1 %


@ALL
def test_response_time_and_drift(outcome: tuple[Stored, Any, dict[str, float]]) -> None:
    stored, clock, p = outcome
    t90 = stored.q("T90", "response_time", "t90").to("s").magnitude
    assert t90 == pytest.approx(p["t90"], abs=3.0)
    assert stored.verdicts[("T90", "response_time")] == ("pass" if p["t90"] <= 60 else "fail")

    def mean_time(tp: str) -> float:
        return statistics.fmean(
            sim_seconds(t, clock) for t in stored.times(tp, "indication.sample")
        )

    dt = mean_time("drift1.zero") - mean_time("drift0.zero")
    assert dt >= 3600  # the table's interval (1 h) was waited
    expected_zero = p["drift"] / 3600 * dt / R * 100
    tol = 4 * p["noise"] / math.sqrt(30) * math.sqrt(2) / R * 100 + 2 * RES / R * 100
    # the initial zero follows the span gas: it may still approach from above by up to the
    # residual the stability criterion allows (slope limit × tau)
    residual = STABLE_SLOPE * (p["t90"] / math.log(10)) / R * 100
    zero_fs = stored.q("drift", "zero_drift", "drift_fs").magnitude
    assert expected_zero - residual - tol <= zero_fs <= expected_zero + tol
    # span drift corrected for zero drift: the injected drift is additive → ~0
    span_fs = stored.q("drift", "span_drift", "drift_fs").magnitude
    assert abs(span_fs) < 2 * tol + 2 * STABLE_SLOPE * (p["t90"] / math.log(10)) / R * 100
    assert stored.verdicts[("drift", "zero_drift")] == (
        "pass" if expected_zero < MPE_FS else "fail"
    )
    assert stored.verdicts[("drift", "span_drift")] == "pass"


@pytest.mark.parametrize("outcome", ["near"], indirect=True)
def test_near_limit_is_undetermined_never_pass(
    outcome: tuple[Stored, Any, dict[str, float]],
) -> None:
    stored, _, _ = outcome
    err = abs(stored.q("P80", "indication_error", "error_fs").magnitude)
    big_u = stored.q("P80", "indication_error", "expanded_uncertainty_fs").magnitude
    assert big_u > MPE_FS / 3
    assert MPE_FS - big_u < err < MPE_FS + big_u
    assert stored.verdicts[("P80", "indication_error")] == "undetermined"


@pytest.mark.parametrize("outcome", ["pass"], indirect=True)
def test_unverified_table_values_are_flagged(
    outcome: tuple[Stored, Any, dict[str, float]], lab: Database
) -> None:
    stored, _, _ = outcome

    def stored_plan(run_id: int) -> dict[str, Any]:
        with lab.read() as s:
            run = s.get(Run, run_id)
            assert run is not None
            return dict(run.plan)

    p50 = stored.results[("P50", "indication_error")]
    assert p50.limit is not None
    assert p50.limit.unverified
    assert ResultFlag.UNVERIFIED_LIMIT in p50.flags
    t90 = stored.results[("T90", "response_time")]
    assert t90.limit is not None
    assert t90.limit.unverified
    # the run's plan names the table's unverified values and its release state
    plan = stored_plan(stored.run_id)
    assert "limits.mpe" in plan["table_unverified"]
    assert "limits.t90" in plan["table_unverified"]
    assert "limits.verification_period" in plan["table_unverified"]  # 检定周期 not read [U]
    assert plan["table_released"] is False


@pytest.mark.parametrize("outcome", ["pass"], indirect=True)
def test_operator_entry_with_wrong_unit_or_magnitude_is_refused(
    outcome: tuple[Stored, Any, dict[str, float]],
) -> None:
    # the "pass" run's operator first typed a wrong unit, an impossible value, no unit
    stored, _, _ = outcome
    assert len(ENTRY_ERRORS) == 3, ENTRY_ERRORS
    assert "percent" in ENTRY_ERRORS[0] or "%" in ENTRY_ERRORS[0]
    assert "900" in ENTRY_ERRORS[1]
    assert "plausible" in ENTRY_ERRORS[1]
    assert "missing unit" in ENTRY_ERRORS[2]
    entered = stored.values("", "env.display_temperature")
    assert [q.to("degC").magnitude for q in entered] == [21.5]
