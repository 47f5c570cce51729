"""Elemental analyzer calibration on the simulated bench.

Physics (drivers/sim/physics.py ElementalModel): each result = certified·(1 + bias) +
N(0, noise_sd) per element; expected numbers are computed here from that and from the
run's raw readings.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator
from pathlib import Path

import pytest

from lims.db import Database
from lims.models import RunStatus
from procedures.elemental_analyzer_cal import ElementalAnalyzerCal
from tests.procedures.simrun import derive_bench, run_procedure, seed, sqlite_demo_lab

CERT = {
    "acetanilide": {"C": 71.09, "H": 6.71, "N": 10.36},
    "sulfanilamide": {"C": 41.85, "H": 4.68, "N": 16.27, "S": 18.62},
}
NOISE = {"C": 0.08, "H": 0.03, "N": 0.04, "S": 0.05}


@pytest.fixture
def sqlite_lab(tmp_path: Path) -> Iterator[Database]:
    """The demo lab on SQLite only (procedure maths)."""
    yield from sqlite_demo_lab(tmp_path)


def _bench(tmp: Path, bias: dict[str, float], name: str) -> Path:
    text = "{ " + ", ".join(f'{e} = "{b * 100} %"' for e, b in bias.items()) + " }"
    return derive_bench(
        tmp,
        "elemental-analyzer",
        {("", "time_scale"): "6000", ("instruments.ea.sim", "bias"): text},
        name,
    )


def _check(
    out, bias: dict[str, float], tolerance: float | None, rule: str | None
) -> dict[str, str]:
    verdicts = {}
    for substance, cert in CERT.items():
        masses = [q.to("mg").magnitude for q in out.of(substance, "ea.sample_mass")]
        assert masses == [2.0, 2.0, 2.0]
        for element, w_cert in cert.items():
            point = f"{substance}.{element}"
            w = [q.to("percent").magnitude for q in out.of(point, f"w_{element}")]
            assert len(w) == 3
            err = statistics.fmean(w) - w_cert
            injected = w_cert * bias[element]
            assert abs(err - injected) < 4 * NOISE[element] / math.sqrt(3) + 0.01, point
            assert out.q(point, "indication_error", "error").to("percent").magnitude == (
                pytest.approx(err)
            )
            rsd = statistics.stdev(w) / statistics.fmean(w) * 100
            assert out.q(point, "repeatability", "repeatability").magnitude == pytest.approx(rsd)
            # the injected noise bounds it: s of 3 draws exceeds 3.5 σ with p ≈ 5e-6
            assert rsd < 3.5 * NOISE[element] / (w_cert * (1 + bias[element])) * 100, point
            u = math.sqrt(
                0.05**2
                + (statistics.stdev(w) / math.sqrt(3)) ** 2
                + (statistics.fmean(w) / 2.0 * 0.001 / (2 * math.sqrt(3))) ** 2
            )
            big_u = out.q(point, "indication_error", "U").to("percent").magnitude
            assert big_u == pytest.approx(2 * u, rel=1e-6)
            if rule is None:
                expected = "not_stated"
            else:  # ILAC G8 non-binary, w = U
                assert tolerance is not None
                e = abs(err)
                if e <= tolerance - big_u:
                    expected = "pass"
                elif e <= tolerance:
                    expected = "conditional_pass"
                elif e < tolerance + big_u:
                    expected = "conditional_fail"
                else:
                    expected = "fail"
            assert out.verdicts[(point, "indication_error")] == expected, point
            verdicts[point] = expected
    return verdicts


SMALL = {"C": 0.0005, "H": -0.002, "N": 0.001, "S": -0.002}
RULE = "ILAC-G8:09/2019-non-binary-U"


def test_calibration_without_statement_on_both_backends(db: Database, tmp_path: Path) -> None:
    seed(db)
    out = run_procedure(db, ElementalAnalyzerCal(), _bench(tmp_path, SMALL, "plain"))
    assert out.status == RunStatus.COMPLETED, out.reason
    v = _check(out, SMALL, None, None)
    assert set(v.values()) == {"not_stated"}


def test_conformity_pass(sqlite_lab: Database, tmp_path: Path) -> None:
    out = run_procedure(
        sqlite_lab,
        ElementalAnalyzerCal(),
        _bench(tmp_path, SMALL, "pass"),
        parameters={"decision_rule": RULE, "tolerance": "0.5 %"},
    )
    assert out.status == RunStatus.COMPLETED, out.reason
    assert set(_check(out, SMALL, 0.5, RULE).values()) == {"pass"}


def test_conformity_fail(sqlite_lab: Database, tmp_path: Path) -> None:
    big = {"C": 0.03, "H": 0.2, "N": 0.1, "S": -0.08}
    out = run_procedure(
        sqlite_lab,
        ElementalAnalyzerCal(),
        _bench(tmp_path, big, "fail"),
        parameters={"decision_rule": RULE, "tolerance": "0.5 %"},
    )
    assert out.status == RunStatus.COMPLETED, out.reason
    assert set(_check(out, big, 0.5, RULE).values()) == {"fail"}


def test_conformity_near_limit_is_never_a_plain_pass(sqlite_lab: Database, tmp_path: Path) -> None:
    # sulfanilamide S: 18.62 % × 2.69 % = 0.50 % = the tolerance
    near = {"C": 0.0005, "H": -0.002, "N": 0.001, "S": 0.0269}
    out = run_procedure(
        sqlite_lab,
        ElementalAnalyzerCal(),
        _bench(tmp_path, near, "near"),
        parameters={"decision_rule": RULE, "tolerance": "0.5 %"},
    )
    assert out.status == RunStatus.COMPLETED, out.reason
    v = _check(out, near, 0.5, RULE)
    assert v["sulfanilamide.S"] in ("conditional_pass", "conditional_fail")


def test_sample_mass_with_wrong_unit_or_magnitude_is_refused(
    sqlite_lab: Database, tmp_path: Path
) -> None:
    out = run_procedure(
        sqlite_lab,
        ElementalAnalyzerCal(),
        _bench(tmp_path, SMALL, "mass"),
        answers={"ea.sample_mass": ["2 mL", "2 kg", "2", None]},
    )
    assert out.status == RunStatus.COMPLETED, out.reason
    errors = [p.error for p in out.prompts if p.key == "ea.sample_mass" and p.error]
    assert any("dimension" in e for e in errors)
    assert any("plausible" in e for e in errors)
    assert any("missing unit" in e for e in errors)
    assert len(out.of("acetanilide", "ea.sample_mass")) == 3


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"decision_rule": "JJF1094-2002", "tolerance": "0.5 %"}, "ILAC G8"),
        ({"decision_rule": RULE}, "needs both"),
        ({"tolerance": "0.5 mg"}, "tolerance"),
    ],
)
def test_bad_parameters_refused(
    sqlite_lab: Database, tmp_path: Path, params: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        run_procedure(
            sqlite_lab, ElementalAnalyzerCal(), _bench(tmp_path, SMALL, "bad"), parameters=params
        )
