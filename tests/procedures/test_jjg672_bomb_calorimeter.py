"""JJG 672 on the simulated oxygen-bomb calorimeter bench: pass, fail and undetermined
profiles, the expected numbers computed here from the injected physics and the table.

Physics (drivers/sim/fuel.py CalorimeterModel, the bench's ``sim`` values): the inner
vessel follows dT/dt = k·(T_j − T) + P_stir/E + P_c(t)/E with the combustion power
(H/τ)·e^(−s/τ) after ignition, H = m·Q·(1 + ε)·(1 + f) + q_ign, ε ~ N(0, combustion_sd);
the thermometer reads T·(1 + g). The instrument reports Q_ind = (E_stored·Δt − q_ign,entered)
/ (m·(1 + f)). The expected corrected rise of a burn is computed here by integrating that
model without noise (the closed form) and applying Regnault–Pfaundler written out here;
from it the expected energy equivalent and indication error follow. Every recorded result
is then recomputed from the run's own readings (curve, masses, ignition heats) and judged
with JJF 1094 written out here.
"""

from __future__ import annotations

import math
import statistics
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scipy.stats import t as student_t
from sqlalchemy import select

from lims.db import Database
from lims.engine.regulation import load_regulation_table
from lims.models import ReferenceMaterial, RunStatus
from lims.services.demo_fuel_lab import FUEL_LAB_CRMS
from lims.units import parse_quantity
from procedures.jjg672_bomb_calorimeter import Jjg672BombCalorimeter
from tests.procedures.certify import init_lab, issue_and_check
from tests.procedures.certify import sqlite_lab as opened_sqlite_lab
from tests.procedures.simrun import EXAMPLES, RunOutcome, derive_bench, run_procedure

ROOT = Path(__file__).resolve().parents[2]
TABLE = load_regulation_table(ROOT / "procedures/jjg672_bomb_calorimeter/jjg672.toml")
BENCH = tomllib.loads((EXAMPLES / "bomb-calorimeter.toml").read_text("utf-8"))
SIM = BENCH["instruments"]["calorimeter"]["sim"]
BAL = BENCH["instruments"]["balance"]["sim"]
AUTO = BENCH["auto"]
CRM = {c.tag: (c.certified, c.expanded_uncertainty, 2.0) for c in FUEL_LAB_CRMS}
BALANCE_U = 0.2e-3  # g (k = 2): the demo register's certificate of STD-BAL-02
BALANCE_RES = 0.1e-3  # g, the procedure's default
IGNITION_HALF_WIDTH = 10.0  # J, the procedure's default


def _si(text: str, unit: str) -> float:
    return float(parse_quantity(text).to(unit).magnitude)


F = float(TABLE.limit("acid_fraction").to("dimensionless").magnitude)
E_TRUE = _si(SIM["energy_equivalent"], "J/K")
GAIN = _si(SIM["thermometer_gain"], "")
Q_IGN_TRUE = _si(SIM["ignition_energy"], "J")
Q_IGN_ENTERED = _si(AUTO["bomb.ignition_heat"], "J")
PELLET = _si(AUTO["bomb.load_pellet"]["mass"], "g")
BAL_GAIN = _si(BAL["gain_error"], "")


def regnault_pfaundler(temps: list[float], fire: int, end: int) -> tuple[float, float]:
    """(corrected rise, cooling correction), GB/T 213 form, written out independently."""
    v0 = (temps[0] - temps[fire]) / fire
    vn = (temps[end] - temps[-1]) / (len(temps) - 1 - end)
    theta0 = statistics.fmean(temps[: fire + 1])
    thetan = statistics.fmean(temps[end:])
    n = end - fire
    inner = sum(temps[fire + 1 : end])
    c = n * v0 + (vn - v0) / (thetan - theta0) * (
        inner + (temps[fire] + temps[end]) / 2 - n * theta0
    )
    return temps[end] - temps[fire] + c, c


def model_rise(heat: float, e_true: float) -> float:
    """The corrected rise the model gives for ``heat`` J without noise (closed form)."""
    k = _si(SIM["cooling_constant"], "1/s")
    tau = _si(SIM["combustion_time_constant"], "s")
    t_inf = _si(SIM["jacket_temperature"], "degC") + _si(SIM["stirring_power"], "W") / (k * e_true)
    t0 = _si(SIM["start_temperature"], "degC")
    dt = _si(SIM["reading_interval"], "s")
    fore, main, after = (_si(SIM[p], "s") for p in ("fore_period", "main_period", "after_period"))
    a = heat / (e_true * (k * tau - 1))

    def temp(t: float) -> float:
        base = t_inf + (t0 - t_inf) * math.exp(-k * t)
        s = t - fore
        return base + (a * (math.exp(-s / tau) - math.exp(-k * s)) if s > 0 else 0.0)

    n = round((fore + main + after) / dt)
    temps = [temp(i * dt) * (1 + GAIN) for i in range(n + 1)]
    return regnault_pfaundler(temps, round(fore / dt), round((fore + main) / dt))[0]


def expected(q_true: float, q_cert: float, e_stored: float, e_true: float) -> tuple[float, float]:
    """(energy equivalent J/K, indication error %) the physics gives without noise."""
    m_bal = PELLET * (1 + BAL_GAIN)
    heat = PELLET * q_true * (1 + F) + Q_IGN_TRUE
    rise = model_rise(heat, e_true)
    e = (q_cert * m_bal * (1 + F) + Q_IGN_ENTERED) / rise
    q_ind = (e_stored * rise - Q_IGN_ENTERED) / (m_bal * (1 + F))
    return e, (q_ind / q_cert - 1) * 100


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


def _values(out: RunOutcome, point: str, quantity: str, unit: str) -> list[float]:
    return [q.to(unit).magnitude for q in out.of(point, quantity)]


def check_run(out: RunOutcome, e_stored: float, combustion_sd: float) -> dict[str, str]:
    """Every result against numbers computed here; returns item → verdict."""
    assert out.status == RunStatus.COMPLETED, out.reason
    q_cal, u_cal, k_cal = CRM["RM-BA-01"]
    q_chk, u_chk, k_chk = CRM["RM-BA-02"]
    subst = SIM["substances"]
    n_ee = TABLE.points[0].repeats
    n_ind = TABLE.points[1].repeats
    ee, masses_ee, rises_ee = [], [], []
    for i in range(1, n_ee + 1):
        tp = f"energy_equivalent.{i}"
        times = _values(out, tp, "bomb.curve_time", "s")
        temps = _values(out, tp, "bomb.temperature", "degC")
        assert len(times) == len(temps) == 41  # 20 min every 30 s
        fire = times.index(_values(out, tp, "bomb.fire_time", "s")[0])
        end = times.index(_values(out, tp, "bomb.end_time", "s")[0])
        rise, corr = regnault_pfaundler(temps, fire, end)
        assert _values(out, tp, "bomb.cooling_correction", "K") == [pytest.approx(corr, abs=1e-9)]
        assert _values(out, tp, "bomb.corrected_rise", "K") == [pytest.approx(rise, abs=1e-9)]
        (m,) = _values(out, tp, "bomb.pellet_mass", "g")
        (q_ign,) = _values(out, tp, "bomb.ignition_heat", "J")
        assert q_ign == Q_IGN_ENTERED
        e_i = (q_cal * m * (1 + F) + q_ign) / rise
        assert _values(out, tp, "bomb.energy_equivalent", "J/K") == [pytest.approx(e_i, rel=1e-12)]
        ee.append(e_i)
        masses_ee.append(m)
        rises_ee.append(rise)
    e_mean = statistics.fmean(ee)
    e_phys, _ = expected(_si(subst["benzoic_acid"], "J/g"), q_cal, e_stored, E_TRUE)
    # combustion scatter averages over n burns; thermometer noise adds < 0.005 %
    tol = 4 * combustion_sd / math.sqrt(n_ee) + 5e-5
    assert abs(e_mean / e_phys - 1) <= tol, (e_mean, e_phys)
    rec = out.results[("energy_equivalent", "energy_equivalent")]
    assert rec.value.to("J/K").magnitude == pytest.approx(e_mean, rel=1e-12)
    assert rec.extra("stored").to("J/K").magnitude == pytest.approx(e_stored, abs=0.05)
    # U95 of Ē: CRM, repeats, balance certificate and resolution, ignition heat
    m_mean, dt_mean = statistics.fmean(masses_ee), statistics.fmean(rises_ee)
    u_a = statistics.stdev(ee) / math.sqrt(n_ee)
    parts = [
        u_cal / k_cal * e_mean / q_cal,
        u_a,
        BALANCE_U / 2 * e_mean / m_mean,
        BALANCE_RES / (2 * math.sqrt(3)) * e_mean / m_mean,
        IGNITION_HALF_WIDTH / math.sqrt(3) / dt_mean,
    ]
    u_c = math.sqrt(sum(p * p for p in parts))
    k = float(student_t.ppf(0.975, math.floor(u_c**4 / (u_a**4 / (n_ee - 1)))))
    assert rec.uncertainty is not None
    assert rec.uncertainty.expanded.to("J/K").magnitude == pytest.approx(k * u_c, rel=1e-5)
    # repeatability of E: RSD against the table's limit
    rsd = statistics.stdev(ee) / e_mean * 100
    limit = float(TABLE.limit("ee_repeatability").to("percent").magnitude)
    assert out.q("energy_equivalent", "repeatability", "repeatability").to(
        "percent"
    ).magnitude == pytest.approx(rsd, rel=1e-9)
    verdicts = {"repeatability": "pass" if rsd <= limit else "fail"}
    assert out.verdicts[("energy_equivalent", "repeatability")] == verdicts["repeatability"]
    # indication error on the check lot: the instrument's own calorific values
    q_ind = [
        _values(out, f"indication.{i}", "bomb.gross_calorific_value", "J/g")[0]
        for i in range(1, n_ind + 1)
    ]
    m_ind = statistics.fmean(
        _values(out, f"indication.{i}", "bomb.pellet_mass", "g")[0] for i in range(1, n_ind + 1)
    )
    delta = (statistics.fmean(q_ind) / q_chk - 1) * 100
    _, d_phys = expected(_si(subst["check_substance"], "J/g"), q_chk, e_stored, E_TRUE)
    assert abs(delta - d_phys) <= 100 * (4 * combustion_sd / math.sqrt(n_ind) + 5e-5), delta
    ind = out.results[("indication", "indication_error")]
    assert ind.value.to("percent").magnitude == pytest.approx(delta, rel=1e-9, abs=1e-12)
    rel_ee = [e / e_mean * 100 for e in ee]
    u_rep = statistics.stdev(rel_ee) / math.sqrt(n_ind)
    parts = [
        u_chk / k_chk / q_chk * 100,
        u_rep,
        BALANCE_U / 2 / m_ind * 100,
        BALANCE_RES / (2 * math.sqrt(3)) / m_ind * 100,
        IGNITION_HALF_WIDTH / math.sqrt(3) / (q_chk * m_ind) * 100,
    ]
    u_c = math.sqrt(sum(p * p for p in parts))
    k = float(student_t.ppf(0.975, math.floor(u_c**4 / (u_rep**4 / (n_ee - 1)))))
    big_u = k * u_c
    assert ind.uncertainty is not None
    assert ind.uncertainty.expanded.to("percent").magnitude == pytest.approx(big_u, rel=1e-5)
    mpe = float(TABLE.limit("indication_error").to("percent").magnitude)
    verdicts["indication"] = jjf1094(delta, mpe, big_u)
    assert out.verdicts[("indication", "indication_error")] == verdicts["indication"]
    assert ind.materials == ("RM-BA-02",)
    assert rec.materials == ("RM-BA-01",)
    return verdicts


def _bench(tmp: Path, name: str, **sim: str) -> Path:
    patch: dict[tuple[str, str], str] = {("", "time_scale"): "60000"}
    patch.update({("instruments.calorimeter.sim", k): f'"{v}"' for k, v in sim.items()})
    return derive_bench(tmp, "bomb-calorimeter", patch, name)


@pytest.fixture
def sqlite_lab(tmp_path: Path) -> Iterator[Database]:
    """The opened demo lab on SQLite only (procedure maths)."""
    yield from opened_sqlite_lab(tmp_path)


def _run(db: Database, tmp: Path, name: str, e_stored: float, sd: float = 0.0003) -> Any:
    bench = _bench(
        tmp, name, stored_energy_equivalent=f"{e_stored:.2f} J/K", combustion_sd=f"{sd * 100} %"
    )
    return run_procedure(db, Jjg672BombCalorimeter(), bench)


def test_pass_on_both_backends_and_its_certificate(db: Database, tmp_path: Path) -> None:
    init_lab(db)
    out = _run(db, tmp_path, "pass", E_TRUE)
    assert check_run(out, E_TRUE, 0.0003) == {"repeatability": "pass", "indication": "pass"}
    issued = issue_and_check(db, out.run_id, tmp_path)
    assert issued.type == "verification_certificate"
    for text in ("检定证书", "JJG 672-2018", "热容量", "Energy equivalent", "STD-FUEL-001"):
        assert text in issued.text, text
    dcc = issued.dcc.decode()
    for text in ("RM-BA-01", "RM-BA-02", "STD-FUEL-001"):
        assert text in dcc, text


def test_stored_energy_equivalent_far_off_fails(sqlite_lab: Database, tmp_path: Path) -> None:
    out = _run(sqlite_lab, tmp_path, "fail", E_TRUE * 1.02, sd=0.003)
    verdicts = check_run(out, E_TRUE * 1.02, 0.003)
    assert verdicts["indication"] == "fail"
    issued = issue_and_check(sqlite_lab, out.run_id, tmp_path)
    assert issued.type == "nonconformity_notice"


def test_indication_at_the_mpe_is_undetermined(sqlite_lab: Database, tmp_path: Path) -> None:
    # the stored energy equivalent that puts the noise-free indication error at the MPE
    q_chk = CRM["RM-BA-02"][0]
    _, d0 = expected(_si(SIM["substances"]["check_substance"], "J/g"), q_chk, E_TRUE, E_TRUE)
    mpe = float(TABLE.limit("indication_error").to("percent").magnitude)
    e_stored = E_TRUE * (1 + (mpe - d0) / 100)
    out = _run(sqlite_lab, tmp_path, "near", e_stored)
    verdicts = check_run(out, e_stored, 0.0003)
    assert verdicts["indication"] == "undetermined"
    flags = {f.value for f in out.results[("indication", "indication_error")].flags}
    assert {"method_cannot_decide", "unverified_limit"} <= flags


def test_a_crm_outside_the_certified_range_is_refused(sqlite_lab: Database, tmp_path: Path) -> None:
    bench = derive_bench(
        tmp_path,
        "bomb-calorimeter",
        {("", "time_scale"): "60000", ("materials", "check_substance"): '"RM-COAL-S-LOW"'},
        "wrong",
    )
    with pytest.raises(ValueError, match=r"RM-COAL-S-LOW.*not a specific energy"):
        run_procedure(sqlite_lab, Jjg672BombCalorimeter(), bench)


def test_a_crm_with_too_large_an_uncertainty_is_refused(
    sqlite_lab: Database, tmp_path: Path
) -> None:
    limit = float(TABLE.limit("crm_relative_U_max").to("percent").magnitude)
    q_cal = CRM["RM-BA-01"][0]
    with sqlite_lab.write(actor="test-setup", reason="a CRM certificate with a larger U") as s:
        rm = s.scalars(select(ReferenceMaterial).where(ReferenceMaterial.tag == "RM-BA-01")).one()
        rm.expanded_uncertainty = 1.5 * limit / 100 * q_cal  # k = 2
    with pytest.raises(ValueError, match=r"RM-BA-01: relative U = 0\.15 %.*crm_relative_U_max"):
        run_procedure(sqlite_lab, Jjg672BombCalorimeter(), _bench(tmp_path, "big-u"))


def test_ignition_heat_with_a_wrong_unit_is_asked_again(
    sqlite_lab: Database, tmp_path: Path
) -> None:
    out = run_procedure(
        sqlite_lab,
        Jjg672BombCalorimeter(),
        _bench(tmp_path, "entry"),
        answers={"bomb.ignition_heat": ["90 g", "90", "9000 J", None]},
    )
    assert out.status == RunStatus.COMPLETED, out.reason
    errors = [p.error for p in out.prompts if p.key == "bomb.ignition_heat" and p.error]
    assert any("dimension" in e for e in errors)
    assert any("missing unit" in e for e in errors)
    assert any("plausible" in e for e in errors)
    # every burn's ignition heat is the one accepted value, with its unit
    assert out.of("energy_equivalent.1", "bomb.ignition_heat") == [parse_quantity("90 J")]
