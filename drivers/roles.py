"""Role interfaces: what a procedure may ask of an instrument, whatever its model.

Procedures are written against these :class:`typing.Protocol` classes, never against
a concrete driver. Every value returned is a pint Quantity of pint's application
registry (see :mod:`drivers.units`); counts (pulses) are Quantities in ``count``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "Balance",
    "BeltScale",
    "BombCalorimeter",
    "CalorimeterResult",
    "CemsAnalyzer",
    "ChargingPileTester",
    "ElementalAnalyzer",
    "ElementalResult",
    "EnvironmentMonitor",
    "FlowController",
    "FlueGasFlowMonitor",
    "GasAnalyzer",
    "GasDilutor",
    "Instrument",
    "InstrumentIdentity",
    "ProgrammableLoad",
    "ReferenceFlowStandard",
    "StackProbe",
    "SulfurAnalyzer",
    "SulfurResult",
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


# --- fuel and emission instruments ---------------------------------------------------


@dataclass(frozen=True)
class CalorimeterResult:
    """One determination reported by an oxygen-bomb calorimeter.

    ``curve`` is the temperature-rise curve the instrument logged: (time since the
    start of the fore period, inner-vessel temperature) pairs, Quantities in s and degC.
    ``corrected_rise`` is the temperature rise after the instrument's cooling correction
    (K); ``gross_calorific_value`` the calorific value the instrument computed with its
    stored ``energy_equivalent`` (J/g). ``fire_index`` is the index in ``curve`` of the
    reading at ignition (start of the main period), ``end_index`` that of the end of the
    main period.
    """

    sample_id: str
    mass: Any
    ignition_heat: Any
    energy_equivalent: Any
    corrected_rise: Any
    gross_calorific_value: Any
    curve: tuple[tuple[Any, Any], ...] = ()
    fire_index: int = 0
    end_index: int = 0


@dataclass(frozen=True)
class SulfurResult:
    """One total-sulfur determination: sample, mass, sulfur mass fraction (percent).

    ``raw`` is the instrument's primary signal when it reports one (the integrated
    charge of a coulometric titration in mC, the integrated IR absorbance counts),
    otherwise None.
    """

    sample_id: str
    mass: Any
    sulfur: Any
    raw: Any | None = None


@runtime_checkable
class Balance(Instrument, Protocol):
    """A weighing instrument with a digital interface (analytical balance or static scale)."""

    def read_mass(self) -> Any:
        """A stable net weighing (waits for stability up to the driver's timeout)."""
        ...

    def read_mass_immediately(self) -> Any:
        """The current net weight, stable or not."""
        ...

    def zero(self) -> None:
        """Set the zero (the load must be within the zero range)."""
        ...

    def tare(self) -> None:
        """Tare the present load."""
        ...


@runtime_checkable
class BombCalorimeter(Instrument, Protocol):
    """An automatic oxygen-bomb calorimeter (isothermal or adiabatic)."""

    def load_sample(self, sample_id: str, mass: Any, ignition_heat: Any) -> None:
        """Tell the calorimeter the sample's id, mass and the ignition heat to allow for."""
        ...

    def fire(self) -> None:
        """Start the determination (fore period, ignition, main and after periods)."""
        ...

    def state(self) -> str:
        """``idle``, ``fore``, ``main``, ``after``, ``done`` or ``fault``."""
        ...

    def read_temperature(self) -> Any:
        """Inner-vessel temperature now."""
        ...

    def read_jacket_temperature(self) -> Any:
        """Jacket (outer vessel) temperature now."""
        ...

    def energy_equivalent(self) -> Any:
        """The energy equivalent (heat capacity) stored in the instrument, J/K."""
        ...

    def read_result(self) -> CalorimeterResult:
        """The last finished determination with its temperature curve."""
        ...


@runtime_checkable
class SulfurAnalyzer(Instrument, Protocol):
    """A coal total-sulfur analyzer (coulometric titration or infrared)."""

    def read_result(self, timeout_s: float | None = None) -> SulfurResult:
        """Wait for the next result (``timeout_s`` None: the driver's timeout)."""
        ...


@runtime_checkable
class BeltScale(Instrument, Protocol):
    """A belt scale's integrator (continuous totalizing automatic weighing instrument)."""

    def read_totalized(self) -> Any:
        """The totalized load since the last reset (mass)."""
        ...

    def read_rate(self) -> Any:
        """The flow rate now (mass per time)."""
        ...

    def read_belt_speed(self) -> Any:
        """The belt speed measured by the speed sensor."""
        ...

    def read_belt_load(self) -> Any:
        """The load per unit belt length now (kg/m)."""
        ...

    def reset_totalizer(self) -> None:
        """Zero the resettable totalizer."""
        ...


@runtime_checkable
class CemsAnalyzer(GasAnalyzer, Protocol):
    """The gas analyzer of a continuous emission monitoring system (CO2, O2)."""

    def read_oxygen(self) -> Any:
        """O2 volume fraction (percent)."""
        ...

    def set_calibration_valve(self, open_: bool) -> None:
        """Feed calibration gas through the probe (True) or sample the flue gas (False)."""
        ...

    def calibration_valve_open(self) -> bool:
        """Whether the probe is fed with calibration gas."""
        ...


@runtime_checkable
class FlueGasFlowMonitor(Instrument, Protocol):
    """A CEMS flue-gas flow monitor (velocity at its measuring point, flow, conditions)."""

    def read_velocity(self) -> Any:
        """Flue-gas velocity (m/s)."""
        ...

    def read_flow(self) -> Any:
        """Actual flue-gas flow (m³/h at stack conditions)."""
        ...

    def read_standard_flow(self) -> Any:
        """Dry flue-gas flow at standard conditions (273.15 K, 101.325 kPa), m³/h."""
        ...

    def read_gas_temperature(self) -> Any:
        """Flue-gas temperature."""
        ...

    def read_static_pressure(self) -> Any:
        """Absolute flue-gas pressure."""
        ...

    def read_moisture(self) -> Any:
        """Water-vapour volume fraction (percent)."""
        ...


@runtime_checkable
class StackProbe(Instrument, Protocol):
    """A reference-method probe (S-type pitot, thermocouple, micromanometer) for traverses."""

    def read_velocity(self) -> Any:
        """Velocity at the probe's present traverse point (m/s)."""
        ...

    def read_gas_temperature(self) -> Any:
        """Flue-gas temperature at the probe."""
        ...

    def read_static_pressure(self) -> Any:
        """Absolute flue-gas pressure."""
        ...

    def traverse_point(self) -> int:
        """The traverse point number the probe reports it stands at (1-based)."""
        ...
