"""Every fault kind raises the documented exception naming the command; drivers recover.

Documented mapping: no_reply and slow_reply → InstrumentTimeout; garbage →
InstrumentProtocolError on line protocols (Modbus framers discard a garbled frame, so
there it is InstrumentTimeout); drop_connection → InstrumentConnectionError;
out_of_range → InstrumentOverrange.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from drivers.errors import (
    InstrumentConnectionError,
    InstrumentError,
    InstrumentOverrange,
    InstrumentProtocolError,
    InstrumentTimeout,
)
from drivers.sim import SimulatedBench

READS: dict[str, tuple[Callable[[Any], Any], str, bool]] = {
    # instrument: (read call, command named in the error, speaks Modbus)
    "analyzer": (lambda d: d.read_concentration(), "MEAS:CONC?", False),  # VISA TCP
    "tester": (lambda d: d.read_voltage(), "MEAS:VOLT?", False),  # VISA TCP
    "load": (lambda d: d.read_current(), "MEAS:CURR?", False),  # VISA ASRL, pty
    "dilutor": (lambda d: d.read_flow(), "'A'", False),  # pyserial, pty
    "mfc": (lambda d: d.read_flow(), "'A'", False),  # pyserial, pty
    "ea": (lambda d: d.identify(), "'ID?'", False),  # pyserial, pty (out of range: below)
    "ch4": (lambda d: d.read_concentration(), "concentration", True),  # Modbus TCP
    "standard": (lambda d: d.read_flow(), "flow", True),  # Modbus RTU, pty
    "environment": (lambda d: d.read_pressure(), "pressure", True),  # Modbus TCP
}


def expected(kind: str, modbus: bool) -> type[InstrumentError]:
    return {
        "no_reply": InstrumentTimeout,
        "slow_reply": InstrumentTimeout,
        "garbage": InstrumentTimeout if modbus else InstrumentProtocolError,
        "drop_connection": InstrumentConnectionError,
        "out_of_range": InstrumentOverrange,
    }[kind]


def recover(read: Callable[[], Any]) -> Any:
    last: Exception | None = None
    for _ in range(20):
        try:
            return read()
        except InstrumentError as exc:
            last = exc
            time.sleep(0.05)
    raise AssertionError(f"no recovery: {last}")


KINDS = ["no_reply", "garbage", "drop_connection", "slow_reply", "out_of_range"]


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        (name, kind)
        for name in READS
        for kind in KINDS
        if (name, kind) != ("ea", "out_of_range")  # flagged in result records, tested below
    ],
)
def test_fault(sim: SimulatedBench, inst: dict[str, Any], name: str, kind: str) -> None:
    read, command, modbus = READS[name]
    driver = inst[name]
    recover(lambda: read(driver))
    sim.inject_fault(name, kind, delay_s=0.7)
    try:
        with pytest.raises(expected(kind, modbus)) as err:
            read(driver)
        assert name in str(err.value)
        assert command in str(err.value)
        assert err.value.instrument == name
    finally:
        sim.clear_fault(name)
    if kind == "slow_reply":
        time.sleep(0.8)  # let the late reply pass, as an operator would
    recover(lambda: read(driver))
    # and afterwards a plain read succeeds first time
    read(driver)


def test_scheduled_fault_expires(bench: Any) -> None:
    from dataclasses import replace

    from drivers.bench import FaultSchedule, open_instruments

    cfg = replace(
        bench.instruments["environment"],
        faults=(FaultSchedule("no_reply", at_s=0.0, duration_s=30.0),),
    )
    one = replace(bench, instruments={"environment": cfg})
    with SimulatedBench(one) as s:
        from drivers.instruments.modbus import ModbusEnvironmentMonitor

        env = ModbusEnvironmentMonitor.open("environment", s.addresses["environment"], 0.3)
        with pytest.raises(InstrumentTimeout):
            env.read_pressure()
        time.sleep(30 / one.time_scale)
        assert recover(env.read_pressure).to("kPa").magnitude > 100
        env.close()
        assert open_instruments is not None


def test_elemental_out_of_range_result(sim: SimulatedBench, inst: dict[str, Any]) -> None:
    """A result out of the calibrated range (``OVR``) raises InstrumentOverrange; the next
    result, after the simulator recovers, is read normally."""
    ea = inst["ea"]
    sim.inject_fault("ea", "out_of_range")
    try:
        sim.act("ea", "analyze", sample_id="OVR-1", substance="sulfanilamide", mass="2.000 mg")
        with pytest.raises(InstrumentOverrange) as err:
            ea.read_result(timeout_s=5.0)
        assert err.value.instrument == "ea"
        assert err.value.command == "<result record>"
        assert b"OVR-1" in err.value.raw
    finally:
        sim.clear_fault("ea")
    sim.act("ea", "analyze", sample_id="OK-1", substance="sulfanilamide", mass="2.000 mg")
    result = ea.read_result(timeout_s=5.0)
    assert result.sample_id == "OK-1"
    assert set(result.fractions) == {"C", "H", "N", "S"}
