"""JJG 1148 (AC) and JJG 1149 (DC) charging-pile verification on the simulated bench.

Expected values come from the injected physics (drivers/sim/physics.py PileModel: the
pile registers ∫P·(1 + e(I))dt with e linear in I between the curve's points, pulses at
the meter constant, display truncated to 0.001 kWh, payment = display × tariff rounded
to 0.01 yuan, clock ahead by clock_offset) and the run's raw readings.
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
from lims.units import ureg
from procedures.charging_pile import parse_money
from procedures.jjg1148_ac_pile import Jjg1148AcPile
from procedures.jjg1149_dc_charger import Jjg1149DcCharger
from tests.procedures.simrun import derive_bench, run_procedure, seed, sqlite_demo_lab


@pytest.fixture
def sqlite_lab(tmp_path: Path) -> Iterator[Database]:
    """The demo lab on SQLite only (procedure maths)."""
    yield from sqlite_demo_lab(tmp_path)


def _interp(points: list[tuple[float, float]], x: float) -> float:
    if x <= points[0][0]:
        return points[0][1]
    if x >= points[-1][0]:
        return points[-1][1]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x0 <= x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    raise AssertionError


def _bench(
    tmp: Path, example: str, errors: list[tuple[float, float]], clock: float, scale: int, name: str
) -> Path:
    curve = "[" + ", ".join(f'["{i} A", "{e * 100} %"]' for i, e in errors) + "]"
    return derive_bench(
        tmp,
        example,
        {
            ("", "time_scale"): str(scale),
            ("instruments.pile.sim", "errors"): curve,
            ("instruments.pile.sim", "clock_offset"): f'"{clock} s"',
        },
        name,
    )


def _zone(err: float, mpe: float, big_u: float) -> str:
    """JJF 1094, computed here independently."""
    if big_u <= mpe / 3:
        return "pass" if abs(err) <= mpe else "fail"
    if abs(err) <= mpe - big_u:
        return "pass"
    if abs(err) >= mpe + big_u:
        return "fail"
    return "undetermined"


def _check(
    out: Any,
    errors: list[tuple[float, float]],
    *,
    imax: float,
    imin: float,
    constant: float,
    mpe: float,
    std_mpe: float,
    clock: float,
    clock_limit: float,
    tariff: float,
) -> dict[str, str]:
    verdicts: dict[str, str] = {}
    currents = {"Imin": imin, "0.5Imax": 0.5 * imax, "Imax": imax}
    for name, amps in currents.items():
        e_std = [q.to("kWh").magnitude for q in out.of(name, "standard_energy")]
        n = [q.to("count").magnitude for q in out.of(name, "pile_pulses")]
        assert len(e_std) == len(n) == 2
        for q in out.of(name, "current"):
            assert q.to("A").magnitude == pytest.approx(amps, rel=1e-3)
        e_i = [(c / constant - e) / e * 100 for c, e in zip(n, e_std, strict=True)]
        err = statistics.fmean(e_i)
        injected = _interp(errors, amps) * 100
        assert abs(err - injected) <= 100 / min(n) + 1e-9, name  # ±1 pulse
        assert out.q(name, "energy_error", "error").to("percent").magnitude == pytest.approx(err)
        u = math.sqrt(
            (std_mpe / math.sqrt(3)) ** 2
            + (100 / statistics.fmean(n) / math.sqrt(6)) ** 2
            + (statistics.stdev(e_i) / math.sqrt(2)) ** 2
        )
        got_u = out.q(name, "energy_error", "U").to("percent").magnitude
        assert got_u == pytest.approx(2 * u, rel=1e-6)
        assert out.q(name, "energy_error", "mpe").to("percent").magnitude == pytest.approx(mpe)
        verdicts[name] = _zone(err, mpe, 2 * u)
        assert out.verdicts[(name, "energy_error")] == verdicts[name], name

    (d0,) = (q.to("kWh").magnitude for q in out.of("display", "pile.display_energy"))
    (d1,) = (q.to("kWh").magnitude for q in out.of("display", "pile.display_energy_after"))
    std = out.of("display", "standard_energy")[0].to("kWh").magnitude
    disp_err = (d1 - d0 - std) / std * 100
    # the display registers the pile's energy (error e(Imax)), truncated to 0.001 kWh
    assert abs(disp_err - _interp(errors, imax) * 100) <= 0.001 / std * 100 + 1e-9
    got = out.q("display", "display_error", "error").to("percent").magnitude
    assert got == pytest.approx(disp_err)
    u = math.sqrt((std_mpe / math.sqrt(3)) ** 2 + (0.001 / std * 100 / math.sqrt(6)) ** 2)
    verdicts["display"] = _zone(disp_err, mpe, 2 * u)
    assert out.verdicts[("display", "display_error")] == verdicts["display"]

    p0, p1 = (q.to("yuan").magnitude for q in out.of("payment", "payment_amount"))
    expected = std * tariff
    pay_err = (p1 - p0 - expected) / expected * 100
    # the amounts are stored in yuan, the tariff in yuan/kWh (money is its own dimension)
    for key, value in (
        ("expected_amount", expected),
        ("indicated_amount", p1 - p0),
        ("error_amount", p1 - p0 - expected),
    ):
        q = out.q("payment", "payment_error", key)
        assert q.units == ureg.Unit("yuan"), key
        assert q.magnitude == pytest.approx(value, abs=1e-9), key
    q = out.q("payment", "payment_error", "tariff")
    assert q.to("yuan/kWh").magnitude == pytest.approx(tariff)
    assert q.dimensionality == {"[currency]": 1, "[length]": -2, "[mass]": -1, "[time]": 2}
    assert abs(pay_err - _interp(errors, imax) * 100) <= (0.01 + 0.001 * tariff) / expected * 100
    got = out.q("payment", "payment_error", "error").to("percent").magnitude
    assert got == pytest.approx(pay_err)
    u = math.sqrt(
        (std_mpe / math.sqrt(3)) ** 2
        + (0.01 / expected * 100 / math.sqrt(6)) ** 2
        + (0.001 / std * 100 / math.sqrt(6)) ** 2
    )
    verdicts["payment"] = _zone(pay_err, mpe, 2 * u)
    assert out.verdicts[("payment", "payment_error")] == verdicts["payment"]

    offset = out.of("clock", "clock_error")[0].to("s").magnitude
    # both clocks shown to the second (±1 s), and the simulated time that ran between the
    # two readings (the bench runs at time_scale; the reference is read second)
    _, p_before, p_after = [a for a in out.answered if a[0] == "pile.clock"][-1]
    _, r_before, r_after = [a for a in out.answered if a[0] == "pile.reference_clock"][-1]
    lo, hi = r_before - p_after, r_after - p_before
    assert clock - hi - 1.0 - 1e-6 <= offset <= clock - lo + 1.0 + 1e-6, (offset, lo, hi)
    verdicts["clock"] = _zone(offset, clock_limit, 2 * 1 / math.sqrt(6))
    assert out.verdicts[("clock", "clock_error")] == verdicts["clock"]
    # the test currents and repeats are not verified: the limit rests on them
    assert ResultFlag.UNVERIFIED_LIMIT in out.results[("Imin", "energy_error")].flags
    return verdicts


AC_PASS = [(3.2, 0.009), (16.0, 0.005), (32.0, 0.003)]  # the example pile
AC_FAIL = [(3.2, 0.035), (32.0, 0.030)]
AC_NEAR = [(3.2, 0.020), (32.0, 0.020)]  # at the class-2 MPE
AC = {"imax": 7000 / 220, "imin": 6.0, "constant": 1000.0, "mpe": 2.0, "tariff": 1.20}
DC = {"imax": 80.0, "imin": 8.0, "constant": 100.0, "mpe": 1.0, "tariff": 1.65}


def test_ac_pile_passes(sqlite_lab: Database, tmp_path: Path) -> None:
    out = run_procedure(
        sqlite_lab,
        Jjg1148AcPile(),
        _bench(tmp_path, "ac-pile", AC_PASS, 2.5, 3000, "pass"),
    )
    assert out.status == RunStatus.COMPLETED, out.reason
    v = _check(out, AC_PASS, std_mpe=0.05, clock=2.5, clock_limit=5.0, **AC)
    assert set(v.values()) == {"pass"}


def test_ac_pile_fails(sqlite_lab: Database, tmp_path: Path) -> None:
    out = run_procedure(
        sqlite_lab,
        Jjg1148AcPile(),
        _bench(tmp_path, "ac-pile", AC_FAIL, 12.0, 3000, "fail"),
    )
    assert out.status == RunStatus.COMPLETED, out.reason
    v = _check(out, AC_FAIL, std_mpe=0.05, clock=12.0, clock_limit=5.0, **AC)
    assert set(v.values()) == {"fail"}


def test_ac_pile_near_limit_undetermined(sqlite_lab: Database, tmp_path: Path) -> None:
    # a coarse device (MPE 1.2 %) makes U > MPE/3: +2.0 % at MPE 2.0 % is undetermined
    out = run_procedure(
        sqlite_lab,
        Jjg1148AcPile(),
        _bench(tmp_path, "ac-pile", AC_NEAR, 2.5, 3000, "near"),
        parameters={"standard_mpe": "1.2 %"},
    )
    assert out.status == RunStatus.COMPLETED, out.reason
    v = _check(out, AC_NEAR, std_mpe=1.2, clock=2.5, clock_limit=5.0, **AC)
    for item in ("Imin", "0.5Imax", "Imax", "display", "payment"):
        assert v[item] == "undetermined", item
    assert v["clock"] == "pass"


def test_dc_charger_on_both_backends(db: Database, tmp_path: Path) -> None:
    seed(db)
    errors = [(10.0, 0.006), (40.0, 0.0035), (80.0, 0.002)]
    out = run_procedure(
        db,
        Jjg1149DcCharger(),
        _bench(tmp_path, "dc-charger", errors, -40.0, 6000, "dc"),
        parameters={"verification": "subsequent"},
    )
    assert out.status == RunStatus.COMPLETED, out.reason
    v = _check(out, errors, std_mpe=0.05, clock=-40.0, clock_limit=180.0, **DC)
    assert set(v.values()) == {"pass"}  # -40 s is within 3 min at subsequent verification


def test_dc_charger_fails(sqlite_lab: Database, tmp_path: Path) -> None:
    # class 1 (±1.0 %): +2.5 … +3.0 % everywhere, and the clock 400 s behind (> 3 min)
    errors = [(10.0, 0.025), (80.0, 0.030)]
    out = run_procedure(
        sqlite_lab,
        Jjg1149DcCharger(),
        _bench(tmp_path, "dc-charger", errors, -400.0, 6000, "dc-fail"),
        parameters={"verification": "subsequent"},
    )
    assert out.status == RunStatus.COMPLETED, out.reason
    v = _check(out, errors, std_mpe=0.05, clock=-400.0, clock_limit=180.0, **DC)
    assert set(v.values()) == {"fail"}


def test_dc_charger_near_limit_undetermined(sqlite_lab: Database, tmp_path: Path) -> None:
    # a coarse device (MPE 0.6 %) makes U > MPE/3: +1.0 % at the class-1 MPE 1.0 % lies
    # between MPE − U and MPE + U, so every energy item is undetermined, never a pass
    errors = [(10.0, 0.010), (80.0, 0.010)]
    out = run_procedure(
        sqlite_lab,
        Jjg1149DcCharger(),
        _bench(tmp_path, "dc-charger", errors, -40.0, 6000, "dc-near"),
        parameters={"verification": "subsequent", "standard_mpe": "0.6 %"},
    )
    assert out.status == RunStatus.COMPLETED, out.reason
    v = _check(out, errors, std_mpe=0.6, clock=-40.0, clock_limit=180.0, **DC)
    for item in ("Imin", "0.5Imax", "Imax", "display", "payment"):
        assert v[item] == "undetermined", item
    assert "pass" not in {out.verdicts[k] for k in out.verdicts if k[0] != "clock"}
    assert v["clock"] == "pass"


def test_operator_entries_with_wrong_unit_or_magnitude_are_refused(
    sqlite_lab: Database, tmp_path: Path
) -> None:
    # None: the bench's own [auto] answer (what the display shows)
    out = run_procedure(
        sqlite_lab,
        Jjg1148AcPile(),
        _bench(tmp_path, "ac-pile", AC_PASS, 2.5, 3000, "entries"),
        answers={
            # after the charge: a display or an amount below the one before is refused
            "pile.display_energy": ["12 kg", "5e9 kWh", "3", None],
            "pile.display_energy_after": ["0 kWh", None],
            "pile.payment_amount": ["12 kWh", "-3", None],
            "pile.payment_amount_after": ["0.00", None],
            "pile.clock": ["yesterday", None],
        },
    )
    assert out.status == RunStatus.COMPLETED, out.reason
    errors = [p.error for p in out.prompts if p.error]
    assert any("pile.display_energy" in e and "dimension" in e for e in errors)
    assert any("pile.display_energy" in e and "plausible" in e for e in errors)
    assert any("pile.display_energy" in e and "missing unit" in e for e in errors)
    assert any("pile.payment_amount" in e and "not an amount" in e for e in errors)
    d0 = out.of("display", "pile.display_energy")[0]
    assert d0.to("kWh").magnitude > 0  # the energy tests ran before the display test
    assert any(
        "pile.display_energy_after" in e and "0 kWh" in e and "plausible" in e for e in errors
    ), errors
    assert any("pile.payment_amount_after" in e and "before the charge" in e for e in errors), (
        errors
    )
    assert any("pile.clock" in e and "date and time" in e for e in errors)
    # the refused entries were not recorded: exactly two display readings, two amounts
    assert len(out.of("display", "pile.display_energy")) == 1
    assert len(out.of("display", "pile.display_energy_after")) == 1
    assert len(out.of("payment", "payment_amount")) == 2


@pytest.mark.parametrize(
    ("item", "params", "message"),
    [
        ({"rated_power": "7 kWh"}, {}, "rated_power"),
        ({"accuracy_class": "3"}, {}, "accuracy_class"),
        ({"tariff": "abc"}, {}, "tariff"),
        ({"tariff": "1.2"}, {}, "missing unit"),  # a tariff is never a bare number
        ({"tariff": "1.2 kWh"}, {}, "tariff"),
        ({"tariff": "250 元/kWh"}, {}, "plausible tariff"),
        ({}, {"verification": "annual"}, "verification.*first, subsequent"),
        ({}, {"rated_power": "11 kW"}, "the item states 7 kW.*contradicts"),
    ],
)
def test_bad_parameters_refused(
    sqlite_lab: Database,
    tmp_path: Path,
    item: dict[str, str],
    params: dict[str, str],
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        run_procedure(
            sqlite_lab,
            Jjg1148AcPile(),
            _bench(tmp_path, "ac-pile", AC_PASS, 2.5, 3000, "bad"),
            parameters=params,
            item=item,
        )
    with sqlite_lab.read() as s:
        assert s.query(Run).count() == 0


@pytest.mark.parametrize(
    ("text", "yuan"),
    [("12.34", 12.34), ("12.34 元", 12.34), ("¥12.34", 12.34), ("￥ 0.5", 0.5), ("3 CNY", 3.0)],
)
def test_payment_amounts_are_read_in_yuan(text: str, yuan: float) -> None:
    q = parse_money(text)
    assert q.units == ureg.Unit("yuan")
    assert q.magnitude == pytest.approx(yuan)


def test_tariff_parameter_is_a_quantity_in_yuan_per_kwh() -> None:
    (declared,) = (p for p in Jjg1149DcCharger.parameters if p.name == "tariff")
    assert declared.item == "tariff"  # the pile's tariff is its registered nameplate datum
    given = declared.parse("0.8 元/kWh")
    assert given.to("CNY/kWh").magnitude == pytest.approx(0.8)
    assert given.to("yuan/MWh").magnitude == pytest.approx(800.0)
