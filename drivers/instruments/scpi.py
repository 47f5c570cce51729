"""SCPI drivers: gas analyzer and charging-pile verification device over TCP, load over serial.

All three speak IEEE 488.2 / SCPI ASCII, one program message per line, ``\\n``
terminated, numbers in NR1/NR3 form, the SCPI overload value ``9.9E37`` meaning out of
range. A command that changes the instrument's state is sent with the operation-complete
query appended (``TEST:STAR;*OPC?``), which the instrument answers ``1`` once it has
carried the command out: a driver call returns only after the instrument acted (so
whatever the caller does next — including moving a simulated bench's clock — comes
after it), and an instrument that stopped answering is noticed at once.
"""

from __future__ import annotations

from typing import Any

from drivers.errors import InstrumentProtocolError
from drivers.instruments.base import check_unit, parse_float, parse_idn, quantity
from drivers.io_record import ObservableDriver
from drivers.roles import InstrumentIdentity
from drivers.transport import LineTransport, VisaTransport

__all__ = ["ScpiGasAnalyzer", "ScpiLoad", "ScpiPileTester"]


class _ScpiInstrument(ObservableDriver):
    """Common SCPI behaviour: ``*IDN?`` identity, numeric queries."""

    default_timeout_s = 2.0

    def __init__(self, transport: LineTransport, *, name: str) -> None:
        self.name = name
        self.transport = transport

    @classmethod
    def open(cls, name: str, address: str, timeout_s: float | None = None) -> Any:
        """Connect through pyvisa-py to ``address`` (a VISA resource name)."""
        transport = VisaTransport(
            address,
            instrument=name,
            timeout_s=timeout_s or cls.default_timeout_s,
            read_termination="\n",
            write_termination="\n",
        )
        return cls(transport, name=name)

    def _number(self, command: str) -> float:
        return parse_float(self.name, command, self.transport.query(command))

    def _command(self, command: str) -> None:
        """Send ``command`` with ``;*OPC?`` and check the instrument answers ``1``."""
        message = f"{command};*OPC?"
        reply = self.transport.query(message)
        if reply.strip() != "1":
            raise InstrumentProtocolError(
                self.name, message, reply.encode(), "operation not completed"
            )

    def identify(self) -> InstrumentIdentity:
        """``*IDN?`` → ``manufacturer,model,serial,firmware``."""
        return parse_idn(self.name, "*IDN?", self.transport.query("*IDN?"))

    def close(self) -> None:
        """Close the connection."""
        self.transport.close()


class ScpiGasAnalyzer(_ScpiInstrument):
    """NDIR gas analyzer with a SCPI interface on a TCP socket (VISA ``TCPIP::h::p::SOCKET``).

    Protocol (terminator ``\\n`` both ways):

    ==================  =====================================================
    ``*IDN?``           ``CarbonSim,NDIR-2000,SN,1.0``
    ``MEAS:CONC?``      concentration in µmol/mol, NR3 (``+1.00450E+03``);
                        ``9.9E37`` when out of range
    ``SENS:RANG?``      full scale in µmol/mol
    ``CAL:ABOR``        abort any running zero/span adjustment (acknowledged)
    ==================  =====================================================
    """

    def read_concentration(self) -> Any:
        """Current indication in µmol/mol."""
        return quantity(self._number("MEAS:CONC?"), "umol/mol")

    def read_range(self) -> Any:
        """Full scale of the measuring range in µmol/mol."""
        return quantity(self._number("SENS:RANG?"), "umol/mol")

    def safe_state(self) -> None:
        """Abort any adjustment in progress."""
        self._command("CAL:ABOR")


class ScpiPileTester(_ScpiInstrument):
    """Charging-pile verification device, SCPI on a TCP socket (VISA ``TCPIP::h::p::SOCKET``).

    The device integrates the standard energy delivered by the pile and counts the pulses
    of the pile's energy-pulse output during a test. Protocol (``\\n`` terminated):

    ===================  ====================================================
    ``*IDN?``            identity
    ``CONF:CONS <n>``    pile pulse constant in imp/kWh (acknowledged)
    ``CONF:CONS?``       the constant set
    ``TEST:STAR``        zero and start the energy test (acknowledged)
    ``TEST:STOP``        stop it (acknowledged)
    ``MEAS:ENER?``       standard energy in kWh since start
    ``MEAS:VOLT?``       voltage in V
    ``MEAS:CURR?``       current in A
    ``MEAS:PULS?``       pulses counted (NR1)
    ``MEAS:ERR?``        energy error in % = (pulses/constant − E)/E·100
    ===================  ====================================================
    """

    def set_meter_constant(self, constant: Any) -> None:
        """Set the pile's pulse constant (pulses per kWh)."""
        value = check_unit(constant, "1/kWh", "meter constant")
        if value <= 0:
            raise ValueError(f"meter constant must be positive, got {constant}")
        self._command(f"CONF:CONS {value:.6g}")

    def start_energy_test(self) -> None:
        """Zero the totals and start integrating."""
        self._command("TEST:STAR")

    def stop_energy_test(self) -> None:
        """Stop integrating."""
        self._command("TEST:STOP")

    def read_standard_energy(self) -> Any:
        """Standard energy since the test start (kWh)."""
        return quantity(self._number("MEAS:ENER?"), "kWh")

    def read_voltage(self) -> Any:
        """Output voltage (V)."""
        return quantity(self._number("MEAS:VOLT?"), "V")

    def read_current(self) -> Any:
        """Output current (A)."""
        return quantity(self._number("MEAS:CURR?"), "A")

    def read_pulses(self) -> Any:
        """Pulses counted from the pile (count)."""
        command = "MEAS:PULS?"
        reply = self.transport.query(command)
        value = parse_float(self.name, command, reply)
        if value != int(value) or value < 0:
            raise InstrumentProtocolError(self.name, command, reply.encode(), "not a count")
        return quantity(int(value), "count")

    def read_energy_error(self) -> Any:
        """Energy error of the pile computed by the device (percent)."""
        return quantity(self._number("MEAS:ERR?"), "percent")

    def safe_state(self) -> None:
        """Stop any energy test."""
        self._command("TEST:STOP")


class ScpiLoad(_ScpiInstrument):
    """Programmable (EV-simulating) load, SCPI over RS-232 (VISA ``ASRL<port>::INSTR``).

    Protocol (``\\n`` terminated, 9600 8N1):

    ================  ================================================
    ``*IDN?``         identity
    ``CURR <A>``      set the load current (acknowledged)
    ``CURR?``         current setpoint in A
    ``OUTP ON|OFF``   switch the load (acknowledged)
    ``OUTP?``         ``1`` or ``0``
    ``MEAS:CURR?``    measured current in A
    ================  ================================================
    """

    def set_current(self, current: Any) -> None:
        """Set the load current."""
        value = check_unit(current, "A", "load current")
        if value < 0:
            raise ValueError(f"load current must not be negative, got {current}")
        self._command(f"CURR {value:.4f}")

    def read_current(self) -> Any:
        """Measured current (A)."""
        return quantity(self._number("MEAS:CURR?"), "A")

    def set_output(self, on: bool) -> None:
        """Switch the load on or off."""
        self._command("OUTP ON" if on else "OUTP OFF")

    def output_is_on(self) -> bool:
        """Whether the load is switched on."""
        reply = self.transport.query("OUTP?")
        state = parse_float(self.name, "OUTP?", reply)
        if state not in (0, 1):
            raise InstrumentProtocolError(self.name, "OUTP?", reply.encode(), "expected 0 or 1")
        return state == 1

    def safe_state(self) -> None:
        """Output off, current setpoint zero."""
        self._command("OUTP OFF")
        self._command("CURR 0.0000")
