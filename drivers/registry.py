"""Driver registry: bench-file driver names → driver classes, with their role and transport."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drivers import roles
from drivers.instruments.alicat import AlicatDilutor, AlicatMfc
from drivers.instruments.elemental import SerialElementalAnalyzer
from drivers.instruments.fuel import (
    CoulometricSulfurAnalyzer,
    ModbusSulfurAnalyzer,
    SerialCalorimeter,
    SicsBalance,
)
from drivers.instruments.modbus import (
    ModbusEnvironmentMonitor,
    ModbusFlowStandard,
    ModbusGasAnalyzer,
)
from drivers.instruments.onsite import (
    ModbusBeltScale,
    ModbusCemsAnalyzer,
    ModbusFlowMonitor,
    ModbusStackProbe,
)
from drivers.instruments.scpi import ScpiGasAnalyzer, ScpiLoad, ScpiPileTester

__all__ = ["DRIVERS", "MANUAL", "ROLES", "DriverSpec"]

MANUAL = "manual"
"""The driver of equipment the operator reads by eye (a balance, a thermometer)."""


@dataclass(frozen=True)
class DriverSpec:
    """One registered driver.

    ``transport`` is one of ``visa-tcp``, ``visa-asrl``, ``serial``, ``modbus-tcp``,
    ``modbus-rtu`` or ``none`` (no driver class: an instrument under test whose only
    interface is a pulse output counted by a standard, or equipment read by eye).
    ``role`` None: the driver serves whichever role the bench file gives
    (:data:`MANUAL`).
    """

    name: str
    role: str | None
    cls: Any
    transport: str
    description: str


ROLES: dict[str, Any] = {
    "gas_analyzer": roles.GasAnalyzer,
    "gas_dilutor": roles.GasDilutor,
    "flow_controller": roles.FlowController,
    "reference_flow_standard": roles.ReferenceFlowStandard,
    "pile_tester": roles.ChargingPileTester,
    "programmable_load": roles.ProgrammableLoad,
    "elemental_analyzer": roles.ElementalAnalyzer,
    "environment_monitor": roles.EnvironmentMonitor,
    "balance": roles.Balance,
    "bomb_calorimeter": roles.BombCalorimeter,
    "sulfur_analyzer": roles.SulfurAnalyzer,
    "belt_scale": roles.BeltScale,
    "cems_analyzer": roles.CemsAnalyzer,
    "flow_monitor": roles.FlueGasFlowMonitor,
    "stack_probe": roles.StackProbe,
    "flowmeter_under_test": None,
    "charging_pile": None,
    "flue_duct": None,
    "thermometer": None,
    "test_chain": None,
}
"""Bench-file role names → role Protocol (None: no driver interface — a device under test
with a pulse output only, or equipment the operator reads by eye)."""

DRIVERS: dict[str, DriverSpec] = {
    spec.name: spec
    for spec in (
        DriverSpec(
            "scpi-gas-analyzer",
            "gas_analyzer",
            ScpiGasAnalyzer,
            "visa-tcp",
            "NDIR analyzer, SCPI over TCP socket",
        ),
        DriverSpec(
            "modbus-gas-analyzer",
            "gas_analyzer",
            ModbusGasAnalyzer,
            "modbus-tcp",
            "gas analyzer, Modbus TCP register map",
        ),
        DriverSpec(
            "alicat-dilutor",
            "gas_dilutor",
            AlicatDilutor,
            "serial",
            "port valve + Alicat-style MFC, ASCII over serial",
        ),
        DriverSpec(
            "alicat-mfc",
            "flow_controller",
            AlicatMfc,
            "serial",
            "Alicat-style mass-flow controller, ASCII over serial",
        ),
        DriverSpec(
            "modbus-flow-standard",
            "reference_flow_standard",
            ModbusFlowStandard,
            "modbus-rtu",
            "reference flow standard, Modbus RTU",
        ),
        DriverSpec(
            "scpi-pile-tester",
            "pile_tester",
            ScpiPileTester,
            "visa-tcp",
            "charging-pile verification device, SCPI over TCP socket",
        ),
        DriverSpec(
            "scpi-load",
            "programmable_load",
            ScpiLoad,
            "visa-asrl",
            "programmable load, SCPI over RS-232 (VISA ASRL)",
        ),
        DriverSpec(
            "ea-serial",
            "elemental_analyzer",
            SerialElementalAnalyzer,
            "serial",
            "CHNS analyzer serial result output",
        ),
        DriverSpec(
            "modbus-env",
            "environment_monitor",
            ModbusEnvironmentMonitor,
            "modbus-tcp",
            "T/RH/p transmitter, Modbus TCP",
        ),
        DriverSpec(
            "sics-balance",
            "balance",
            SicsBalance,
            "serial",
            "balance or static scale, MT-SICS over RS-232",
        ),
        DriverSpec(
            "calorimeter-serial",
            "bomb_calorimeter",
            SerialCalorimeter,
            "serial",
            "automatic oxygen-bomb calorimeter, vendor ASCII over RS-232",
        ),
        DriverSpec(
            "coulometric-sulfur",
            "sulfur_analyzer",
            CoulometricSulfurAnalyzer,
            "serial",
            "coulometric total-sulfur analyzer, result records over RS-232",
        ),
        DriverSpec(
            "modbus-ir-sulfur",
            "sulfur_analyzer",
            ModbusSulfurAnalyzer,
            "modbus-tcp",
            "infrared total-sulfur analyzer, Modbus TCP register map",
        ),
        DriverSpec(
            "modbus-belt-scale",
            "belt_scale",
            ModbusBeltScale,
            "modbus-rtu",
            "belt-scale integrator, Modbus RTU",
        ),
        DriverSpec(
            "modbus-cems-analyzer",
            "cems_analyzer",
            ModbusCemsAnalyzer,
            "modbus-tcp",
            "CEMS CO2/O2 analyzer with calibration valve at the probe, Modbus TCP",
        ),
        DriverSpec(
            "modbus-flow-monitor",
            "flow_monitor",
            ModbusFlowMonitor,
            "modbus-rtu",
            "CEMS flue-gas flow monitor, Modbus RTU",
        ),
        DriverSpec(
            "modbus-stack-probe",
            "stack_probe",
            ModbusStackProbe,
            "modbus-rtu",
            "reference-method pitot probe for traverses, Modbus RTU",
        ),
        DriverSpec(
            "flue-duct",
            "flue_duct",
            None,
            "none",
            "the flue duct itself: gas and flow the CEMS and the reference method measure",
        ),
        DriverSpec(
            "pulse-output",
            "flowmeter_under_test",
            None,
            "none",
            "flowmeter under test, pulse output counted by the flow standard",
        ),
        DriverSpec(
            "pile-pulse-output",
            "charging_pile",
            None,
            "none",
            "charging pile under test, pulse output counted by the verification device",
        ),
        DriverSpec(
            MANUAL,
            None,
            None,
            "none",
            "equipment the operator reads by eye (balance, thermometer)",
        ),
    )
}
