"""The physics schema of simulated bench files: which ``sim`` values each role takes."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SIM_SCHEMA", "Field"]


@dataclass(frozen=True)
class Field:
    """One physics value of a ``sim`` table: its kind, expected unit, default.

    ``kind``: "q" quantity, "num", "str", "ref" (another instrument of the role(s) in
    ``like``, alternatives separated by "|"), "curve", "elements", "substances",
    "choice", "qmap" (name → quantity), "qlist" (list of quantities).
    """

    kind: str
    like: str | tuple[str, str] | None = None
    default: str | float | None = None
    required: bool = True


SIM_SCHEMA: dict[str, dict[str, Field]] = {
    "gas_analyzer": {
        "component": Field("str"),
        "range": Field("q", "umol/mol"),
        "gain_error": Field("q", ""),
        "offset": Field("q", "umol/mol"),
        "nonlinearity": Field("q", ""),
        "drift": Field("q", "umol/mol/h"),
        "noise_sd": Field("q", "umol/mol"),
        "t90": Field("q", "s"),
        "resolution": Field("q", "umol/mol"),
        "gas_source": Field("ref", "gas_dilutor|flue_duct"),
    },
    "gas_dilutor": {
        "max_flow": Field("q", "L/min", "5 L/min", False),
        "noise_sd": Field("q", "L/min", "0.001 L/min", False),
        "ambient": Field("q", "umol/mol", "0 umol/mol", False),
    },
    "flow_controller": {
        "max_flow": Field("q", "L/min"),
        "noise_sd": Field("q", "L/min", "0 L/min", False),
    },
    "flowmeter_under_test": {
        "error_curve": Field("curve", ("m**3/h", "")),
        "noise_sd": Field("q", ""),
        "k_factor": Field("q", "1/L"),
        "flow_source": Field("ref", "flow_controller"),
    },
    "reference_flow_standard": {
        "noise_sd": Field("q", ""),
        "meter": Field("ref", "flowmeter_under_test"),
        "flow_source": Field("ref", "flow_controller"),
    },
    "charging_pile": {
        "kind": Field("choice", "ac|dc"),
        "nominal_voltage": Field("q", "V"),
        "errors": Field("curve", ("A", "")),
        "clock_offset": Field("q", "s"),
        "meter_constant": Field("q", "1/kWh"),
        "tariff": Field("num"),
        "display_resolution": Field("q", "kWh", "0.001 kWh", False),
        "load": Field("ref", "programmable_load"),
    },
    "pile_tester": {
        "pile": Field("ref", "charging_pile"),
        "noise_sd": Field("q", "", "0", False),
    },
    "programmable_load": {
        "max_current": Field("q", "A"),
    },
    "elemental_analyzer": {
        "bias": Field("elements", ""),
        "noise_sd": Field("elements", "percent"),
        "run_time": Field("q", "s", "300 s", False),
        "substances": Field("substances", "percent"),
    },
    "environment_monitor": {
        "temperature": Field("q", "degC"),
        "humidity": Field("q", "percent"),
        "pressure": Field("q", "kPa"),
        "temperature_swing": Field("q", "K", "0.3 K", False),
        "humidity_swing": Field("q", "percent", "2 percent", False),
        "pressure_swing": Field("q", "kPa", "0.2 kPa", False),
        "period": Field("q", "s", "2 h", False),
    },
    "balance": {
        "unit": Field("choice", "g|kg"),
        "capacity": Field("q", "g"),
        "resolution": Field("q", "g"),
        "gain_error": Field("q", "", "0"),
        "offset": Field("q", "g", "0 g"),
        "noise_sd": Field("q", "g", "0 g"),
    },
    "bomb_calorimeter": {
        "energy_equivalent": Field("q", "J/K"),
        "stored_energy_equivalent": Field("q", "J/K"),
        "cooling_constant": Field("q", "1/min"),
        "jacket_temperature": Field("q", "degC"),
        "start_temperature": Field("q", "degC"),
        "stirring_power": Field("q", "W", "0.17 W"),
        "combustion_time_constant": Field("q", "s", "25 s"),
        "thermometer_gain": Field("q", "", "0"),
        "thermometer_noise": Field("q", "K", "0.0002 K"),
        "resolution": Field("q", "K", "0.0001 K"),
        "ignition_energy": Field("q", "J"),
        "acid_fraction": Field("q", "", "0.0015"),
        "combustion_sd": Field("q", "", "0.0003"),
        "fore_period": Field("q", "s", "5 min"),
        "main_period": Field("q", "s", "10 min"),
        "after_period": Field("q", "s", "5 min"),
        "reading_interval": Field("q", "s", "30 s"),
        "substances": Field("qmap", "J/g"),
        "balance": Field("ref", "balance"),
    },
    "sulfur_analyzer": {
        "kind": Field("choice", "coulometric|infrared"),
        "recovery": Field("q", "", "1"),
        "calibration_factor": Field("q", "", "1"),
        "blank": Field("q", "C", "0 C"),
        "gain_error": Field("q", "", "0"),
        "nonlinearity": Field("q", "", "0"),
        "offset": Field("q", "percent", "0 %"),
        "noise_sd": Field("q", "", "0"),
        "run_time": Field("q", "s", "180 s"),
        "samples": Field("qmap", "percent"),
    },
    "belt_scale": {
        "belt_speed": Field("q", "m/s"),
        "span_error": Field("q", ""),
        "speed_error": Field("q", "", "0"),
        "zero_error": Field("q", "kg/m", "0 kg/m"),
        "zero_drift": Field("q", "kg/m/h", "0 kg/m/h"),
        "noise_sd": Field("q", "kg/m", "0 kg/m"),
        "max_rate": Field("q", "t/h"),
        "chain_load": Field("q", "kg/m"),
        "control_scale": Field("ref", "balance"),
    },
    "flue_duct": {
        "area": Field("q", "m**2"),
        "velocity": Field("q", "m/s"),
        "velocity_swing": Field("q", "m/s", "0 m/s"),
        "co2": Field("q", "percent"),
        "co2_swing": Field("q", "percent", "0 %"),
        "o2": Field("q", "percent"),
        "temperature": Field("q", "degC"),
        "pressure": Field("q", "kPa"),
        "moisture": Field("q", "percent"),
        "period": Field("q", "s", "40 min"),
        "profile": Field("qlist", ""),
    },
    "cems_analyzer": {
        "range": Field("q", "percent"),
        "gain_error": Field("q", ""),
        "offset": Field("q", "percent"),
        "zero_drift": Field("q", "percent/h", "0 %/h"),
        "span_drift": Field("q", "1/h", "0 %/h"),
        "noise_sd": Field("q", "percent", "0 %"),
        "t90": Field("q", "s"),
        "resolution": Field("q", "percent", "0.01 %"),
        "flue": Field("ref", "flue_duct"),
        "gas_source": Field("ref", "gas_dilutor"),
    },
    "flow_monitor": {
        "point_factor": Field("q", ""),
        "velocity_field_coefficient": Field("q", ""),
        "gain_error": Field("q", "", "0"),
        "noise_sd": Field("q", "m/s", "0 m/s"),
        "temperature_error": Field("q", "K", "0 K"),
        "flue": Field("ref", "flue_duct"),
    },
    "stack_probe": {
        "coefficient_error": Field("q", "", "0"),
        "noise_sd": Field("q", "m/s", "0 m/s"),
        "flue": Field("ref", "flue_duct"),
    },
}
