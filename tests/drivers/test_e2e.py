"""Every driver against the simulator over real loopback sockets and pseudo-terminals.

Expected values are computed here from the bench file's physics and the regulations,
never read back from the simulator's internals.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from drivers.bench import BenchConfig, open_instruments
from drivers.sim import SimControlClient, SimulatedBench
from drivers.units import ureg

Q = ureg.Quantity


def wait_sim(sim: SimulatedBench, seconds: float) -> None:
    """Sleep ``seconds`` of simulated time."""
    time.sleep(seconds / sim.bench.time_scale)


def test_identities(inst: dict[str, Any]) -> None:
    for name, driver in inst.items():
        ident = driver.identify()
        assert ident.manufacturer == "CarbonSim"
        assert ident.serial == f"SIM-{name}"


def test_scpi_analyzer_settles(
    bench: BenchConfig, sim: SimulatedBench, inst: dict[str, Any]
) -> None:
    phys = bench.instruments["analyzer"].sim
    dil, an = inst["dilutor"], inst["analyzer"]
    dil.set_flow(Q(1.0, "L/min"))
    dil.select_port(2)
    assert dil.selected_port() == 2
    assert dil.read_flow() == Q(1.0, "L/min")  # noise_sd 0 on this bench
    wait_sim(sim, 5 * phys["t90"].to("s").magnitude + 2)  # lag left: 1e-5 of the step
    actual, gain, offset = 1003.0, 0.02, 4.0  # from all-instruments.toml
    expected = (1 + gain) * actual + offset
    tolerance = 4 * 0.5 + 0.05  # 4 noise sd + half the resolution
    readings = [an.read_concentration().to("umol/mol").magnitude for _ in range(5)]
    for r in readings:
        assert abs(r - expected) <= tolerance, (r, expected)
    # the first-order response: well before 1 t90 after a step to zero gas it is still high
    dil.select_port(1)
    wait_sim(sim, 5)
    mid = an.read_concentration().to("umol/mol").magnitude
    assert mid > offset + 0.3 * (1 + gain) * actual


def test_modbus_ch4_analyzer_settles(sim: SimulatedBench, inst: dict[str, Any]) -> None:
    inst["dilutor"].set_flow(Q(1.0, "L/min"))
    inst["dilutor"].select_port(3)
    wait_sim(sim, 5 * 20 + 2)  # t90 20 s: lag left 1e-5 of the step
    expected = (1 - 0.01) * 4990 + (-5)
    value = inst["ch4"].read_concentration().to("umol/mol").magnitude
    assert abs(value - expected) <= 4 * 2 + 0.5


@pytest.fixture
def fast_pile(bench: BenchConfig) -> Iterator[tuple[SimulatedBench, dict[str, Any]]]:
    """The pile, its load and tester alone at one simulated hour per wall second."""
    names = ("pile", "tester", "load")
    fast = replace(bench, time_scale=3600.0, instruments={n: bench.instruments[n] for n in names})
    with SimulatedBench(fast) as s:
        drivers = open_instruments(fast, s.addresses)
        yield s, drivers
        for d in drivers.values():
            d.close()


def test_pile_pulse_counted_error(fast_pile: tuple[SimulatedBench, dict[str, Any]]) -> None:
    sim, inst = fast_pile
    tester, load = inst["tester"], inst["load"]
    tester.set_meter_constant(Q(1000, "1/kWh"))
    load.set_current(Q(32, "A"))
    load.set_output(True)
    assert load.read_current() == Q(32, "A")
    tester.start_energy_test()
    wait_sim(sim, 3600)  # an hour at 7.04 kW
    tester.stop_energy_test()
    load.safe_state()
    energy = tester.read_standard_energy().to("kWh").magnitude
    pulses = tester.read_pulses().to("count").magnitude
    configured = 0.003  # errors at 32 A in all-instruments.toml
    pile_energy = pulses / 1000.0
    measured = (pile_energy - energy) / energy
    # pulses resolve 1/1000 kWh, like the 0.001 kWh display: allow one step either side
    assert abs(measured - configured) <= 0.001 / energy + 1e-9
    reported = tester.read_energy_error().to("percent").magnitude
    assert reported == pytest.approx(measured * 100, abs=1e-3)
    assert tester.read_voltage() == Q(220, "V")
    assert not load.output_is_on()


def test_pile_display_and_payment(sim: SimulatedBench) -> None:
    shown = sim.peek("pile", "display_energy").to("kWh").magnitude
    assert shown == pytest.approx(round(shown, 3), abs=1e-9)  # 0.001 kWh display
    assert sim.peek("pile", "payment") == pytest.approx(round(shown * 1.20, 2), abs=0.0051)
    import datetime as dt

    pile = dt.datetime.fromisoformat(sim.peek("pile", "clock"))
    true = dt.datetime.fromisoformat(sim.peek("pile", "true_clock"))
    assert abs((pile - true).total_seconds() - 2.5) <= 1.0


def test_flow_standard_counts_meter_pulses(sim: SimulatedBench, inst: dict[str, Any]) -> None:
    mfc, std = inst["mfc"], inst["standard"]
    mfc.set_flow(Q(6, "m**3/h"))  # = 100 L/min
    std.reset_totalizer()
    std.start_totalizing()
    wait_sim(sim, 60)
    std.stop_totalizing()
    assert not std.is_totalizing()
    volume = std.read_volume().to("L").magnitude
    pulses = std.read_pulses().to("count").magnitude
    assert std.read_flow().to("m**3/h").magnitude == pytest.approx(6.0, abs=0.001)
    # error curve (2.5 m³/h, 1.2 %), (10 m³/h, 0.3 %) interpolated at 6 m³/h
    expected = 0.012 + (0.003 - 0.012) * (6 - 2.5) / (10 - 2.5)
    measured = pulses / 10.0 / volume - 1  # K-factor 10 pulses/L
    assert abs(measured - expected) <= 1 / (10 * volume) + 1e-3 / volume
    mfc.safe_state()
    assert mfc.read_flow() == Q(0, "L/min")


def test_elemental_results(sim: SimulatedBench, inst: dict[str, Any]) -> None:
    sim.act("ea", "analyze", sample_id="SULF-1", substance="sulfanilamide", mass="2.000 mg")
    result = inst["ea"].read_result(timeout_s=3.0)
    assert result.sample_id == "SULF-1"
    assert result.mass == Q(2.0, "mg")
    certified = {"C": 41.85, "H": 4.68, "N": 16.27, "S": 18.62}
    bias = {"C": 0.005, "H": -0.01, "N": 0.0, "S": 0.02}
    noise = {"C": 0.05, "H": 0.02, "N": 0.03, "S": 0.04}
    for element, value in certified.items():
        got = result.fractions[element].to("percent").magnitude
        assert abs(got - value * (1 + bias[element])) <= 4 * noise[element] + 0.005


def test_environment(inst: dict[str, Any]) -> None:
    env = inst["environment"]
    assert abs(env.read_temperature().to("degC").magnitude - 21.5) <= 0.3 + 0.01
    assert abs(env.read_humidity().to("percent").magnitude - 45) <= 2 + 0.01
    assert abs(env.read_pressure().to("kPa").magnitude - 101.2) <= 0.2 + 0.01


def test_control_port(sim: SimulatedBench) -> None:
    client = SimControlClient(sim.control_address)
    try:
        assert client.addresses() == sim.addresses
        t = client.peek("analyzer", "time")
        assert t.to("s").magnitude > 0
        client.inject_fault("analyzer", "out_of_range", duration_s=1e6)
        assert sim.faults["analyzer"].is_active("out_of_range")
        client.clear_fault("analyzer")
        assert sim.faults["analyzer"].active() is None
        with pytest.raises(RuntimeError, match="no observable 'nope'"):
            client.peek("analyzer", "nope")
        due = client.act("ea", "analyze", sample_id="S9", substance="sulfanilamide", mass="1.0 mg")
        assert math.isfinite(due.to("s").magnitude)
    finally:
        client.close()
