"""JJG 1037 gas turbine flowmeter verification on the simulated flow bench.

Expected numbers come from the injected physics (drivers/sim/physics.py FlowModel: the
meter indicates volume·(1 + e(q) + ε), e linear in q between the curve's points, ε drawn
per collection with the profile's noise) and from the run's raw readings (reference
volume, pulse count, K-factor), never from the procedure's results.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lims.db import Database
from lims.models import Run, RunStatus
from lims.results import ResultFlag
from lims.units import from_storage
from procedures.jjg1037_gas_flowmeter import Jjg1037GasFlowmeter
from tests.procedures.simrun import derive_bench, run_procedure, seed, sqlite_demo_lab

K_PER_L = 10.0
QMIN, QMAX, QT = 0.5, 10.0, 2.0  # m³/h: the demo item's range; qt = 0.2 qmax
# points run: qmin, qt and the table's fractions of qmax, all inside the item's range
POINTS = {
    "qmin": 0.5,
    "qt": 2.0,
    "0.10qmax": 1.0,
    "0.25qmax": 2.5,
    "0.40qmax": 4.0,
    "0.70qmax": 7.0,
    "qmax": 10.0,
}
NOISE = 0.0005  # 0.05 % per collection


def _curve(points: list[tuple[float, float]]) -> str:
    return "[" + ", ".join(f'["{q} m³/h", "{e * 100} %"]' for q, e in points) + "]"


def _interp(points: list[tuple[float, float]], q: float) -> float:
    if q <= points[0][0]:
        return points[0][1]
    if q >= points[-1][0]:
        return points[-1][1]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x0 <= q <= x1:
            return y0 + (y1 - y0) * (q - x0) / (x1 - x0)
    raise AssertionError


def _bench(tmp: Path, curve: list[tuple[float, float]], name: str) -> Path:
    return derive_bench(
        tmp,
        "gas-flowmeter",
        {
            ("", "time_scale"): "1500",
            ("instruments.meter.sim", "error_curve"): _curve(curve),
            ("instruments.meter.sim", "noise_sd"): f'"{NOISE * 100} %"',
        },
        name,
    )


def _check_points(out: Any, curve: list[tuple[float, float]], u_std_rel: float) -> dict[str, str]:
    """Every point's error and repeatability against the physics and the raw readings;
    returns the verdict the test expects per point from its own JJF 1094 computation."""
    expected: dict[str, str] = {}
    assert {tp for tp, item in out.results if item == "indication_error"} == set(POINTS)
    for name, q in POINTS.items():
        vols = [v.to("L").magnitude for v in out.of(name, "reference_volume")]
        pulses = [v.to("count").magnitude for v in out.of(name, "meter_pulses")]
        assert len(vols) == len(pulses) == 3
        e_i = [(n / K_PER_L - v) / v * 100 for n, v in zip(pulses, vols, strict=True)]
        err = statistics.fmean(e_i)
        s = statistics.stdev(e_i)
        injected = _interp(curve, q) * 100
        n_min = min(pulses)
        # noise of the mean (4σ) + quantization of ±1 pulse
        assert abs(err - injected) < 4 * NOISE * 100 / math.sqrt(3) + 100 / n_min, name
        got = out.q(name, "indication_error", "error").to("percent").magnitude
        assert got == pytest.approx(err, abs=1e-9)
        rep = out.q(name, "repeatability", "repeatability").to("percent").magnitude
        assert rep == pytest.approx(s, abs=1e-9)
        assert rep < 4 * NOISE * 100 + 2 * 100 / n_min
        mpe = 1.0 * (2 if q < QT else 1)
        assert out.q(name, "indication_error", "mpe").to("percent").magnitude == pytest.approx(mpe)
        assert out.q(name, "repeatability", "repeatability_limit").magnitude == pytest.approx(
            mpe / 3
        )
        # U (k = 2): standard U/2, type A s/√n, ±1 pulse triangular over the mean count
        u = math.sqrt(
            (u_std_rel / 2) ** 2
            + (s / math.sqrt(3)) ** 2
            + (100 / statistics.fmean(pulses) / math.sqrt(6)) ** 2
        )
        big_u = 2 * u
        got_u = out.q(name, "indication_error", "U").to("percent").magnitude
        assert got_u == pytest.approx(big_u, rel=1e-6)
        if big_u <= mpe / 3:
            verdict = "pass" if abs(err) <= mpe else "fail"
        elif abs(err) <= mpe - big_u:
            verdict = "pass"
        elif abs(err) >= mpe + big_u:
            verdict = "fail"
        else:
            verdict = "undetermined"
        assert out.verdicts[(name, "indication_error")] == verdict, name
        assert out.verdicts[(name, "repeatability")] == ("pass" if s <= mpe / 3 else "fail")
        result = out.results[(name, "indication_error")]
        assert result.decision_rule == "JJF1094-2002"
        # the zone boundary qt = qt_ratio × qmax is an unverified table value
        assert ResultFlag.UNVERIFIED_LIMIT in result.flags
        expected[name] = verdict
    return expected


PASSING = [(0.5, 0.012), (1.25, 0.008), (2.0, 0.006), (4.0, 0.004), (10.0, -0.002)]  # example
FAILING = [(0.5, 0.035), (10.0, 0.025)]
NEAR = [(0.5, 0.010), (10.0, 0.010)]  # +1.0 %: at the MPE above qt


@pytest.fixture
def sqlite_lab(tmp_path: Path) -> Iterator[Database]:
    """The demo lab on SQLite only (the procedure maths; both backends are covered above)."""
    yield from sqlite_demo_lab(tmp_path)


def test_passing_meter_on_both_backends(db: Database, tmp_path: Path) -> None:
    seed(db)
    out = run_procedure(
        db,
        Jjg1037GasFlowmeter(),
        _bench(tmp_path, PASSING, "pass"),
    )
    assert out.status == RunStatus.COMPLETED, out.reason
    verdicts = _check_points(out, PASSING, 0.25)
    assert set(verdicts.values()) == {"pass"}
    # environment recorded with units
    with db.read() as s:
        run = s.get(Run, out.run_id)
        assert run is not None
        stored = run.environment["temperature"]
        temperature = from_storage(stored["value"], stored["unit"])
    assert temperature.to("degC").magnitude == pytest.approx(20.5, abs=1)


def test_failing_meter(sqlite_lab: Database, tmp_path: Path) -> None:
    out = run_procedure(
        sqlite_lab,
        Jjg1037GasFlowmeter(),
        _bench(tmp_path, FAILING, "fail"),
    )
    assert out.status == RunStatus.COMPLETED, out.reason
    verdicts = _check_points(out, FAILING, 0.25)
    assert set(verdicts.values()) == {"fail"}


def test_near_limit_is_undetermined_never_pass(sqlite_lab: Database, tmp_path: Path) -> None:
    # U of the standard at its 1/3-of-MPE limit: the error's U exceeds MPE/3, so the
    # JJF 1094 zones apply; +1.0 % at MPE 1.0 % lies between MPE − U and MPE + U
    out = run_procedure(
        sqlite_lab,
        Jjg1037GasFlowmeter(),
        _bench(tmp_path, NEAR, "near"),
        parameters={"standard_U": "0.333 %"},
    )
    assert out.status == RunStatus.COMPLETED, out.reason
    verdicts = _check_points(out, NEAR, 0.333)
    for name, q in POINTS.items():
        assert verdicts[name] == ("pass" if q < QT else "undetermined"), name
        assert out.verdicts[(name, "indication_error")] != "pass" or q < QT


@pytest.mark.parametrize(
    ("params", "item", "message"),
    [
        ({"qmax": "25 kg"}, {}, "qmax.*wrong dimension"),
        ({"qmin": "3 m³/h"}, {}, "the item states 0.5 m³/h.*contradicts"),
        ({}, {"accuracy_class": "0.3"}, "accuracy_class"),
        ({"standard_U": "0.25 %"}, {"accuracy_class": "0.5"}, "exceeds 1/3"),
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
            sqlite_lab,
            Jjg1037GasFlowmeter(),
            _bench(tmp_path, PASSING, "bad"),
            parameters=params,
            item=item,
        )
    with sqlite_lab.read() as s:
        assert s.query(Run).count() == 0
