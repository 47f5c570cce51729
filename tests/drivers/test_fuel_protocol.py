"""Protocol tests of the fuel and emission drivers over scripted transports: every command
and reply asserted, and the documented InstrumentError subclass for faults (never a
ValueError from a reply)."""

from __future__ import annotations

import struct

import pytest

from drivers.errors import (
    InstrumentError,
    InstrumentOverrange,
    InstrumentProtocolError,
    InstrumentTimeout,
)
from drivers.instruments.fuel import (
    CoulometricSulfurAnalyzer,
    ModbusSulfurAnalyzer,
    SerialCalorimeter,
    SicsBalance,
)
from drivers.instruments.onsite import (
    ModbusBeltScale,
    ModbusCemsAnalyzer,
    ModbusFlowMonitor,
    ModbusStackProbe,
)
from drivers.roles import (
    Balance,
    BeltScale,
    BombCalorimeter,
    CemsAnalyzer,
    FlueGasFlowMonitor,
    InstrumentIdentity,
    StackProbe,
    SulfurAnalyzer,
)
from drivers.transport import ScriptedRegisters, ScriptedTransport
from drivers.units import ureg

Q = ureg.Quantity


def text_regs(text: str, n: int = 8) -> list[int]:
    data = text.encode().ljust(2 * n, b"\0")
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, 2 * n, 2)]


def f32(value: float) -> list[int]:
    hi, lo = struct.unpack(">HH", struct.pack(">f", value))
    return [hi, lo]


def u32(value: int) -> list[int]:
    return [(value >> 16) & 0xFFFF, value & 0xFFFF]


IDENTITY_REGS = text_regs("Acme") + text_regs("X1") + text_regs("42") + text_regs("2.1")
IDENTITY = InstrumentIdentity("Acme", "X1", "42", "2.1")


# --- MT-SICS balance ---------------------------------------------------------------------


def test_sics_balance() -> None:
    t = ScriptedTransport(
        [
            ("I2", 'I2 A "Acme XS205 DualRange 220.0000 g"'),
            ("I4", 'I4 A "B123456789"'),
            ("I3", 'I3 A "2.10.1"'),
            ("S", "S S      1.02345 g"),
            ("SI", "S D      1.02311 g"),
            ("Z", "Z A"),
            ("T", "T S 12.3456 g"),
            ("S", "S +"),
            ("S", "S I"),
            ("S", "S D      1.02311 g"),  # S must answer stable
            ("S", "S S 20 lb"),
            ("Z", "Z +"),
            ("SI", "ES"),
        ]
    )
    b = SicsBalance(t, name="bal")
    assert isinstance(b, Balance)
    assert b.identify() == InstrumentIdentity("Acme", "XS205 DualRange", "B123456789", "2.10.1")
    assert b.read_mass() == Q(1.02345, "g")
    assert b.read_mass_immediately() == Q(1.02311, "g")
    b.zero()
    b.tare()
    with pytest.raises(InstrumentOverrange, match=r"bal: 'S'"):
        b.read_mass()
    with pytest.raises(InstrumentTimeout):
        b.read_mass()
    with pytest.raises(InstrumentProtocolError):
        b.read_mass()
    with pytest.raises(InstrumentProtocolError, match="unknown unit"):
        b.read_mass()
    with pytest.raises(InstrumentOverrange):
        b.zero()
    with pytest.raises(InstrumentProtocolError) as err:
        b.read_mass_immediately()
    assert err.value.raw == b"ES"
    t.assert_consumed()


def test_sics_balance_garbage_is_protocol_error() -> None:
    t = ScriptedTransport([("S", b"\xfe\x81#?"), ("I2", 'I2 A "lonely"')])
    b = SicsBalance(t, name="bal")
    with pytest.raises(InstrumentProtocolError):
        b.read_mass()
    with pytest.raises(InstrumentProtocolError, match="expected manufacturer"):
        b.identify()
    t.assert_consumed()


# --- calorimeter ---------------------------------------------------------------------------


def _curve_reply(first: int, temps: list[float]) -> str:
    pts = ";".join(f"{(first + i) * 30}:{temp:.4f}" for i, temp in enumerate(temps))
    return f"CRV,{first},{len(temps)},{pts}"


def test_calorimeter() -> None:
    temps = [23.8 + 0.001 * i for i in range(25)]
    t = ScriptedTransport(
        [
            ("*ID?", "ID,Acme,X1,42,2.1"),
            ("SMP BA-1,1.00120,90.00", "OK"),
            ("FIRE", "OK"),
            ("STAT?", "STAT,MAIN"),
            ("T?", "T,24.5012"),
            ("TJ?", "TJ,25.0003"),
            ("EE?", "EE,10172.0"),
            ("RES?", "RES,BA-1,1.00120,90.00,10172.0,2.62268,26451.3,25,10,20"),
            ("CRV? 0,20", _curve_reply(0, temps[:20])),
            ("CRV? 20,5", _curve_reply(20, temps[20:])),
            ("ABOR", "OK"),
        ]
    )
    c = SerialCalorimeter(t, name="bomb")
    assert isinstance(c, BombCalorimeter)
    assert c.identify() == IDENTITY
    c.load_sample("BA-1", Q(1.0012, "g"), Q(90, "J"))
    c.fire()
    assert c.state() == "main"
    assert c.read_temperature() == Q(24.5012, "degC")
    assert c.read_jacket_temperature() == Q(25.0003, "degC")
    assert c.energy_equivalent() == Q(10172.0, "J/K")
    r = c.read_result()
    assert r.sample_id == "BA-1"
    assert r.mass == Q(1.0012, "g")
    assert r.ignition_heat == Q(90, "J")
    assert r.corrected_rise == Q(2.62268, "K")
    assert r.gross_calorific_value == Q(26451.3, "J/g")
    assert (r.fire_index, r.end_index) == (10, 20)
    assert len(r.curve) == 25
    assert r.curve[24] == (Q(720, "s"), Q(round(temps[24], 4), "degC"))
    c.safe_state()
    t.assert_consumed()


def test_calorimeter_refusals_and_faults() -> None:
    t = ScriptedTransport(
        [
            ("FIRE", "ERR,4,no sample"),
            ("STAT?", "STAT,BOILING"),
            ("T?", "T,9.9E37"),
            ("RES?", "RES,BA-1,1.0,90,10172,2.6,26451,25,20,10"),  # fire after end
            ("RES?", "RES,BA-1,1.0,90,10172,2.6,26451,3,0,1"),
            ("CRV? 0,3", "CRV,0,3,0:23.8;30:23.8"),  # two points for three
            ("EE?", InstrumentTimeout("bomb", "EE?", 1.0)),
        ]
    )
    c = SerialCalorimeter(t, name="bomb")
    with pytest.raises(InstrumentProtocolError, match="reports an error"):
        c.fire()
    with pytest.raises(InstrumentProtocolError, match="unknown state"):
        c.state()
    with pytest.raises(InstrumentOverrange):
        c.read_temperature()
    with pytest.raises(InstrumentProtocolError, match="inconsistent"):
        c.read_result()
    with pytest.raises(InstrumentProtocolError, match="wrong number of points"):
        c.read_result()
    with pytest.raises(InstrumentTimeout):
        c.energy_equivalent()
    with pytest.raises(ValueError, match="no commas"):
        c.load_sample("BA,1", Q(1, "g"), Q(90, "J"))
    with pytest.raises(ValueError, match="sample mass"):
        c.load_sample("BA-1", Q(1, "mL"), Q(90, "J"))
    t.assert_consumed()


# --- sulfur analyzers ----------------------------------------------------------------------


def test_coulometric_sulfur_analyzer() -> None:
    t = ScriptedTransport(
        [
            ("ID?", "ST;0007;S-LOW;50.00 mg;Q=1530.2;St=0.521"),  # a record arrives first
            (None, "ID;Acme;X1;42;2.1"),
            (None, "ST;0008;S-MID;49.80 mg;Q=4301.0;St=1.463"),
            (None, "ST;0009;S-HI;50.00 mg;Q=9000.0;St=OVR"),
            (None, "ST;0010;S-HI;50 g;Q=9000.0;St=3.1"),
            (None, b"\xfe\x81#?"),
            ("STBY", None),
        ]
    )
    a = CoulometricSulfurAnalyzer(t, name="st")
    assert isinstance(a, SulfurAnalyzer)
    assert a.identify() == IDENTITY
    first = a.read_result()
    assert (first.sample_id, first.mass, first.sulfur, first.raw) == (
        "S-LOW",
        Q(50.0, "mg"),
        Q(0.521, "percent"),
        Q(1530.2, "mC"),
    )
    assert a.read_result().sulfur == Q(1.463, "percent")
    with pytest.raises(InstrumentOverrange):
        a.read_result()
    with pytest.raises(InstrumentProtocolError, match="bad sample mass"):
        a.read_result()
    with pytest.raises(InstrumentProtocolError):
        a.read_result()
    a.safe_state()
    t.assert_consumed()


def _sulfur_block(counter: int, sulfur: float, mass: float, status: int = 0) -> list[int]:
    return [*u32(counter), *f32(sulfur), *f32(mass), *f32(7330.0), status, 0, *text_regs("S-1")]


def test_modbus_sulfur_analyzer() -> None:
    r = ScriptedRegisters(
        [
            ("read", 256, 32, IDENTITY_REGS),
            ("read_input", 0, 2, u32(4)),
            ("read_input", 0, 18, _sulfur_block(4, 1.0, 50.0, status=1)),  # still analyzing
            ("read_input", 0, 18, _sulfur_block(5, 1.466, 50.0)),
            ("read_input", 0, 18, _sulfur_block(6, 3.0, 50.0, status=2)),
            ("read_input", 0, 18, _sulfur_block(7, -1.0, 50.0)),
            ("read_input", 0, 18, _sulfur_block(7, -1.0, 50.0)),
            ("write", 100, [0]),
        ]
    )
    a = ModbusSulfurAnalyzer(r, name="ir")
    assert isinstance(a, SulfurAnalyzer)
    a.poll_interval_s = 0.0
    assert a.identify() == IDENTITY
    result = a.read_result(timeout_s=5)
    assert result.sample_id == "S-1"
    assert result.sulfur.to("percent").magnitude == pytest.approx(1.466, abs=1e-6)
    assert result.mass == Q(50.0, "mg")
    with pytest.raises(InstrumentOverrange):
        a.read_result(timeout_s=5)
    with pytest.raises(InstrumentProtocolError, match="out of range"):
        a.read_result(timeout_s=5)
    with pytest.raises(InstrumentTimeout, match="ir: '<result>'"):
        a.read_result(timeout_s=0.0)  # counter unchanged: no new result
    a.safe_state()
    r.assert_consumed()


# --- on-site instruments ---------------------------------------------------------------------


def test_belt_scale() -> None:
    block = [*u32(200905), *f32(800.0), *f32(2.5), *f32(88.9), 1]
    r = ScriptedRegisters(
        [
            ("read", 256, 32, IDENTITY_REGS),
            ("read_input", 0, 9, block),
            ("read_input", 0, 9, block),
            ("read_input", 0, 9, block),
            ("read_input", 0, 9, block),
            ("read_input", 0, 9, block),
            ("write", 100, [1]),
            ("read_input", 0, 9, [*block[:8], 3]),
        ]
    )
    b = ModbusBeltScale(r, name="belt")
    assert isinstance(b, BeltScale)
    assert b.identify() == IDENTITY
    assert b.read_totalized() == Q(20090.5, "kg")
    assert b.read_rate() == Q(800.0, "t/h")
    assert b.read_belt_speed() == Q(2.5, "m/s")
    assert b.read_belt_load().to("kg/m").magnitude == pytest.approx(88.9, rel=1e-6)
    assert b.is_running()
    b.reset_totalizer()
    with pytest.raises(InstrumentOverrange, match="belt: 'totalizer"):
        b.read_totalized()
    r.assert_consumed()
    assert "reset totalizer (holding 100 = 1)" in r.log


def test_cems_analyzer() -> None:
    block = [*f32(12.28), *f32(6.42), 4]
    r = ScriptedRegisters(
        [
            ("read_input", 0, 5, block),
            ("read_input", 0, 5, block),
            ("write", 101, [1]),
            ("read", 101, 1, [1]),
            ("write", 101, [0]),
            ("read", 101, 1, [0]),
            ("read_input", 0, 5, [*block[:4], 1]),
            ("write", 100, [0]),
        ]
    )
    a = ModbusCemsAnalyzer(r, name="cems")
    assert isinstance(a, CemsAnalyzer)
    assert a.read_concentration().to("percent").magnitude == pytest.approx(12.28, rel=1e-6)
    assert a.read_oxygen().to("percent").magnitude == pytest.approx(6.42, rel=1e-6)
    a.set_calibration_valve(True)
    assert a.calibration_valve_open()
    a.set_calibration_valve(False)
    assert not a.calibration_valve_open()
    with pytest.raises(InstrumentOverrange):
        a.read_concentration()
    a.safe_state()
    r.assert_consumed()


def test_flow_monitor_and_probe() -> None:
    block = [*f32(14.5), *f32(656000.0), *f32(392000.0), (-25) & 0xFFFF, 10060, 900, 0]
    probe = [*f32(14.7), 1180, 10060, 3, 0]
    r = ScriptedRegisters(
        [
            ("read_input", 0, 10, block),
            ("read_input", 0, 10, block),
            ("read_input", 0, 10, block),
            ("read_input", 0, 10, block),
            ("read_input", 0, 10, block),
            ("read_input", 0, 10, block),
            ("read_input", 0, 10, [*block[:9], 1]),
        ]
    )
    m = ModbusFlowMonitor(r, name="flow")
    assert isinstance(m, FlueGasFlowMonitor)
    assert m.read_velocity() == Q(14.5, "m/s")
    assert m.read_flow() == Q(656000.0, "m**3/h")
    assert m.read_standard_flow() == Q(392000.0, "m**3/h")
    assert m.read_gas_temperature() == Q(-2.5, "degC")
    assert m.read_static_pressure() == Q(100.6, "kPa")
    assert m.read_moisture() == Q(9.0, "percent")
    with pytest.raises(InstrumentOverrange):
        m.read_velocity()
    r.assert_consumed()
    p_regs = ScriptedRegisters(
        [("read_input", 0, 6, probe)] * 4 + [("read_input", 0, 6, [*probe[:5], 1])]
    )
    p = ModbusStackProbe(p_regs, name="pitot")
    assert isinstance(p, StackProbe)
    assert p.read_velocity().to("m/s").magnitude == pytest.approx(14.7, rel=1e-6)
    assert p.read_gas_temperature() == Q(118.0, "degC")
    assert p.read_static_pressure() == Q(100.6, "kPa")
    assert p.traverse_point() == 3
    with pytest.raises(InstrumentOverrange):
        p.read_velocity()
    p_regs.assert_consumed()


@pytest.mark.parametrize(
    "make",
    [
        lambda t: SicsBalance(t, name="x").read_mass(),
        lambda t: SerialCalorimeter(t, name="x").state(),
        lambda t: SerialCalorimeter(t, name="x").read_temperature(),
        lambda t: CoulometricSulfurAnalyzer(t, name="x").identify(),
    ],
    ids=["balance", "calorimeter-state", "calorimeter-temperature", "sulfur"],
)
@pytest.mark.parametrize("reply", ["", "hello", "T,abc", "STAT", "S S x g", "ID;a;b"])
def test_line_drivers_never_raise_value_error(make: object, reply: str) -> None:
    """Any reply a line driver does not understand is an InstrumentError, never ValueError."""

    class AnyCommand(ScriptedTransport):
        def query(self, command: str) -> str:
            return reply

    t = AnyCommand([])
    with pytest.raises(InstrumentError):
        make(t)  # type: ignore[operator]
