"""gas-analyzer-cal on the simulated CH4 bench: errors with U (k = 2) at every point, no
verdict unless the work-order item carries an agreed ILAC G8 rule, then per that rule.

Bench (examples/benches/ch4-analyzer.toml): range 100 µmol/mol; cylinders certified
20 / 50 / 80 µmol/mol (U = 1 %, k = 2), true contents 20.04 / 49.9 / 80.1 µmol/mol;
resolution 0.01 µmol/mol.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lims.db import Database
from lims.models import RunStatus, WorkOrderItem
from lims.services.planning import PlanError
from tests.procedures.gas_bench import Stored, analyzer_bench, demo_lab, run

R = 100.0
RES = 0.01
SCALE = 1000.0
ITEM = 2  # the demo CH4 analyzer, procedure gas-analyzer-cal
GAS = {"P20": (20.0, 0.2, 20.04), "P50": (50.0, 0.5, 49.9), "P80": (80.0, 0.8, 80.1)}
TOLERANCE = 2.0  # µmol/mol = 2 %FS, agreed with the customer
STABLE_SLOPE = 0.3 / 100 * R / 60

PROFILES: dict[str, dict[str, Any]] = {
    # no conformity statement asked for
    "plain": {"gain": -0.008, "offset": -0.05, "noise": 0.04, "rule": None},
    # guard band w = U: clearly inside, clearly outside
    "pass": {"gain": 0.005, "offset": 0.0, "noise": 0.04, "rule": "ILAC-G8:09/2019-guard-band-U"},
    "fail": {"gain": 0.04, "offset": 0.0, "noise": 0.04, "rule": "ILAC-G8:09/2019-guard-band-U"},
    # non-binary: at P80 the error lies between T − U and T → conditional pass
    "near": {"gain": 0.02, "offset": 0.0, "noise": 0.04, "rule": "ILAC-G8:09/2019-non-binary-U"},
}


def ilac_g8(rule: str, error: float, t: float, big_u: float) -> str:
    """ILAC G8:09/2019 rules, written out independently."""
    e = abs(error)
    if rule.endswith("guard-band-U"):
        return "pass" if e <= t - big_u else "fail"
    if e <= t - big_u:
        return "pass"
    if e <= t:
        return "conditional_pass"
    if e < t + big_u:
        return "conditional_fail"
    return "fail"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    db = demo_lab(f"sqlite:///{tmp_path_factory.mktemp('cal') / 'lims.sqlite3'}")
    yield db
    db.dispose()


def set_rule(db: Database, rule: str | None) -> None:
    with db.write(actor="chen", reason="conformity statement agreed with the customer") as s:
        item = s.get(WorkOrderItem, ITEM)
        assert item is not None
        item.decision_rule = rule


def bench_for(tmp: Path, name: str) -> Path:
    p = PROFILES[name]
    return analyzer_bench(
        tmp,
        "ch4-analyzer",
        name,
        time_scale=SCALE,
        gain_error=f"{p['gain'] * 100} %",
        offset=f"{p['offset']} umol/mol",
        nonlinearity="0 %",
        drift="0 umol/mol/h",
        noise_sd=f"{p['noise']} umol/mol",
    )


_RUNS: dict[str, Stored] = {}


@pytest.fixture
def outcome(
    request: pytest.FixtureRequest, lab: Database, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Stored, dict[str, Any]]:
    name = request.param
    p = PROFILES[name]
    if name not in _RUNS:
        set_rule(lab, p["rule"])
        params = {"tolerance": f"{TOLERANCE / R * 100:g} %FS"} if p["rule"] else {}
        _RUNS[name], _ = run(
            lab, "gas-analyzer-cal", bench_for(tmp_path_factory.mktemp(name), name), ITEM, params
        )
    return _RUNS[name], p


@pytest.mark.parametrize("outcome", list(PROFILES), indirect=True)
def test_errors_uncertainty_and_statement(outcome: tuple[Stored, dict[str, Any]]) -> None:
    stored, p = outcome
    assert stored.status == RunStatus.COMPLETED, stored.reason
    tau = 40.0 / math.log(10)
    for point in ("zero", "P20", "P50", "P80"):
        certified, big_u_cert, actual = GAS.get(point, (0.0, 0.0, 0.0))
        expected = (1 + p["gain"]) * actual + p["offset"] - certified
        tol = 4 * p["noise"] / math.sqrt(30) + STABLE_SLOPE * tau + RES
        err = stored.q(point, "indication_error", "error").to("umol/mol").magnitude
        assert err == pytest.approx(expected, abs=tol), point
        means = [v.magnitude for v in stored.values(point, "indication")]
        u_a = statistics.stdev(means) / math.sqrt(3)
        u_c = math.sqrt((big_u_cert / 2) ** 2 + (RES / math.sqrt(12)) ** 2 + u_a**2)
        big_u = stored.q(point, "indication_error", "expanded_uncertainty").to("umol/mol")
        assert big_u.magnitude == pytest.approx(2 * u_c, rel=1e-6)  # k = 2
        assert stored.q(point, "indication_error", "k") == 2.0
        if point != "zero":
            rel = stored.q(point, "indication_error", "relative_error").to("percent").magnitude
            assert rel == pytest.approx(err / certified * 100, rel=1e-9)
            rsd = stored.q(point, "repeatability", "repeatability").to("percent").magnitude
            assert rsd == pytest.approx(statistics.stdev(means) / statistics.fmean(means) * 100)
            # std of 3 means of 10 samples: a 4-sigma bound from the injected noise, plus the
            # residual first-order approach left when the indication was declared stable
            spread = 4 * p["noise"] / math.sqrt(10) + STABLE_SLOPE * tau
            assert rsd < spread / ((1 + p["gain"]) * actual + p["offset"]) * 100, point
        verdict = stored.verdicts[(point, "indication_error")]
        if p["rule"] is None:
            assert verdict == "not_stated"
            assert stored.rules[(point, "indication_error")] is None
        else:
            u_exp = 2 * math.sqrt((big_u_cert / 2) ** 2 + (RES / math.sqrt(12)) ** 2)
            assert verdict == ilac_g8(p["rule"], expected, TOLERANCE, u_exp), (point, err)
            assert stored.rules[(point, "indication_error")] == p["rule"]


@pytest.mark.parametrize("outcome", ["near"], indirect=True)
def test_near_limit_is_conditional_never_plain_pass(outcome: tuple[Stored, dict[str, Any]]) -> None:
    stored, _ = outcome
    err = abs(stored.q("P80", "indication_error", "error").magnitude)
    big_u = stored.q("P80", "indication_error", "expanded_uncertainty").magnitude
    assert TOLERANCE - big_u < err <= TOLERANCE
    assert stored.verdicts[("P80", "indication_error")] == "conditional_pass"


def test_rule_without_tolerance_or_unknown_rule_is_refused(lab: Database, tmp_path: Path) -> None:
    bench = bench_for(tmp_path, "plain")
    set_rule(lab, "ILAC-G8:09/2019-simple")
    try:
        with pytest.raises(PlanError, match="tolerance"):
            run(lab, "gas-analyzer-cal", bench, ITEM)
        with pytest.raises(PlanError, match="not a %FS"):
            run(lab, "gas-analyzer-cal", bench, ITEM, {"tolerance": "2 kg"})
        set_rule(lab, "JJF1094-2002")
        with pytest.raises(PlanError, match="not an ILAC G8 rule"):
            run(lab, "gas-analyzer-cal", bench, ITEM, {"tolerance": "2 %FS"})
    finally:
        set_rule(lab, None)


GOOD = {
    "span": "100 umol/mol",
    "zero_gas": "RM-N2-0001@1",
    "gas_P20": "RM-CH4-0020@2; 20 umol/mol; U=0.2 umol/mol; k=2",
    "gas_P50": "RM-CH4-0050@3; 50 umol/mol; U=0.5 umol/mol; k=2",
    "gas_P80": "RM-CH4-0080@4; 80 umol/mol; U=0.8 umol/mol; k=2",
}
G8 = "ILAC-G8:09/2019-guard-band-U"


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"span": "100 kg"}, "'span'.*wrong dimension"),
        ({"span": "100"}, "'span'.*missing unit"),
        ({"span": "-100 umol/mol"}, "'span'.*positive"),
        ({"resolution": "5 L"}, "'resolution'.*wrong dimension"),
        ({"resolution": "500 umol/mol"}, "'resolution'.*below the span"),
        ({"gas_P50": "RM-CH4-0050@3; 50 kg; U=0.5 umol/mol; k=2"}, "'gas_P50'.*dimension"),
        ({"gas_P80": "RM-CH4-0080@4; 800 umol/mol; U=8 umol/mol; k=2"}, "above the span"),
        ({"decision_rule": G8, "tolerance": "-2 %FS"}, "'tolerance'.*positive"),
        ({"decision_rule": G8, "tolerance": "500 %FS"}, "not a plausible tolerance"),
    ],
)
def test_entered_parameters_with_wrong_unit_or_impossible_magnitude_are_refused(
    patch: dict[str, str], message: str
) -> None:
    from procedures.gas_analyzer_cal import GasAnalyzerCalibration

    proc = GasAnalyzerCalibration()
    assert proc.parse_parameters({**GOOD, "decision_rule": G8, "tolerance": "2 %FS"})
    with pytest.raises(ValueError, match=message):
        proc.parse_parameters({**GOOD, **patch})
