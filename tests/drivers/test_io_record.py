"""The instrument I/O record: every exchange of every transport kind reaches the observers.

Against the simulator over real loopback sockets and pseudo-terminals (the module's bench,
tests/drivers/conftest.py). Expected bytes are written out from the protocols documented
in the drivers (terminators, Modbus PDU layout), not taken from the transports.
"""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from drivers.bench import BenchConfig, open_instruments
from drivers.errors import (
    InstrumentConnectionError,
    InstrumentError,
    InstrumentProtocolError,
    InstrumentTimeout,
)
from drivers.io_record import IoExchange, IoObservable
from drivers.sim import SimulatedBench
from drivers.transport import ScriptedRegisters, ScriptedTransport
from drivers.units import ureg

Q = ureg.Quantity


class Recorder:
    """An observer keeping every exchange."""

    def __init__(self) -> None:
        self.exchanges: list[IoExchange] = []

    def __call__(self, exchange: IoExchange) -> None:
        self.exchanges.append(exchange)

    def take(self) -> list[IoExchange]:
        out, self.exchanges = self.exchanges, []
        return out


@pytest.fixture
def observe(inst: dict[str, Any]) -> Iterator[Callable[[str], Recorder]]:
    """Attach a fresh recorder to a driver of the module's bench (detached afterwards)."""
    attached: list[tuple[Any, Recorder]] = []

    def attach(name: str) -> Recorder:
        rec = Recorder()
        inst[name].add_io_observer(rec)
        attached.append((inst[name], rec))
        return rec

    yield attach
    for driver, rec in attached:
        driver.remove_io_observer(rec)


def recover(read: Callable[[], Any]) -> None:
    for _ in range(40):
        try:
            read()
            return
        except InstrumentError:
            time.sleep(0.05)
    raise AssertionError("no recovery")


def ok(ex: IoExchange, name: str, operation: str, sent: bytes) -> None:
    assert ex.instrument == name
    assert ex.operation == operation
    assert ex.sent == sent
    assert ex.error == ""
    assert ex.duration_s >= 0
    assert ex.at.tzinfo is UTC


def test_visa_tcp(inst: dict[str, Any], observe: Callable[[str], Recorder]) -> None:
    rec = observe("analyzer")
    before = datetime.now(UTC)
    value = inst["analyzer"].read_concentration()
    inst["analyzer"].safe_state()
    after = datetime.now(UTC)
    query, command = rec.take()
    ok(query, "analyzer", "query", b"MEAS:CONC?\n")
    assert query.received.endswith(b"\n")
    assert float(query.received) == value.to("umol/mol").magnitude
    assert before <= query.at <= command.at <= after
    # a state change is acknowledged by the operation-complete query
    ok(command, "analyzer", "query", b"CAL:ABOR;*OPC?\n")
    assert command.received == b"1\n"


def test_visa_asrl(inst: dict[str, Any], observe: Callable[[str], Recorder]) -> None:
    rec = observe("load")
    inst["load"].set_current(Q(12.5, "A"))
    assert not inst["load"].output_is_on()
    command, query = rec.take()
    ok(command, "load", "query", b"CURR 12.5000;*OPC?\n")
    assert command.received == b"1\n"
    ok(query, "load", "query", b"OUTP?\n")
    assert query.received == b"0\n"


def test_serial(
    sim: SimulatedBench, inst: dict[str, Any], observe: Callable[[str], Recorder]
) -> None:
    rec = observe("dilutor")
    inst["dilutor"].select_port(2)
    flow = inst["dilutor"].read_flow()
    move, position, poll = rec.take()
    ok(move, "dilutor", "write", b"1GO2\r")
    ok(position, "dilutor", "query", b"1CP\r")
    assert position.received == b"Position is = 2\r"
    ok(poll, "dilutor", "query", b"A\r")
    assert poll.received.endswith(b"\r")
    assert float(poll.received.split()[4]) == flow.to("L/min").magnitude  # mass-flow field
    # a line the instrument sends on its own
    rec = observe("ea")
    sim.act("ea", "analyze", sample_id="IO-1", substance="sulfanilamide", mass="1.500 mg")
    result = inst["ea"].read_result(timeout_s=5.0)
    (record,) = rec.take()
    ok(record, "ea", "read", b"")
    assert record.received.startswith(b"RES;")
    assert b";IO-1;1.500 mg;C=" in record.received
    assert record.received.endswith(b"\r\n")
    assert result.sample_id == "IO-1"


def test_modbus_tcp(inst: dict[str, Any], observe: Callable[[str], Recorder]) -> None:
    rec = observe("environment")
    pressure = inst["environment"].read_pressure()
    (read,) = rec.take()
    # function 4, address 2, count 1 / function 4, 2 bytes, one register
    ok(read, "environment", "read_input_registers", bytes([4, 0, 2, 0, 1]))
    assert read.received[:2] == bytes([4, 2])
    assert int.from_bytes(read.received[2:], "big") / 100 == pressure.to("kPa").magnitude
    rec = observe("ch4")
    inst["ch4"].safe_state()
    ident = inst["ch4"].identify()
    write, identity = rec.take()
    # function 16, address 100, 1 register, 2 bytes, value 0 / echo of address and count
    ok(write, "ch4", "write_registers", bytes([16, 0, 100, 0, 1, 2, 0, 0]))
    assert write.received == bytes([16, 0, 100, 0, 1])
    ok(identity, "ch4", "read_holding_registers", bytes([3, 1, 0, 0, 32]))
    assert identity.received[:2] == bytes([3, 64])
    assert identity.received[2:18].rstrip(b"\0").decode() == ident.manufacturer


def test_modbus_rtu(inst: dict[str, Any], observe: Callable[[str], Recorder]) -> None:
    rec = observe("standard")
    flow = inst["standard"].read_flow()
    (read,) = rec.take()
    ok(read, "standard", "read_input_registers", bytes([4, 0, 0, 0, 7]))
    assert read.received[:2] == bytes([4, 14])
    (raw_flow,) = struct.unpack(">i", read.received[2:6])
    assert raw_flow / 1000 == flow.to("m**3/h").magnitude


@pytest.mark.parametrize(
    ("name", "read", "sent"),
    [
        ("analyzer", lambda d: d.read_concentration(), b"MEAS:CONC?\n"),  # VISA TCP
        ("load", lambda d: d.read_current(), b"MEAS:CURR?\n"),  # VISA ASRL
        ("mfc", lambda d: d.read_flow(), b"A\r"),  # pyserial
    ],
)
def test_garbled_reply_and_timeout_recorded(
    sim: SimulatedBench,
    inst: dict[str, Any],
    observe: Callable[[str], Recorder],
    name: str,
    read: Callable[[Any], Any],
    sent: bytes,
) -> None:
    driver = inst[name]
    recover(lambda: read(driver))
    rec = observe(name)
    sim.inject_fault(name, "garbage")
    try:
        with pytest.raises(InstrumentProtocolError) as err:
            read(driver)
    finally:
        sim.clear_fault(name)
    (garbled,) = rec.take()
    assert garbled.sent == sent
    assert garbled.received == err.value.raw
    assert b"\xfe" in garbled.received  # the simulator's garbage, not ASCII
    assert garbled.error.startswith("InstrumentProtocolError: ")
    assert str(err.value) in garbled.error
    recover(lambda: read(driver))
    rec.take()
    sim.inject_fault(name, "no_reply")
    try:
        with pytest.raises(InstrumentTimeout):
            read(driver)
    finally:
        sim.clear_fault(name)
    (silent,) = rec.take()
    assert silent.sent == sent
    assert silent.received == b""
    assert silent.error.startswith("InstrumentTimeout: ")
    assert silent.duration_s >= 0.9 * driver.transport.timeout_s
    recover(lambda: read(driver))


def test_modbus_timeout_and_lost_connection_recorded(
    sim: SimulatedBench, inst: dict[str, Any], observe: Callable[[str], Recorder]
) -> None:
    env = inst["environment"]
    recover(env.read_humidity)
    rec = observe("environment")
    for kind, error in (
        ("garbage", InstrumentTimeout),
        ("drop_connection", InstrumentConnectionError),
    ):
        sim.inject_fault("environment", kind)
        try:
            with pytest.raises(error):
                env.read_humidity()
        finally:
            sim.clear_fault("environment")
        failed = rec.take()[-1]
        assert failed.sent == bytes([4, 0, 1, 0, 1])
        assert failed.received == b""
        assert failed.error.startswith(error.__name__ + ": ")
        recover(env.read_humidity)
        rec.take()


def test_observers_added_removed_and_failing(
    inst: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    env = inst["environment"]
    assert isinstance(env, IoObservable)
    first, second = Recorder(), Recorder()

    def broken(exchange: IoExchange) -> None:
        raise RuntimeError("observer bug")

    for observer in (first, broken, second):
        env.add_io_observer(observer)
    with caplog.at_level(logging.ERROR, logger="drivers.io_record"):
        temperature = env.read_temperature()  # the failing observer does not fail the call
    assert temperature.units == ureg.degC
    assert len(first.exchanges) == len(second.exchanges) == 1
    assert "instrument I/O observer" in caplog.text
    for observer in (first, broken, second):
        env.remove_io_observer(observer)
    env.read_temperature()
    assert len(first.exchanges) == 1
    # a bound method is removed by the same method of the same object
    queued: list[IoExchange] = []
    env.add_io_observer(queued.append)
    env.read_temperature()
    env.remove_io_observer(queued.append)
    env.read_temperature()
    assert len(queued) == 1


def test_open_instruments_observes_from_the_first_exchange(bench: BenchConfig) -> None:
    rec = Recorder()
    with SimulatedBench(bench) as own:  # serial ports are held by the module's drivers
        drivers = open_instruments(bench, own.addresses, io_observer=rec)
        _check_identify_exchanges(rec, drivers)


def _check_identify_exchanges(rec: Recorder, drivers: dict[str, Any]) -> None:
    try:
        named = [ex.instrument for ex in rec.exchanges]
        assert named == list(drivers)  # one identify() each, in bench order
        assert all(ex.error == "" for ex in rec.exchanges)
        by_name = {ex.instrument: ex for ex in rec.exchanges}
        assert by_name["analyzer"].sent == b"*IDN?\n"
        assert by_name["ea"].sent == b"ID?\r\n"
        assert by_name["standard"].sent == bytes([3, 1, 0, 0, 32])
    finally:
        for d in drivers.values():
            d.close()


def test_scripted_transports_report_like_real_ones() -> None:
    rec = Recorder()
    line = ScriptedTransport(
        [("MEAS:CONC?", "+1.0E+03"), ("CAL:ABOR", None), ("MEAS:CONC?", b"\xfe\x81")],
        instrument="co2",
    )
    line.add_io_observer(rec)
    assert line.query("MEAS:CONC?") == "+1.0E+03"
    line.write("CAL:ABOR")
    with pytest.raises(InstrumentProtocolError):
        line.query("MEAS:CONC?")
    regs = ScriptedRegisters([("read_input", 2, 1, [10132]), ("write", 100, [3])], instrument="fs")
    regs.add_io_observer(rec)
    regs.read_registers(2, 1, "pressure", inputs=True)
    regs.write_registers(100, [3], "reset")
    q, w, bad, r, wr = rec.exchanges
    assert (q.operation, q.sent, q.received, q.error) == ("query", b"MEAS:CONC?", b"+1.0E+03", "")
    assert (w.operation, w.received) == ("write", b"")
    assert bad.received == b"\xfe\x81"
    assert bad.error.startswith("InstrumentProtocolError")
    assert (r.operation, r.sent, r.received) == (
        "read_input_registers",
        bytes([4, 0, 2, 0, 1]),
        bytes([4, 2]) + (10132).to_bytes(2, "big"),
    )
    assert (wr.sent, wr.received) == (bytes([16, 0, 100, 0, 1, 2, 0, 3]), bytes([16, 0, 100, 0, 1]))
