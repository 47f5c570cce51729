"""JJG 195 belt scale verification on the simulated conveyor (on site).

Expected numbers come from the injected physics (drivers/sim/onsite.py BeltModel: the
integrator totalizes (q + z(t))·(1 + span_error) × v·(1 + speed_error), q the true load per
metre, z(t) = zero_error + zero_drift·t; the control scale shows the batch × (1 +
gain_error) rounded to 1 kg; the travel counter shows v·t) and from the regulation table
(MPE per class and kind of verification, zero fraction), never from the procedure's
results: the run's raw readings (totalizer, control mass, travel, times) are checked
against the physics, and the errors, U and verdicts recomputed from them.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scipy import stats

from lims.db import Database
from lims.engine.regulation import load_regulation_table
from lims.models import Run, RunStatus
from lims.results import ResultFlag
from procedures.jjg195_belt_scale import Jjg195BeltScale
from tests.procedures.simrun import derive_bench, run_procedure, seed, sqlite_demo_lab

TABLE = load_regulation_table(Jjg195BeltScale.table_path())
V = 2.5  # m/s, the bench's belt speed
BATCH = 20000.0  # kg, the bench's batches
CHAIN = 60.0  # kg/m, the chain as laid (and as certified in the demo register)
CONTROL_GAIN = 0.0002  # the control scale's gain error in the bench
CONTROL_U = 0.05  # %, k = 2: the control scale's certificate in the demo register
CHAIN_U = 0.03 / 60.0 * 100  # %, k = 2: the chain's certificate
QMAX_T_H = 1500.0
RESOLUTION = 0.1  # kg, the item's totalizer resolution


def _bench(
    tmp: Path, name: str, span: float, speed: float, zero: float, control_noise: float = 0.3
) -> Path:
    return derive_bench(
        tmp,
        "belt-scale",
        {
            ("instruments.weighbridge.sim", "noise_sd"): f'"{control_noise} kg"',
            ("instruments.belt.sim", "span_error"): f'"{span * 100} %"',
            ("instruments.belt.sim", "speed_error"): f'"{speed * 100} %"',
            ("instruments.belt.sim", "zero_error"): f'"{zero} kg/m"',
            ("instruments.belt.sim", "zero_drift"): '"0 kg/m/h"',
        },
        name,
    )


def _mpe(kind: str) -> float:
    prefix = "mpe_in_service" if kind == "in_service" else "mpe_first"
    return float(TABLE.limit(f"{prefix}_class_0.5").to("percent").magnitude)


def _verdict(error: float, mpe: float, big_u: float) -> str:
    if big_u <= mpe / 3:
        return "pass" if abs(error) <= mpe else "fail"
    if abs(error) <= mpe - big_u:
        return "pass"
    if abs(error) >= mpe + big_u:
        return "fail"
    return "undetermined"


def _u95(errors: list[float], reference_u_rel: float, mean_reference: float) -> float:
    """U95 (%) of the mean error: reference certificate (U/2), resolution r/(2√3) relative
    to the mean reference, Type A s/√n; k = t_0.975(ν_eff), ν_eff truncated (GUM G.4.1)."""
    u_ref = reference_u_rel / 2
    u_res = RESOLUTION / mean_reference * 100 / (2 * math.sqrt(3))
    n = len(errors)
    u_a = statistics.stdev(errors) / math.sqrt(n)
    u_c = math.sqrt(u_ref**2 + u_res**2 + u_a**2)
    nu = u_c**4 / (u_a**4 / (n - 1)) if u_a > 0 else math.inf
    k = float(stats.t.ppf(0.975, float(math.floor(min(nu, 1e9)))))
    return k * u_c


def _check(
    out: Any, span: float, speed: float, zero: float, kind: str, control_noise: float = 0.3
) -> dict[str, str]:
    """Every test against the physics and the table; returns the verdicts it expects."""
    gain = (1 + span) * (1 + speed)
    mpe = _mpe(kind)
    expected: dict[str, str] = {}
    # material tests: the totalizer and the control scale against the physics
    for name in ("Qmax", "Qmin"):
        t0 = [t.to("s").magnitude for t in out.of(name, "time.start")]
        t1 = [t.to("s").magnitude for t in out.of(name, "time.end")]
        totals = [m.to("kg").magnitude for m in out.of(name, "totalized")]
        control = [m.to("kg").magnitude for m in out.of(name, "control_mass")]
        assert len(totals) == len(control) == len(t0) == 3
        for a, b, total, mass in zip(t0, t1, totals, control, strict=True):
            assert total == pytest.approx(gain * (BATCH + zero * V * (b - a)), abs=0.3), name
            # the control scale: gain, noise (5 σ) and its 1 kg resolution
            expected_mass = BATCH * (1 + CONTROL_GAIN)
            assert mass == pytest.approx(expected_mass, abs=5 * control_noise + 0.5), name
        errors = [(i - m) / m * 100 for i, m in zip(totals, control, strict=True)]
        error = statistics.fmean(errors)
        got = out.q(name, "totalized_load_error", "error").to("percent").magnitude
        assert got == pytest.approx(error, abs=1e-9)
        big_u = _u95(errors, CONTROL_U, statistics.fmean(control))
        assert out.q(name, "totalized_load_error", "U").to("percent").magnitude == pytest.approx(
            big_u, rel=1e-4
        )
        assert out.q(name, "totalized_load_error", "mpe").to("percent").magnitude == mpe
        expected[name] = _verdict(error, mpe, big_u)
        assert out.verdicts[(name, "totalized_load_error")] == expected[name], name
    # chain: reference = certified linear mass × belt travel on the counter
    t0 = [t.to("s").magnitude for t in out.of("chain", "time.start")]
    travel0 = [x.to("m").magnitude for x in out.of("chain", "belt.travel_start")]
    travel1 = [x.to("m").magnitude for x in out.of("chain", "belt.travel_end")]
    totals = [m.to("kg").magnitude for m in out.of("chain", "totalized")]
    assert len(totals) == 3
    refs = []
    for a, x0, x1, total in zip(t0, travel0, travel1, totals, strict=True):
        assert x0 == pytest.approx(V * a, abs=0.05)  # the counter read right after the reset
        travel = x1 - x0
        assert travel == pytest.approx(
            V * TABLE.limit("chain_test_time").to("s").magnitude, rel=1e-3
        )
        assert total == pytest.approx(gain * (CHAIN + zero) * travel, rel=2e-5)
        refs.append(CHAIN * travel)
    errors = [(i - r) / r * 100 for i, r in zip(totals, refs, strict=True)]
    error = statistics.fmean(errors)
    assert out.q("chain", "totalized_load_error", "error").to("percent").magnitude == (
        pytest.approx(error, abs=1e-9)
    )
    big_u = _u95(errors, CHAIN_U, statistics.fmean(refs))
    assert out.q("chain", "totalized_load_error", "U").to("percent").magnitude == pytest.approx(
        big_u, rel=1e-4
    )
    expected["chain"] = _verdict(error, mpe, big_u)
    assert out.verdicts[("chain", "totalized_load_error")] == expected["chain"]
    # zero-load test: |totalized| ≤ fraction × Qmax × time
    (a,) = [t.to("s").magnitude for t in out.of("zero", "time.start")]
    (b,) = [t.to("s").magnitude for t in out.of("zero", "time.end")]
    (total,) = [m.to("kg").magnitude for m in out.of("zero", "totalized")]
    assert total == pytest.approx(gain * zero * V * (b - a), abs=0.1)
    fraction = TABLE.limit("zero_fraction_class_0.5").to("").magnitude
    test_time = TABLE.limit("zero_test_time").to("s").magnitude
    assert b - a == pytest.approx(test_time, abs=1)
    limit = fraction * QMAX_T_H * 1000 / 3600 * test_time
    assert out.q("zero", "zero_stability", "limit").to("kg").magnitude == pytest.approx(limit)
    expected["zero"] = "pass" if abs(total) <= limit else "fail"
    assert out.verdicts[("zero", "zero_stability")] == expected["zero"]
    for key, rec in out.results.items():
        assert ResultFlag.UNVERIFIED_LIMIT in rec.flags, key  # every JJG 195 limit is [U]
    return expected


@pytest.fixture
def sqlite_lab(tmp_path: Path) -> Iterator[Database]:
    """The demo lab on SQLite only (the procedure maths; both backends are covered above)."""
    yield from sqlite_demo_lab(tmp_path)


def test_passing_belt_scale_on_both_backends(db: Database, tmp_path: Path) -> None:
    seed(db)
    physics = (0.0012, -0.0005, 0.02)
    out = run_procedure(db, Jjg195BeltScale(), _bench(tmp_path, "pass", *physics))
    assert out.status == RunStatus.COMPLETED, out.reason
    assert set(_check(out, *physics, "subsequent").values()) == {"pass"}
    # the environment on site and the standards' certified values are recorded
    assert {q for tp, q, _, _ in out.readings if tp == "site"} == {
        "env.temperature",
        "env.humidity",
        "env.pressure",
    }
    with db.read() as s:
        run = s.get(Run, out.run_id)
        assert run is not None
        plan = run.plan
    params = {p["name"]: p for p in plan["parameters"]}
    assert params["chain_load"]["source"] == "register"
    assert params["control_U"]["source"] == "register"


def test_failing_belt_scale(sqlite_lab: Database, tmp_path: Path) -> None:
    physics = (0.006, 0.0, 0.02)  # +0.6 % span: beyond MPE + U everywhere
    out = run_procedure(sqlite_lab, Jjg195BeltScale(), _bench(tmp_path, "fail", *physics))
    assert out.status == RunStatus.COMPLETED, out.reason
    verdicts = _check(out, *physics, "subsequent")
    assert {verdicts[k] for k in ("Qmax", "Qmin", "chain")} == {"fail"}


def test_near_the_mpe_undetermined_then_in_service_limits(
    sqlite_lab: Database, tmp_path: Path
) -> None:
    # about +0.26 … +0.29 %, and a control scale scattering 20 kg per batch: the Type A
    # part lifts U above MPE/3, so the JJF 1094 zones apply and MPE ± U is undetermined
    physics = (0.0031, -0.0005, 0.02)
    out = run_procedure(
        sqlite_lab, Jjg195BeltScale(), _bench(tmp_path, "near", *physics, control_noise=20.0)
    )
    assert out.status == RunStatus.COMPLETED, out.reason
    verdicts = _check(out, *physics, "subsequent", control_noise=20.0)
    assert {verdicts[k] for k in ("Qmax", "Qmin")} == {"undetermined"}
    assert "pass" not in {verdicts[k] for k in ("Qmax", "Qmin", "chain")}
    # the same scale in service (and a steady control scale): the in-service MPE, twice
    # the first verification's, applies
    again = run_procedure(
        sqlite_lab,
        Jjg195BeltScale(),
        _bench(tmp_path, "near2", *physics),
        item={"verification_kind": "in_service"},
    )
    assert again.status == RunStatus.COMPLETED, again.reason
    assert set(_check(again, *physics, "in_service").values()) == {"pass"}


@pytest.mark.parametrize(
    ("params", "item", "message"),
    [
        ({}, {"accuracy_class": "0.3"}, "accuracy_class"),
        ({}, {"verification_kind": "yearly"}, "verification_kind"),
        ({"control_U": "0.2 %"}, {}, "control instrument's U"),
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
            Jjg195BeltScale(),
            _bench(tmp_path, "bad", 0.0012, -0.0005, 0.02),
            parameters=params,
            item=item,
        )
    with sqlite_lab.read() as s:
        assert s.query(Run).count() == 0
