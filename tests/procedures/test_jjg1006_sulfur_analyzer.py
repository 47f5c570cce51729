"""JJG 1006 on the simulated sulfur benches: pass, fail and undetermined profiles, the
expected numbers computed here from the injected physics and the regulation table.

Coulometric physics (drivers/sim/fuel.py SulfurModel): per determination the titration
charge is Q = (m·w·recovery/c_S + blank)·(1 + ε), c_S = M(S)/(2F) the mass of sulfur per
coulomb, and the instrument reports St = factor·Q·c_S/m (printed to 0.001 %); so the mean
St is factor·(w·recovery + blank·c_S/m) with a relative scatter ``noise_sd``. Infrared:
St = ((1 + gain)·w + nonlinearity·w²/10 % + offset)·(1 + ε). The CRMs' certified values and
U (k = 2) are the demo register's (lims/services/demo_fuel_lab.py); their true sulfur in
the simulator is the bench's ``samples``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator
from pathlib import Path

import pytest
from scipy.stats import t as student_t

from lims.db import Database
from lims.engine.regulation import load_regulation_table
from lims.models import RunStatus
from lims.services.demo_fuel_lab import FUEL_LAB_CRMS
from procedures.jjg1006_sulfur_analyzer import Jjg1006SulfurAnalyzer
from tests.procedures.certify import init_lab, issue_and_check
from tests.procedures.certify import sqlite_lab as opened_sqlite_lab
from tests.procedures.simrun import RunOutcome, derive_bench, run_procedure

FARADAY = 96485.33212
C_S = 32.06 / (2 * FARADAY) * 1000.0  # mg of sulfur per coulomb
MASS = 50.0  # mg, the bench's sample mass (entered and given to the analyzer)
BALANCE_RESOLUTION = 0.1  # mg, the procedure's default
TRUE = {"low": 0.52, "middle": 1.48, "high": 3.05}  # the benches' samples
CRM = {  # level → (certified %, U %, k) from the demo register
    level: next((c.certified, c.expanded_uncertainty, 2.0) for c in FUEL_LAB_CRMS if c.tag == tag)
    for level, tag in (
        ("low", "RM-COAL-S-LOW"),
        ("middle", "RM-COAL-S-MID"),
        ("high", "RM-COAL-S-HIGH"),
    )
}
TABLE = load_regulation_table(
    Path(__file__).resolve().parents[2] / "procedures/jjg1006_sulfur_analyzer/jjg1006.toml"
)


def _pct(key: str) -> float:
    return float(TABLE.limit(key).to("percent").magnitude)


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


def coulometric_mean(w: float, factor: float, recovery: float, blank_c: float) -> float:
    """Expected mean St (%) of the coulometric model for true sulfur ``w`` (%)."""
    return factor * (w * recovery + blank_c * C_S / MASS * 100.0)


def _bench(tmp: Path, example: str, name: str, **physics: str) -> Path:
    patch = {("", "time_scale"): "30000"}
    patch.update({("instruments.analyzer.sim", k): v for k, v in physics.items()})
    return derive_bench(tmp, example, patch, name)


def check_run(out: RunOutcome, expected_mean: dict[str, float], noise_sd: float) -> dict[str, str]:
    """Every result against numbers computed here; returns level → indication verdict."""
    assert out.status == RunStatus.COMPLETED, out.reason
    verdicts = {}
    for level, (cert, big_u_crm, k_crm) in CRM.items():
        st = [q.to("percent").magnitude for q in out.of(level, "St")]
        masses = [q.to("mg").magnitude for q in out.of(level, "sulfur.sample_mass")]
        n = int(TABLE.repeats["determination"].value)
        assert len(st) == len(masses) == n
        assert masses == [MASS] * n
        mean_st = statistics.fmean(st)
        # the physics: the mean lies within 4 σ/√n (+ the 0.001 % print step) of its expectation
        sigma = expected_mean[level] * noise_sd
        assert abs(mean_st - expected_mean[level]) <= 4 * sigma / math.sqrt(n) + 0.001, level
        error = mean_st - cert
        assert out.q(level, "indication_error", "error").to("percent").magnitude == (
            pytest.approx(error, abs=1e-12)
        )
        assert out.results[(level, "indication_error")].reference.to(
            "percent"
        ).magnitude == pytest.approx(cert)
        # U95: CRM (U/k), repeats (s/√n, ν = n − 1), balance resolution (St ∝ 1/m)
        u_crm = big_u_crm / k_crm
        u_a = statistics.stdev(st) / math.sqrt(n)
        u_bal = BALANCE_RESOLUTION / (2 * math.sqrt(3)) * mean_st / MASS
        u_c = math.sqrt(u_crm**2 + u_a**2 + u_bal**2)
        nu = u_c**4 / (u_a**4 / (n - 1)) if u_a > 0 else math.inf
        k = float(student_t.ppf(0.975, math.floor(nu))) if math.isfinite(nu) else 1.959964
        big_u = k * u_c
        stored_u = out.q(level, "indication_error", "U").to("percent").magnitude
        assert stored_u == pytest.approx(big_u, rel=1e-5), level
        high = cert > _pct("threshold")
        mpe = _pct("mpe_high" if high else "mpe_low")
        assert out.q(level, "indication_error", "mpe").to("percent").magnitude == pytest.approx(mpe)
        expected = jjf1094(error, mpe, big_u)
        assert out.verdicts[(level, "indication_error")] == expected, (level, error, big_u)
        verdicts[level] = expected
        # repeatability: the range of the determinations against the level's limit
        spread = max(st) - min(st)
        limit = _pct("repeatability_high" if high else "repeatability_low")
        rep = out.results[(level, "repeatability")]
        assert rep.value.to("percent").magnitude == pytest.approx(spread, abs=1e-12)
        assert out.verdicts[(level, "repeatability")] == ("pass" if spread <= limit else "fail")
        assert rep.materials == out.results[(level, "indication_error")].materials
        assert rep.materials == (
            {"low": "RM-COAL-S-LOW", "middle": "RM-COAL-S-MID"}.get(level, "RM-COAL-S-HIGH"),
        )
    return verdicts


@pytest.fixture
def sqlite_lab(tmp_path: Path) -> Iterator[Database]:
    """The demo lab on SQLite only (procedure maths)."""
    yield from opened_sqlite_lab(tmp_path)


PASS = {"calibration_factor": '"1.025641"', "recovery": '"97.5 %"', "blank": '"0 C"'}


def test_coulometric_pass_on_both_backends_and_its_certificate(
    db: Database, tmp_path: Path
) -> None:
    init_lab(db)
    out = run_procedure(
        db, Jjg1006SulfurAnalyzer(), _bench(tmp_path, "sulfur-analyzer", "p", **PASS)
    )
    expected = {lvl: coulometric_mean(w, 1.025641, 0.975, 0.0) for lvl, w in TRUE.items()}
    verdicts = check_run(out, expected, 0.004)
    assert set(verdicts.values()) == {"pass"}
    assert {v for (_, item), v in out.verdicts.items() if item == "repeatability"} == {"pass"}
    # the readings carry their units; the coulometric analyzer also reports its charge
    assert all(q.to("mC").magnitude > 0 for q in out.of("high", "sulfur.raw"))
    issued = issue_and_check(db, out.run_id, tmp_path)
    assert issued.type == "verification_certificate"
    for text in ("检定证书", "JJG 1006-2005", "低硫"):
        assert text in issued.text, text
    dcc = issued.dcc.decode()
    for text in ("RM-COAL-S-LOW", "RM-COAL-S-MID", "RM-COAL-S-HIGH", "STD-FUEL-001"):
        assert text in dcc, text


def test_coulometric_fail_gets_a_notice(sqlite_lab: Database, tmp_path: Path) -> None:
    physics = {"calibration_factor": '"1.10"', "noise_sd": '"3 %"'}
    out = run_procedure(
        sqlite_lab, Jjg1006SulfurAnalyzer(), _bench(tmp_path, "sulfur-analyzer", "f", **physics)
    )
    expected = {lvl: coulometric_mean(w, 1.10, 0.975, 0.004) for lvl, w in TRUE.items()}
    verdicts = check_run(out, expected, 0.03)
    assert verdicts["high"] == "fail"  # 7 % of 3.05 % is twice the high-level MPE
    issued = issue_and_check(sqlite_lab, out.run_id, tmp_path)
    assert issued.type == "nonconformity_notice"
    assert "检定结果通知书" in issued.text


def test_coulometric_offset_at_the_mpe_is_undetermined(
    sqlite_lab: Database, tmp_path: Path
) -> None:
    # a blank charge worth 0.05 % of sulfur (the low-level MPE) at 50 mg, factor 1/recovery
    blank = 0.05 * MASS / (100.0 * C_S) / 1.025641
    physics = {**PASS, "blank": f'"{blank:.6f} C"'}
    out = run_procedure(
        sqlite_lab, Jjg1006SulfurAnalyzer(), _bench(tmp_path, "sulfur-analyzer", "u", **physics)
    )
    expected = {lvl: coulometric_mean(w, 1.025641, 0.975, blank) for lvl, w in TRUE.items()}
    verdicts = check_run(out, expected, 0.004)
    assert verdicts["low"] == verdicts["middle"] == "undetermined"
    flags = out.results[("low", "indication_error")].flags
    assert "method_cannot_decide" in {f.value for f in flags}


def test_infrared_analyzer_on_modbus(sqlite_lab: Database, tmp_path: Path) -> None:
    identity = '{ manufacturer = "Sim Fuel", model = "ST-C700", serial = "STC700-1006" }'
    out = run_procedure(
        sqlite_lab,
        Jjg1006SulfurAnalyzer(),
        _bench(tmp_path, "sulfur-analyzer-ir", "ir", identity=identity, noise_sd='"0.1 %"'),
    )
    gain, nl, offset = -0.012, 0.003, 0.008  # the example bench's IR physics, less noise

    def ir(w: float) -> float:
        return (1 + gain) * w + nl * w * w / 10.0 + offset

    verdicts = check_run(out, {lvl: ir(w) for lvl, w in TRUE.items()}, 0.001)
    assert set(verdicts.values()) == {"pass"}


def test_a_crm_outside_its_level_is_refused(sqlite_lab: Database, tmp_path: Path) -> None:
    bench = derive_bench(
        tmp_path,
        "sulfur-analyzer",
        {("", "time_scale"): "30000", ("materials", "low"): '"RM-COAL-S-HIGH"'},
        "wrong",
    )
    with pytest.raises(ValueError, match=r"RM-COAL-S-HIGH.*not a low sulfur CRM"):
        run_procedure(sqlite_lab, Jjg1006SulfurAnalyzer(), bench)
