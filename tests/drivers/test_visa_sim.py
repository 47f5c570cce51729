"""The SCPI drivers through pyvisa itself, against a pyvisa-sim YAML fixture."""

from __future__ import annotations

from pathlib import Path

from drivers.instruments.scpi import ScpiGasAnalyzer, ScpiLoad, ScpiPileTester
from drivers.roles import InstrumentIdentity
from drivers.transport import VisaTransport
from drivers.units import ureg

BACKEND = f"{Path(__file__).parent / 'data' / 'scpi.yaml'}@sim"


def transport(resource: str, name: str) -> VisaTransport:
    return VisaTransport(resource, instrument=name, timeout_s=1.0, backend=BACKEND)


def test_gas_analyzer_over_pyvisa_sim() -> None:
    a = ScpiGasAnalyzer(transport("TCPIP::127.0.0.1::5025::SOCKET", "co2"), name="co2")
    assert a.identify() == InstrumentIdentity("Acme", "NDIR-2000", "A1", "1.0")
    assert a.read_concentration() == ureg.Quantity(401.2, "umol/mol")
    a.safe_state()
    a.close()


def test_pile_tester_over_pyvisa_sim() -> None:
    d = ScpiPileTester(transport("TCPIP::127.0.0.1::5026::SOCKET", "tester"), name="tester")
    d.start_energy_test()
    assert d.read_standard_energy() == ureg.Quantity(1.25, "kWh")
    assert d.read_pulses() == ureg.Quantity(1254, "count")
    d.close()


def test_load_over_pyvisa_sim_asrl() -> None:
    load = ScpiLoad(transport("ASRL1::INSTR", "load"), name="load")
    assert load.identify().model == "EL-250"
    assert load.read_current() == ureg.Quantity(32, "A")
    load.safe_state()
    load.close()
