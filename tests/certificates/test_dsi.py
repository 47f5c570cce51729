"""D-SI unit strings for the DCC, checked against PTB's own D-SI parser (dsiunits)."""

from __future__ import annotations

import math
import warnings

import pytest

from lims.certificates import DccError, is_fiducial, to_dsi_unit
from lims.units import parse_quantity, ureg

# Written by hand from the D-SI 2 syntax: prefix+unit tokens, \tothe{n} for powers.
LAB_UNITS = {
    "µmol/mol": r"\micro\mole\mole\tothe{-1}",
    "%": r"\percent",
    "%FS": r"\percent",
    "kWh": r"\kilo\watt\hour",
    "L/min": r"\litre\minute\tothe{-1}",
    "m³/h": r"\metre\tothe{3}\hour\tothe{-1}",
    "mg/m³": r"\milli\gram\metre\tothe{-3}",
    "°C": r"\degreecelsius",
    "kPa": r"\kilo\pascal",
    "s": r"\second",
    "MΩ": r"\mega\ohm",
    "A": r"\ampere",
    "V": r"\volt",
    "kg": r"\kilo\gram",
}


def _dsi(text: str):  # type: ignore[no-untyped-def]
    from dsi_unit import DsiUnit

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return DsiUnit(text)


@pytest.mark.parametrize(("typed", "expected"), list(LAB_UNITS.items()))
def test_lab_units_map_to_valid_dsi(typed: str, expected: str) -> None:
    q = parse_quantity(f"1 {typed}")
    assert to_dsi_unit(q) == expected
    parsed = _dsi(expected)
    assert parsed.valid, parsed.warnings
    assert not parsed.warnings


@pytest.mark.parametrize(
    "typed", ["µmol/mol", "%", "kWh", "L/min", "m³/h", "mg/m³", "kPa", "MΩ", "kg"]
)
def test_dsi_scale_agrees_with_pint(typed: str) -> None:
    """PTB's parser and pint agree on the size of each unit relative to SI base units."""
    q = parse_quantity(f"1 {typed}")
    base = q.to_base_units()
    dsi_unit = _dsi(to_dsi_unit(q))
    dsi_base = _dsi(to_dsi_unit(base.units))
    factor = dsi_base.get_scale_factor(dsi_unit)  # how many base units make one `typed`
    assert math.isclose(factor, float(base.magnitude), rel_tol=1e-12)


def test_fiducial_and_unmappable_units() -> None:
    assert is_fiducial(parse_quantity("0.25 %FS"))
    assert not is_fiducial(parse_quantity("0.25 %"))
    with pytest.raises(DccError, match="normal_cubic_meter"):
        to_dsi_unit(parse_quantity("3 Nm³/h"))
    assert to_dsi_unit(ureg.dimensionless) == r"\one"
