"""Protocol tests: every driver over a scripted transport, each command/reply asserted."""

from __future__ import annotations

import struct

import pytest

from drivers.errors import InstrumentOverrange, InstrumentProtocolError, InstrumentTimeout
from drivers.instruments.alicat import AlicatDilutor, AlicatMfc
from drivers.instruments.elemental import SerialElementalAnalyzer
from drivers.instruments.modbus import (
    ModbusEnvironmentMonitor,
    ModbusFlowStandard,
    ModbusGasAnalyzer,
)
from drivers.instruments.scpi import ScpiGasAnalyzer, ScpiLoad, ScpiPileTester
from drivers.roles import (
    ChargingPileTester,
    ElementalAnalyzer,
    EnvironmentMonitor,
    FlowController,
    GasAnalyzer,
    GasDilutor,
    InstrumentIdentity,
    ProgrammableLoad,
    ReferenceFlowStandard,
)
from drivers.transport import ScriptedRegisters, ScriptedTransport
from drivers.units import ureg


def text_regs(text: str) -> list[int]:
    data = text.encode().ljust(16, b"\0")
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, 16, 2)]


IDENTITY_REGS = text_regs("Acme") + text_regs("X1") + text_regs("42") + text_regs("2.1")
IDENTITY = InstrumentIdentity("Acme", "X1", "42", "2.1")


def test_scpi_gas_analyzer() -> None:
    t = ScriptedTransport(
        [
            ("*IDN?", "Acme,X1,42,2.1"),
            ("MEAS:CONC?", "+1.00450E+03"),
            ("SENS:RANG?", "+2.000000E+03"),
            ("CAL:ABOR;*OPC?", "1"),
            ("MEAS:CONC?", "9.9E37"),
            ("MEAS:CONC?", "abc"),
        ]
    )
    a = ScpiGasAnalyzer(t, name="co2")
    assert isinstance(a, GasAnalyzer)
    assert a.identify() == IDENTITY
    assert a.read_concentration() == ureg.Quantity(1004.5, "umol/mol")
    assert a.read_range() == ureg.Quantity(2000, "umol/mol")
    a.safe_state()
    with pytest.raises(InstrumentOverrange, match=r"co2: 'MEAS:CONC\?'"):
        a.read_concentration()
    with pytest.raises(InstrumentProtocolError) as err:
        a.read_concentration()
    assert err.value.raw == b"abc"
    t.assert_consumed()


def test_scpi_pile_tester() -> None:
    t = ScriptedTransport(
        [
            ("CONF:CONS 1000;*OPC?", "1"),
            ("TEST:STAR;*OPC?", "1"),
            ("MEAS:ENER?", "+7.040000E+00"),
            ("MEAS:VOLT?", "+2.200000E+02"),
            ("MEAS:CURR?", "+3.200000E+01"),
            ("MEAS:PULS?", "7061"),
            ("MEAS:ERR?", "+3.000000E-01"),
            ("TEST:STOP;*OPC?", "1"),
            ("TEST:STOP;*OPC?", "1"),
        ]
    )
    d = ScpiPileTester(t, name="tester")
    assert isinstance(d, ChargingPileTester)
    d.set_meter_constant(ureg.Quantity(1000, "1/kWh"))
    d.start_energy_test()
    assert d.read_standard_energy() == ureg.Quantity(7.04, "kWh")
    assert d.read_voltage() == ureg.Quantity(220, "V")
    assert d.read_current() == ureg.Quantity(32, "A")
    assert d.read_pulses() == ureg.Quantity(7061, "count")
    assert d.read_energy_error() == ureg.Quantity(0.3, "percent")
    d.stop_energy_test()
    d.safe_state()
    t.assert_consumed()
    with pytest.raises(ValueError, match="meter constant"):
        d.set_meter_constant(ureg.Quantity(1000, "A"))


def test_scpi_load() -> None:
    t = ScriptedTransport(
        [
            ("CURR 16.0000;*OPC?", "1"),
            ("OUTP ON;*OPC?", "1"),
            ("OUTP?", "1"),
            ("MEAS:CURR?", "+1.600000E+01"),
            ("OUTP OFF;*OPC?", "1"),
            ("CURR 0.0000;*OPC?", "1"),
        ]
    )
    load = ScpiLoad(t, name="load")
    assert isinstance(load, ProgrammableLoad)
    load.set_current(ureg.Quantity(16000, "mA"))
    load.set_output(True)
    assert load.output_is_on()
    assert load.read_current() == ureg.Quantity(16, "A")
    load.safe_state()
    t.assert_consumed()


def test_alicat_mfc() -> None:
    t = ScriptedTransport(
        [
            ("A??M*", "A M* Alicat MC-500SLPM 100234 8v17"),
            ("AS 1.5000", "A +101.33 +023.50 +1.4990 +1.4980 +1.5000 N2"),
            ("A", "A +101.33 +023.50 +1.4990 +1.4980 +1.5000 N2"),
            ("A", "A +101.33 +023.50 +0.0000 +0.0000 +0.0000 N2 MOV"),
            ("AS 0.0000", "A +101.33 +023.50 +0.0000 +0.0000 +0.0000 N2"),
        ]
    )
    m = AlicatMfc(t, name="mfc")
    assert isinstance(m, FlowController)
    assert m.identify() == InstrumentIdentity("Alicat", "MC-500SLPM", "100234", "8v17")
    m.set_flow(ureg.Quantity(90, "L/h"))
    assert m.read_flow() == ureg.Quantity(1.498, "L/min")
    with pytest.raises(InstrumentOverrange):
        m.read_flow()
    m.safe_state()
    t.assert_consumed()


def test_alicat_dilutor_ports() -> None:
    t = ScriptedTransport(
        [("1GO3", None), ("1CP", "Position is = 3"), ("1CP", "Position is = 3"), ("1CP", "??")]
    )
    d = AlicatDilutor(t, name="dilutor")
    assert isinstance(d, GasDilutor)
    d.select_port(3)
    assert d.selected_port() == 3
    with pytest.raises(InstrumentProtocolError, match="1CP"):
        d.selected_port()
    t.assert_consumed()


def test_elemental_result_records() -> None:
    record = "RES;0001;S1;2.013 mg;C=71.12;H=6.70;N=10.35;S=--"
    t = ScriptedTransport(
        [
            ("ID?", record),  # a record arriving while the command waits is kept
            (None, "ID;Acme;X1;42;2.1"),
            ("STBY", None),
            (None, "RES;0002;S2;1.500 mg;C=OVR;H=1.00"),
        ]
    )
    ea = SerialElementalAnalyzer(t, name="ea")
    assert isinstance(ea, ElementalAnalyzer)
    assert ea.identify() == IDENTITY
    ea.safe_state()
    result = ea.read_result()
    assert result.sample_id == "S1"
    assert result.mass == ureg.Quantity(2.013, "mg")
    assert result.fractions == {
        "C": ureg.Quantity(71.12, "percent"),
        "H": ureg.Quantity(6.70, "percent"),
        "N": ureg.Quantity(10.35, "percent"),
    }
    with pytest.raises(InstrumentOverrange):
        ea.read_result()
    t.assert_consumed()


def test_modbus_gas_analyzer() -> None:
    hi, lo = struct.unpack(">HH", struct.pack(">f", 4990.5))
    t = ScriptedRegisters(
        [
            ("read", 256, 32, IDENTITY_REGS),
            ("read_input", 0, 3, [hi, lo, 0]),
            ("read_input", 0, 3, [hi, lo, 1]),
            ("write", 100, [0]),
        ]
    )
    a = ModbusGasAnalyzer(t, name="ch4")
    assert isinstance(a, GasAnalyzer)
    assert a.identify() == IDENTITY
    assert a.read_concentration() == ureg.Quantity(4990.5, "umol/mol")
    with pytest.raises(InstrumentOverrange, match="ch4"):
        a.read_concentration()
    a.safe_state()
    t.assert_consumed()


def test_modbus_environment() -> None:
    t = ScriptedRegisters(
        [
            ("read_input", 0, 1, [(-512) & 0xFFFF]),
            ("read_input", 1, 1, [4550]),
            ("read_input", 2, 1, [10132]),
            ("read_input", 2, 1, [0x7FFF]),
        ]
    )
    e = ModbusEnvironmentMonitor(t, name="env")
    assert isinstance(e, EnvironmentMonitor)
    assert e.read_temperature() == ureg.Quantity(-5.12, "degC")
    assert e.read_humidity() == ureg.Quantity(45.5, "percent")
    assert e.read_pressure() == ureg.Quantity(101.32, "kPa")
    with pytest.raises(InstrumentOverrange):
        e.read_pressure()
    t.assert_consumed()


def test_modbus_flow_standard() -> None:
    block = [0, 6000, 0, 50000, 0, 503, 1]  # 6.000 m³/h, 50.000 L, 503 pulses, totalizing
    t = ScriptedRegisters(
        [
            ("write", 100, [3]),
            ("write", 100, [1]),
            ("read_input", 0, 7, block),
            ("read_input", 0, 7, block),
            ("read_input", 0, 7, block),
            ("write", 100, [2]),
            ("read_input", 0, 7, [*block[:6], 2]),
        ]
    )
    s = ModbusFlowStandard(t, name="std")
    assert isinstance(s, ReferenceFlowStandard)
    s.reset_totalizer()
    s.start_totalizing()
    assert s.read_flow() == ureg.Quantity(6.0, "m**3/h")
    assert s.read_volume() == ureg.Quantity(50.0, "L")
    assert s.read_pulses() == ureg.Quantity(503, "count")
    s.safe_state()
    with pytest.raises(InstrumentOverrange):
        s.read_flow()
    t.assert_consumed()


@pytest.mark.parametrize("cls", [ScpiPileTester, ScpiLoad], ids=lambda c: c.__name__)
def test_scpi_identify(cls: type) -> None:
    t = ScriptedTransport([("*IDN?", "Acme,X1,42,2.1"), ("*IDN?", "Acme,X1")])
    d = cls(t, name="dev")
    assert d.identify() == IDENTITY
    with pytest.raises(InstrumentProtocolError, match=r"dev: '\*IDN\?'") as err:
        d.identify()
    assert err.value.raw == b"Acme,X1"
    t.assert_consumed()


@pytest.mark.parametrize(
    "cls", [ModbusEnvironmentMonitor, ModbusFlowStandard], ids=lambda c: c.__name__
)
def test_modbus_identify(cls: type) -> None:
    t = ScriptedRegisters([("read", 256, 32, IDENTITY_REGS)])
    assert cls(t, name="dev").identify() == IDENTITY
    t.assert_consumed()


def test_modbus_flow_standard_status() -> None:
    t = ScriptedRegisters(
        [("read_input", 0, 7, [0, 0, 0, 0, 0, 0, 1]), ("read_input", 0, 7, [0, 0, 0, 0, 0, 0, 0])]
    )
    s = ModbusFlowStandard(t, name="std")
    assert s.is_totalizing()
    assert not s.is_totalizing()
    t.assert_consumed()


def test_alicat_dilutor_identity_flow_and_stuck_valve() -> None:
    t = ScriptedTransport(
        [
            ("A??M*", "A M* Acme X1 42 2.1"),
            ("AS 0.5000", "A +101.33 +023.50 +0.5012 +0.5010 +0.5000 N2"),
            ("A", "A +101.33 +023.50 +0.5012 +0.5010 +0.5000 N2"),
            ("1GO2", None),
            ("1CP", "Position is = 1"),  # the valve did not move
        ]
    )
    d = AlicatDilutor(t, name="dilutor")
    assert d.identify() == IDENTITY
    d.set_flow(ureg.Quantity(500, "mL/min"))
    assert d.read_flow() == ureg.Quantity(0.501, "L/min")
    with pytest.raises(InstrumentProtocolError, match="1GO2") as err:
        d.select_port(2)
    assert err.value.raw == b"Position is = 1"
    t.assert_consumed()


def test_scripted_transport_catches_wrong_command() -> None:
    t = ScriptedTransport([("MEAS:CONC?", "1")])
    with pytest.raises(AssertionError, match="expected 'MEAS:CONC\\?'"):
        t.query("MEAS:VOLT?")
    with pytest.raises(AssertionError, match="unused"):
        ScriptedTransport([("X", "1")]).assert_consumed()


def test_scripted_timeout_propagates() -> None:
    t = ScriptedTransport([("MEAS:CONC?", InstrumentTimeout("co2", "MEAS:CONC?", 1.0))])
    with pytest.raises(InstrumentTimeout, match=r"co2: 'MEAS:CONC\?': no reply within 1 s"):
        ScpiGasAnalyzer(t, name="co2").read_concentration()


# --- unparseable replies: the documented InstrumentError naming the command (issue #13) ----


@pytest.mark.parametrize("reply", ["12.5", "-3", "abc", "+7.061E+3x"])
def test_garbled_pulse_count_is_a_protocol_error(reply: str) -> None:
    t = ScriptedTransport([("MEAS:PULS?", reply)])
    with pytest.raises(InstrumentProtocolError, match=r"tester: 'MEAS:PULS\?'") as err:
        ScpiPileTester(t, name="tester").read_pulses()
    assert err.value.raw == reply.encode()
    t.assert_consumed()


def test_load_output_state_must_be_0_or_1() -> None:
    t = ScriptedTransport([("OUTP?", "0"), ("OUTP?", "2"), ("OUTP?", "ON")])
    load = ScpiLoad(t, name="load")
    assert not load.output_is_on()
    for raw in (b"2", b"ON"):
        with pytest.raises(InstrumentProtocolError, match=r"load: 'OUTP\?'") as err:
            load.output_is_on()
        assert err.value.raw == raw
    t.assert_consumed()


def test_modbus_non_finite_concentration_is_a_protocol_error() -> None:
    nan = list(struct.unpack(">HH", struct.pack(">f", float("nan"))))
    inf = list(struct.unpack(">HH", struct.pack(">f", float("inf"))))
    t = ScriptedRegisters([("read_input", 0, 3, [*nan, 0]), ("read_input", 0, 3, [*inf, 0])])
    a = ModbusGasAnalyzer(t, name="ch4")
    for _ in range(2):
        with pytest.raises(InstrumentProtocolError, match="ch4: 'concentration"):
            a.read_concentration()
    t.assert_consumed()


def test_short_register_reply_is_a_protocol_error() -> None:
    # registers above 255 once made building the error's raw bytes itself fail
    t = ScriptedRegisters([("read_input", 0, 7, [0, 6000, 0, 50000])])
    with pytest.raises(InstrumentProtocolError, match="wrong register count") as err:
        ModbusFlowStandard(t, name="std").read_flow()
    assert err.value.raw == bytes.fromhex("0000 1770 0000 c350")
    t.assert_consumed()


def test_alicat_echoing_another_setpoint_is_a_protocol_error() -> None:
    t = ScriptedTransport(
        [
            ("AS 0.5000", "A +101.33 +023.50 +0.5012 +0.5010 +1.5000 N2"),
            ("AS 9.0000", "A +101.33 +023.50 +5.0000 +5.0000 +5.0000 N2"),
        ]
    )
    m = AlicatMfc(t, name="mfc")
    with pytest.raises(InstrumentProtocolError, match=r"mfc: 'AS 0.5000'.*echoed setpoint 1.5"):
        m.set_flow(ureg.Quantity(0.5, "L/min"))
    with pytest.raises(ValueError, match=r"refused \(full scale 5.0\)"):  # clamped
        m.set_flow(ureg.Quantity(9, "L/min"))
    t.assert_consumed()


@pytest.mark.parametrize(
    "line",
    [
        "RES;0001;S1;2.0 g;C=1",  # mass not in mg
        "RES;0001;;2.000 mg;C=1",  # no sample id
        "RES;0001;S1;2.000 mg;C=x",  # value not a number
        "RES;0001;S1;2.000 mg;Q=1",  # unknown element
        "RESULT 0001",  # not a record
    ],
)
def test_garbled_elemental_record_is_a_protocol_error(line: str) -> None:
    t = ScriptedTransport([(None, line)])
    with pytest.raises(InstrumentProtocolError, match="ea: '<result record>'") as err:
        SerialElementalAnalyzer(t, name="ea").read_result()
    assert err.value.raw == line.encode()


def test_garbled_identities_are_protocol_errors() -> None:
    t = ScriptedTransport([("A??M*", "A M* Acme X1"), ("ID?", "ID;Acme;X1")])
    with pytest.raises(InstrumentProtocolError, match=r"mfc: 'A\?\?M\*'"):
        AlicatMfc(t, name="mfc").identify()
    with pytest.raises(InstrumentProtocolError, match=r"ea: 'ID\?'"):
        SerialElementalAnalyzer(t, name="ea").identify()
    t.assert_consumed()


def test_state_change_not_acknowledged_is_a_protocol_error() -> None:
    t = ScriptedTransport([("TEST:STAR;*OPC?", "0"), ("OUTP ON;*OPC?", "")])
    with pytest.raises(InstrumentProtocolError, match=r"tester: 'TEST:STAR;\*OPC\?'"):
        ScpiPileTester(t, name="tester").start_energy_test()
    with pytest.raises(InstrumentProtocolError, match=r"load: 'OUTP ON;\*OPC\?'"):
        ScpiLoad(t, name="load").set_output(True)
    t.assert_consumed()


def test_simulated_scpi_device_answers_program_messages() -> None:
    from drivers.sim.clock import VirtualClock
    from drivers.sim.devices import ScpiLoadDevice
    from drivers.sim.physics import PileModel

    model = PileModel(VirtualClock())
    model.max_current = 63.0
    device = ScpiLoadDevice(model, ("Acme", "X1", "42", "2.1"), lambda: False)
    assert device.handle("CURR 16;OUTP ON;*OPC?") == "1"
    assert (model.current, model.on) == (16.0, True)
    assert device.handle("OUTP?;CURR?") == "1;+1.600000E+01"
    assert device.handle("OUTP OFF") is None
    assert device.handle("BOGUS;SYST:ERR?") == '-113,"Undefined header"'
