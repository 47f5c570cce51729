"""Role interfaces: what a procedure may ask of an instrument, whatever its model.

Procedures are written against these :class:`typing.Protocol` classes, never against
a concrete driver. Every value returned is a pint Quantity of pint's application
registry (see :mod:`drivers.units`); counts (pulses) are Quantities in ``count``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "ChargingPileTester",
    "ElementalAnalyzer",
    "ElementalResult",
    "EnvironmentMonitor",
    "FlowController",
    "GasAnalyzer",
    "GasDilutor",
    "Instrument",
    "InstrumentIdentity",
    "ProgrammableLoad",
    "ReferenceFlowStandard",
]


@dataclass(frozen=True)
class InstrumentIdentity:
    """What an instrument says about itself (stored in each run's snapshot)."""

    manufacturer: str
    model: str
    serial: str
    firmware: str


@dataclass(frozen=True)
class ElementalResult:
    """One result record of an elemental analyzer.

    ``fractions`` maps element symbols (``"C"``, ``"H"``, ``"N"``, ``"S"``) to mass
    fractions as Quantities in percent; an element the analyzer did not determine is
    absent.
    """

    sample_id: str
    mass: Any
    fractions: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Instrument(Protocol):
    """What every driver offers."""

    name: str

    def identify(self) -> InstrumentIdentity:
        """Ask the instrument for manufacturer, model, serial number and firmware."""
        ...

    def safe_state(self) -> None:
        """Bring the instrument into a safe state (outputs off, flows stopped, ...)."""
        ...

    def close(self) -> None:
        """Release the connection; the driver may not be used afterwards."""
        ...


@runtime_checkable
class GasAnalyzer(Instrument, Protocol):
    """A gas analyzer (the instrument under test on gas benches)."""

    def read_concentration(self) -> Any:
        """Current indication, e.g. in µmol/mol."""
        ...


@runtime_checkable
class FlowController(Instrument, Protocol):
    """A mass-flow controller: set and read a flow."""

    def set_flow(self, flow: Any) -> None:
        """Set the flow setpoint (a volumetric-flow Quantity)."""
        ...

    def read_flow(self) -> Any:
        """Measured flow."""
        ...


@runtime_checkable
class GasDilutor(FlowController, Protocol):
    """A gas dilution / mixing system: a port-selector valve feeding a mass-flow controller."""

    def select_port(self, port: int) -> None:
        """Feed the gas of cylinder port ``port`` (ports as numbered in the bench file)."""
        ...

    def selected_port(self) -> int:
        """The port currently fed."""
        ...


@runtime_checkable
class ReferenceFlowStandard(Instrument, Protocol):
    """A reference flow standard that also counts the pulses of the meter under test."""

    def read_flow(self) -> Any:
        """Reference (true) flow."""
        ...

    def read_volume(self) -> Any:
        """Volume totalized since the last reset."""
        ...

    def read_pulses(self) -> Any:
        """Pulses counted from the meter under test since the last reset (``count``)."""
        ...

    def start_totalizing(self) -> None:
        """Start totalizing volume and counting pulses."""
        ...

    def stop_totalizing(self) -> None:
        """Stop totalizing; the totals stay readable."""
        ...

    def reset_totalizer(self) -> None:
        """Zero the totals."""
        ...


@runtime_checkable
class ChargingPileTester(Instrument, Protocol):
    """A charging-pile verification device (the working standard for EV charging piles)."""

    def set_meter_constant(self, constant: Any) -> None:
        """Tell the device the pile's pulse constant (pulses per kWh)."""
        ...

    def start_energy_test(self) -> None:
        """Zero and start integrating standard energy and counting pile pulses."""
        ...

    def stop_energy_test(self) -> None:
        """Stop the energy test; results stay readable."""
        ...

    def read_standard_energy(self) -> Any:
        """Standard energy since the test start."""
        ...

    def read_voltage(self) -> Any:
        """Voltage at the pile output."""
        ...

    def read_current(self) -> Any:
        """Current at the pile output."""
        ...

    def read_pulses(self) -> Any:
        """Pulses counted from the pile under test since the test start (``count``)."""
        ...

    def read_energy_error(self) -> Any:
        """Relative energy error of the pile computed by the device (percent)."""
        ...


@runtime_checkable
class ProgrammableLoad(Instrument, Protocol):
    """A programmable or EV-simulating load."""

    def set_current(self, current: Any) -> None:
        """Set the load current."""
        ...

    def read_current(self) -> Any:
        """Measured load current."""
        ...

    def set_output(self, on: bool) -> None:
        """Switch the load on or off."""
        ...


@runtime_checkable
class ElementalAnalyzer(Instrument, Protocol):
    """A source of elemental-analyzer results (C/H/N/S mass fractions)."""

    def read_result(self, timeout_s: float | None = None) -> ElementalResult:
        """Wait for the next result record (``timeout_s`` None: the driver's timeout)."""
        ...


@runtime_checkable
class EnvironmentMonitor(Instrument, Protocol):
    """Laboratory environment: temperature, humidity, pressure."""

    def read_temperature(self) -> Any:
        """Air temperature."""
        ...

    def read_humidity(self) -> Any:
        """Relative humidity (percent)."""
        ...

    def read_pressure(self) -> Any:
        """Barometric pressure."""
        ...
