"""The fuel and emission drivers against the simulator over real loopback sockets and
pseudo-terminals.

Expected values are computed here from the test bench's physics (data/fuel-instruments.toml)
and textbook relations (Newton's law of cooling, Faraday's law), never read back from the
simulator's internals; peeks are used only for the simulated truth a reference would give
(the flue's mean velocity, the simulated clock).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from drivers.bench import BenchConfig, load_bench, open_instruments
from drivers.errors import (
    InstrumentConnectionError,
    InstrumentError,
    InstrumentOverrange,
    InstrumentProtocolError,
    InstrumentTimeout,
)
from drivers.sim import SimulatedBench
from drivers.units import ureg

from .conftest import DATA

Q = ureg.Quantity
F = 96485.33212
M_S = 32.06


@pytest.fixture(scope="module")
def fbench() -> BenchConfig:
    return load_bench(DATA / "fuel-instruments.toml")


@pytest.fixture(scope="module")
def fsim(fbench: BenchConfig) -> Iterator[SimulatedBench]:
    with SimulatedBench(fbench) as s:
        yield s


@pytest.fixture(scope="module")
def finst(fbench: BenchConfig, fsim: SimulatedBench) -> Iterator[dict[str, Any]]:
    drivers = open_instruments(fbench, fsim.addresses)
    yield drivers
    for d in drivers.values():
        d.close()


def wait_until(pred: Callable[[], bool], wall_s: float = 10.0) -> None:
    deadline = time.monotonic() + wall_s
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.05)


def test_identities(finst: dict[str, Any]) -> None:
    for name, driver in finst.items():
        ident = driver.identify()
        assert ident.manufacturer == "CarbonSim"
        assert ident.serial == f"SIM-{name}"


def test_calorimeter_burn(fsim: SimulatedBench, finst: dict[str, Any]) -> None:
    cal, bal = finst["calorimeter"], finst["balance"]
    fsim.act("calorimeter", "load_pellet", substance="benzoic_acid", mass="0.9876 g")
    mass = bal.read_mass()
    assert mass.to("g").magnitude == pytest.approx(0.9876 * 1.0001, abs=0.00005 + 1e-9)
    cal.load_sample("BA-1", mass, Q(75, "J"))
    cal.fire()
    wait_until(lambda: cal.state() == "done")
    r = cal.read_result()
    # bench physics: E = 10000 J/K, k = 0.004/min, jacket 25 °C, stirring 0.2 W, thermometer
    # gain 0.1 %, ignition 80 J, acid 0.0015 of the combustion heat, no noise
    e, k, gain = 10000.0, 0.004 / 60, 0.001
    heat = 0.9876 * 26460 * 1.0015 + 80
    expected_rise = heat / e * (1 + gain)
    rise = r.corrected_rise.to("K").magnitude
    assert rise == pytest.approx(expected_rise, rel=3e-4)  # trapezoid sum over 20 s steps
    q_expected = (10050 * expected_rise - 75) / (mass.to("g").magnitude * 1.0015)
    assert r.gross_calorific_value.to("J/g").magnitude == pytest.approx(q_expected, rel=4e-4)
    # the logged curve: 20 s steps over 20 min, fire at 5 min, main period to 15 min
    assert len(r.curve) == 61
    assert (r.fire_index, r.end_index) == (15, 45)
    temps = [t.to("degC").magnitude / (1 + gain) for _, t in r.curve]
    # fore period: Newtonian warming towards T∞ = 25 °C + P_stir/(k·E)
    t_inf = 25 + 0.2 / (k * e)
    v0 = (temps[15] - temps[0]) / 300
    assert v0 == pytest.approx(k * (t_inf - sum(temps[:16]) / 16), rel=0.02)
    # after period: above the jacket, cooling
    assert temps[60] < temps[45]


def sulfur_expected(kind: str, w: float, mass_mg: float) -> float:
    if kind == "coulometric":
        per_coulomb = M_S / (2 * F) * 1000  # mg S per C
        charge = mass_mg * w / 100 * 0.96 / per_coulomb + 0.005
        return 1.03 * charge * per_coulomb / mass_mg * 100
    return 0.98 * w + 0.005 * w * w / 10 + 0.01


@pytest.mark.parametrize("name", ["coulometric", "infrared"])
@pytest.mark.parametrize(("sample", "w"), [("LOW", 0.5), ("HIGH", 3.0)])
def test_sulfur_results(
    fsim: SimulatedBench, finst: dict[str, Any], name: str, sample: str, w: float
) -> None:
    fsim.act(name, "analyze", sample_id=f"{sample}-1", sample=sample, mass="48.0 mg")
    r = finst[name].read_result(timeout_s=5.0)
    assert r.sample_id == f"{sample}-1"
    assert r.mass == Q(48.0, "mg")
    got = r.sulfur.to("percent").magnitude
    assert got == pytest.approx(sulfur_expected(name, w, 48.0), abs=0.0006)
    if name == "coulometric":  # Faraday: the charge that oxidized the titrated sulfur
        per_coulomb = M_S / (2 * F) * 1000
        charge = 48.0 * w / 100 * 0.96 / per_coulomb + 0.005
        assert r.raw.to("mC").magnitude == pytest.approx(charge * 1000, abs=0.06)


def test_belt_material_and_chain(fsim: SimulatedBench, finst: dict[str, Any]) -> None:
    belt, control = finst["belt"], finst["control"]
    span, speed_err, v = 0.005, -0.002, 2.0
    z0, zd = 0.1, 0.36 / 3600  # kg/m, kg/m/s

    def zero_mass(t0: float, t1: float) -> float:  # kg the zero error adds over [t0, t1]
        return (z0 * (t1 - t0) + zd * (t1 * t1 - t0 * t0) / 2) * v

    def now() -> float:
        return float(fsim.peek("belt", "time").to("s").magnitude)

    def timed(call: Callable[[], Any]) -> tuple[Any, float, float]:
        before = now()
        value = call()
        return value, before, now()

    rate = (z0 + zd * 3600) * v * (1 + span)  # upper bound of the zero's kg/s this hour
    _, r0, r1 = timed(belt.reset_totalizer)
    due = fsim.act("belt", "feed", mass="12000 kg", rate="720 t/h").to("s").magnitude
    assert due - r1 == pytest.approx(12000 / 200, abs=2)  # 720 t/h = 200 kg/s
    assert control.read_mass() == Q(round(12000 * 1.0005), "kg")
    wait_until(lambda: not fsim.peek("belt", "feeding"))
    total, s0, s1 = timed(lambda: belt.read_totalized().to("kg").magnitude)
    expected = (12000 + zero_mass(r1, s0)) * (1 + span) * (1 + speed_err)
    timing = rate * ((r1 - r0) + (s1 - s0))  # when exactly the reset and the read happened
    assert abs(total - expected) <= 0.1 + timing
    # simulated load: the chain for about six minutes of belt travel (long enough that the
    # reset and read timing stays small against it on a loaded machine)
    _, r0, r1 = timed(belt.reset_totalizer)
    tc0 = fsim.act("belt", "chain", on="yes").to("s").magnitude
    time.sleep(360 / fsim.bench.time_scale)
    tc1 = fsim.act("belt", "chain", on="no").to("s").magnitude
    total, s0, s1 = timed(lambda: belt.read_totalized().to("kg").magnitude)
    chain = 50.0 * v * (tc1 - tc0)
    expected = (chain + zero_mass(r1, s0)) * (1 + span) * (1 + speed_err)
    timing = rate * ((r1 - r0) + (s1 - s0))
    assert abs(total - expected) <= 0.1 + timing
    assert timing < 0.002 * chain  # the check is far tighter than the errors it detects


def test_cems_span_through_probe_and_flue(fsim: SimulatedBench, finst: dict[str, Any]) -> None:
    cems, cal, ref = finst["cems"], finst["calibrator"], finst["reference"]
    cal.set_flow(Q(5, "L/min"))
    cal.select_port(2)
    cems.set_calibration_valve(True)
    time.sleep(6 * 60 / fsim.bench.time_scale)  # 6 t90
    t = float(fsim.peek("cems", "time").to("s").magnitude)
    got = cems.read_concentration().to("percent").magnitude
    t_after = float(fsim.peek("cems", "time").to("s").magnitude)
    gain = [1 + 0.02 + 0.001 / 3600 * x for x in (t, t_after)]
    lo = min(g * 12.05 + 0.1 + 0.01 / 3600 * x for g, x in zip(gain, (t, t_after), strict=True))
    hi = max(g * 12.05 + 0.1 + 0.01 / 3600 * x for g, x in zip(gain, (t, t_after), strict=True))
    assert lo - 0.002 <= got <= hi + 0.002
    assert cems.read_oxygen().to("percent").magnitude == pytest.approx(0.0, abs=0.001)
    cems.set_calibration_valve(False)
    cal.safe_state()
    assert not cems.calibration_valve_open()
    # the reference analyzer follows the flue's CO2 (no errors injected, t90 20 s)
    truth = fsim.peek("stack", "co2").to("percent").magnitude
    assert ref.read_concentration().to("percent").magnitude == pytest.approx(truth, abs=0.05)


def test_flow_monitor_and_traverse(fsim: SimulatedBench, finst: dict[str, Any]) -> None:
    flow, pitot = finst["flow"], finst["pitot"]
    before = fsim.peek("stack", "velocity").to("m/s").magnitude
    v = flow.read_velocity().to("m/s").magnitude
    after = fsim.peek("stack", "velocity").to("m/s").magnitude
    factor = 1.05 * 0.98 * 1.01
    assert min(before, after) * factor - 0.02 <= v <= max(before, after) * factor + 0.02
    t = flow.read_gas_temperature().to("degC").magnitude
    assert t == pytest.approx(121.0, abs=0.05)
    assert flow.read_static_pressure() == Q(100.0, "kPa")
    assert flow.read_moisture() == Q(8.0, "percent")
    v2 = flow.read_velocity().to("m/s").magnitude
    std = flow.read_standard_flow().to("m**3/h").magnitude
    # standard dry flow from the monitor's own readings (ideal gas, 273.15 K, 101.325 kPa)
    expected_std = v2 * 10 * 3600 * 273.15 / (121.0 + 273.15) * 100 / 101.325 * 0.92
    assert std == pytest.approx(expected_std, rel=0.01)  # v moves between the two reads
    profile = [0.9, 1.0, 1.1, 1.0]
    for point in (1, 3):
        fsim.act("pitot", "move", point=str(point))
        assert pitot.traverse_point() == point
        before = fsim.peek("stack", "velocity").to("m/s").magnitude
        got = pitot.read_velocity().to("m/s").magnitude
        after = fsim.peek("stack", "velocity").to("m/s").magnitude
        f = profile[point - 1] / (sum(profile) / 4) * 1.005
        assert min(before, after) * f - 0.02 <= got <= max(before, after) * f + 0.02
    fsim.act("pitot", "move", point="0")
    assert pitot.read_velocity() == Q(0.0, "m/s")


READS: dict[str, tuple[Callable[[Any], Any], str, bool]] = {
    "balance": (lambda d: d.read_mass(), "'S'", False),  # pyserial, pty
    "calorimeter": (lambda d: d.read_temperature(), "'T?'", False),  # pyserial, pty
    "coulometric": (lambda d: d.identify(), "'ID?'", False),  # pyserial, pty
    "infrared": (lambda d: d.identify(), "identity", True),  # Modbus TCP
    "belt": (lambda d: d.read_totalized(), "totalizer", True),  # Modbus RTU, pty
    "cems": (lambda d: d.read_concentration(), "CO2", True),  # Modbus TCP
    "flow": (lambda d: d.read_velocity(), "velocity", True),  # Modbus RTU, pty
    "pitot": (lambda d: d.read_velocity(), "velocity", True),  # Modbus RTU, pty
}
KINDS = ["no_reply", "garbage", "drop_connection", "slow_reply", "out_of_range"]


def expected_error(kind: str, modbus: bool) -> type[InstrumentError]:
    return {
        "no_reply": InstrumentTimeout,
        "slow_reply": InstrumentTimeout,
        "garbage": InstrumentTimeout if modbus else InstrumentProtocolError,
        "drop_connection": InstrumentConnectionError,
        "out_of_range": InstrumentOverrange,
    }[kind]


def recover(read: Callable[[], Any]) -> Any:
    last: Exception | None = None
    for _ in range(40):
        try:
            return read()
        except InstrumentError as exc:
            last = exc
            time.sleep(0.05)
    raise AssertionError(f"no recovery: {last}")


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        (n, k)
        for n in READS
        for k in KINDS
        # results flag out-of-range in their records (tested below); identity has no range
        if not (k == "out_of_range" and n in ("coulometric", "infrared"))
    ],
)
def test_fault(fsim: SimulatedBench, finst: dict[str, Any], name: str, kind: str) -> None:
    read, command, modbus = READS[name]
    driver = finst[name]
    recover(lambda: read(driver))
    fsim.inject_fault(name, kind, delay_s=0.7)
    try:
        with pytest.raises(expected_error(kind, modbus)) as err:
            read(driver)
        assert err.value.instrument == name
        assert command in str(err.value)
    finally:
        fsim.clear_fault(name)
    if kind == "slow_reply":
        time.sleep(0.8)
    recover(lambda: read(driver))
    read(driver)


@pytest.mark.parametrize("name", ["coulometric", "infrared"])
def test_sulfur_out_of_range_result(fsim: SimulatedBench, finst: dict[str, Any], name: str) -> None:
    fsim.inject_fault(name, "out_of_range")
    try:
        fsim.act(name, "analyze", sample_id="OVR-1", sample="HIGH", mass="50 mg")
        with pytest.raises(InstrumentOverrange) as err:
            finst[name].read_result(timeout_s=5.0)
        assert err.value.instrument == name
    finally:
        fsim.clear_fault(name)
    fsim.act(name, "analyze", sample_id="OK-1", sample="LOW", mass="50 mg")
    assert finst[name].read_result(timeout_s=5.0).sample_id == "OK-1"
