"""Calibration intervals from drift data: a series with known slope and noise, the
prediction bound's reliability checked by simulation, and accepted decisions."""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from lims.cli.main import app
from lims.db import Database
from lims.db.migrate import upgrade
from lims.models import (
    IntermediateCheck,
    IntervalDecision,
    MeasurementStandard,
    Result,
    Role,
    Run,
)
from lims.quality.errors import PermissionDenied, QualityError
from lims.quality.intervals import (
    MAX_INTERVAL_DAYS,
    DriftPoint,
    accept_interval,
    fit_drift,
    interval_report,
    propose,
)
from lims.quality.standards import check_standard_use
from lims.units import Q_, to_storage
from tests.quality._build import PASSWORD, SYSTEM, add_run, add_standard, build_lab

T0 = date(2024, 1, 1)

# one-sided Student t quantiles at 0.95 (table values) by degrees of freedom
T95 = {10: 1.812}


def _series(
    slope: float, intercept: float, sigma: float, days: list[int], seed: int
) -> list[DriftPoint]:
    rng = random.Random(seed)
    return [
        DriftPoint(T0 + timedelta(days=d), intercept + slope * d + rng.gauss(0.0, sigma), None, "x")
        for d in days
    ]


def test_noise_free_series_reaches_the_limit_where_the_line_does() -> None:
    points = [
        DriftPoint(T0 + timedelta(days=d), 0.01 + 0.001 * d, None, "x") for d in (0, 90, 180, 270)
    ]
    p = propose("STD", "standard", "flow", "%", points, 0.5, 0.95)
    assert p.fit is not None
    assert p.fit.slope_per_day == pytest.approx(0.001)
    assert p.fit.s == pytest.approx(0.0, abs=1e-12)
    # 0.01 + 0.001·t = 0.5 at t = 490 days
    assert p.reaches_limit_on == T0 + timedelta(days=490)
    assert p.proposed_due == p.reaches_limit_on
    # a quarter of the limit at 0.001/day is 125 days, within half the interval (110 days)
    assert p.check_interval_days == (490 - 270) // 2


def test_known_slope_and_noise() -> None:
    """12 monthly observations, slope 0.0005/day, σ = 0.02: the fit recovers the slope and
    the prediction formula equals the textbook one computed here with numpy."""
    days = list(range(0, 360, 30))
    slope, sigma, limit = 0.0005, 0.02, 0.3
    points = _series(slope, 0.0, sigma, days, seed=11)
    fit = fit_drift(points)
    t = np.array(days, dtype=float)
    y = np.array([p.value for p in points])
    b, a = np.polyfit(t, y, 1)
    assert fit.slope_per_day == pytest.approx(b, rel=1e-9)
    assert fit.intercept == pytest.approx(a, rel=1e-9, abs=1e-12)
    se_slope = sigma / math.sqrt(float(((t - t.mean()) ** 2).sum()))
    assert abs(fit.slope_per_day - slope) < 3 * se_slope
    residual_s = math.sqrt(float(((y - (a + b * t)) ** 2).sum()) / (len(t) - 2))
    day = T0 + timedelta(days=500)
    yhat, sd = fit.predict(day)
    expected_sd = residual_s * math.sqrt(
        1 + 1 / len(t) + (500 - t.mean()) ** 2 / float(((t - t.mean()) ** 2).sum())
    )
    assert yhat == pytest.approx(a + b * 500)
    assert sd == pytest.approx(expected_sd)
    assert fit.bound_factor(0.95) == pytest.approx(T95[10], abs=1e-3)
    p = propose("STD", "standard", "flow", "%", points, limit, 0.95)
    assert p.reaches_limit_on is not None
    # the bound reaches the limit before the true line does (t = L/b = 600 days) ...
    assert (p.reaches_limit_on - T0).days < limit / slope
    # ... but not before the true line is within 4σ of it
    assert (p.reaches_limit_on - T0).days > (limit - 4 * sigma) / slope - 60


def test_prediction_bound_holds_its_reliability() -> None:
    """Over many simulated series, a new observation on the proposed day exceeds the
    one-sided 95 % bound about 5 % of the time."""
    rng = random.Random(5)
    days = list(range(0, 360, 30))
    exceed, trials = 0, 600
    for i in range(trials):
        pts = _series(0.0004, 0.0, 0.02, days, seed=1000 + i)
        fit = fit_drift(pts)
        k = fit.bound_factor(0.95)
        day = T0 + timedelta(days=450)
        yhat, sd = fit.predict(day)
        new = 0.0004 * 450 + rng.gauss(0.0, 0.02)
        exceed += new > yhat + k * sd
    assert 0.025 < exceed / trials < 0.08


def test_too_few_points_and_bad_limits() -> None:
    pts = [DriftPoint(T0, 0.1, None, "x"), DriftPoint(T0 + timedelta(days=5), 0.2, None, "x")]
    p = propose("STD", "standard", "flow", "%", pts, 1.0, 0.95)
    assert p.fit is None
    assert p.proposed_due is None
    assert "at least 3" in p.notes[0]
    with pytest.raises(QualityError, match="reliability"):
        propose("STD", "standard", "flow", "%", pts, 1.0, 1.5)


def test_report_and_accept_on_the_database(db: Database) -> None:
    lab = build_lab(db, [Role.QUALITY_MANAGER, Role.TECHNICIAN])
    qm, tech = lab.users[Role.QUALITY_MANAGER], lab.users[Role.TECHNICIAN]
    with db.write(actor=SYSTEM, reason="fixture") as s:
        std_id, _eq = add_standard(s, "STD-D", "D-01")
        for i, d in enumerate(range(0, 360, 60)):
            s.add(
                IntermediateCheck(
                    standard_id=std_id,
                    performed_on=T0 + timedelta(days=d),
                    quantity="flow",
                    nominal=10.0,
                    measured=10.0 + 0.0001 * d + (0.001 if i % 2 else -0.001),
                    limit=0.05,
                    unit="meter ** 3 / hour",
                    passed=True,
                )
            )
        # a customer's instrument verified three times: error drifts 0.2 %FS a year
        first = add_run(s, lab, date(2023, 3, 1), [], serial="SN-42")
        item_id = s.get(Run, first).work_order_item_id
        for year in range(3):
            run = first
            if year:
                later = Run(
                    procedure_version_id=lab.procedure_version_id,
                    work_order_item_id=item_id,
                    operator_id=tech.id,
                    bench_name="b",
                    started_at=datetime(2023 + year, 3, 1, tzinfo=UTC),
                )
                s.add(later)
                s.flush()
                run = later.id
            err, unit = to_storage(Q_(0.2 * year + 0.1, "percent_FS"))
            mpe, _ = to_storage(Q_(2.0, "percent_FS"))
            s.add(
                Result(
                    run_id=run,
                    item="indication_error",
                    test_point="p1000",
                    values={
                        "error_fs": {"value": err, "unit": unit},
                        "mpe": {"value": mpe, "unit": unit},
                    },
                )
            )
    with db.read() as s:
        (cust,) = interval_report(s, tech, tag="SN-42")
        (p,) = interval_report(s, tech, tag="STD-D")
    # 0.1 + 0.2·years %FS reaches the MPE 2 %FS after 9.5 years: capped at 5 years
    assert cust.fit is not None
    assert cust.fit.slope_per_day * 365 == pytest.approx(0.2, rel=0.01)
    assert cust.proposed_due == date(2025, 3, 1) + timedelta(days=MAX_INTERVAL_DAYS)
    assert p.fit is not None
    assert p.fit.slope_per_day == pytest.approx(0.0001, rel=0.05)
    assert p.proposed_due is not None
    with pytest.raises(PermissionDenied), db.write(actor=tech) as s:
        accept_interval(s, tech, "STD-D", next_due=p.proposed_due, reason="looks right",
                        proposal=p, today=T0 + timedelta(days=300))  # fmt: skip
    with pytest.raises(QualityError, match="after today"), db.write(actor=qm) as s:
        accept_interval(s, qm, "STD-D", next_due=T0, reason="drift analysis", today=T0)
    due = T0 + timedelta(days=400)
    with db.write(actor=qm, reason="drift analysis 2024") as s:
        accept_interval(
            s,
            qm,
            "STD-D",
            next_due=due,
            reason="drift analysis 2024",
            check_interval_days=60,
            proposal=p,
            today=T0 + timedelta(days=300),
        )
    with db.read() as s:
        decision = s.scalars(select(IntervalDecision)).one()
        assert decision.analysis["fit"]["n"] == 6
        std = s.scalars(select(MeasurementStandard).where(MeasurementStandard.tag == "STD-D")).one()
        assert std.intermediate_check_interval_days == 60
        problems = check_standard_use(s, "STD-D", due + timedelta(days=1))
        assert any("fell due" in x.reason for x in problems)


def test_intervals_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'lims.sqlite3'}"
    monkeypatch.setenv("LIMS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LIMS_DATABASE_URL", url)
    db = Database(url)
    upgrade(db.engine)
    build_lab(db, [Role.QUALITY_MANAGER])
    with db.write(actor=SYSTEM, reason="fixture") as s:
        std_id, _ = add_standard(s, "STD-C", "C-01")
        for d, dev in ((0, 0.0), (90, 0.01), (180, 0.019), (270, 0.031)):
            s.add(IntermediateCheck(standard_id=std_id, performed_on=T0 + timedelta(days=d),
                                    quantity="p", nominal=100.0, measured=100.0 + dev,
                                    limit=0.1, unit="kilopascal", passed=True))  # fmt: skip
    db.dispose()
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n", encoding="utf-8")
    auth = ["--user", "qualitymanager", "--password-file", str(pw)]
    runner = CliRunner()
    out = runner.invoke(app, ["intervals", "report", *auth, "--tag", "STD-C"])
    assert out.exit_code == 0, out.output
    assert "proposed due" in out.output
    assert "1 series analysed" in out.output
    out = runner.invoke(app, ["intervals", "accept", "STD-C", "--due", "2099-01-01", "--reason",
                              "drift analysis", "--check-every", "90", *auth])  # fmt: skip
    assert out.exit_code == 0, out.output
    out = runner.invoke(app, ["intervals", "accept", "STD-C", "--due", "2099-01-01", "--reason",
                              "x", *auth])  # fmt: skip
    assert out.exit_code != 0
    assert "--reason" in str(out.exception)
